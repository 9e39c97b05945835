//! Tests of [`sluice_core::Gate`] with real threads: the basics, FIFO admission across
//! every kind of waiter, priorities and aging, raising and lowering the limit, giving up
//! (timeouts, dropped futures) without leaking a permit, and stress with a limit that
//! keeps moving.
//!
//! Anything that could hang runs under a watchdog that fails the test instead.

#![cfg(not(sluice_loom))]

mod common;

use common::*;

use sluice_core::{Deferred, Gate, Permit, Priority};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{self};
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

/// How long a small test may take before it counts as hung.
const HANG: Duration = Duration::from_secs(10);
/// How long a stress test may take before it counts as hung.
const STRESS_HANG: Duration = Duration::from_secs(120);

/// What one piece of deferred work saw happen to it.
#[derive(Default)]
struct Record {
    admitted: AtomicUsize,
    aborted: AtomicUsize,
}

impl Record {
    fn admitted(&self) -> usize {
        self.admitted.load(SeqCst)
    }

    fn aborted(&self) -> usize {
        self.aborted.load(SeqCst)
    }

    fn assert_exactly_once(&self) {
        let (admitted, aborted) = (self.admitted(), self.aborted());
        assert_eq!(
            admitted + aborted,
            1,
            "admitted {admitted} times and aborted {aborted} times"
        );
    }
}

/// What a probe does with the permit it is admitted with.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Keeps it in the shared `held` list until someone releases it.
    Hold,
    /// Hands it back, as cancelled work does.
    Return,
    /// Drops it inside `admit`.
    DropNow,
}

/// Deferred work that records what happened to it, and optionally the order it was
/// admitted in.
struct Probe {
    record: Arc<Record>,
    mode: Mode,
    held: Arc<Mutex<Vec<Permit>>>,
    order: Option<(usize, Arc<Mutex<Vec<usize>>>)>,
}

impl Deferred for Probe {
    fn admit(self: Box<Self>, permit: Permit) -> Option<Permit> {
        self.record.admitted.fetch_add(1, SeqCst);
        if let Some((id, order)) = &self.order {
            order.lock().expect("order poisoned").push(*id);
        }
        match self.mode {
            Mode::Hold => {
                self.held.lock().expect("held poisoned").push(permit);
                None
            }
            Mode::Return => Some(permit),
            Mode::DropNow => {
                drop(permit);
                None
            }
        }
    }

    fn abort(self: Box<Self>) -> bool {
        self.record.aborted.fetch_add(1, SeqCst);
        true
    }
}

/// Permits kept by `Mode::Hold` probes.
#[derive(Clone, Default)]
struct Held(Arc<Mutex<Vec<Permit>>>);

impl Held {
    fn probe(&self, mode: Mode) -> (Box<dyn Deferred>, Arc<Record>) {
        self.probe_in_order(mode, None)
    }

    fn probe_in_order(
        &self,
        mode: Mode,
        order: Option<(usize, Arc<Mutex<Vec<usize>>>)>,
    ) -> (Box<dyn Deferred>, Arc<Record>) {
        let record = Arc::new(Record::default());
        let probe = Probe {
            record: record.clone(),
            mode,
            held: self.0.clone(),
            order,
        };
        (Box::new(probe), record)
    }

    fn count(&self) -> usize {
        self.0.lock().expect("held poisoned").len()
    }

    /// Releases the permits held now, outside the lock (a release may admit a probe
    /// that takes the lock); returns how many.
    fn release_some(&self) -> usize {
        let permits = std::mem::take(&mut *self.0.lock().expect("held poisoned"));
        let count = permits.len();
        drop(permits);
        count
    }

    /// Releases held permits until none is left.
    fn release_all(&self) {
        while self.release_some() > 0 {}
    }
}

#[test]
fn smoke() {
    let gate = Gate::new(2);
    assert_eq!(gate.limit(), 2);
    assert_eq!((gate.in_flight(), gate.waiting()), (0, 0));

    let first = gate.try_acquire().expect("room for one");
    let second = gate.clone().try_acquire().expect("clones share the gate");
    assert!(gate.try_acquire().is_none(), "the limit is two");
    assert_eq!(gate.in_flight(), 2);
    let debug = format!("{gate:?}");
    assert!(debug.contains("limit: 2"), "{debug}");
    assert!(debug.contains("in_flight: 2"), "{debug}");
    assert!(debug.contains("waiting: 0"), "{debug}");
    assert!(format!("{first:?}").starts_with("Permit"));

    drop(first);
    assert_eq!(gate.in_flight(), 1);
    let third = gate.acquire_blocking();
    assert_eq!(gate.in_flight(), 2);
    drop((second, third));
    assert_eq!(gate.in_flight(), 0);

    let closed = Gate::new(0);
    assert!(closed.try_acquire().is_none(), "a zero limit admits nobody");
    assert!(closed.acquire_timeout(Duration::from_millis(1)).is_none());
    closed.set_limit(1);
    assert!(closed.try_acquire().is_some());
    assert_eq!(closed.in_flight(), 0);
}

