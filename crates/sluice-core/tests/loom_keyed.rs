//! Loom models of [`sluice_core::KeyedQueue`].
//!
//! Each model runs two or three threads through one queue under loom's exhaustive
//! scheduler. A thread whose `submit` answers `Run` executes the item, finishes its key
//! and executes whatever `finish` hands it, as Sluice's workers do. The models check:
//!
//! - `PerKey`, two threads submitting to one key while a third finishes (holding one
//!   item running and one queued): never two items of the key running at once, every
//!   item run exactly once, the queued item before any later one, and one thread's two
//!   submissions in the order it made them;
//! - `Strict` with two keys, the same way: never two items running at all, every item
//!   once, FIFO;
//! - a `cancel` racing the `finish` that would start the same item: exactly one wins;
//! - `finish_and_cancel_rest` racing a `submit` to the same key: the newcomer is either
//!   cancelled with the rest or runs, never both, never neither;
//! - `drain_all` racing `finish`: each queued item is drained or run, exactly once.
//!
//! Run with `RUSTFLAGS="--cfg sluice_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release`.

#![cfg(sluice_loom)]

use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::SeqCst;
use loom::sync::{Arc, Mutex};
use loom::thread;
use sluice_core::{KeyOrder, KeyedQueue, Submitted};

/// An item: its key and its number.
type Item = (char, usize);

/// A queue with the bookkeeping the models check.
struct World {
    /// The queue under test.
    queue: KeyedQueue<char, Item>,
    /// Items executing now, per key ('a' and 'b').
    busy: [AtomicUsize; 2],
    /// Items executing now, over all keys.
    busy_all: AtomicUsize,
    /// Numbers of the items executed, in execution order.
    ran: Mutex<Vec<usize>>,
}

impl World {
    fn new(ordering: KeyOrder) -> Arc<Self> {
        Arc::new(World {
            queue: KeyedQueue::new(ordering),
            busy: [AtomicUsize::new(0), AtomicUsize::new(0)],
            busy_all: AtomicUsize::new(0),
            ran: Mutex::new(Vec::new()),
        })
    }

    /// Executes `item`, checking that it runs alone (alone in the queue if `strict`).
    fn execute(&self, (key, n): Item, strict: bool) {
        let busy = &self.busy[usize::from(key == 'b')];
        let of_key = busy.fetch_add(1, SeqCst);
        assert_eq!(of_key, 0, "item {n} of key {key} began while another ran");
        let all = self.busy_all.fetch_add(1, SeqCst);
        assert!(
            !strict || all == 0,
            "item {n} began while another ran (Strict)"
        );
        self.ran.lock().expect("poisoned").push(n);
        // The item runs for a while: let the other threads in while it holds its turn.
        thread::yield_now();
        self.busy_all.fetch_sub(1, SeqCst);
        busy.fetch_sub(1, SeqCst);
    }

    /// Executes `item` and everything the finishes hand out after it.
    fn execute_chain(&self, mut item: Item, strict: bool) {
        loop {
            self.execute(item, strict);
            match self.queue.finish(&item.0) {
                Some(next) => item = next,
                None => break,
            }
        }
    }

    /// Submits each item in turn, executing the chain of any that is handed back to run.
    fn submit_all(&self, items: &[Item], strict: bool) {
        for &item in items {
            if let Submitted::Run(item) = self.queue.submit(item.0, item) {
                self.execute_chain(item, strict);
            }
        }
    }

    /// Everything ran once, each pair `(before, after)` in that order, and the queue is
    /// empty.
    fn check(&self, count: usize, pairs: &[(usize, usize)]) {
        let ran = self.ran.lock().expect("poisoned").clone();
        let mut sorted = ran.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..count).collect::<Vec<_>>(), "ran {ran:?}");
        let at = |n| ran.iter().position(|&m| m == n);
        for &(before, after) in pairs {
            assert!(at(before) < at(after), "FIFO broken: ran {ran:?}");
        }
        assert!(self.queue.is_empty());
        assert_eq!(self.queue.active_keys(), 0);
    }
}

/// Spawns a thread that submits `items` in order.
fn submitter(world: &Arc<World>, items: Vec<Item>, strict: bool) -> thread::JoinHandle<()> {
    let world = world.clone();
    thread::spawn(move || world.submit_all(&items, strict))
}

