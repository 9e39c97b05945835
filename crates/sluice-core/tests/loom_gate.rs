//! Loom models of [`sluice_core::Gate`].
//!
//! Each model runs two or three threads through the gate under loom's exhaustive
//! scheduler and checks the invariants the gate documents:
//!
//! - blocked threads never push concurrency past the limit (limits 1 and 2);
//! - raising the limit from zero admits a thread already blocked (no lost wakeup);
//! - lowering the limit while permits are held admits nobody until in-flight is below
//!   the new limit, and the gate ends empty with the new limit in force;
//! - a released permit goes to the waiter at the head of the queue, never to a
//!   newcomer racing the release;
//! - an `Acquire` future dropped while a permit is released concurrently leaks no
//!   permit, and a second waiter gets the permit the dropped one would have had;
//! - queued [`Deferred`] work racing a release and `drain_deferred` is admitted or
//!   aborted exactly once, never both, and in-flight returns to zero; the same for
//!   work queued as its own place ([`SharedDeferred`], `enqueue_shared_at`), and
//!   for a holder passing its permit straight to the head (`Permit::pass_on`), which
//!   also never passes it past a limit lowered meanwhile;
//! - work queued at different priorities (and a blocked thread, which waits at
//!   `Normal`) racing a release is admitted exactly once within the limit, and the
//!   `High` one first whenever both were queued before the release.
//!
//! Run with `RUSTFLAGS="--cfg sluice_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release`.

#![cfg(sluice_loom)]

use loom::sync::atomic::AtomicBool;
use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::SeqCst;
use loom::sync::{Arc, Mutex};
use loom::thread;
use sluice_core::{Deferred, Gate, Permit, Priority, SharedDeferred};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Three threads (two spawned plus the model's own) each take a permit with
/// `acquire_blocking`, count themselves in, check the bound, count out and release.
fn blocking_threads_respect(limit: usize) {
    loom::model(move || {
        let gate = Gate::new(limit);
        let active = Arc::new(AtomicUsize::new(0));
        let work = {
            let gate = gate.clone();
            let active = active.clone();
            move || {
                let permit = gate.acquire_blocking();
                let now = active.fetch_add(1, SeqCst) + 1;
                assert!(now <= limit, "{now} holders at once with limit {limit}");
                active.fetch_sub(1, SeqCst);
                drop(permit);
            }
        };
        let others: Vec<_> = (0..2).map(|_| thread::spawn(work.clone())).collect();
        work();
        for other in others {
            other.join().expect("worker panicked");
        }
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
        assert_eq!(active.load(SeqCst), 0);
    });
}

#[test]
fn blocking_acquire_respects_limit_one() {
    blocking_threads_respect(1);
}

#[test]
fn blocking_acquire_respects_limit_two() {
    blocking_threads_respect(2);
}

#[test]
fn raising_limit_from_zero_admits_blocked_thread() {
    loom::model(|| {
        let gate = Gate::new(0);
        let waiter = {
            let gate = gate.clone();
            thread::spawn(move || {
                let permit = gate.acquire_blocking();
                assert_eq!(gate.in_flight(), 1);
                drop(permit);
            })
        };
        gate.set_limit(1);
        // A lost wakeup leaves the waiter blocked forever: loom reports a deadlock.
        waiter.join().expect("waiter panicked");
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
        assert!(gate.try_acquire().is_some());
    });
}

#[test]
fn raising_limit_from_zero_admits_blocked_future() {
    loom::model(|| {
        let gate = Gate::new(0);
        let waiter = {
            let gate = gate.clone();
            thread::spawn(move || {
                let permit = loom::future::block_on(gate.acquire());
                drop(permit);
            })
        };
        gate.set_limit(1);
        waiter.join().expect("waiter panicked");
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
    });
}

#[test]
fn raising_limit_admits_two_blocked_threads() {
    loom::model(|| {
        let gate = Gate::new(0);
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let gate = gate.clone();
                thread::spawn(move || {
                    let permit = gate.acquire_blocking();
                    assert!(gate.in_flight() <= 2);
                    drop(permit);
                })
            })
            .collect();
        gate.set_limit(2);
        for waiter in waiters {
            waiter.join().expect("waiter panicked");
        }
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
    });
}