#[test]
fn smoke_async() {
    let gate = Gate::new(1);
    let wakes = Arc::new(CountingWaker::default());
    let waker = Waker::from(wakes.clone());

    let mut ready = gate.acquire();
    let permit = match poll_with(&mut ready, &waker) {
        Poll::Ready(permit) => permit,
        Poll::Pending => panic!("an open gate admits on the first poll"),
    };
    drop(ready);
    assert_eq!(
        gate.in_flight(),
        1,
        "dropping a resolved future keeps the permit"
    );

    let mut waiting = gate.acquire();
    assert!(format!("{waiting:?}").contains("waiting: false"));
    assert!(poll_with(&mut waiting, &waker).is_pending());
    assert!(format!("{waiting:?}").contains("waiting: true"));
    assert!(
        poll_with(&mut waiting, &waker).is_pending(),
        "polling again waits"
    );
    assert_eq!(gate.waiting(), 1);
    assert_eq!(wakes.0.load(SeqCst), 0);

    drop(permit);
    assert_eq!(
        wakes.0.load(SeqCst),
        1,
        "the release wakes the waiting future"
    );
    assert_eq!(
        gate.in_flight(),
        1,
        "counted for the future before it is polled"
    );
    assert_eq!(gate.waiting(), 0);
    let permit = match poll_with(&mut waiting, &waker) {
        Poll::Ready(permit) => permit,
        Poll::Pending => panic!("woken futures are admitted"),
    };
    drop(waiting);
    drop(permit);
    assert_eq!(gate.in_flight(), 0);

    let resolved = block_on(gate.acquire());
    assert_eq!(gate.in_flight(), 1);
    drop(resolved);
}

#[test]
fn smoke_deferred() {
    let gate = Gate::new(1);
    let held = Held::default();

    // Room: admitted at once, on this thread.
    let (work, now) = held.probe(Mode::Hold);
    gate.enqueue(work);
    assert_eq!(now.admitted(), 1);
    assert_eq!((gate.in_flight(), held.count()), (1, 1));

    // Full: queued, then admitted by whoever frees the room.
    let (work, later) = held.probe(Mode::Hold);
    gate.enqueue(work);
    assert_eq!((later.admitted(), gate.waiting()), (0, 1));
    held.release_some();
    assert_eq!(later.admitted(), 1);
    assert_eq!((gate.in_flight(), gate.waiting(), held.count()), (1, 0, 1));

    // Work that hands its permit back passes it straight on to the next in line.
    let (returning, returned) = held.probe(Mode::Return);
    let (dropping, dropped) = held.probe(Mode::DropNow);
    let (holding, holds) = held.probe(Mode::Hold);
    gate.enqueue(returning);
    gate.enqueue(dropping);
    gate.enqueue(holding);
    assert_eq!(gate.waiting(), 3);
    held.release_some();
    assert_eq!(
        (returned.admitted(), dropped.admitted(), holds.admitted()),
        (1, 1, 1)
    );
    assert_eq!((gate.in_flight(), gate.waiting()), (1, 0));

    // Returning straight away through the fast path releases too.
    held.release_all();
    let (work, fast) = held.probe(Mode::Return);
    gate.enqueue(work);
    assert_eq!(fast.admitted(), 1);
    assert_eq!(gate.in_flight(), 0);
    held.release_all();

    // Draining aborts queued work only.
    let blocker = gate.try_acquire().expect("the gate is empty");
    let (first, first_record) = held.probe(Mode::Hold);
    let (second, second_record) = held.probe(Mode::Hold);
    gate.enqueue(first);
    gate.enqueue(second);
    assert_eq!(gate.drain_deferred(), 2);
    assert_eq!(gate.drain_deferred(), 0);
    assert_eq!((first_record.aborted(), second_record.aborted()), (1, 1));
    first_record.assert_exactly_once();
    second_record.assert_exactly_once();
    assert_eq!(gate.waiting(), 0);
    drop(blocker);
    assert_eq!(gate.in_flight(), 0);
}

/// A long queue of deferred work that drops or returns its permit inside `admit` is
/// worked through by one release without the stack growing with the queue.
#[test]
fn long_chain_of_deferred_does_not_recurse() {
    const CHAIN: usize = 100_000;
    bounded(HANG, || {
        let gate = Gate::new(1);
        let held = Held::default();
        let permit = gate.try_acquire().expect("the gate is empty");
        let records: Vec<_> = (0..CHAIN)
            .map(|index| {
                let mode = if index % 2 == 0 {
                    Mode::DropNow
                } else {
                    Mode::Return
                };
                let (work, record) = held.probe(mode);
                gate.enqueue(work);
                record
            })
            .collect();
        assert_eq!(gate.waiting(), CHAIN);
        drop(permit);
        for record in &records {
            assert_eq!(record.admitted(), 1);
        }
        assert_eq!((gate.in_flight(), gate.waiting()), (0, 0));
    });
}

/// Work already settled elsewhere answers false to `abort`; the drain does not count it.
#[test]
fn drain_counts_only_live_work() {
    struct Settled;
    impl Deferred for Settled {
        fn admit(self: Box<Self>, permit: Permit) -> Option<Permit> {
            Some(permit)
        }
        fn abort(self: Box<Self>) -> bool {
            false
        }
    }

    let gate = Gate::new(0);
    let held = Held::default();
    let (live, record) = held.probe(Mode::Hold);
    gate.enqueue(Box::new(Settled));
    gate.enqueue(live);
    gate.enqueue(Box::new(Settled));
    assert_eq!(gate.waiting(), 3);
    assert_eq!(gate.drain_deferred(), 1);
    assert_eq!(record.aborted(), 1);
    assert_eq!(gate.waiting(), 0);
}

#[test]
fn drain_keeps_threads_waiting() {
    bounded(HANG, || {
        let gate = Gate::new(1);
        let held = Held::default();
        let permit = gate.try_acquire().expect("the gate is empty");
        let (work, record) = held.probe(Mode::Hold);
        gate.enqueue(work);
        let blocked = {
            let gate = gate.clone();
            thread::spawn(move || drop(gate.acquire_blocking()))
        };
        wait_until(|| gate.waiting() == 2);
        assert_eq!(gate.drain_deferred(), 1);
        assert_eq!(gate.waiting(), 1, "the blocked thread keeps its place");
        drop(permit);
        blocked.join().expect("blocked thread panicked");
        assert_eq!(record.aborted(), 1);
        record.assert_exactly_once();
        assert_eq!((gate.in_flight(), gate.waiting()), (0, 0));
    });
}