#[test]
fn per_key_two_submitters_and_a_finisher() {
    loom::model(|| {
        let world = World::new(KeyOrder::PerKey);
        let Submitted::Run(first) = world.queue.submit('a', ('a', 0)) else {
            panic!("an idle key runs at once");
        };
        let Submitted::Queued(_) = world.queue.submit('a', ('a', 1)) else {
            panic!("a busy key queues");
        };
        let one = submitter(&world, vec![('a', 2), ('a', 3)], false);
        let two = submitter(&world, vec![('a', 4)], false);
        world.execute_chain(first, false);
        one.join().expect("submitter panicked");
        two.join().expect("submitter panicked");
        // 1 was queued before the others were submitted; 2 was submitted before 3.
        world.check(5, &[(0, 1), (1, 2), (1, 4), (2, 3)]);
    });
}

#[test]
fn strict_two_keys() {
    loom::model(|| {
        let world = World::new(KeyOrder::Strict);
        let Submitted::Run(first) = world.queue.submit('a', ('a', 0)) else {
            panic!("an empty queue runs at once");
        };
        let Submitted::Queued(_) = world.queue.submit('b', ('b', 1)) else {
            panic!("a busy queue queues");
        };
        let one = submitter(&world, vec![('a', 2), ('b', 3)], true);
        let two = submitter(&world, vec![('b', 4)], true);
        world.execute_chain(first, true);
        one.join().expect("submitter panicked");
        two.join().expect("submitter panicked");
        world.check(5, &[(0, 1), (1, 2), (1, 4), (2, 3)]);
    });
}

#[test]
fn cancel_races_finish() {
    loom::model(|| {
        let queue = Arc::new(KeyedQueue::new(KeyOrder::PerKey));
        let Submitted::Run(_) = queue.submit('a', 0) else {
            panic!("an idle key runs at once");
        };
        let Submitted::Queued(ticket) = queue.submit('a', 1) else {
            panic!("a busy key queues");
        };
        let canceller = {
            let queue = queue.clone();
            thread::spawn(move || queue.cancel(ticket))
        };
        let started = queue.finish(&'a');
        let cancelled = canceller.join().expect("canceller panicked");
        match (started, cancelled) {
            (Some(1), None) => assert_eq!(queue.finish(&'a'), None),
            (None, Some(1)) => {}
            other => panic!("item 1 must go one way exactly: {other:?}"),
        }
        assert!(queue.is_empty());
        assert_eq!(queue.active_keys(), 0);
    });
}

#[test]
fn finish_and_cancel_rest_races_submit() {
    loom::model(|| {
        let queue = Arc::new(KeyedQueue::new(KeyOrder::PerKey));
        let Submitted::Run(_) = queue.submit('a', 0) else {
            panic!("an idle key runs at once");
        };
        let Submitted::Queued(_) = queue.submit('a', 1) else {
            panic!("a busy key queues");
        };
        let newcomer = {
            let queue = queue.clone();
            thread::spawn(move || match queue.submit('a', 2) {
                // The key went idle first: the newcomer holds the turn, and ends it.
                Submitted::Run(item) => {
                    assert_eq!(queue.finish(&'a'), None);
                    Some(item)
                }
                Submitted::Queued(_) => None,
            })
        };
        let rest = queue.finish_and_cancel_rest(&'a');
        let ran = newcomer.join().expect("newcomer panicked");
        assert_eq!(rest.next, None);
        match ran {
            Some(2) => assert_eq!(rest.cancelled, [1]),
            None => assert_eq!(rest.cancelled, [1, 2]),
            other => panic!("the newcomer ran {other:?}"),
        }
        assert!(queue.is_empty());
        assert_eq!(queue.active_keys(), 0);
    });
}

#[test]
fn drain_all_races_finish() {
    loom::model(|| {
        let queue = Arc::new(KeyedQueue::new(KeyOrder::Strict));
        let Submitted::Run(_) = queue.submit('a', 0) else {
            panic!("an empty queue runs at once");
        };
        for (key, n) in [('b', 1), ('a', 2)] {
            let Submitted::Queued(_) = queue.submit(key, n) else {
                panic!("a busy queue queues");
            };
        }
        let drainer = {
            let queue = queue.clone();
            thread::spawn(move || queue.drain_all())
        };
        let mut ran = Vec::new();
        let mut key = 'a';
        while let Some(n) = queue.finish(&key) {
            ran.push(n);
            key = if n == 1 { 'b' } else { 'a' };
        }
        let drained = drainer.join().expect("drainer panicked");
        // Strict order: whatever ran is a prefix of [1, 2], the drain is the rest.
        let mut all = ran.clone();
        all.extend(&drained);
        assert_eq!(all, [1, 2], "ran {ran:?}, drained {drained:?}");
        assert!(queue.is_empty());
        assert_eq!(queue.active_keys(), 0);
    });
}
