//! Tests of [`sluice_core::CancelScope`] and [`sluice_core::CancelToken`] with real
//! threads: every transition on its own, then threads racing to start, cancel and
//! claim the same tokens, with exactly one owner per token at the end.
//!
//! Anything that could hang runs under a watchdog that fails the test instead.

#![cfg(not(sluice_loom))]

mod common;

use common::*;

use sluice_core::{CancelOutcome, CancelScope, CancelToken, StartError};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

/// How long a test may take before it counts as hung.
const HANG: Duration = Duration::from_secs(120);

#[test]
fn smoke_start_then_cancel() {
    let scope = CancelScope::new();
    let token = scope.token();
    assert!(token.is_pending());
    assert!(!token.is_started());
    assert!(!token.is_cancelled());
    assert_eq!(token.try_start(), Ok(()));
    assert!(!token.is_pending());
    assert!(token.is_started());
    assert_eq!(token.try_start(), Err(StartError::Claimed));
    assert!(!token.claim_cancelled(), "a started task cannot be claimed");
    assert!(!token.is_cancelled());
    assert_eq!(token.cancel(), CancelOutcome::Requested);
    assert!(token.is_cancelled());
    assert!(
        token.is_started(),
        "a running task keeps running until it stops"
    );
    assert_eq!(token.cancel(), CancelOutcome::Requested);
}

#[test]
fn smoke_cancel_before_start() {
    let scope = CancelScope::new();
    let token = scope.token();
    let handle = token.clone();
    assert_eq!(handle.cancel(), CancelOutcome::BeforeStart);
    assert!(token.is_cancelled(), "clones share one state");
    assert!(!token.is_pending());
    assert_eq!(token.try_start(), Err(StartError::Claimed));
    assert_eq!(token.cancel(), CancelOutcome::AlreadyCancelled);
    assert!(!token.claim_cancelled());
    assert!(!token.is_started());
}

#[test]
fn smoke_claim_cancelled() {
    let scope = CancelScope::new();
    let token = scope.token();
    assert!(token.claim_cancelled());
    assert!(!token.claim_cancelled(), "only one claim wins");
    assert!(token.is_cancelled());
    assert_eq!(token.try_start(), Err(StartError::Claimed));
    assert_eq!(token.cancel(), CancelOutcome::AlreadyCancelled);
}

#[test]
fn smoke_abort_pending() {
    let scope = CancelScope::new();
    let running = scope.token();
    let waiting = scope.token();
    let also_waiting = scope.token();
    running.try_start().expect("nothing cancelled yet");

    assert_eq!(scope.abort_pending(), 1);
    assert!(!running.is_cancelled(), "abort_pending spares started work");
    assert!(waiting.is_cancelled());
    assert!(waiting.is_pending(), "nobody has claimed it yet");
    assert_eq!(waiting.try_start(), Err(StartError::Cancelled));
    assert!(!waiting.is_pending());
    assert_eq!(waiting.try_start(), Err(StartError::Claimed));
    // Whoever removes it from a queue can claim it instead of starting it.
    assert!(also_waiting.claim_cancelled());
    assert_eq!(also_waiting.try_start(), Err(StartError::Claimed));

    let fresh = scope.token();
    assert!(
        !fresh.is_cancelled(),
        "tokens made after the abort are not affected"
    );
    assert_eq!(scope.abort_pending(), 2);
    let fresher = scope.token();
    assert_eq!(fresh.cancel(), CancelOutcome::BeforeStart);
    assert_eq!(fresher.try_start(), Ok(()));
}