/// Threads queue in a known order (each starts only once the one before it is
/// waiting) and are admitted one at a time in that order.
#[test]
fn fifo_among_blocked_threads() {
    bounded(HANG, || {
        const THREADS: usize = 8;
        let gate = Gate::new(1);
        let order = Arc::new(Mutex::new(Vec::new()));
        let permit = gate.try_acquire().expect("the gate is empty");
        let mut threads = Vec::new();
        for id in 0..THREADS {
            let gate_for_thread = gate.clone();
            let order = order.clone();
            threads.push(thread::spawn(move || {
                let permit = gate_for_thread.acquire_blocking();
                order.lock().expect("order poisoned").push(id);
                drop(permit);
            }));
            wait_until(|| gate.waiting() == id + 1);
        }
        drop(permit);
        for thread in threads {
            thread.join().expect("waiter panicked");
        }
        assert_eq!(
            *order.lock().expect("order poisoned"),
            (0..THREADS).collect::<Vec<_>>()
        );
        assert_eq!((gate.in_flight(), gate.waiting()), (0, 0));
    });
}

/// Threads, futures and deferred work share one queue and are admitted in arrival
/// order.
#[test]
fn fifo_across_kinds_of_waiter() {
    bounded(HANG, || {
        let gate = Gate::new(1);
        let held = Held::default();
        let order = Arc::new(Mutex::new(Vec::new()));
        let permit = gate.try_acquire().expect("the gate is empty");

        // 0: a blocked thread.
        let first_thread = {
            let gate = gate.clone();
            let order = order.clone();
            thread::spawn(move || {
                let permit = gate.acquire_blocking();
                order.lock().expect("order poisoned").push(0);
                drop(permit);
            })
        };
        wait_until(|| gate.waiting() == 1);

        // 1: a future, polled here.
        let wakes = Arc::new(CountingWaker::default());
        let waker = Waker::from(wakes.clone());
        let mut future = gate.acquire();
        assert!(poll_with(&mut future, &waker).is_pending());

        // 2: deferred work that keeps its permit.
        let (work, record) = held.probe_in_order(Mode::Hold, Some((2, order.clone())));
        gate.enqueue(work);

        // 3: another blocked thread.
        let last_thread = {
            let gate = gate.clone();
            let order = order.clone();
            thread::spawn(move || {
                let permit = gate.acquire_blocking();
                order.lock().expect("order poisoned").push(3);
                drop(permit);
            })
        };
        wait_until(|| gate.waiting() == 4);

        drop(permit);
        first_thread.join().expect("first thread panicked");
        wait_until(|| wakes.0.load(SeqCst) == 1);
        let Poll::Ready(permit) = poll_with(&mut future, &waker) else {
            panic!("a woken future is admitted");
        };
        order.lock().expect("order poisoned").push(1);
        assert_eq!(record.admitted(), 0, "deferred work waits its turn");
        drop(permit);
        assert_eq!(
            record.admitted(),
            1,
            "admitted by the release, on this thread"
        );
        assert_eq!(gate.waiting(), 1);
        held.release_all();
        last_thread.join().expect("last thread panicked");

        assert_eq!(*order.lock().expect("order poisoned"), vec![0, 1, 2, 3]);
        assert_eq!((gate.in_flight(), gate.waiting()), (0, 0));
    });
}

/// Queues deferred work at `priorities` (each identified by its index) behind a full
/// gate of limit one with `aging`, then releases one permit at a time; returns the
/// order of admission.
fn admission_order(aging: u64, priorities: &[Priority]) -> Vec<usize> {
    let gate = Gate::with_aging(1, aging);
    let held = Held::default();
    let order = Arc::new(Mutex::new(Vec::new()));
    let permit = gate.try_acquire().expect("the gate is empty");
    for (id, &priority) in priorities.iter().enumerate() {
        let (work, _) = held.probe_in_order(Mode::Hold, Some((id, order.clone())));
        gate.enqueue_at(work, priority);
    }
    assert_eq!(
        gate.waiting(),
        priorities.len(),
        "no priority jumps a full gate"
    );
    drop(permit);
    for admitted in 1..=priorities.len() {
        assert_eq!(order.lock().expect("order poisoned").len(), admitted);
        assert_eq!(gate.in_flight(), 1);
        held.release_some();
    }
    assert_eq!((gate.in_flight(), gate.waiting()), (0, 0));
    order.lock().expect("order poisoned").clone()
}

#[test]
fn priority_smoke() {
    use Priority::{High, Low, Normal};
    assert_eq!(Priority::default(), Normal);
    assert!(High > Normal && Normal > Low);
    assert_eq!(Gate::DEFAULT_AGING, 64);
    assert_eq!(
        admission_order(Gate::DEFAULT_AGING, &[Low, Normal, High]),
        [2, 1, 0]
    );
    // `enqueue` is `Normal`: behind a `High`, ahead of a `Low`.
    let gate = Gate::new(0);
    let held = Held::default();
    let order = Arc::new(Mutex::new(Vec::new()));
    for (id, priority) in [(0, Some(Low)), (1, None), (2, Some(High))] {
        let (work, _) = held.probe_in_order(Mode::Return, Some((id, order.clone())));
        match priority {
            Some(priority) => gate.enqueue_at(work, priority),
            None => gate.enqueue(work),
        }
    }
    gate.set_limit(1);
    assert_eq!(*order.lock().expect("order poisoned"), [2, 1, 0]);
    assert_eq!((gate.in_flight(), gate.waiting()), (0, 0));
}

