//! Tests of [`sluice_core::KeyedQueue`] with real threads: scripted sequences in each
//! mode (order within a key, one running per key or per queue, keys independent),
//! cancellation by ticket, `finish_and_cancel_rest`, `drain_all`, idle keys leaving no
//! trace, random operations checked step by step against a plain reference model, and
//! stress with many threads and random durations.
//!
//! Anything that could hang runs under a watchdog that fails the test instead.

#![cfg(not(sluice_loom))]

mod common;

use common::*;

use sluice_core::{CancelledRest, KeyOrder, KeyedQueue, Submitted, Ticket};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::Duration;

/// How long a stress test may take before it counts as hung.
const STRESS_HANG: Duration = Duration::from_secs(120);
/// Every mode, for tests that hold in all of them.
const MODES: [KeyOrder; 3] = [KeyOrder::Strict, KeyOrder::PerKey, KeyOrder::Relaxed];

/// The item a `Run` answer hands back; panics on `Queued`.
#[track_caller]
fn run<T: std::fmt::Debug>(answer: Submitted<T>) -> T {
    match answer {
        Submitted::Run(item) => item,
        Submitted::Queued(ticket) => panic!("expected Run, got Queued({ticket:?})"),
    }
}

/// The ticket a `Queued` answer carries; panics on `Run`.
#[track_caller]
fn queued<T: std::fmt::Debug>(answer: Submitted<T>) -> Ticket {
    match answer {
        Submitted::Queued(ticket) => ticket,
        Submitted::Run(item) => panic!("expected Queued, got Run({item:?})"),
    }
}

/// Finishes `key` again and again, collecting what each `finish` hands out (PerKey).
fn finish_chain<K: std::hash::Hash + Eq + Clone, T>(queue: &KeyedQueue<K, T>, key: &K) -> Vec<T> {
    std::iter::from_fn(|| queue.finish(key)).collect()
}

#[test]
fn per_key_keeps_submission_order_within_a_key() {
    let queue = KeyedQueue::new(KeyOrder::PerKey);
    assert_eq!(run(queue.submit('a', 0)), 0);
    for n in 1..=5 {
        queued(queue.submit('a', n));
        if n % 2 == 0 {
            // Another key in between changes nothing for `a`.
            assert_eq!(run(queue.submit('b', 100 + n)), 100 + n);
            assert_eq!(queue.finish(&'b'), None);
        }
    }
    assert_eq!((queue.running(), queue.queued()), (1, 5));
    let mut order = Vec::new();
    while let Some(next) = queue.finish(&'a') {
        assert_eq!(queue.running(), 1, "the next item holds the turn");
        order.push(next);
    }
    assert_eq!(order, [1, 2, 3, 4, 5]);
    assert!(queue.is_empty());
    assert_eq!(queue.active_keys(), 0);
}

#[test]
fn per_key_never_runs_two_of_one_key() {
    let queue = KeyedQueue::new(KeyOrder::PerKey);
    assert_eq!(run(queue.submit("k", 1)), 1);
    let second = queue.submit("k", 2);
    assert!(matches!(second, Submitted::Queued(_)), "{second:?}");
    assert_eq!(queue.running(), 1);
    assert_eq!(queue.finish(&"k"), Some(2));
    let third = queue.submit("k", 3);
    assert!(
        matches!(third, Submitted::Queued(_)),
        "2 holds the turn now"
    );
    assert_eq!(queue.running(), 1);
    assert_eq!(finish_chain(&queue, &"k"), [3]);
    assert_eq!(run(queue.submit("k", 4)), 4, "an idle key runs at once");
    assert_eq!(queue.finish(&"k"), None);
}

#[test]
fn per_key_keys_progress_independently() {
    let queue = KeyedQueue::new(KeyOrder::PerKey);
    run(queue.submit(0, (0, 0)));
    for n in 1..10 {
        queued(queue.submit(0, (0, n)));
    }
    // Key 0 stays busy; every other key runs and drains on its own.
    for key in 1..20 {
        assert_eq!(run(queue.submit(key, (key, 0))), (key, 0));
        queued(queue.submit(key, (key, 1)));
    }
    assert_eq!(queue.running(), 20, "one running per key, keys in parallel");
    for key in (1..20).rev() {
        assert_eq!(finish_chain(&queue, &key), [(key, 1)]);
    }
    assert_eq!(
        (queue.running(), queue.queued(), queue.active_keys()),
        (1, 9, 1)
    );
    let rest: Vec<_> = finish_chain(&queue, &0)
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    assert_eq!(rest, (1..10).collect::<Vec<_>>());
}

