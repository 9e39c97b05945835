//! Loom models of `SlotVec`: claims from two threads never touch the same slot, and
//! whatever the interleaving, every value is dropped exactly once.
//!
//! Loom's `UnsafeCell` checks each slot access: two claims writing one slot, or a read
//! racing a write, fails the model.

#![cfg(sluice_loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use sluice_core::SlotVec;

/// Counts its drops.
#[derive(Debug)]
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn two_threads_fill_disjoint_ranges() {
    loom::model(|| {
        let slots = Arc::new(SlotVec::with_len(4));
        let worker = {
            let slots = slots.clone();
            thread::spawn(move || {
                let mut claim = slots.claim(2).expect("room");
                let base = claim.start();
                claim.push(base).expect("in range");
                claim.push(base + 1).expect("in range");
                assert!(claim.finish());
            })
        };
        let mut claim = slots.claim(2).expect("room");
        let base = claim.start();
        claim.push(base).expect("in range");
        claim.push(base + 1).expect("in range");
        assert!(claim.finish());
        worker.join().expect("no panic");
        let slots = Arc::try_unwrap(slots).expect("unique");
        let out = slots.into_vec().expect("all filled");
        assert_eq!(out, [0, 1, 2, 3]);
    });
}

#[test]
fn an_unfinished_claim_racing_a_finished_one_drops_each_value_once() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let slots = Arc::new(SlotVec::with_len(3));
        let worker = {
            let (slots, drops) = (slots.clone(), drops.clone());
            thread::spawn(move || {
                let mut claim = slots.claim(2).expect("room");
                claim.push(Counted(drops.clone())).expect("in range");
                // Its producer "panics" here: the claim is dropped half full.
                drop(claim);
            })
        };
        let mut claim = slots.claim(1).expect("room");
        claim.push(Counted(drops.clone())).expect("in range");
        assert!(claim.finish());
        worker.join().expect("no panic");
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "the half-full claim dropped its value"
        );
        drop(slots);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            2,
            "the finished value dropped with the vector"
        );
    });
}