#[test]
fn fifo_within_each_priority() {
    use Priority::{High, Low, Normal};
    let mixed: Vec<_> = (0..4).flat_map(|_| [Low, Normal, High]).collect();
    assert_eq!(
        admission_order(Gate::DEFAULT_AGING, &mixed),
        [2, 5, 8, 11, 1, 4, 7, 10, 0, 3, 6, 9]
    );
    for priority in [Low, Normal, High] {
        for aging in [0, 1, Gate::DEFAULT_AGING, u64::MAX] {
            assert_eq!(
                admission_order(aging, &[priority; 6]),
                [0, 1, 2, 3, 4, 5],
                "{priority:?} with aging {aging}"
            );
        }
    }
}

/// The rule: rank = arrival number + `aging` per step below `High`; smallest first,
/// the older on a tie.
#[test]
fn aging_bounds_overtaking() {
    use Priority::{High, Low, Normal};
    // Low: 0 + 4 = 4. Highs: 1..=5. H4 ties with the Low, which is older.
    assert_eq!(
        admission_order(2, &[Low, High, High, High, High, High]),
        [1, 2, 3, 0, 4, 5]
    );
    // Normal: 0 + 2 = 2. Highs: 1, 2, 3.
    assert_eq!(
        admission_order(2, &[Normal, High, High, High]),
        [1, 0, 2, 3]
    );
    // Low: 0 + 4 = 4. Normals: 3, 4, 5.
    assert_eq!(
        admission_order(2, &[Low, Normal, Normal, Normal]),
        [1, 0, 2, 3]
    );
    // Both steps at once: Low 0 + 4 = 4, Normal 1 + 2 = 3, High 2.
    assert_eq!(admission_order(2, &[Low, Normal, High]), [2, 1, 0]);
    // Low 0 + 2 = 2, Normal 1 + 1 = 2 (the Low is older), High 2.
    assert_eq!(admission_order(1, &[Low, Normal, High]), [0, 1, 2]);
    // No aging: arrival order whatever the priority.
    assert_eq!(
        admission_order(0, &[Low, Normal, High, Low, High]),
        [0, 1, 2, 3, 4]
    );
    // Aging too large to ever reach: strict priority, FIFO within each.
    assert_eq!(
        admission_order(u64::MAX, &[Low, Normal, High, Low, High]),
        [2, 4, 1, 0, 3]
    );
}

/// A `High` arrives with every release, so there is always one waiting: a `Low` (or
/// `Normal`) waiter is still admitted, once `2 * aging` (or `aging`) arrivals have
/// come after it.
#[test]
fn no_starvation_under_constant_high_load() {
    const AGING: u64 = 8;
    for (priority, steps) in [(Priority::Low, 2 * AGING), (Priority::Normal, AGING)] {
        let gate = Gate::with_aging(1, AGING);
        let held = Held::default();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut permit = gate.try_acquire();
        let (work, waiter) = held.probe_in_order(Mode::Hold, Some((0, order.clone())));
        gate.enqueue_at(work, priority);
        let mut releases = 0;
        while waiter.admitted() == 0 {
            assert!(releases < 10 * AGING, "{priority:?} starved");
            let id = releases as usize + 1;
            let (work, _) = held.probe_in_order(Mode::Hold, Some((id, order.clone())));
            gate.enqueue_at(work, Priority::High);
            match permit.take() {
                Some(permit) => drop(permit),
                None => assert_eq!(held.release_some(), 1),
            }
            releases += 1;
        }
        assert_eq!(
            releases, steps,
            "{priority:?} admitted at the release it ranks for"
        );
        let overtook: Vec<usize> = (1..steps as usize).collect();
        assert_eq!(
            order.lock().expect("order poisoned")[..overtook.len()],
            overtook
        );
        assert!(overtook.len() < 2 * AGING as usize);
        assert_eq!(gate.drain_deferred(), 1, "the last High still waits");
        held.release_all();
        assert_eq!((gate.in_flight(), gate.waiting()), (0, 0));
    }
}

#[test]
fn drain_aborts_every_priority_and_keeps_threads_ranked() {
    bounded(HANG, || {
        let gate = Gate::new(1);
        let held = Held::default();
        let order = Arc::new(Mutex::new(Vec::new()));
        let permit = gate.try_acquire().expect("the gate is empty");
        let thread = {
            let gate = gate.clone();
            let order = order.clone();
            thread::spawn(move || {
                let permit = gate.acquire_blocking();
                order.lock().expect("order poisoned").push(0);
                drop(permit);
            })
        };
        wait_until(|| gate.waiting() == 1);
        let records: Vec<_> = [
            Priority::Low,
            Priority::High,
            Priority::Normal,
            Priority::High,
        ]
        .into_iter()
        .map(|priority| {
            let (work, record) = held.probe(Mode::Hold);
            gate.enqueue_at(work, priority);
            record
        })
        .collect();
        assert_eq!(gate.waiting(), 5);
        assert_eq!(gate.drain_deferred(), 4);
        for record in &records {
            assert_eq!(record.aborted(), 1);
            record.assert_exactly_once();
        }
        assert_eq!(gate.waiting(), 1, "the blocked thread keeps its place");

        // The thread kept its rank (0 + 64): a Low arriving now (5 + 128) comes after it.
        let (work, low) = held.probe_in_order(Mode::Hold, Some((1, order.clone())));
        gate.enqueue_at(work, Priority::Low);
        drop(permit);
        thread.join().expect("blocked thread panicked");
        assert_eq!(low.admitted(), 1);
        assert_eq!(*order.lock().expect("order poisoned"), [0, 1]);
        held.release_all();
        assert_eq!((gate.in_flight(), gate.waiting()), (0, 0));
    });
}

