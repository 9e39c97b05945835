//! Loom models of [`sluice_core::completion`].
//!
//! A `Completer` fills the slot on one thread while the other side waits for it with
//! `wait`, as a future under `block_on`, or by peeking with `try_take` first. The
//! value is delivered exactly once (it is a drop-counting value, so a lost one would
//! show), and a `Completer` dropped unfilled makes the waiter see `None` rather than
//! block forever (which loom would report as a deadlock).
//!
//! Run with `RUSTFLAGS="--cfg sluice_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release`.

#![cfg(sluice_loom)]

use loom::sync::Arc;
use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::SeqCst;
use loom::thread;
use sluice_core::completion;

/// A value that counts how many times it was dropped.
#[derive(Debug)]
struct Tracked {
    id: u32,
    drops: Arc<AtomicUsize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
    }
}

#[test]
fn complete_races_wait() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (completer, completion) = completion::<Tracked>();
        let filler = {
            let drops = drops.clone();
            thread::spawn(move || completer.complete(Tracked { id: 7, drops }))
        };
        let value = completion.wait().expect("the completer filled the slot");
        assert_eq!(value.id, 7);
        filler.join().expect("filler panicked");
        assert_eq!(
            drops.load(SeqCst),
            0,
            "the value was dropped before delivery"
        );
        drop(value);
        assert_eq!(drops.load(SeqCst), 1);
    });
}

#[test]
fn complete_races_block_on() {
    loom::model(|| {
        let (completer, completion) = completion::<u32>();
        let filler = thread::spawn(move || completer.complete(7));
        assert_eq!(loom::future::block_on(completion), Some(7));
        filler.join().expect("filler panicked");
    });
}

#[test]
fn complete_races_try_take_then_wait() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (completer, completion) = completion::<Tracked>();
        let filler = {
            let drops = drops.clone();
            thread::spawn(move || completer.complete(Tracked { id: 7, drops }))
        };
        let early = completion.try_take();
        let late = completion.wait();
        filler.join().expect("filler panicked");

        assert_eq!(
            usize::from(early.is_some()) + usize::from(late.is_some()),
            1,
            "delivered twice or never: {early:?}, {late:?}"
        );
        let value = early.or(late).expect("delivered once");
        assert_eq!(value.id, 7);
        assert_eq!(drops.load(SeqCst), 0);
        drop(value);
        assert_eq!(drops.load(SeqCst), 1);
    });
}

#[test]
fn dropped_completer_ends_wait_with_none() {
    loom::model(|| {
        let (completer, completion) = completion::<u32>();
        let dropper = thread::spawn(move || drop(completer));
        assert_eq!(completion.wait(), None);
        dropper.join().expect("dropper panicked");
    });
}

#[test]
fn dropped_completer_ends_block_on_with_none() {
    loom::model(|| {
        let (completer, completion) = completion::<u32>();
        let dropper = thread::spawn(move || drop(completer));
        assert_eq!(loom::future::block_on(completion), None);
        dropper.join().expect("dropper panicked");
    });
}

#[test]
fn dropped_completion_drops_value_once() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (completer, completion) = completion::<Tracked>();
        let filler = {
            let drops = drops.clone();
            thread::spawn(move || completer.complete(Tracked { id: 7, drops }))
        };
        drop(completion);
        filler.join().expect("filler panicked");
        assert_eq!(
            drops.load(SeqCst),
            1,
            "an undelivered value is dropped once"
        );
    });
}

/// A task's own slot (`OneShot`) whose waiting side leaves while the task answers: the
/// value is dropped exactly once, by the side that holds it last, and nothing is left.
#[test]
fn abandon_racing_complete_drops_the_value_once() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let slot = Arc::new(sluice_core::OneShot::new());
        let filler = {
            let (slot, drops) = (slot.clone(), drops.clone());
            thread::spawn(move || drop(slot.complete(Tracked { id: 3, drops })))
        };
        drop(slot.abandon());
        filler.join().expect("filler panicked");
        assert!(slot.try_take().is_none());
        assert_eq!(drops.load(SeqCst), 1);
    });
}

#[test]
fn a_slot_seen_closed_without_its_lock_has_its_value_for_the_taker() {
    loom::model(|| {
        let (completer, completion) = completion::<u32>();
        let filler = thread::spawn(move || completer.complete(7));
        // `is_closed` reads the lock-free mirror: once it says closed, the value must
        // be there for whoever takes the lock next.
        if completion.is_closed() {
            assert_eq!(completion.try_take(), Some(7));
        } else {
            assert_eq!(completion.wait(), Some(7));
        }
        filler.join().expect("filler panicked");
    });
}
