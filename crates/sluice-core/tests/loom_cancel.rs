//! Loom models of [`sluice_core::CancelToken`] and [`sluice_core::CancelScope`].
//!
//! A token's fate has exactly one owner: the thread whose `try_start` returned `Ok`
//! (it runs the task), or the one that claimed the cancelled outcome: a `try_start`
//! that returned `Err(StartError::Cancelled)`, a `cancel` that returned
//! `CancelOutcome::BeforeStart`, or a `claim_cancelled` that returned `true`. These
//! models race `try_start` against `cancel`, `abort_pending` and `claim_cancelled` and
//! check that a task is never both started and counted cancelled, and that a started
//! task that is then cancelled sees `is_cancelled()`.
//!
//! Run with `RUSTFLAGS="--cfg sluice_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release`.

#![cfg(sluice_loom)]

use loom::sync::Arc;
use loom::sync::atomic::AtomicBool;
use loom::sync::atomic::Ordering::SeqCst;
use loom::thread;
use sluice_core::{CancelOutcome, CancelScope, CancelToken, StartError};

/// Runs `try_start` on a second thread and returns a handle to its result.
fn start_on_other_thread(token: &CancelToken) -> thread::JoinHandle<Result<(), StartError>> {
    let token = token.clone();
    thread::spawn(move || token.try_start())
}

#[test]
fn try_start_races_cancel() {
    loom::model(|| {
        let scope = CancelScope::new();
        let token = scope.token();
        let starter = start_on_other_thread(&token);
        let cancelled = token.cancel();
        let started = starter.join().expect("starter panicked");

        let owners = usize::from(started.is_ok())
            + usize::from(started == Err(StartError::Cancelled))
            + usize::from(cancelled == CancelOutcome::BeforeStart);
        assert_eq!(owners, 1, "start {started:?}, cancel {cancelled:?}");
        match started {
            // Started first: the cancel asks the running task to stop.
            Ok(()) => {
                assert_eq!(cancelled, CancelOutcome::Requested);
                assert!(token.is_started());
            }
            // The starter saw the request and claimed the cancelled outcome itself.
            Err(StartError::Cancelled) => {
                assert_eq!(cancelled, CancelOutcome::AlreadyCancelled);
                assert!(!token.is_started());
            }
            // The canceller claimed it before the starter looked.
            Err(StartError::Claimed) => {
                assert_eq!(cancelled, CancelOutcome::BeforeStart);
                assert!(!token.is_started());
            }
        }
        assert!(
            token.is_cancelled(),
            "a cancel happened, whatever its timing"
        );
        assert_eq!(token.try_start(), Err(StartError::Claimed));
        assert!(!token.claim_cancelled());
    });
}

#[test]
fn try_start_races_abort_pending() {
    loom::model(|| {
        let scope = CancelScope::new();
        let token = scope.token();
        let starter = start_on_other_thread(&token);
        let epoch = scope.abort_pending();
        let started = starter.join().expect("starter panicked");

        assert_eq!(epoch, 1);
        match started {
            // abort_pending spares work that had started.
            Ok(()) => {
                assert!(token.is_started());
                assert!(!token.is_cancelled());
            }
            // The starter saw the new epoch and owns the cancelled outcome.
            Err(StartError::Cancelled) => {
                assert!(!token.is_started());
                assert!(token.is_cancelled());
            }
            Err(StartError::Claimed) => panic!("nobody else claimed the token"),
        }
        assert_eq!(token.try_start(), Err(StartError::Claimed));
        assert!(!token.claim_cancelled());
        // A token made after the abort is not affected by it.
        let fresh = scope.token();
        assert!(!fresh.is_cancelled());
        assert_eq!(fresh.try_start(), Ok(()));
    });
}

/// `abort_pending` promises that every token of the scope that has not started
/// "will refuse to start". If the aborting thread sees the token not started after
/// `abort_pending` returned, the token must never start afterwards.
///
/// It can: `try_start` reads the epoch (still the old one), then `abort_pending`
/// moves the epoch and returns while the token is still pending, then `try_start`
/// claims STARTED with its compare-exchange. Nothing re-checks the epoch after the
/// claim, so a task starts after the abort that should have stopped it.
#[test]
fn token_pending_at_abort_never_starts() {
    loom::model(|| {
        let scope = CancelScope::new();
        let token = scope.token();
        let starter = start_on_other_thread(&token);
        scope.abort_pending();
        let pending_after_abort = !token.is_started();
        let started = starter.join().expect("starter panicked");
        if pending_after_abort {
            assert_eq!(
                started,
                Err(StartError::Cancelled),
                "the token had not started when abort_pending returned, yet it started"
            );
        }
    });
}

#[test]
fn try_start_races_claim_cancelled() {
    loom::model(|| {
        let scope = CancelScope::new();
        let token = scope.token();
        let starter = start_on_other_thread(&token);
        let claimed = token.claim_cancelled();
        let started = starter.join().expect("starter panicked");

        assert_ne!(started.is_ok(), claimed, "exactly one owner: {started:?}");
        if claimed {
            assert_eq!(started, Err(StartError::Claimed));
            assert!(token.is_cancelled());
            assert!(!token.is_started());
        } else {
            assert!(token.is_started());
            assert!(!token.is_cancelled());
        }
    });
}

#[test]
fn try_start_races_cancel_and_claim_cancelled() {
    loom::model(|| {
        let scope = CancelScope::new();
        let token = scope.token();
        let starter = start_on_other_thread(&token);
        let claimer = {
            let token = token.clone();
            thread::spawn(move || token.claim_cancelled())
        };
        let cancelled = token.cancel();
        let started = starter.join().expect("starter panicked");
        let claimed = claimer.join().expect("claimer panicked");

        let owners = usize::from(started.is_ok())
            + usize::from(started == Err(StartError::Cancelled))
            + usize::from(cancelled == CancelOutcome::BeforeStart)
            + usize::from(claimed);
        assert_eq!(
            owners, 1,
            "start {started:?}, cancel {cancelled:?}, claim {claimed}"
        );
        assert_eq!(started.is_ok(), cancelled == CancelOutcome::Requested);
        assert!(token.is_cancelled());
    });
}

#[test]
fn started_task_sees_cancel_all() {
    loom::model(|| {
        let scope = CancelScope::new();
        let token = scope.token();
        let saw_cancel = Arc::new(AtomicBool::new(false));
        let worker = {
            let token = token.clone();
            let saw_cancel = saw_cancel.clone();
            thread::spawn(move || {
                let started = token.try_start();
                saw_cancel.store(token.is_cancelled(), SeqCst);
                started
            })
        };
        scope.cancel_all();
        let started = worker.join().expect("worker panicked");

        assert!(scope.is_all_cancelled());
        assert!(token.is_cancelled(), "cancel_all reaches started work too");
        match started {
            Ok(()) => assert!(token.is_started()),
            Err(StartError::Cancelled) => {
                assert!(!token.is_started());
                assert!(saw_cancel.load(SeqCst));
            }
            Err(StartError::Claimed) => panic!("nobody else claimed the token"),
        }
    });
}