#[test]
fn lowering_limit_while_permits_are_held() {
    loom::model(|| {
        let gate = Gate::new(2);
        let first = gate.try_acquire().expect("room for the first");
        let second = gate.try_acquire().expect("room for the second");
        let second_released = Arc::new(AtomicBool::new(false));

        // Blocks (or arrives late and takes the fast path).
        let waiter = {
            let gate = gate.clone();
            let second_released = second_released.clone();
            thread::spawn(move || {
                let permit = gate.acquire_blocking();
                // The limit drops to 1 before `first` is released, so the only release
                // that can make room below the limit is that of `second`.
                assert!(
                    second_released.load(SeqCst),
                    "admitted while in-flight was not below the lowered limit"
                );
                drop(permit);
            })
        };
        let lowerer = {
            let gate = gate.clone();
            thread::spawn(move || {
                gate.set_limit(1);
                drop(first);
            })
        };
        second_released.store(true, SeqCst);
        drop(second);

        waiter.join().expect("waiter panicked");
        lowerer.join().expect("lowerer panicked");
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
        assert_eq!(gate.limit(), 1);
        let only = gate.try_acquire().expect("room under the new limit");
        assert!(gate.try_acquire().is_none(), "the new limit is one");
        drop(only);
        assert_eq!(gate.in_flight(), 0);
    });
}

#[test]
fn mixed_waiters_under_raised_limit() {
    loom::model(|| {
        let gate = Gate::new(1);
        let active = Arc::new(AtomicUsize::new(0));
        let enter = |active: &AtomicUsize| {
            let now = active.fetch_add(1, SeqCst) + 1;
            assert!(now <= 2, "{now} holders, limit never above 2");
            active.fetch_sub(1, SeqCst);
        };
        let blocking = {
            let gate = gate.clone();
            let active = active.clone();
            thread::spawn(move || {
                let permit = gate.acquire_blocking();
                enter(&active);
                drop(permit);
            })
        };
        let future = {
            let gate = gate.clone();
            let active = active.clone();
            thread::spawn(move || {
                let permit = loom::future::block_on(gate.acquire());
                enter(&active);
                drop(permit);
            })
        };
        gate.set_limit(2);
        blocking.join().expect("blocking waiter panicked");
        future.join().expect("future waiter panicked");
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
    });
}

/// Polls `future` once with a waker that does nothing.
fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    Pin::new(future).poll(&mut cx)
}

#[test]
fn dropped_acquire_racing_release_leaks_nothing() {
    loom::model(|| {
        let gate = Gate::new(1);
        let held = gate.try_acquire().expect("the gate is open");
        let mut pending = gate.acquire();
        assert!(poll_once(&mut pending).is_pending(), "the gate is full");
        assert_eq!(gate.waiting(), 1);

        let releaser = thread::spawn(move || drop(held));
        drop(pending);
        releaser.join().expect("releaser panicked");

        assert_eq!(gate.in_flight(), 0, "a permit leaked");
        assert_eq!(gate.waiting(), 0);
        let permit = gate.try_acquire().expect("the gate is empty again");
        drop(permit);
    });
}

#[test]
fn dropped_acquire_passes_permit_to_next_waiter() {
    loom::model(|| {
        let gate = Gate::new(1);
        let held = gate.try_acquire().expect("the gate is open");
        let mut first = gate.acquire();
        assert!(poll_once(&mut first).is_pending(), "the gate is full");

        let second = {
            let gate = gate.clone();
            thread::spawn(move || {
                let permit = loom::future::block_on(gate.acquire());
                assert_eq!(gate.in_flight(), 1);
                drop(permit);
            })
        };
        let releaser = thread::spawn(move || drop(held));
        drop(first);

        // If the permit granted to `first` were not passed on, `second` would block
        // forever and loom would report a deadlock.
        releaser.join().expect("releaser panicked");
        second.join().expect("second waiter panicked");
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
    });
}