#[test]
fn smoke_cancel_all() {
    let scope = CancelScope::new();
    let running = scope.token();
    let waiting = scope.token();
    running.try_start().expect("nothing cancelled yet");
    assert!(!scope.is_all_cancelled());
    let debug = format!("{scope:?}");
    assert!(debug.contains("all: false"), "{debug}");

    scope.clone().cancel_all();
    assert!(scope.is_all_cancelled(), "clones share one scope");
    assert!(running.is_cancelled(), "cancel_all reaches running work");
    assert!(waiting.is_cancelled());
    assert_eq!(waiting.try_start(), Err(StartError::Cancelled));
    let later = scope.token();
    assert!(later.is_cancelled(), "and work made afterwards");
    assert_eq!(later.try_start(), Err(StartError::Cancelled));
    let debug = format!("{scope:?}");
    assert!(debug.contains("all: true"), "{debug}");
    let debug = format!("{running:?}");
    assert!(debug.contains("started: true"), "{debug}");
    assert!(debug.contains("cancelled: true"), "{debug}");
}

/// Who came away owning a token's fate.
#[derive(Default)]
struct Owners {
    started: AtomicUsize,
    cancelled: AtomicUsize,
}

impl Owners {
    fn total(&self) -> usize {
        self.started.load(SeqCst) + self.cancelled.load(SeqCst)
    }
}

/// Makes `count` tokens of `scope`, each with an owner tally.
fn tokens(scope: &CancelScope, count: usize) -> Arc<Vec<(CancelToken, Owners)>> {
    Arc::new(
        (0..count)
            .map(|_| (scope.token(), Owners::default()))
            .collect(),
    )
}

/// Two starters, a canceller and a claimer race over the same tokens (from both
/// ends). Every token ends with exactly one owner, started tokens are exactly those
/// `is_started` reports, and every token is cancelled or started-and-asked-to-stop
/// only as its owner says.
#[test]
fn stress_start_cancel_claim() {
    const TOKENS: usize = 20_000;
    bounded(HANG, || {
        let scope = CancelScope::new();
        let tokens = tokens(&scope, TOKENS);
        let start = Arc::new(Barrier::new(4));
        let requested = Arc::new(AtomicUsize::new(0));
        let spawn = |role: usize| {
            let tokens = tokens.clone();
            let start = start.clone();
            let requested = requested.clone();
            thread::spawn(move || {
                start.wait();
                for step in 0..TOKENS {
                    if step % 32 == 0 {
                        // Give the others a turn, so that the walks overlap.
                        thread::yield_now();
                    }
                    // Starters and the canceller walk forwards, the claimer backwards.
                    let index = if role == 3 { TOKENS - 1 - step } else { step };
                    let (token, owners) = &tokens[index];
                    match role {
                        0 | 1 => match token.try_start() {
                            Ok(()) => {
                                owners.started.fetch_add(1, SeqCst);
                            }
                            Err(StartError::Cancelled) => {
                                owners.cancelled.fetch_add(1, SeqCst);
                            }
                            Err(StartError::Claimed) => {}
                        },
                        2 if index % 2 == 0 => match token.cancel() {
                            CancelOutcome::BeforeStart => {
                                owners.cancelled.fetch_add(1, SeqCst);
                            }
                            CancelOutcome::Requested => {
                                requested.fetch_add(1, SeqCst);
                            }
                            CancelOutcome::AlreadyCancelled => {}
                        },
                        3 if token.claim_cancelled() => {
                            owners.cancelled.fetch_add(1, SeqCst);
                        }
                        _ => {}
                    }
                }
            })
        };
        let racers: Vec<_> = (0..4).map(spawn).collect();
        for racer in racers {
            racer.join().expect("racer panicked");
        }

        let mut started = 0;
        for (index, (token, owners)) in tokens.iter().enumerate() {
            assert_eq!(
                owners.total(),
                1,
                "token {index} has {} owners",
                owners.total()
            );
            let was_started = owners.started.load(SeqCst) == 1;
            assert_eq!(token.is_started(), was_started, "token {index}");
            assert!(!token.is_pending(), "token {index}");
            if was_started {
                started += 1;
                // Only the canceller asks running work to stop, and only even tokens.
                assert_eq!(token.is_cancelled(), index % 2 == 0, "token {index}");
            } else {
                assert!(token.is_cancelled(), "token {index}");
            }
        }
        let cancelled_running = tokens
            .iter()
            .enumerate()
            .filter(|(index, (token, _))| index % 2 == 0 && token.is_started())
            .count();
        assert_eq!(requested.load(SeqCst), cancelled_running);
        assert!(started <= TOKENS);
    });
}