/// Blocked threads wait at `Normal`: behind `High` work that arrives after them,
/// among `Normal` work in arrival order, ahead of `Low` work.
#[test]
fn blocked_threads_wait_at_normal() {
    bounded(HANG, || {
        let gate = Gate::new(1);
        let held = Held::default();
        let order = Arc::new(Mutex::new(Vec::new()));
        let permit = gate.try_acquire().expect("the gate is empty");
        let block = |id: usize| {
            let gate_for_thread = gate.clone();
            let order = order.clone();
            let thread = thread::spawn(move || {
                let permit = gate_for_thread.acquire_blocking();
                order.lock().expect("order poisoned").push(id);
                drop(permit);
            });
            wait_until(|| gate.waiting() == id + 1);
            thread
        };
        // Work that drops its permit inside `admit`, so one release runs the whole
        // queue, each admission after the one before it has let go.
        let enqueue = |id: usize, priority: Priority| {
            let (work, _) = held.probe_in_order(Mode::DropNow, Some((id, order.clone())));
            gate.enqueue_at(work, priority);
        };

        // Ranks with aging 64: 64, 1, 66, 131, 68, 5.
        let first = block(0);
        enqueue(1, Priority::High);
        enqueue(2, Priority::Normal);
        enqueue(3, Priority::Low);
        let second = block(4);
        enqueue(5, Priority::High);
        assert_eq!(gate.waiting(), 6);

        drop(permit);
        first.join().expect("first thread panicked");
        second.join().expect("second thread panicked");
        wait_until(|| gate.in_flight() == 0);
        assert_eq!(*order.lock().expect("order poisoned"), [1, 5, 0, 2, 4, 3]);
        assert_eq!(gate.waiting(), 0);
    });
}

#[test]
fn raising_limit_admits_in_rank_order() {
    use Priority::{High, Low, Normal};
    let gate = Gate::new(0);
    let held = Held::default();
    let order = Arc::new(Mutex::new(Vec::new()));
    for (id, priority) in [Low, Normal, High, High, Normal].into_iter().enumerate() {
        let (work, _) = held.probe_in_order(Mode::Hold, Some((id, order.clone())));
        gate.enqueue_at(work, priority);
    }
    gate.set_limit(2);
    assert_eq!(*order.lock().expect("order poisoned"), [2, 3]);
    assert_eq!((gate.in_flight(), gate.waiting()), (2, 3));
    gate.set_limit(4);
    assert_eq!(*order.lock().expect("order poisoned"), [2, 3, 1, 4]);
    gate.set_limit(10);
    assert_eq!(*order.lock().expect("order poisoned"), [2, 3, 1, 4, 0]);
    assert_eq!((gate.in_flight(), gate.waiting()), (5, 0));
    held.release_all();
    assert_eq!(gate.in_flight(), 0);
}

/// Waiters that gave up still counted as arrivals, and compaction keeps every live
/// waiter's rank.
#[test]
fn compaction_keeps_ranks() {
    let gate = Gate::new(1);
    let held = Held::default();
    let order = Arc::new(Mutex::new(Vec::new()));
    let permit = gate.try_acquire().expect("the gate is empty");
    let abandon = |count: usize| {
        for _ in 0..count {
            let mut future = gate.acquire();
            assert!(poll_with(&mut future, Waker::noop()).is_pending());
            drop(future);
        }
    };
    let enqueue = |id: usize, priority: Priority| {
        let (work, _) = held.probe_in_order(Mode::Hold, Some((id, order.clone())));
        gate.enqueue_at(work, priority);
    };
    // Ranks: Low 0 + 128; High 41; Normal 82 + 64.
    enqueue(0, Priority::Low);
    abandon(40);
    enqueue(1, Priority::High);
    abandon(40);
    enqueue(2, Priority::Normal);
    abandon(40);
    assert_eq!(gate.waiting(), 3);
    drop(permit);
    for _ in 0..3 {
        held.release_some();
    }
    assert_eq!(*order.lock().expect("order poisoned"), [1, 0, 2]);
    assert_eq!((gate.in_flight(), gate.waiting()), (0, 0));
}

/// A released permit goes to the waiter at the head, never to a newcomer.
#[test]
fn newcomer_never_overtakes() {
    bounded(HANG, || {
        let gate = Gate::new(1);
        let permit = gate.try_acquire().expect("the gate is empty");
        let (admitted, was_admitted) = mpsc::channel();
        let (finish, may_finish) = mpsc::channel::<()>();
        let waiter = {
            let gate = gate.clone();
            thread::spawn(move || {
                let permit = gate.acquire_blocking();
                admitted.send(()).expect("test alive");
                may_finish.recv().expect("test alive");
                drop(permit);
            })
        };
        wait_until(|| gate.waiting() == 1);
        drop(permit);
        // The permit was counted for the waiter during the release, before it woke.
        assert_eq!(gate.in_flight(), 1);
        assert!(
            gate.try_acquire().is_none(),
            "a newcomer overtook the waiter"
        );
        assert!(gate.acquire_timeout(Duration::from_millis(1)).is_none());
        was_admitted.recv().expect("waiter alive");
        finish.send(()).expect("waiter alive");
        waiter.join().expect("waiter panicked");
        assert!(gate.try_acquire().is_some());
    });
}

/// Threads hammering `try_acquire` cannot keep a blocked thread out.
#[test]
fn no_starvation() {
    bounded(HANG, || {
        let gate = Gate::new(1);
        let stop = Arc::new(AtomicBool::new(false));
        let spinners: Vec<_> = (0..3)
            .map(|_| {
                let gate = gate.clone();
                let stop = stop.clone();
                thread::spawn(move || {
                    let mut got = 0_u64;
                    while !stop.load(SeqCst) {
                        if let Some(permit) = gate.try_acquire() {
                            got += 1;
                            drop(permit);
                        }
                    }
                    got
                })
            })
            .collect();
        for _ in 0..50 {
            drop(gate.acquire_blocking());
            drop(block_on(gate.acquire()));
        }
        stop.store(true, SeqCst);
        for spinner in spinners {
            spinner.join().expect("spinner panicked");
        }
        assert_eq!((gate.in_flight(), gate.waiting()), (0, 0));
    });
}