#[test]
fn dropped_acquire_passes_permit_to_blocked_thread() {
    loom::model(|| {
        let gate = Gate::new(1);
        let held = gate.try_acquire().expect("the gate is open");
        let mut first = gate.acquire();
        assert!(poll_once(&mut first).is_pending(), "the gate is full");

        let second = {
            let gate = gate.clone();
            thread::spawn(move || drop(gate.acquire_blocking()))
        };
        let releaser = thread::spawn(move || drop(held));
        drop(first);

        releaser.join().expect("releaser panicked");
        second.join().expect("second waiter panicked");
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
    });
}

/// A release hands the permit to the waiter at the head (here a future queued before
/// the race starts), so a newcomer racing the release never gets in.
#[test]
fn newcomer_racing_release_never_overtakes() {
    loom::model(|| {
        let gate = Gate::new(1);
        let held = gate.try_acquire().expect("the gate is open");
        let mut queued = gate.acquire();
        assert!(poll_once(&mut queued).is_pending(), "the gate is full");

        let newcomer = {
            let gate = gate.clone();
            thread::spawn(move || gate.try_acquire().is_some())
        };
        drop(held);
        assert!(
            !newcomer.join().expect("newcomer panicked"),
            "a newcomer overtook the queued future"
        );
        let Poll::Ready(permit) = poll_once(&mut queued) else {
            panic!("the release was handed to the queued future");
        };
        assert_eq!(gate.in_flight(), 1);
        drop(permit);
        drop(queued);
        assert_eq!(gate.in_flight(), 0);
    });
}

/// The first waiter to queue sets the gate's `WAITING` bit while the holder releases
/// without the lock: whichever comes first, the waiter ends up with the permit (a lost
/// wakeup would leave it blocked, which loom reports as a deadlock).
#[test]
fn lock_free_release_racing_the_first_waiter_loses_no_wakeup() {
    loom::model(|| {
        let gate = Gate::new(1);
        let held = gate.try_acquire().expect("the gate is open");
        let waiter = {
            let gate = gate.clone();
            thread::spawn(move || {
                let permit = gate.acquire_blocking();
                assert_eq!(gate.in_flight(), 1);
                drop(permit);
            })
        };
        drop(held);
        waiter.join().expect("waiter panicked");
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
        // With nobody left waiting, the lock-free path is open again.
        let again = gate.try_acquire().expect("the gate is open again");
        drop(again);
    });
}

/// A lock-free admission racing a lowered limit: once `set_limit(1)` has returned, a
/// newcomer finds the room the racing admission took, so the two never hold permits
/// together past the new limit.
#[test]
fn lock_free_admission_racing_a_lowered_limit_stays_within_it() {
    loom::model(|| {
        let gate = Gate::new(2);
        let racer = {
            let gate = gate.clone();
            thread::spawn(move || gate.try_acquire())
        };
        gate.set_limit(1);
        let late = gate.try_acquire();
        let raced = racer.join().expect("racer panicked");
        assert!(
            !(late.is_some() && raced.is_some()),
            "two permits under a limit of one"
        );
        assert_eq!(gate.limit(), 1);
        drop((late, raced));
        assert_eq!(gate.in_flight(), 0);
    });
}

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
#[derive(Clone, Copy)]
enum Mode {
    /// Keeps it in `held` until the test releases it.
    Hold,
    /// Hands it back, as cancelled work does.
    Return,
    /// Drops it inside `admit` (which releases it re-entrantly).
    DropNow,
}

/// Deferred work that records what happened to it.
struct Probe {
    record: Arc<Record>,
    mode: Mode,
    held: Arc<Mutex<Vec<Permit>>>,
}

