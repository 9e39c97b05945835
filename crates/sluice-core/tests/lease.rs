//! `Lease`: a held permit whose slot can be lent while its holder waits.

#![cfg(not(sluice_loom))]

use sluice_core::{Gate, Lease};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

#[test]
fn smoke() {
    let gate = Gate::new(1);
    let lease = Lease::new(gate.try_acquire().expect("room"));
    assert!(
        gate.try_acquire().is_none(),
        "the lease holds the only slot"
    );
    let lent = lease.lend().expect("held");
    assert_eq!(gate.in_flight(), 0);
    assert!(lease.lend().is_none(), "one slot, lent once");
    drop(lent);
    assert_eq!(gate.in_flight(), 1);
    lease.end();
    assert_eq!(gate.in_flight(), 0);
}

#[test]
fn a_guard_that_outlives_the_lease_takes_nothing_back() {
    let gate = Gate::new(2);
    let lease = Lease::new(gate.try_acquire().expect("room"));
    let lent = lease.lend().expect("held");
    lease.end();
    drop(lease);
    drop(lent);
    assert_eq!(gate.in_flight(), 0);
    assert!(gate.try_acquire().is_some());
}

#[test]
fn dropping_the_last_clone_releases_the_permit() {
    let gate = Gate::new(1);
    let lease = Lease::new(gate.try_acquire().expect("room"));
    let clone = lease.clone();
    drop(lease);
    assert_eq!(gate.in_flight(), 1, "a clone still holds it");
    drop(clone);
    assert_eq!(gate.in_flight(), 0);
}

#[test]
fn taking_the_slot_back_may_exceed_a_full_gate() {
    let gate = Gate::new(1);
    let lease = Lease::new(gate.try_acquire().expect("room"));
    let lent = lease.lend().expect("held");
    let other = gate.try_acquire().expect("the lent slot");
    drop(lent);
    assert_eq!(
        gate.in_flight(),
        2,
        "the holder resumes, over the limit for a while"
    );
    drop(other);
    assert!(
        gate.try_acquire().is_none(),
        "nobody new until in-flight is under the limit"
    );
    lease.end();
    assert_eq!(gate.in_flight(), 0);
}

#[test]
fn lending_unblocks_a_waiter_stuck_behind_the_holder() {
    let gate = Gate::new(1);
    let lease = Lease::new(gate.try_acquire().expect("room"));
    let (done_tx, done_rx) = mpsc::channel();
    let waiter = {
        let gate = gate.clone();
        thread::spawn(move || {
            let _permit = gate.acquire_blocking();
            done_tx.send(()).expect("receiver alive");
        })
    };
    while gate.waiting() == 0 {
        thread::yield_now();
    }
    let lent = lease.lend().expect("held");
    done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("hung: the waiter was not admitted into the lent slot");
    waiter.join().expect("no panic");
    drop(lent);
    lease.end();
    assert_eq!(gate.in_flight(), 0);
}
