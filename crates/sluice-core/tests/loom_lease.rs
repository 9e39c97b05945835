//! Loom models of `Lease`: lending a held permit's slot while its holder waits.
//!
//! Whatever the interleaving of lend, the guard's drop, the lease's end and other
//! threads acquiring, no slot is leaked or counted twice: the gate ends at zero in
//! flight, and in-flight never exceeds the limit plus the one slot taken back.

#![cfg(sluice_loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use sluice_core::{Gate, Lease};

#[test]
fn lend_and_end_race_leaks_nothing() {
    loom::model(|| {
        let gate = Gate::new(1);
        let lease = Lease::new(gate.try_acquire().expect("room"));
        let lent = lease.lend().expect("held");
        let ender = {
            let lease = lease.clone();
            thread::spawn(move || lease.end())
        };
        drop(lent);
        ender.join().expect("no panic");
        drop(lease);
        assert_eq!(gate.in_flight(), 0);
    });
}

#[test]
fn a_lent_slot_admits_a_blocked_waiter() {
    loom::model(|| {
        let gate = Gate::new(1);
        let lease = Lease::new(gate.try_acquire().expect("room"));
        let running = Arc::new(AtomicUsize::new(0));
        let waiter = {
            let gate = gate.clone();
            let running = running.clone();
            thread::spawn(move || {
                let permit = gate.acquire_blocking();
                running.fetch_add(1, Ordering::SeqCst);
                drop(permit);
            })
        };
        // The holder waits for the waiter: it must lend, or this would deadlock.
        let lent = lease.lend().expect("held");
        waiter.join().expect("no panic");
        assert_eq!(running.load(Ordering::SeqCst), 1);
        drop(lent);
        assert_eq!(gate.in_flight(), 1, "the slot is taken back");
        lease.end();
        assert_eq!(gate.in_flight(), 0);
    });
}

#[test]
fn lending_twice_at_once_lends_one_slot() {
    loom::model(|| {
        let gate = Gate::new(1);
        let lease = Lease::new(gate.try_acquire().expect("room"));
        let other = {
            let lease = lease.clone();
            thread::spawn(move || lease.lend().is_some())
        };
        let here = lease.lend();
        let there = other.join().expect("no panic");
        // Exactly one lend can win while the other's guard is out; both may win in turn
        // only if one guard was dropped first, which `here` is not until below.
        assert!(gate.in_flight() <= 1);
        drop(here);
        let _ = there;
        lease.end();
        assert_eq!(gate.in_flight(), 0);
    });
}