#[test]
fn raising_limit_admits_waiters_at_once() {
    bounded(HANG, || {
        let gate = Gate::new(0);
        let release = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let (admitted, admissions) = mpsc::channel();
        let waiters: Vec<_> = (0..3)
            .map(|id| {
                let gate = gate.clone();
                let release = release.clone();
                let admitted = admitted.clone();
                thread::spawn(move || {
                    let permit = gate.acquire_blocking();
                    admitted.send(id).expect("test alive");
                    let (lock, condvar) = &*release;
                    let mut go = lock.lock().expect("release poisoned");
                    while !*go {
                        go = condvar.wait(go).expect("release poisoned");
                    }
                    drop(go);
                    drop(permit);
                })
            })
            .collect();
        wait_until(|| gate.waiting() == 3);

        // Counted during set_limit, before any waiter has woken.
        gate.set_limit(2);
        assert_eq!((gate.in_flight(), gate.waiting()), (2, 1));
        gate.set_limit(3);
        assert_eq!((gate.in_flight(), gate.waiting()), (3, 0));
        let mut ids: Vec<usize> = (0..3)
            .map(|_| admissions.recv().expect("waiters alive"))
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, vec![0, 1, 2]);

        let (lock, condvar) = &*release;
        *lock.lock().expect("release poisoned") = true;
        condvar.notify_all();
        for waiter in waiters {
            waiter.join().expect("waiter panicked");
        }
        assert_eq!((gate.in_flight(), gate.waiting()), (0, 0));
    });
}

#[test]
fn raising_limit_admits_futures_and_deferred() {
    let gate = Gate::new(0);
    let held = Held::default();
    let wakes = Arc::new(CountingWaker::default());
    let waker = Waker::from(wakes.clone());
    let mut future = gate.acquire();
    assert!(poll_with(&mut future, &waker).is_pending());
    let (work, record) = held.probe(Mode::Hold);
    gate.enqueue(work);

    gate.set_limit(5);
    assert_eq!(wakes.0.load(SeqCst), 1);
    assert_eq!(record.admitted(), 1);
    assert_eq!((gate.in_flight(), gate.waiting()), (2, 0));
    let Poll::Ready(permit) = poll_with(&mut future, &waker) else {
        panic!("admitted by the raise");
    };
    drop(permit);
    held.release_all();
    assert_eq!(gate.in_flight(), 0);
}

#[test]
fn lowering_limit_holds_admissions_until_below_it() {
    bounded(HANG, || {
        let gate = Gate::new(3);
        let mut permits: Vec<_> = (0..3).map(|_| gate.try_acquire().expect("room")).collect();
        gate.set_limit(1);
        assert_eq!(gate.limit(), 1);
        assert_eq!(gate.in_flight(), 3, "lowering lets running work finish");
        assert!(gate.try_acquire().is_none());

        let (admitted, admission) = mpsc::channel();
        let waiter = {
            let gate = gate.clone();
            thread::spawn(move || {
                let permit = gate.acquire_blocking();
                admitted.send(()).expect("test alive");
                permit
            })
        };
        wait_until(|| gate.waiting() == 1);

        drop(permits.pop());
        assert_eq!((gate.in_flight(), gate.waiting()), (2, 1));
        drop(permits.pop());
        assert_eq!(
            (gate.in_flight(), gate.waiting()),
            (1, 1),
            "still not below 1"
        );
        assert!(gate.try_acquire().is_none());
        drop(permits.pop());
        assert_eq!(
            (gate.in_flight(), gate.waiting()),
            (1, 0),
            "the waiter got in"
        );
        admission.recv().expect("waiter alive");
        let permit = waiter.join().expect("waiter panicked");
        assert!(gate.try_acquire().is_none(), "the new limit holds");
        drop(permit);
        let only = gate.try_acquire().expect("room under the new limit");
        assert!(gate.try_acquire().is_none());
        drop(only);
        assert_eq!(gate.in_flight(), 0);
    });
}

#[test]
fn acquire_timeout_gives_up_and_leaks_nothing() {
    bounded(HANG, || {
        let gate = Gate::new(1);
        let permit = gate.try_acquire().expect("the gate is empty");
        assert!(gate.acquire_timeout(Duration::from_millis(5)).is_none());
        assert!(gate.acquire_timeout(Duration::ZERO).is_none());
        assert_eq!((gate.in_flight(), gate.waiting()), (1, 0));

        // Enough abandoned places to make the queue compact itself, around a live
        // waiter that must keep its place.
        for _ in 0..40 {
            assert!(gate.acquire_timeout(Duration::from_micros(50)).is_none());
        }
        let waiter = {
            let gate = gate.clone();
            thread::spawn(move || drop(gate.acquire_blocking()))
        };
        wait_until(|| gate.waiting() == 1);
        for _ in 0..40 {
            assert!(gate.acquire_timeout(Duration::from_micros(50)).is_none());
            let mut future = gate.acquire();
            assert!(poll_with(&mut future, Waker::noop()).is_pending());
            drop(future);
        }
        assert_eq!((gate.in_flight(), gate.waiting()), (1, 1));

        drop(permit);
        waiter.join().expect("waiter panicked");
        assert_eq!((gate.in_flight(), gate.waiting()), (0, 0));
        let permit = gate.try_acquire().expect("nothing leaked");
        drop(permit);
    });
}