#[test]
fn turn_stays_with_an_item_through_retries() {
    let queue = KeyedQueue::new(KeyOrder::PerKey);
    let first = run(queue.submit("k", "first"));
    // The first item fails and is retried three times; meanwhile more arrive. Nothing
    // overtakes it, however long the retries take.
    for (attempt, later) in ["second", "third", "fourth"].into_iter().enumerate() {
        assert!(matches!(queue.submit("k", later), Submitted::Queued(_)));
        assert_eq!(
            queue.running(),
            1,
            "attempt {attempt} of {first} holds the turn"
        );
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(finish_chain(&queue, &"k"), ["second", "third", "fourth"]);
}

#[test]
fn strict_runs_one_at_a_time_in_global_order() {
    let queue = KeyedQueue::new(KeyOrder::Strict);
    assert_eq!(run(queue.submit('a', 0)), 0);
    let mut tickets = Vec::new();
    for (key, n) in [('b', 1), ('a', 2), ('c', 3), ('b', 4)] {
        tickets.push(queued(queue.submit(key, n)));
    }
    assert_eq!(
        (queue.running(), queue.queued(), queue.active_keys()),
        (1, 4, 3)
    );
    assert_eq!(queue.finish(&'b'), None, "b has nothing running");
    assert_eq!(queue.finish(&'c'), None, "c has nothing running");
    assert_eq!(queue.running(), 1);
    // Each finish names the key of the item that ran; the next item may be any key's.
    let mut running = ('a', 0);
    let mut order = Vec::new();
    while let Some(n) = queue.finish(&running.0) {
        assert_eq!(queue.running(), 1, "never two at once");
        let key = match n {
            1 | 4 => 'b',
            2 => 'a',
            _ => 'c',
        };
        running = (key, n);
        order.push(n);
    }
    assert_eq!(order, [1, 2, 3, 4]);
    assert!(queue.is_empty());
    assert_eq!(queue.active_keys(), 0);
    assert!(tickets.windows(2).all(|w| w[0] < w[1]), "tickets increase");
}

#[test]
fn strict_same_key_items_queue_behind_the_running_one() {
    let queue = KeyedQueue::new(KeyOrder::Strict);
    run(queue.submit(1, 'x'));
    queued(queue.submit(1, 'y'));
    queued(queue.submit(2, 'z'));
    assert_eq!(queue.finish(&1), Some('y'));
    assert_eq!(queue.finish(&1), Some('z'));
    assert_eq!(queue.finish(&2), None);
    assert!(queue.is_empty());
}

#[test]
fn relaxed_runs_everything_at_once() {
    let queue = KeyedQueue::new(KeyOrder::Relaxed);
    for n in 0..10 {
        assert_eq!(run(queue.submit(n % 3, n)), n);
    }
    assert_eq!(
        (queue.running(), queue.queued(), queue.active_keys()),
        (10, 0, 3)
    );
    for n in 0..10 {
        assert_eq!(queue.finish(&(n % 3)), None);
    }
    assert_eq!(queue.finish(&0), None, "nothing left to finish");
    assert!(queue.is_empty());
    assert_eq!(queue.active_keys(), 0);
    assert!(queue.drain_all().is_empty());
    assert_eq!(queue.ordering(), KeyOrder::Relaxed);
}

#[test]
fn finish_without_a_running_item_changes_nothing() {
    for mode in MODES {
        let queue = KeyedQueue::new(mode);
        assert_eq!(queue.finish(&"nobody"), None);
        assert_eq!(
            queue.finish_and_cancel_rest(&"nobody"),
            CancelledRest {
                cancelled: Vec::new(),
                next: None
            }
        );
        run(queue.submit("a", 1));
        assert_eq!(queue.finish(&"b"), None);
        assert_eq!((queue.running(), queue.active_keys()), (1, 1), "{mode:?}");
        assert_eq!(queue.finish(&"a"), None);
        assert_eq!(queue.finish(&"a"), None, "{mode:?}: finished twice");
        assert!(queue.is_empty());
        assert_eq!(queue.active_keys(), 0);
    }
}

#[test]
fn cancel_keeps_the_rest_in_order() {
    for mode in [KeyOrder::PerKey, KeyOrder::Strict] {
        let queue = KeyedQueue::new(mode);
        run(queue.submit(7, 0));
        let tickets: Vec<_> = (1..=6).map(|n| queued(queue.submit(7, n))).collect();
        assert_eq!(queue.cancel(tickets[1]), Some(2));
        assert_eq!(queue.cancel(tickets[4]), Some(5));
        assert_eq!(queue.cancel(tickets[4]), None, "cancelled already");
        assert_eq!(queue.queued(), 4);
        assert_eq!(queue.finish(&7), Some(1));
        assert_eq!(
            queue.cancel(tickets[0]),
            None,
            "{mode:?}: 1 runs, not queued"
        );
        assert_eq!(queue.cancel(tickets[5]), Some(6), "the last one");
        assert_eq!(finish_chain(&queue, &7), [3, 4], "{mode:?}");
        assert!(queue.is_empty());
        assert_eq!(queue.active_keys(), 0);
    }
}

#[test]
fn cancelling_a_waiting_keys_items_frees_the_key() {
    let queue = KeyedQueue::new(KeyOrder::Strict);
    run(queue.submit('a', 0));
    let b = queued(queue.submit('b', 1));
    let c = queued(queue.submit('c', 2));
    assert_eq!(queue.active_keys(), 3);
    assert_eq!(queue.cancel(b), Some(1));
    assert_eq!(queue.active_keys(), 2, "b has nothing running nor queued");
    assert_eq!(queue.finish(&'a'), Some(2), "c is next in global order");
    assert_eq!(queue.cancel(c), None);
    assert_eq!(queue.finish(&'c'), None);
    assert_eq!(queue.active_keys(), 0);
}

#[test]
fn many_cancels_in_random_order_keep_the_survivors_in_order() {
    for mode in [KeyOrder::PerKey, KeyOrder::Strict] {
        let mut rng = Rng::new(11);
        let queue = KeyedQueue::new(mode);
        run(queue.submit("hot", usize::MAX));
        let mut tickets: Vec<_> = (0..10_000)
            .map(|n| (n, queued(queue.submit("hot", n))))
            .collect();
        rng.shuffle(&mut tickets);
        for &(n, ticket) in &tickets {
            if n % 100 != 0 {
                assert_eq!(queue.cancel(ticket), Some(n));
            }
        }
        assert_eq!(queue.queued(), 100);
        let survivors: Vec<_> = (0..10_000).step_by(100).collect();
        assert_eq!(finish_chain(&queue, &"hot"), survivors, "{mode:?}");
        assert_eq!((queue.len(), queue.active_keys()), (0, 0));
    }
}

#[test]
fn finish_and_cancel_rest_per_key() {
    let queue = KeyedQueue::new(KeyOrder::PerKey);
    run(queue.submit("a", 0));
    let a1 = queued(queue.submit("a", 1));
    run(queue.submit("b", 10));
    queued(queue.submit("a", 2));
    queued(queue.submit("b", 11));
    queued(queue.submit("a", 3));
    assert_eq!(queue.cancel(a1), Some(1));

    let rest = queue.finish_and_cancel_rest(&"a");
    assert_eq!(rest.cancelled, [2, 3]);
    assert_eq!(rest.next, None);
    assert_eq!(
        (queue.running(), queue.queued(), queue.active_keys()),
        (1, 1, 1)
    );
    assert_eq!(
        run(queue.submit("a", 4)),
        4,
        "a is idle: a newcomer runs at once"
    );
    assert_eq!(queue.finish(&"a"), None);
    assert_eq!(finish_chain(&queue, &"b"), [11], "b untouched");
    assert!(queue.is_empty());
    assert_eq!(queue.active_keys(), 0);
}

#[test]
fn finish_and_cancel_rest_strict_passes_the_turn_on() {
    let queue = KeyedQueue::new(KeyOrder::Strict);
    run(queue.submit('a', 0));
    queued(queue.submit('a', 1));
    queued(queue.submit('b', 2));
    let a3 = queued(queue.submit('a', 3));
    queued(queue.submit('c', 4));

    let rest = queue.finish_and_cancel_rest(&'a');
    assert_eq!(rest.cancelled, [1, 3]);
    assert_eq!(rest.next, Some(2), "b's item holds the turn now");
    assert_eq!(queue.cancel(a3), None, "cancelled with the rest");
    assert_eq!(
        (queue.running(), queue.queued(), queue.active_keys()),
        (1, 1, 2)
    );
    assert_eq!(queue.finish(&'b'), Some(4));
    assert_eq!(queue.finish(&'c'), None);
    assert!(queue.is_empty());

    // With nothing else queued, the turn just frees.
    run(queue.submit('a', 5));
    queued(queue.submit('a', 6));
    let rest = queue.finish_and_cancel_rest(&'a');
    assert_eq!((rest.cancelled, rest.next), (vec![6], None));
    assert_eq!(run(queue.submit('z', 7)), 7);
}

#[test]
fn finish_and_cancel_rest_relaxed_only_finishes() {
    let queue = KeyedQueue::new(KeyOrder::Relaxed);
    run(queue.submit(1, 'a'));
    run(queue.submit(1, 'b'));
    let rest = queue.finish_and_cancel_rest(&1);
    assert!(rest.cancelled.is_empty() && rest.next.is_none());
    assert_eq!(
        (queue.running(), queue.active_keys()),
        (1, 1),
        "b still runs"
    );
    assert_eq!(queue.finish(&1), None);
    assert_eq!(queue.active_keys(), 0);
}

#[test]
fn drain_all_returns_queued_items_in_submission_order_and_keeps_turns() {
    for mode in [KeyOrder::PerKey, KeyOrder::Strict] {
        let queue = KeyedQueue::new(mode);
        run(queue.submit('a', 0));
        let mut expected = Vec::new();
        let mut tickets = Vec::new();
        for n in 1..=9 {
            let key = ['a', 'b', 'c'][n % 3];
            match queue.submit(key, n) {
                Submitted::Run(_) => assert_eq!(mode, KeyOrder::PerKey, "only PerKey runs {key}"),
                Submitted::Queued(ticket) => {
                    expected.push(n);
                    tickets.push(ticket);
                }
            }
        }
        let running = queue.running();
        assert_eq!(queue.drain_all(), expected, "{mode:?}");
        assert_eq!(
            (queue.running(), queue.queued()),
            (running, 0),
            "turns stay"
        );
        assert!(tickets.iter().all(|&t| queue.cancel(t).is_none()));
        assert!(queue.drain_all().is_empty());
        // The turns are still held: a newcomer to a running key waits.
        queued(queue.submit('a', 10));
        assert_eq!(queue.finish(&'a'), Some(10));
        assert_eq!(queue.finish(&'a'), None);
        for key in ['b', 'c'] {
            assert_eq!(queue.finish(&key), None);
        }
        assert!(queue.is_empty());
        assert_eq!(queue.active_keys(), 0, "{mode:?}");
    }
}

#[test]
fn idle_keys_are_removed() {
    for mode in MODES {
        let queue = KeyedQueue::new(mode);
        for key in 0..10_000u32 {
            assert_eq!(run(queue.submit(key, (key, 0))), (key, 0));
            assert_eq!(queue.finish(&key), None);
        }
        assert_eq!((queue.len(), queue.active_keys()), (0, 0), "{mode:?}");

        // The same with every key busy at once, two items each.
        let mut running = Vec::new();
        for key in 0..10_000u32 {
            for n in 0..2 {
                if let Submitted::Run(item) = queue.submit(key, (key, n)) {
                    running.push(item);
                }
            }
        }
        assert_eq!(
            (queue.len(), queue.active_keys()),
            (20_000, 10_000),
            "{mode:?}"
        );
        let mut ran = 0;
        while let Some((key, _)) = running.pop() {
            ran += 1;
            running.extend(queue.finish(&key));
        }
        assert_eq!(ran, 20_000, "{mode:?}");
        assert_eq!((queue.len(), queue.active_keys()), (0, 0), "{mode:?}");
    }
}

/// Hashes every key to the same number: tickets carry their key's hash, so keys that
/// share one must still each find their own items.
#[derive(Default)]
struct Colliding;

impl std::hash::Hasher for Colliding {
    fn finish(&self) -> u64 {
        7
    }
    fn write(&mut self, _bytes: &[u8]) {}
}

#[test]
fn keys_whose_hashes_collide_keep_their_own_items() {
    type Same = std::hash::BuildHasherDefault<Colliding>;
    for mode in [KeyOrder::PerKey, KeyOrder::Strict] {
        let queue: KeyedQueue<char, u32, Same> = KeyedQueue::with_hasher(mode, Same::default());
        assert_eq!(run(queue.submit('a', 0)), 0);
        let a1 = queued(queue.submit('a', 1));
        let b = queue.submit('b', 10);
        let b_ticket = match (mode, b) {
            (KeyOrder::Strict, Submitted::Queued(ticket)) => Some(ticket),
            (_, Submitted::Run(10)) => None,
            (_, other) => panic!("{mode:?}: b answered {other:?}"),
        };
        let b1 = queued(queue.submit('b', 11));
        let a2 = queued(queue.submit('a', 2));
        assert_eq!(queue.cancel(b1), Some(11), "{mode:?}: b's own item");
        assert_eq!(queue.cancel(b1), None, "{mode:?}: cancelled already");
        assert_eq!(queue.cancel(a1), Some(1), "{mode:?}: a's own item");
        match mode {
            KeyOrder::Strict => {
                // The queue's turn goes to b's first item, then a's last.
                assert_eq!(queue.finish(&'a'), Some(10), "{mode:?}");
                assert_eq!(b_ticket.and_then(|ticket| queue.cancel(ticket)), None);
                assert_eq!(queue.finish(&'b'), Some(2), "{mode:?}");
                assert_eq!(queue.finish(&'a'), None, "{mode:?}");
            }
            _ => {
                assert_eq!(queue.finish(&'a'), Some(2), "{mode:?}");
                assert_eq!(queue.cancel(a2), None, "{mode:?}: it runs now");
                assert_eq!(queue.finish(&'a'), None, "{mode:?}");
                assert_eq!(queue.finish(&'b'), None, "{mode:?}");
            }
        }
        assert_eq!((queue.len(), queue.active_keys()), (0, 0), "{mode:?}");
    }
}

#[test]
fn debug_shows_counts_not_keys() {
    struct Opaque;
    let queue: KeyedQueue<u8, Opaque> = KeyedQueue::new(KeyOrder::PerKey);
    drop(queue.submit(1, Opaque));
    let text = format!("{queue:?}");
    assert!(
        text.contains("PerKey") && text.contains("running: 1"),
        "{text}"
    );
}

/// A plain reference model: the same protocol written the obvious way, O(n) per step.
struct Model {
    ordering: KeyOrder,
    /// Running items per key.
    running: HashMap<u8, usize>,
    /// Queued (item, key) in global submission order.
    waiting: Vec<(u64, u8)>,
}

impl Model {
    fn submit(&mut self, key: u8, item: u64) -> bool {
        let may_run = match self.ordering {
            KeyOrder::Relaxed => true,
            KeyOrder::PerKey => self.running(key) == 0 && !self.waiting.iter().any(|w| w.1 == key),
            KeyOrder::Strict => {
                self.running.values().sum::<usize>() == 0 && self.waiting.is_empty()
            }
        };
        if may_run {
            *self.running.entry(key).or_default() += 1;
        } else {
            self.waiting.push((item, key));
        }
        may_run
    }

    fn running(&self, key: u8) -> usize {
        self.running.get(&key).copied().unwrap_or(0)
    }

    fn take_next(&mut self, of_key: Option<u8>) -> Option<u64> {
        let at = self
            .waiting
            .iter()
            .position(|w| of_key.is_none_or(|k| k == w.1))?;
        let (item, key) = self.waiting.remove(at);
        *self.running.entry(key).or_default() += 1;
        Some(item)
    }

    fn end_one(&mut self, key: u8) -> bool {
        let Some(count) = self.running.get_mut(&key).filter(|c| **c > 0) else {
            return false;
        };
        *count -= 1;
        true
    }

    fn finish(&mut self, key: u8) -> Option<u64> {
        if !self.end_one(key) {
            return None;
        }
        match self.ordering {
            KeyOrder::PerKey => self.take_next(Some(key)),
            KeyOrder::Strict => self.take_next(None),
            KeyOrder::Relaxed => None,
        }
    }

    fn finish_and_cancel_rest(&mut self, key: u8) -> (Vec<u64>, Option<u64>) {
        if !self.end_one(key) {
            return (Vec::new(), None);
        }
        let cancelled = self
            .waiting
            .iter()
            .filter(|w| w.1 == key)
            .map(|w| w.0)
            .collect();
        self.waiting.retain(|w| w.1 != key);
        let next = match self.ordering {
            KeyOrder::Strict => self.take_next(None),
            KeyOrder::PerKey | KeyOrder::Relaxed => None,
        };
        (cancelled, next)
    }

    fn cancel(&mut self, item: u64) -> Option<u64> {
        let at = self.waiting.iter().position(|w| w.0 == item)?;
        Some(self.waiting.remove(at).0)
    }

    fn counts(&self) -> (usize, usize, usize) {
        let running: usize = self.running.values().sum();
        let mut keys: HashSet<u8> = self
            .running
            .iter()
            .filter(|e| *e.1 > 0)
            .map(|e| *e.0)
            .collect();
        keys.extend(self.waiting.iter().map(|w| w.1));
        (running, self.waiting.len(), keys.len())
    }
}

/// Random operations on a queue and the model side by side; every answer and every
/// count must agree after every step.
fn matches_the_model(ordering: KeyOrder, seed: u64) {
    let mut rng = Rng::new(seed);
    let queue = KeyedQueue::new(ordering);
    let mut model = Model {
        ordering,
        running: HashMap::new(),
        waiting: Vec::new(),
    };
    let mut tickets: Vec<(Ticket, u64)> = Vec::new();
    for item in 0..20_000u64 {
        let key = rng.below(5) as u8;
        match rng.below(100) {
            0..45 => match queue.submit(key, item) {
                Submitted::Run(got) => assert!(got == item && model.submit(key, item)),
                Submitted::Queued(ticket) => {
                    assert!(!model.submit(key, item), "step {item}: queued, model runs");
                    tickets.push((ticket, item));
                }
            },
            45..75 => assert_eq!(queue.finish(&key), model.finish(key), "step {item}"),
            75..93 if !tickets.is_empty() => {
                let (ticket, of) = tickets.swap_remove(rng.index(tickets.len()));
                assert_eq!(queue.cancel(ticket), model.cancel(of), "step {item}");
            }
            93..99 => {
                let rest = queue.finish_and_cancel_rest(&key);
                assert_eq!(
                    (rest.cancelled, rest.next),
                    model.finish_and_cancel_rest(key)
                );
            }
            _ => {
                let expected: Vec<_> = model.waiting.drain(..).map(|w| w.0).collect();
                assert_eq!(queue.drain_all(), expected, "step {item}");
            }
        }
        let (running, queued, keys) = model.counts();
        assert_eq!(
            (
                queue.running(),
                queue.queued(),
                queue.active_keys(),
                queue.len()
            ),
            (running, queued, keys, running + queued),
            "step {item} in {ordering:?}"
        );
    }
}

#[test]
fn matches_the_model_per_key() {
    for seed in 1..=4 {
        matches_the_model(KeyOrder::PerKey, seed);
    }
}

#[test]
fn matches_the_model_strict() {
    for seed in 1..=4 {
        matches_the_model(KeyOrder::Strict, seed);
    }
}

#[test]
fn matches_the_model_relaxed() {
    matches_the_model(KeyOrder::Relaxed, 1);
}

/// One item of the stress tests.
#[derive(Debug)]
struct Job {
    /// Its key.
    key: usize,
    /// Its place among its key's submissions.
    in_key: usize,
    /// Its place among all submissions (meaningful in `Strict`, which submits under
    /// one lock).
    global: usize,
}

/// What the stress workers saw.
struct Observed {
    /// Per key, `in_key` of each execution, in execution order.
    per_key: Vec<Mutex<Vec<usize>>>,
    /// `global` of each execution, in execution order.
    global: Mutex<Vec<usize>>,
    /// Per key, items executing now.
    busy: Vec<AtomicUsize>,
    /// Items executing now, over all keys.
    busy_all: AtomicUsize,
    /// Executions that began while another of their key ran.
    key_overlaps: AtomicUsize,
    /// Executions that began while any other ran.
    overlaps: AtomicUsize,
}

impl Observed {
    fn new(keys: usize) -> Self {
        Observed {
            per_key: (0..keys).map(|_| Mutex::new(Vec::new())).collect(),
            global: Mutex::new(Vec::new()),
            busy: (0..keys).map(|_| AtomicUsize::new(0)).collect(),
            busy_all: AtomicUsize::new(0),
            key_overlaps: AtomicUsize::new(0),
            overlaps: AtomicUsize::new(0),
        }
    }

    /// Runs `job` for a random while, recording order and overlap.
    fn execute(&self, job: &Job, rng: &mut Rng) {
        if self.busy[job.key].fetch_add(1, SeqCst) > 0 {
            self.key_overlaps.fetch_add(1, SeqCst);
        }
        if self.busy_all.fetch_add(1, SeqCst) > 0 {
            self.overlaps.fetch_add(1, SeqCst);
        }
        self.per_key[job.key]
            .lock()
            .expect("poisoned")
            .push(job.in_key);
        self.global.lock().expect("poisoned").push(job.global);
        match rng.below(4) {
            0 => thread::yield_now(),
            1 => {}
            _ => thread::sleep(Duration::from_micros(rng.below(300))),
        }
        self.busy_all.fetch_sub(1, SeqCst);
        self.busy[job.key].fetch_sub(1, SeqCst);
    }
}

/// `KEYS` keys x `PER_KEY` items on `THREADS` threads, in random key order. Each
/// worker loops: take the next planned key, submit, and if it got the turn execute,
/// finish, and keep executing whatever `finish` returns. Submissions of one key (of
/// all keys in `Strict`) go through a lock of the test's, so that their order is known;
/// finishes race them freely.
fn stress(ordering: KeyOrder, seed: u64) -> Observed {
    const KEYS: usize = 10;
    const PER_KEY: usize = 50;
    const THREADS: u64 = 8;
    let mut plan: Vec<usize> = (0..KEYS * PER_KEY).map(|i| i % KEYS).collect();
    Rng::new(seed).shuffle(&mut plan);
    let queue = KeyedQueue::new(ordering);
    let observed = Observed::new(KEYS);
    let next = AtomicUsize::new(0);
    // Per key: how many were submitted. The outer lock orders `Strict` globally.
    let submitted: Mutex<usize> = Mutex::new(0);
    let per_key: Vec<Mutex<usize>> = (0..KEYS).map(|_| Mutex::new(0)).collect();
    thread::scope(|scope| {
        for t in 0..THREADS {
            let (queue, observed, plan) = (&queue, &observed, &plan);
            let (next, submitted, per_key) = (&next, &submitted, &per_key);
            scope.spawn(move || {
                let mut rng = Rng::new(seed * 100 + t);
                while let Some(&key) = plan.get(next.fetch_add(1, SeqCst)) {
                    let answer = {
                        let mut all = submitted.lock().expect("poisoned");
                        let global = *all;
                        *all += 1;
                        let all = (ordering == KeyOrder::Strict).then_some(all);
                        let mut count = per_key[key].lock().expect("poisoned");
                        let in_key = *count;
                        *count += 1;
                        let answer = queue.submit(
                            key,
                            Job {
                                key,
                                in_key,
                                global,
                            },
                        );
                        drop((count, all));
                        answer
                    };
                    let Submitted::Run(mut job) = answer else {
                        continue;
                    };
                    loop {
                        observed.execute(&job, &mut rng);
                        match queue.finish(&job.key) {
                            Some(next_job) => job = next_job,
                            None => break,
                        }
                    }
                }
            });
        }
    });
    assert!(queue.is_empty(), "{queue:?}");
    assert_eq!(queue.active_keys(), 0);
    for (key, order) in observed.per_key.iter().enumerate() {
        let mut order = order.lock().expect("poisoned").clone();
        if ordering == KeyOrder::Relaxed {
            order.sort_unstable();
        }
        let expected: Vec<_> = (0..PER_KEY).collect();
        assert_eq!(order, expected, "key {key}: each once, in submission order");
    }
    observed
}

#[test]
fn stress_per_key_ten_keys_fifty_items_eight_threads() {
    bounded(STRESS_HANG, || {
        for seed in 1..=3 {
            let observed = stress(KeyOrder::PerKey, seed);
            assert_eq!(
                observed.key_overlaps.load(SeqCst),
                0,
                "two of one key ran at once"
            );
        }
    });
}

#[test]
fn stress_strict_one_at_a_time_in_global_order() {
    bounded(STRESS_HANG, || {
        let observed = stress(KeyOrder::Strict, 7);
        assert_eq!(observed.overlaps.load(SeqCst), 0, "two items ran at once");
        let global = observed.global.lock().expect("poisoned").clone();
        assert_eq!(global, (0..500).collect::<Vec<_>>());
    });
}

#[test]
fn stress_relaxed_runs_everything_once() {
    bounded(STRESS_HANG, || {
        let observed = stress(KeyOrder::Relaxed, 9);
        let mut global = observed.global.lock().expect("poisoned").clone();
        global.sort_unstable();
        assert_eq!(global, (0..500).collect::<Vec<_>>());
    });
}

/// Workers that submit, and sometimes cancel what they queued, while others finish:
/// every item ends exactly once (ran or cancelled), one running per key, and the items
/// of a key that ran did so in submission order.
#[test]
fn stress_cancels_race_finishes() {
    const KEYS: usize = 4;
    const ITEMS: usize = 4_000;
    bounded(STRESS_HANG, || {
        let queue = KeyedQueue::new(KeyOrder::PerKey);
        let observed = Observed::new(KEYS);
        let cancelled = Mutex::new(Vec::new());
        let per_key: Vec<Mutex<usize>> = (0..KEYS).map(|_| Mutex::new(0)).collect();
        let next = AtomicUsize::new(0);
        thread::scope(|scope| {
            for t in 0..8 {
                let (queue, observed, cancelled) = (&queue, &observed, &cancelled);
                let (per_key, next) = (&per_key, &next);
                scope.spawn(move || {
                    let mut rng = Rng::new(t + 1);
                    while next.fetch_add(1, SeqCst) < ITEMS {
                        let key = rng.index(KEYS);
                        let mut count = per_key[key].lock().expect("poisoned");
                        let job = Job {
                            key,
                            in_key: *count,
                            global: 0,
                        };
                        *count += 1;
                        let answer = queue.submit(key, job);
                        drop(count);
                        let mut job = match answer {
                            Submitted::Run(job) => job,
                            Submitted::Queued(ticket) => {
                                if rng.below(3) == 0
                                    && let Some(job) = queue.cancel(ticket)
                                {
                                    cancelled
                                        .lock()
                                        .expect("poisoned")
                                        .push((job.key, job.in_key));
                                }
                                continue;
                            }
                        };
                        loop {
                            observed.execute(&job, &mut rng);
                            match queue.finish(&job.key) {
                                Some(next_job) => job = next_job,
                                None => break,
                            }
                        }
                    }
                });
            }
        });
        assert!(queue.is_empty(), "{queue:?}");
        assert_eq!(queue.active_keys(), 0);
        assert_eq!(observed.key_overlaps.load(SeqCst), 0);
        let cancelled = cancelled.into_inner().expect("poisoned");
        assert!(!cancelled.is_empty(), "the test raced no cancel");
        for (key, (ran, submitted)) in observed.per_key.iter().zip(&per_key).enumerate() {
            let ran = ran.lock().expect("poisoned").clone();
            assert!(
                ran.windows(2).all(|w| w[0] < w[1]),
                "key {key} out of order"
            );
            let mut all: Vec<_> = cancelled
                .iter()
                .filter(|c| c.0 == key)
                .map(|c| c.1)
                .collect();
            all.extend(&ran);
            all.sort_unstable();
            let submitted = *submitted.lock().expect("poisoned");
            assert_eq!(
                all,
                (0..submitted).collect::<Vec<_>>(),
                "key {key}: each exactly once"
            );
        }
    });
}