/// Starters race `abort_pending` over tokens made before it: every token is either
/// started (and not cancelled by the abort) or refused with the cancelled outcome,
/// exactly once.
#[test]
fn stress_abort_pending() {
    const TOKENS: usize = 20_000;
    const ROUNDS: usize = 4;
    bounded(HANG, || {
        let scope = CancelScope::new();
        for round in 0..ROUNDS {
            let tokens = tokens(&scope, TOKENS);
            let start = Arc::new(Barrier::new(3));
            let starters: Vec<_> = (0..2)
                .map(|direction| {
                    let tokens = tokens.clone();
                    let start = start.clone();
                    thread::spawn(move || {
                        start.wait();
                        for step in 0..TOKENS {
                            if step % 32 == 0 {
                                thread::yield_now();
                            }
                            let index = if direction == 0 {
                                step
                            } else {
                                TOKENS - 1 - step
                            };
                            let (token, owners) = &tokens[index];
                            match token.try_start() {
                                Ok(()) => {
                                    owners.started.fetch_add(1, SeqCst);
                                }
                                Err(StartError::Cancelled) => {
                                    owners.cancelled.fetch_add(1, SeqCst);
                                }
                                Err(StartError::Claimed) => {}
                            }
                        }
                    })
                })
                .collect();
            start.wait();
            // Let the starters get going, then abort whatever has not started.
            while tokens[TOKENS / 4].0.is_pending()
                && tokens[TOKENS - 1 - TOKENS / 4].0.is_pending()
            {
                thread::yield_now();
            }
            let epoch = scope.abort_pending();
            assert_eq!(epoch, round as u64 + 1);
            for starter in starters {
                starter.join().expect("starter panicked");
            }

            for (index, (token, owners)) in tokens.iter().enumerate() {
                assert_eq!(owners.total(), 1, "token {index}");
                let was_started = owners.started.load(SeqCst) == 1;
                assert_eq!(token.is_started(), was_started, "token {index}");
                assert_eq!(token.is_cancelled(), !was_started, "token {index}");
            }
        }
    });
}

/// Workers start tokens while `cancel_all` lands: afterwards every token, started or
/// not, reads cancelled, and each has exactly one owner.
#[test]
fn stress_cancel_all() {
    const TOKENS: usize = 20_000;
    bounded(HANG, || {
        let scope = CancelScope::new();
        let tokens = tokens(&scope, TOKENS);
        let go = Arc::new(AtomicBool::new(false));
        let starters: Vec<_> = (0..2)
            .map(|_| {
                let tokens = tokens.clone();
                let go = go.clone();
                thread::spawn(move || {
                    while !go.load(SeqCst) {
                        thread::yield_now();
                    }
                    for (step, (token, owners)) in tokens.iter().enumerate() {
                        if step % 32 == 0 {
                            thread::yield_now();
                        }
                        match token.try_start() {
                            Ok(()) => {
                                owners.started.fetch_add(1, SeqCst);
                            }
                            Err(StartError::Cancelled) => {
                                owners.cancelled.fetch_add(1, SeqCst);
                            }
                            Err(StartError::Claimed) => {}
                        }
                    }
                })
            })
            .collect();
        go.store(true, SeqCst);
        while tokens[TOKENS / 2].0.is_pending() {
            thread::yield_now();
        }
        scope.cancel_all();
        for starter in starters {
            starter.join().expect("starter panicked");
        }
        for (index, (token, owners)) in tokens.iter().enumerate() {
            assert_eq!(owners.total(), 1, "token {index}");
            assert!(token.is_cancelled(), "token {index}");
        }
        assert!(scope.token().is_cancelled());
    });
}