/// When enough waiters have given up, the queue compacts itself; the live waiters of
/// every kind keep their places and their order.
#[test]
fn compaction_keeps_live_waiters() {
    bounded(HANG, || {
        let gate = Gate::new(1);
        let held = Held::default();
        let order = Arc::new(Mutex::new(Vec::new()));
        let permit = gate.try_acquire().expect("the gate is empty");
        let abandon = |count: usize| {
            for _ in 0..count {
                let mut future = gate.acquire();
                assert!(poll_with(&mut future, Waker::noop()).is_pending());
                drop(future);
            }
        };

        abandon(20);
        let (work, record) = held.probe_in_order(Mode::Hold, Some((0, order.clone())));
        gate.enqueue(work);
        abandon(20);
        let waiter = {
            let gate = gate.clone();
            let order = order.clone();
            thread::spawn(move || {
                let permit = gate.acquire_blocking();
                order.lock().expect("order poisoned").push(1);
                drop(permit);
            })
        };
        wait_until(|| gate.waiting() == 2);
        abandon(100);
        assert_eq!((gate.in_flight(), gate.waiting()), (1, 2));

        drop(permit);
        assert_eq!(record.admitted(), 1, "the deferred work kept its place");
        held.release_all();
        waiter.join().expect("waiter panicked");
        assert_eq!(*order.lock().expect("order poisoned"), vec![0, 1]);
        assert_eq!((gate.in_flight(), gate.waiting()), (0, 0));
    });
}

/// `acquire_timeout(Duration::MAX)` is a natural way to say "as long as it takes",
/// and with room in the gate it should simply admit. It panics instead: the deadline
/// `Instant::now() + timeout` is computed (and overflows) before the fast path is tried.
#[test]
fn acquire_timeout_with_huge_timeout() {
    let gate = Gate::new(1);
    let permit = gate
        .acquire_timeout(Duration::MAX)
        .expect("the gate is empty, so this admits at once");
    drop(permit);
    assert_eq!(gate.in_flight(), 0);
}

#[test]
fn acquire_timeout_admits_when_room_frees() {
    bounded(HANG, || {
        let gate = Gate::new(1);
        let permit = gate.try_acquire().expect("the gate is empty");
        let releaser = {
            let gate = gate.clone();
            thread::spawn(move || {
                wait_until(|| gate.waiting() == 1);
                drop(permit);
            })
        };
        let got = gate
            .acquire_timeout(Duration::from_secs(60))
            .expect("released long before the timeout");
        releaser.join().expect("releaser panicked");
        assert_eq!(gate.in_flight(), 1);
        drop(got);
        assert_eq!(gate.in_flight(), 0);
    });
}

#[test]
fn async_acquire_across_threads() {
    bounded(HANG, || {
        let gate = Gate::new(1);
        let permit = gate.try_acquire().expect("the gate is empty");
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let gate = gate.clone();
                thread::spawn(move || {
                    let permit = block_on(gate.acquire());
                    assert_eq!(gate.in_flight(), 1);
                    drop(permit);
                })
            })
            .collect();
        wait_until(|| gate.waiting() == 4);
        drop(permit);
        for waiter in waiters {
            waiter.join().expect("waiter panicked");
        }
        assert_eq!((gate.in_flight(), gate.waiting()), (0, 0));
    });
}

/// A future that was granted a permit but dropped before it saw it passes the permit
/// to the next waiter.
#[test]
fn dropped_future_passes_permit_on() {
    bounded(HANG, || {
        let gate = Gate::new(1);
        let permit = gate.try_acquire().expect("the gate is empty");
        let mut future = gate.acquire();
        assert!(poll_with(&mut future, Waker::noop()).is_pending());
        let waiter = {
            let gate = gate.clone();
            thread::spawn(move || drop(gate.acquire_blocking()))
        };
        wait_until(|| gate.waiting() == 2);

        drop(permit);
        assert_eq!(
            (gate.in_flight(), gate.waiting()),
            (1, 1),
            "granted to the future"
        );
        drop(future);
        waiter.join().expect("waiter panicked");
        assert_eq!((gate.in_flight(), gate.waiting()), (0, 0));

        // Dropped while still waiting: its place is skipped.
        let permit = gate.try_acquire().expect("the gate is empty");
        let mut future = gate.acquire();
        assert!(poll_with(&mut future, Waker::noop()).is_pending());
        drop(future);
        assert_eq!(gate.waiting(), 0);
        drop(permit);
        assert_eq!(gate.in_flight(), 0);
        assert!(gate.try_acquire().is_some());
    });
}

