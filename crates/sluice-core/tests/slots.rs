//! `SlotVec`: a vector filled in claimed ranges by several threads.

#![cfg(not(sluice_loom))]

use sluice_core::SlotVec;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

/// Counts its drops.
#[derive(Debug)]
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn smoke() {
    let slots = SlotVec::with_len(5);
    let mut a = slots.claim(2).expect("room");
    let mut b = slots.claim(3).expect("room");
    assert!(slots.claim(1).is_none(), "all five are claimed");
    for x in ["c", "d", "e"] {
        b.push(x.to_owned()).expect("in range");
    }
    assert_eq!(
        b.push("f".to_owned()),
        Err("f".to_owned()),
        "the range is full"
    );
    assert!(b.finish());
    for x in ["a", "b"] {
        a.push(x.to_owned()).expect("in range");
    }
    assert!(a.finish());
    assert_eq!(slots.into_vec().expect("filled"), ["a", "b", "c", "d", "e"]);
}

#[test]
fn stress_many_threads_many_claims() {
    const LEN: usize = 200_000;
    let slots = Arc::new(SlotVec::with_len(LEN));
    let workers: Vec<_> = (0..8)
        .map(|t| {
            let slots = slots.clone();
            thread::spawn(move || {
                let unit = 1 + t * 37;
                while let Some(mut claim) = slots.claim(unit) {
                    let start = claim.start();
                    for i in 0..unit {
                        claim.push(start + i).expect("in range");
                    }
                    assert!(claim.finish());
                }
                // The tail that no longer fits a whole unit.
                while let Some(mut claim) = slots.claim(1) {
                    let start = claim.start();
                    claim.push(start).expect("in range");
                    assert!(claim.finish());
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("no panic");
    }
    let slots = Arc::try_unwrap(slots).expect("unique");
    let out = slots.into_vec().expect("all filled");
    assert_eq!(out.len(), LEN);
    assert!(
        out.iter().enumerate().all(|(i, &v)| i == v),
        "every value in its slot"
    );
}

#[test]
fn destructors_run_once_whatever_happens() {
    let drops = Arc::new(AtomicUsize::new(0));
    let slots = SlotVec::<Counted>::with_len(6);
    let mut done = slots.claim(2).expect("room");
    let mut half = slots.claim(2).expect("room");
    for _ in 0..2 {
        done.push(Counted(drops.clone())).expect("in range");
    }
    assert!(done.finish());
    half.push(Counted(drops.clone())).expect("in range");
    drop(half);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the unfinished claim dropped its one value"
    );
    let slots = slots
        .into_vec()
        .expect_err("a claimed range was never finished");
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "a refused into_vec drops nothing"
    );
    drop(slots);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        3,
        "the finished values dropped with the vector"
    );
}

#[test]
fn into_vec_waits_for_every_claim() {
    let slots = SlotVec::<u8>::with_len(2);
    let claim = slots.claim(1).expect("room");
    let slots = slots.into_vec().expect_err("a claim is still out");
    drop(claim);
    let slots = slots
        .into_vec()
        .expect_err("the claimed slot was never filled");
    assert_eq!(slots.len(), 2);
}

#[test]
fn a_prefix_is_returned_when_the_rest_was_never_claimed() {
    let slots = SlotVec::with_len(10);
    let mut claim = slots.claim(3).expect("room");
    for x in 0..3 {
        claim.push(x).expect("in range");
    }
    assert!(claim.finish());
    let out = slots.into_vec().expect("a contiguous prefix");
    assert_eq!(out, [0, 1, 2]);
    assert!(out.capacity() >= 3);
}

#[test]
fn zero_sized_and_empty() {
    let empty: SlotVec<u8> = SlotVec::with_len(0);
    assert!(empty.is_empty());
    assert_eq!(empty.into_vec().expect("nothing to fill"), Vec::<u8>::new());
    let units = SlotVec::with_len(3);
    let mut claim = units.claim(3).expect("room");
    for _ in 0..3 {
        claim.push(()).expect("in range");
    }
    assert!(claim.finish());
    assert_eq!(units.into_vec().expect("filled").len(), 3);
}
