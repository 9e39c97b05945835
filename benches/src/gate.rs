//! Gate contention: [`sluice_core::Gate`] against `tokio::sync::Semaphore`, the same
//! operation on both sides.
//!
//! `threads` threads start together and each loops `try_acquire` until it has made
//! `pairs` successful acquire + release pairs (a permit taken and dropped at once). A
//! failed attempt spins, yielding the thread every [`YIELD_EVERY`] failures in a row
//! so that a preempted holder can run. With `limit` equal to `threads` no attempt ever
//! fails and the row measures the uncontended fast path shared by all threads' cache
//! lines; with `limit` 1 attempts fail and the row measures a contended hand-off.
//!
//! A [`Permit`](sluice_core::Permit) owns a reference to its gate (it travels with a
//! task), so taking one clones an `Arc` and dropping it releases that clone: two more
//! atomic operations on a shared cache line. The like-for-like anchor is therefore
//! `Semaphore::try_acquire_owned` on an `Arc<Semaphore>`, whose permit does the same;
//! the borrowed `Semaphore::try_acquire` is measured too, as the floor.
//!
//! Neither side waits in a queue here: `try_acquire` never queues. The gate's queue,
//! its priorities and its lending are measured through the routes that use them.

use sluice_core::Gate;
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;
use tokio::sync::Semaphore;

/// Failed attempts in a row after which a thread yields.
pub const YIELD_EVERY: u32 = 64;

/// Runs `attempt` on `threads` threads until each has `pairs` successes; returns the
/// number of failed attempts, all threads together.
fn contend(threads: usize, pairs: usize, attempt: impl Fn() -> bool + Sync) -> usize {
    let start = Barrier::new(threads);
    thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    let (mut done, mut failed, mut streak) = (0, 0, 0);
                    while done < pairs {
                        if attempt() {
                            done += 1;
                            streak = 0;
                        } else {
                            failed += 1;
                            streak += 1;
                            if streak % YIELD_EVERY == 0 {
                                thread::yield_now();
                            } else {
                                std::hint::spin_loop();
                            }
                        }
                    }
                    failed
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("the thread runs"))
            .sum()
    })
}

/// `threads` threads each making `pairs` `Gate::try_acquire` + drop pairs on a gate of
/// `limit`; returns the failed attempts.
pub fn gate_pairs(threads: usize, limit: usize, pairs: usize) -> usize {
    let gate = Gate::new(limit);
    contend(threads, pairs, || match gate.try_acquire() {
        Some(permit) => {
            drop(black_box(permit));
            true
        }
        None => false,
    })
}

/// `threads` threads each making `pairs` `Semaphore::try_acquire` + drop pairs on a
/// semaphore of `limit` permits; returns the failed attempts.
pub fn semaphore_pairs(threads: usize, limit: usize, pairs: usize) -> usize {
    let semaphore = Semaphore::new(limit);
    contend(threads, pairs, || match semaphore.try_acquire() {
        Ok(permit) => {
            drop(black_box(permit));
            true
        }
        Err(_) => false,
    })
}

/// `threads` threads each making `pairs` `Semaphore::try_acquire_owned` + drop pairs
/// on an `Arc<Semaphore>` of `limit` permits: an owned permit, like the gate's;
/// returns the failed attempts.
pub fn semaphore_owned_pairs(threads: usize, limit: usize, pairs: usize) -> usize {
    let semaphore = Arc::new(Semaphore::new(limit));
    contend(threads, pairs, || {
        match semaphore.clone().try_acquire_owned() {
            Ok(permit) => {
                drop(black_box(permit));
                true
            }
            Err(_) => false,
        }
    })
}