/// Eight threads take and give back permits every way there is while another thread
/// keeps moving the limit between 0 and 4. Nobody ever sees more holders than the
/// largest limit set, and the gate ends empty.
#[test]
fn stress_with_moving_limit() {
    const THREADS: u64 = 8;
    const ROUNDS: u64 = 10_000;
    const MAX_LIMIT: usize = 4;
    bounded(STRESS_HANG, || {
        let gate = Gate::new(2);
        let active = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let admitted = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(THREADS as usize + 1));

        let changer = {
            let gate = gate.clone();
            let done = done.clone();
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                let mut rng = Rng::new(99);
                let mut changes = 0_u64;
                while !done.load(SeqCst) {
                    gate.set_limit(rng.below(MAX_LIMIT as u64 + 1) as usize);
                    changes += 1;
                    thread::yield_now();
                }
                gate.set_limit(MAX_LIMIT);
                changes
            })
        };

        let workers: Vec<_> = (0..THREADS)
            .map(|seed| {
                let gate = gate.clone();
                let active = active.clone();
                let admitted = admitted.clone();
                let start = start.clone();
                thread::spawn(move || {
                    start.wait();
                    let mut rng = Rng::new(seed);
                    for round in 0..ROUNDS {
                        let permit = match rng.below(8) {
                            0 => gate.try_acquire(),
                            1 => gate.acquire_timeout(Duration::from_micros(200)),
                            2 => Some(block_on(gate.acquire())),
                            3 => {
                                // Give up after one poll, maybe after being granted.
                                let mut future = gate.acquire();
                                match poll_with(&mut future, Waker::noop()) {
                                    Poll::Ready(permit) => Some(permit),
                                    Poll::Pending => None,
                                }
                            }
                            _ => Some(gate.acquire_blocking()),
                        };
                        let Some(permit) = permit else { continue };
                        admitted.fetch_add(1, SeqCst);
                        let now = active.fetch_add(1, SeqCst) + 1;
                        assert!(
                            now <= MAX_LIMIT,
                            "{now} holders, limit never above {MAX_LIMIT}"
                        );
                        if round % 64 == 0 {
                            assert!(gate.in_flight() <= MAX_LIMIT);
                        }
                        if rng.below(4) == 0 {
                            // Hold it across a reschedule so that the others pile up.
                            thread::yield_now();
                        }
                        active.fetch_sub(1, SeqCst);
                        drop(permit);
                    }
                })
            })
            .collect();

        // The limit may sit at 0 for a moment; the changer keeps moving it until the
        // workers are done.
        for worker in workers {
            worker.join().expect("worker panicked");
        }
        done.store(true, SeqCst);
        let changes = changer.join().expect("changer panicked");
        assert!(changes > 0);
        assert!(admitted.load(SeqCst) > 0);
        assert_eq!(active.load(SeqCst), 0);
        assert_eq!((gate.in_flight(), gate.waiting()), (0, 0));
        assert_eq!(gate.limit(), MAX_LIMIT);
        let all: Vec<_> = (0..MAX_LIMIT)
            .map(|_| gate.try_acquire().expect("every permit came back"))
            .collect();
        assert!(gate.try_acquire().is_none());
        drop(all);
    });
}

/// Threads enqueue deferred work of every kind while others take permits, drain the
/// queue and release held permits, and the limit moves. Every piece of work is
/// admitted or aborted exactly once, the drains count exactly the aborts, and the
/// gate ends empty.
#[test]
fn stress_deferred_enqueue_and_drain() {
    const ENQUEUERS: u64 = 3;
    const PER_ENQUEUER: u64 = 5_000;
    const MAX_LIMIT: usize = 4;
    bounded(STRESS_HANG, || {
        let gate = Gate::new(2);
        let held = Held::default();
        let done = Arc::new(AtomicBool::new(false));
        let start = Arc::new(Barrier::new(ENQUEUERS as usize + 2));

        let enqueuers: Vec<_> = (0..ENQUEUERS)
            .map(|seed| {
                let gate = gate.clone();
                let held = held.clone();
                let start = start.clone();
                thread::spawn(move || {
                    start.wait();
                    let mut rng = Rng::new(seed + 100);
                    let mut records = Vec::new();
                    for _ in 0..PER_ENQUEUER {
                        let mode = match rng.below(3) {
                            0 => Mode::Hold,
                            1 => Mode::Return,
                            _ => Mode::DropNow,
                        };
                        let (work, record) = held.probe(mode);
                        gate.enqueue(work);
                        records.push(record);
                        if rng.below(16) == 0 {
                            thread::yield_now();
                        }
                    }
                    records
                })
            })
            .collect();
        let acquirers: Vec<_> = (0..2_u64)
            .map(|seed| {
                let gate = gate.clone();
                let start = start.clone();
                thread::spawn(move || {
                    start.wait();
                    let mut rng = Rng::new(seed + 200);
                    for _ in 0..2_000 {
                        let permit = if rng.below(2) == 0 {
                            gate.acquire_blocking()
                        } else {
                            block_on(gate.acquire())
                        };
                        assert!(gate.in_flight() <= MAX_LIMIT);
                        thread::yield_now();
                        drop(permit);
                    }
                })
            })
            .collect();
        let drainer = {
            let gate = gate.clone();
            let done = done.clone();
            thread::spawn(move || {
                let mut rng = Rng::new(300);
                let mut drained = 0;
                while !done.load(SeqCst) {
                    if rng.below(4) == 0 {
                        drained += gate.drain_deferred();
                    }
                    gate.set_limit(1 + rng.below(MAX_LIMIT as u64) as usize);
                    thread::yield_now();
                }
                drained
            })
        };
        let releaser = {
            let held = held.clone();
            let done = done.clone();
            thread::spawn(move || {
                while !done.load(SeqCst) {
                    if held.release_some() == 0 {
                        thread::yield_now();
                    }
                }
            })
        };

        let records: Vec<Arc<Record>> = enqueuers
            .into_iter()
            .flat_map(|enqueuer| enqueuer.join().expect("enqueuer panicked"))
            .collect();
        for acquirer in acquirers {
            acquirer.join().expect("acquirer panicked");
        }
        done.store(true, SeqCst);
        let mut drained = drainer.join().expect("drainer panicked");
        releaser.join().expect("releaser panicked");

        // Settle what is left: abort what still waits, release what is still held.
        drained += gate.drain_deferred();
        held.release_all();
        assert_eq!(gate.drain_deferred(), 0);

        assert_eq!(records.len() as u64, ENQUEUERS * PER_ENQUEUER);
        for record in &records {
            record.assert_exactly_once();
        }
        let aborted: usize = records.iter().map(|record| record.aborted()).sum();
        assert_eq!(
            drained, aborted,
            "each drain counts exactly what it aborted"
        );
        assert_eq!((gate.in_flight(), gate.waiting()), (0, 0));
        assert_eq!(held.count(), 0);
    });
}