impl Deferred for Probe {
    fn admit(self: Box<Self>, permit: Permit) -> Option<Permit> {
        self.record.admitted.fetch_add(1, SeqCst);
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

/// Permits kept by `Mode::Hold` probes, and a way to make probes.
#[derive(Clone, Default)]
struct Held(Arc<Mutex<Vec<Permit>>>);

impl Held {
    fn probe(&self, mode: Mode) -> (Box<dyn Deferred>, Arc<Record>) {
        let record = Arc::new(Record::default());
        let probe = Probe {
            record: record.clone(),
            mode,
            held: self.0.clone(),
        };
        (Box::new(probe), record)
    }

    fn count(&self) -> usize {
        self.0.lock().expect("held poisoned").len()
    }

    /// Releases every held permit, outside the lock (a release may admit a probe that
    /// takes the lock), until none is left.
    fn release_all(&self) {
        loop {
            let permits = std::mem::take(&mut *self.0.lock().expect("held poisoned"));
            if permits.is_empty() {
                return;
            }
            drop(permits);
        }
    }
}

#[test]
fn enqueue_racing_release_is_admitted_once() {
    loom::model(|| {
        let gate = Gate::new(1);
        let held = Held::default();
        let permit = gate.try_acquire().expect("the gate is open");
        let (work, record) = held.probe(Mode::Hold);

        let enqueuer = {
            let gate = gate.clone();
            thread::spawn(move || gate.enqueue(work))
        };
        drop(permit);
        enqueuer.join().expect("enqueuer panicked");

        assert_eq!(record.admitted(), 1, "room was freed, so the work must run");
        assert_eq!(record.aborted(), 0);
        assert_eq!(gate.in_flight(), 1);
        assert_eq!(held.count(), 1);
        held.release_all();
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
    });
}

#[test]
fn enqueue_racing_drain_and_release_runs_or_aborts_once() {
    loom::model(|| {
        let gate = Gate::new(1);
        let held = Held::default();
        let permit = gate.try_acquire().expect("the gate is open");
        let (work, record) = held.probe(Mode::Hold);

        let enqueuer = {
            let gate = gate.clone();
            thread::spawn(move || gate.enqueue(work))
        };
        let drainer = {
            let gate = gate.clone();
            thread::spawn(move || gate.drain_deferred())
        };
        drop(permit);
        enqueuer.join().expect("enqueuer panicked");
        let drained = drainer.join().expect("drainer panicked");

        record.assert_exactly_once();
        assert_eq!(drained, record.aborted());
        assert_eq!(gate.in_flight(), record.admitted());
        held.release_all();
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
    });
}

/// A probe queued as its own place: the gate hands the `Arc` itself back to admit or
/// abort it, and a second call would find the probe gone (and fail the model).
struct SharedProbe(Mutex<Option<Box<dyn Deferred>>>);

impl SharedProbe {
    fn take(&self) -> Box<dyn Deferred> {
        let taken = self.0.lock().expect("probe poisoned").take();
        taken.expect("admitted or aborted at most once")
    }
}

impl SharedDeferred for SharedProbe {
    fn admit(self: std::sync::Arc<Self>, permit: Permit) -> Option<Permit> {
        self.take().admit(permit)
    }

    fn abort(self: std::sync::Arc<Self>) -> bool {
        self.take().abort()
    }
}

#[test]
fn shared_enqueue_racing_drain_and_release_runs_or_aborts_once() {
    loom::model(|| {
        let gate = Gate::new(1);
        let held = Held::default();
        let permit = gate.try_acquire().expect("the gate is open");
        let (work, record) = held.probe(Mode::Hold);
        let work = std::sync::Arc::new(SharedProbe(Mutex::new(Some(work))));

        let enqueuer = {
            let gate = gate.clone();
            thread::spawn(move || gate.enqueue_shared_at(work, Priority::Normal))
        };
        let drainer = {
            let gate = gate.clone();
            thread::spawn(move || gate.drain_deferred())
        };
        drop(permit);
        enqueuer.join().expect("enqueuer panicked");
        let drained = drainer.join().expect("drainer panicked");

        record.assert_exactly_once();
        assert_eq!(drained, record.aborted());
        assert_eq!(gate.in_flight(), record.admitted());
        held.release_all();
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
    });
}

/// A holder that ends passes its permit straight to the queued work at the head
/// (`Permit::pass_on`, a worker running the next queued task itself) while a newcomer
/// queues as its own place and the gate is drained: each piece of work is admitted or
/// aborted exactly once, never past the limit, and the gate ends empty.
#[test]
fn pass_on_racing_shared_enqueue_and_drain_runs_or_aborts_once() {
    loom::model(|| {
        let gate = Gate::new(1);
        let held = Held::default();
        let permit = gate.try_acquire().expect("the gate is open");
        let (first, first_record) = held.probe(Mode::Hold);
        let (second, second_record) = held.probe(Mode::Hold);
        let first = std::sync::Arc::new(SharedProbe(Mutex::new(Some(first))));
        let second = std::sync::Arc::new(SharedProbe(Mutex::new(Some(second))));
        gate.enqueue_shared_at(first, Priority::Normal);

        let enqueuer = {
            let gate = gate.clone();
            thread::spawn(move || gate.enqueue_shared_at(second, Priority::Normal))
        };
        let drainer = {
            let gate = gate.clone();
            thread::spawn(move || gate.drain_deferred())
        };
        if let Some((next, passed)) = permit.pass_on() {
            assert!(next.run_here(passed).is_none(), "a holding probe keeps it");
        }
        enqueuer.join().expect("enqueuer panicked");
        let drained = drainer.join().expect("drainer panicked");

        assert!(gate.in_flight() <= 1);
        assert_eq!(gate.in_flight(), held.count());
        held.release_all();
        first_record.assert_exactly_once();
        second_record.assert_exactly_once();
        assert!(drained <= 2);
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
    });
}

/// A permit passed on while the throttle lowers the limit: the room goes on only if a
/// release would have handed it on, so nothing runs past the lowered limit once it
/// is in force, and the queued work is admitted once the limit is raised again.
#[test]
fn pass_on_racing_a_lowered_limit_stays_within_it() {
    loom::model(|| {
        let gate = Gate::new(1);
        let held = Held::default();
        let permit = gate.try_acquire().expect("the gate is open");
        let (work, record) = held.probe(Mode::Hold);
        let work = std::sync::Arc::new(SharedProbe(Mutex::new(Some(work))));
        gate.enqueue_shared_at(work, Priority::Normal);

        let lowered = Arc::new(AtomicBool::new(false));
        let controller = {
            let gate = gate.clone();
            let lowered = lowered.clone();
            thread::spawn(move || {
                gate.set_limit(0);
                lowered.store(true, SeqCst);
            })
        };
        let lowered_before = lowered.load(SeqCst);
        let passed_on = match permit.pass_on() {
            Some((next, passed)) => {
                assert!(next.run_here(passed).is_none(), "a holding probe keeps it");
                true
            }
            None => false,
        };
        controller.join().expect("controller panicked");

        // A limit lowered to zero before the pass is in force: nothing passes.
        assert!(
            !(lowered_before && passed_on),
            "passed on past a lowered limit"
        );
        // Passed on only before the limit fell; otherwise it waits for room.
        assert_eq!(record.admitted(), usize::from(passed_on));
        assert_eq!(gate.in_flight(), held.count());
        held.release_all();
        assert_eq!(gate.in_flight(), 0);
        gate.set_limit(1);
        record.assert_exactly_once();
        held.release_all();
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
    });
}

/// The throttle's path: a controller thread lowers and raises the limit while queued
/// work waits and a holder releases. Each piece of work is admitted exactly once, and
/// once the limit is back no more than it admits are in flight.
#[test]
fn limit_moved_while_deferred_work_waits_admits_each_once() {
    loom::model(|| {
        let gate = Gate::new(2);
        let held = Held::default();
        let permit = gate.try_acquire().expect("the gate is open");
        let blocker = gate.try_acquire().expect("the gate is open");
        let (first, first_record) = held.probe(Mode::Hold);
        let (second, second_record) = held.probe(Mode::Hold);
        gate.enqueue(first);
        gate.enqueue(second);

        let controller = {
            let gate = gate.clone();
            thread::spawn(move || {
                gate.set_limit(1);
                gate.set_limit(3);
            })
        };
        drop(permit);
        controller.join().expect("controller panicked");

        // Limit 3, one blocker held, one permit released: both waiters fit.
        assert_eq!(first_record.admitted(), 1);
        assert_eq!(second_record.admitted(), 1);
        assert_eq!(gate.in_flight(), 3);
        drop(blocker);
        held.release_all();
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
    });
}

#[test]
fn returned_and_held_deferred_racing_release() {
    loom::model(|| {
        let gate = Gate::new(1);
        let held = Held::default();
        let permit = gate.try_acquire().expect("the gate is open");
        let (returning, returning_record) = held.probe(Mode::Return);
        let (holding, holding_record) = held.probe(Mode::Hold);

        let first = {
            let gate = gate.clone();
            thread::spawn(move || gate.enqueue(returning))
        };
        let second = {
            let gate = gate.clone();
            thread::spawn(move || gate.enqueue(holding))
        };
        drop(permit);
        first.join().expect("first enqueuer panicked");
        second.join().expect("second enqueuer panicked");

        // Whichever order they were admitted in, releasing the held permit lets the
        // other through; a returned permit passes straight on.
        held.release_all();
        assert_eq!(gate.drain_deferred(), 0, "nothing may be left queued");
        returning_record.assert_exactly_once();
        holding_record.assert_exactly_once();
        assert_eq!(returning_record.admitted(), 1);
        assert_eq!(holding_record.admitted(), 1);
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
    });
}

#[test]
fn deferred_dropping_its_permit_admits_blocked_thread() {
    loom::model(|| {
        let gate = Gate::new(1);
        let held = Held::default();
        let permit = gate.try_acquire().expect("the gate is open");
        let (work, record) = held.probe(Mode::DropNow);

        let enqueuer = {
            let gate = gate.clone();
            thread::spawn(move || gate.enqueue(work))
        };
        let blocked = {
            let gate = gate.clone();
            thread::spawn(move || drop(gate.acquire_blocking()))
        };
        drop(permit);
        enqueuer.join().expect("enqueuer panicked");
        blocked.join().expect("blocked thread panicked");

        assert_eq!(record.admitted(), 1);
        assert_eq!(record.aborted(), 0);
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
    });
}

/// Deferred work that notes its name when admitted and counts itself in flight until
/// its permit is released through [`Ranked::release_all`].
struct Named {
    name: &'static str,
    mode: Mode,
    ranked: Ranked,
}

impl Deferred for Named {
    fn admit(self: Box<Self>, permit: Permit) -> Option<Permit> {
        let now = self.ranked.active.fetch_add(1, SeqCst) + 1;
        assert!(now <= 1, "{now} holders at once with limit 1");
        self.ranked
            .order
            .lock()
            .expect("order poisoned")
            .push(self.name);
        match self.mode {
            Mode::Hold => {
                self.ranked.held.lock().expect("held poisoned").push(permit);
                None
            }
            Mode::Return => {
                self.ranked.active.fetch_sub(1, SeqCst);
                Some(permit)
            }
            Mode::DropNow => {
                self.ranked.active.fetch_sub(1, SeqCst);
                drop(permit);
                None
            }
        }
    }

    fn abort(self: Box<Self>) -> bool {
        panic!("nothing drains in these models");
    }
}

/// What the priority models share: the admission order, an independent count of
/// holders, and the permits `Mode::Hold` work keeps.
#[derive(Clone)]
struct Ranked {
    order: Arc<Mutex<Vec<&'static str>>>,
    active: Arc<AtomicUsize>,
    held: Arc<Mutex<Vec<Permit>>>,
}

impl Ranked {
    /// Starts with one holder: the permit the model's own thread takes first.
    fn new() -> Self {
        Ranked {
            order: Arc::new(Mutex::new(Vec::new())),
            active: Arc::new(AtomicUsize::new(1)),
            held: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn work(&self, name: &'static str, mode: Mode) -> Box<dyn Deferred> {
        Box::new(Named {
            name,
            mode,
            ranked: self.clone(),
        })
    }

    /// Releases a permit, counting it out first so the one it admits counts in after.
    fn release(&self, permit: Permit) {
        self.active.fetch_sub(1, SeqCst);
        drop(permit);
    }

    fn release_all(&self) {
        loop {
            let permits = std::mem::take(&mut *self.held.lock().expect("held poisoned"));
            if permits.is_empty() {
                return;
            }
            for permit in permits {
                self.release(permit);
            }
        }
    }

    fn order(&self) -> Vec<&'static str> {
        self.order.lock().expect("order poisoned").clone()
    }
}

/// Two threads queue work at `Low` and `High` while the model's thread releases the
/// only permit. Each is admitted once, one at a time; if both were waiting when the
/// permit went (nobody else can admit or queue, so `waiting() == 2` just before the
/// release proves it), `High` goes first.
#[test]
fn priorities_racing_release() {
    loom::model(|| {
        let gate = Gate::new(1);
        let ranked = Ranked::new();
        let permit = gate.try_acquire().expect("the gate is open");
        let enqueuers: Vec<_> = [("low", Priority::Low), ("high", Priority::High)]
            .into_iter()
            .map(|(name, priority)| {
                let gate = gate.clone();
                let work = ranked.work(name, Mode::Hold);
                thread::spawn(move || gate.enqueue_at(work, priority))
            })
            .collect();
        let both_queued = gate.waiting() == 2;
        ranked.release(permit);
        for enqueuer in enqueuers {
            enqueuer.join().expect("enqueuer panicked");
        }
        ranked.release_all();

        let order = ranked.order();
        assert_eq!(order.len(), 2, "each admitted exactly once: {order:?}");
        assert!(
            order.contains(&"low") && order.contains(&"high"),
            "{order:?}"
        );
        if both_queued {
            assert_eq!(order, ["high", "low"]);
        }
        assert_eq!(ranked.active.load(SeqCst), 0);
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
    });
}

/// A blocked thread waits at `Normal`: `High` work queued with it is admitted ahead of
/// it when both waited for the same release, and the permit that work drops at once
/// passes on to the thread.
#[test]
fn high_work_and_blocked_thread_racing_release() {
    loom::model(|| {
        let gate = Gate::new(1);
        let ranked = Ranked::new();
        let permit = gate.try_acquire().expect("the gate is open");
        let enqueuer = {
            let gate = gate.clone();
            let work = ranked.work("high", Mode::DropNow);
            thread::spawn(move || gate.enqueue_at(work, Priority::High))
        };
        let blocked = {
            let gate = gate.clone();
            let ranked = ranked.clone();
            thread::spawn(move || {
                let permit = gate.acquire_blocking();
                let now = ranked.active.fetch_add(1, SeqCst) + 1;
                assert!(now <= 1, "{now} holders at once with limit 1");
                ranked.order.lock().expect("order poisoned").push("thread");
                ranked.release(permit);
            })
        };
        let both_queued = gate.waiting() == 2;
        ranked.release(permit);
        enqueuer.join().expect("enqueuer panicked");
        blocked.join().expect("blocked thread panicked");

        let order = ranked.order();
        assert_eq!(order.len(), 2, "each admitted exactly once: {order:?}");
        if both_queued {
            assert_eq!(order, ["high", "thread"]);
        }
        assert_eq!(ranked.active.load(SeqCst), 0);
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.waiting(), 0);
    });
}
