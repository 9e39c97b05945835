//! The rules: which answers a task's body record allows. Pure, so that each rule is
//! tested on its own (below) apart from the harness that feeds it.

use crate::ledger::{Answer, may_rerun};
use crate::plan::{Behaviour, Cancel, Route, Spec};
use crate::stream_plan::Consume;

/// What a task's body did, from the ledger.
#[derive(Debug, Clone, Copy, Default)]
pub struct Did {
    /// Times its body started.
    pub runs: u32,
    /// Items its map ran.
    pub items: u32,
}

/// What happened around a task that may excuse a cancellation or a refusal.
#[derive(Debug, Clone, Copy, Default)]
pub struct Excuses {
    /// Its wave ended in shutdown.
    pub shutdown: bool,
    /// `abort_pending()` hit its manager during its wave.
    pub aborted: bool,
    /// An earlier task of its key cancels the rest of the key when it fails.
    pub rest_cancelled: bool,
}

/// Why `answer` cannot be the answer of `spec`, given what its body did; `None` if it
/// can.
pub fn judge(spec: &Spec, answer: Answer, did: Did, excuses: Excuses) -> Option<String> {
    let Did { runs, items } = did;
    let Excuses {
        shutdown,
        aborted,
        rest_cancelled,
    } = excuses;
    let cancelled_by_caller = spec.cancel != Cancel::Never;
    if runs > 1 && !may_rerun(spec.behaviour) {
        return Some(format!(
            "its body ran {runs} times with no retry asking for it"
        ));
    }
    let once = |what: &str| (runs != 1).then(|| format!("{what}, and its body ran {runs} times"));
    match (answer, spec.behaviour) {
        (Answer::None, _) => Some("it was never answered".into()),
        (Answer::Wrong, _) => None, // reported when it was recorded
        // Its elements were judged as they were taken (`stream_judge.rs`).
        (Answer::Ok, Behaviour::Stream(plan)) => {
            (items > plan.items).then(|| format!("its stream ran {items} items of {}", plan.items))
        }
        (Answer::Cancelled, Behaviour::Stream(plan)) => {
            let dropped = match plan.consume {
                Consume::DropAfter(k) => Some(k),
                _ => None,
            };
            if dropped.is_none() && !(aborted || shutdown) {
                Some("nothing cancelled its stream".into())
            } else {
                // What the consumer took, plus at most a buffer's worth ahead of it.
                let bound = dropped.map_or(plan.items, |k| (k + plan.buffer).min(plan.items));
                (items > bound).then(|| {
                    format!(
                        "its stream, dropped after {dropped:?}, ran {items} items of {}",
                        plan.items
                    )
                })
            }
        }
        (Answer::Rejected, Behaviour::Stream(_)) => (!shutdown || items > 0)
            .then(|| format!("its stream was refused, not at shutdown, or ran {items} items")),
        // Its feeder cancels it with the input still open: nothing else may end it. A
        // map whose puller then found the input's end answers whole.
        (Answer::Cancelled, Behaviour::Blocked(plan)) => (items > plan.fed).then(|| {
            format!(
                "its blocked input was fed {} items, and it ran {items}",
                plan.fed
            )
        }),
        (Answer::Ok, Behaviour::Blocked(plan)) if spec.route != Route::StreamCpu => {
            (items != plan.fed).then(|| {
                format!(
                    "its blocked input was fed {} items, and it ran {items}",
                    plan.fed
                )
            })
        }
        (answer, Behaviour::Blocked(_)) => Some(format!(
            "a map over a blocked input, cancelled, was answered {answer:?}"
        )),
        (
            Answer::Ok,
            Behaviour::Succeed | Behaviour::Nest { .. } | Behaviour::Flaky { fails: false },
        ) => once("it succeeded"),
        (
            Answer::Ok,
            Behaviour::Retried {
                failures, attempts, ..
            },
        ) => (failures >= attempts || runs != failures + 1).then(|| {
            format!("its body failed {failures} of {attempts} attempts and ran {runs} times")
        }),
        (Answer::Ok, Behaviour::Map { items: n, panic_at }) => match panic_at {
            Some(at) => Some(format!("item {at} of its map panics")),
            None => (items != n).then(|| format!("its map ran {items} items of {n}")),
        },
        (Answer::Failed, Behaviour::Fail | Behaviour::Flaky { fails: true }) => once("it failed"),
        // No retry begins once its task is cancelled or shutdown has begun, nor one
        // its budget refuses: the last attempt's error is the answer.
        (
            Answer::Failed,
            Behaviour::Retried {
                failures,
                attempts,
                budgeted,
            },
        ) if shutdown || aborted || cancelled_by_caller || budgeted => (runs == 0
            || runs > attempts.min(failures))
        .then(|| format!("its body failed {failures} of {attempts} attempts and ran {runs} times")),
        (
            Answer::Failed,
            Behaviour::Retried {
                failures, attempts, ..
            },
        ) => (failures < attempts || runs != attempts).then(|| {
            format!("its body failed {failures} of {attempts} attempts and ran {runs} times")
        }),
        (Answer::Panicked, Behaviour::Panic) => once("it panicked"),
        (
            Answer::Panicked,
            Behaviour::Map {
                items: n,
                panic_at: Some(_),
            },
        ) => (items == 0 || items > n).then(|| format!("its map ran {items} items of {n}")),
        (Answer::TimedOut, Behaviour::Overrun) => once("it overran"),
        // Asked to stop before its timeout, running closure work returns its value.
        (Answer::Ok, Behaviour::Overrun)
            if (cancelled_by_caller || shutdown) && spec.route != Route::Io =>
        {
            once("it stopped when asked")
        }
        (Answer::Rejected, behaviour) => {
            let breaker = matches!(behaviour, Behaviour::OpenBreaker | Behaviour::Flaky { .. });
            if !(breaker || shutdown) {
                Some("no breaker or shutdown refused it".into())
            } else {
                (runs > 0).then(|| format!("it was refused, yet its body ran {runs} times"))
            }
        }
        (Answer::Cancelled, _) => {
            if !(cancelled_by_caller || aborted || shutdown || rest_cancelled) {
                Some("nothing cancelled it".into())
            } else if runs > 0 && !(cancelled_by_caller || shutdown || may_rerun(spec.behaviour)) {
                Some(format!(
                    "only its queued place was cancelled, yet its body ran {runs} times"
                ))
            } else {
                (matches!(spec.behaviour, Behaviour::Map { .. }) && items > map_items(spec))
                    .then(|| format!("its map ran {items} items"))
            }
        }
        (_, behaviour) => Some(format!(
            "its body was planned as {behaviour:?} and ran {runs} times"
        )),
    }
}

fn map_items(spec: &Spec) -> u32 {
    match spec.behaviour {
        Behaviour::Map { items, .. } => items,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Keyed;

    fn task(route: Route, behaviour: Behaviour) -> Spec {
        Spec {
            index: 0,
            manager: 0,
            route,
            behaviour,
            key: None,
            cancel: Cancel::Never,
            idle_timeout: false,
            priority: sluice::Priority::Normal,
            limited: false,
            hostile: false,
        }
    }

    fn ran(runs: u32) -> Did {
        Did { runs, items: 0 }
    }

    const NONE: Excuses = Excuses {
        shutdown: false,
        aborted: false,
        rest_cancelled: false,
    };

    #[test]
    fn consistent_answers_pass() {
        let cpu = |b| task(Route::Cpu, b);
        assert_eq!(
            judge(&cpu(Behaviour::Succeed), Answer::Ok, ran(1), NONE),
            None
        );
        assert_eq!(
            judge(&cpu(Behaviour::Fail), Answer::Failed, ran(1), NONE),
            None
        );
        assert_eq!(
            judge(&cpu(Behaviour::Panic), Answer::Panicked, ran(1), NONE),
            None
        );
        assert_eq!(
            judge(&cpu(Behaviour::Overrun), Answer::TimedOut, ran(1), NONE),
            None
        );
        assert_eq!(
            judge(&cpu(Behaviour::OpenBreaker), Answer::Rejected, ran(0), NONE),
            None
        );
        let retried = cpu(Behaviour::Retried {
            failures: 2,
            attempts: 3,
            budgeted: false,
        });
        assert_eq!(judge(&retried, Answer::Ok, ran(3), NONE), None);
        let exhausted = cpu(Behaviour::Retried {
            failures: 3,
            attempts: 2,
            budgeted: false,
        });
        assert_eq!(judge(&exhausted, Answer::Failed, ran(2), NONE), None);
        let map = task(
            Route::MapChunks,
            Behaviour::Map {
                items: 5,
                panic_at: None,
            },
        );
        assert_eq!(
            judge(&map, Answer::Ok, Did { runs: 0, items: 5 }, NONE),
            None
        );
    }

    #[test]
    fn each_broken_promise_is_caught() {
        let cpu = |b| task(Route::Cpu, b);
        let wrong = |spec: &Spec, answer, did, excuses| judge(spec, answer, did, excuses).is_some();
        // Answered twice is counted apart; here: never answered.
        assert!(wrong(&cpu(Behaviour::Succeed), Answer::None, ran(1), NONE));
        // Ran twice with no retry.
        assert!(wrong(&cpu(Behaviour::Succeed), Answer::Ok, ran(2), NONE));
        // A value for a body that failed, panicked or overran.
        assert!(wrong(&cpu(Behaviour::Fail), Answer::Ok, ran(1), NONE));
        assert!(wrong(&cpu(Behaviour::Panic), Answer::Ok, ran(1), NONE));
        assert!(wrong(&cpu(Behaviour::Overrun), Answer::Ok, ran(1), NONE));
        // A value though the body never ran.
        assert!(wrong(&cpu(Behaviour::Succeed), Answer::Ok, ran(0), NONE));
        // Cancelled with nothing to cancel it; cancelled by an abort after it started.
        assert!(wrong(
            &cpu(Behaviour::Succeed),
            Answer::Cancelled,
            ran(0),
            NONE
        ));
        let aborted = Excuses {
            aborted: true,
            ..NONE
        };
        assert!(wrong(
            &cpu(Behaviour::Succeed),
            Answer::Cancelled,
            ran(1),
            aborted
        ));
        assert!(!wrong(
            &cpu(Behaviour::Succeed),
            Answer::Cancelled,
            ran(0),
            aborted
        ));
        // Refused with no breaker and no shutdown; refused after running.
        assert!(wrong(
            &cpu(Behaviour::Succeed),
            Answer::Rejected,
            ran(0),
            NONE
        ));
        assert!(wrong(
            &cpu(Behaviour::OpenBreaker),
            Answer::Rejected,
            ran(1),
            NONE
        ));
        // Timed out with no timeout that could fire.
        assert!(wrong(
            &cpu(Behaviour::Succeed),
            Answer::TimedOut,
            ran(1),
            NONE
        ));
        // A retry that stopped early, or ran past its attempts.
        let retried = cpu(Behaviour::Retried {
            failures: 3,
            attempts: 3,
            budgeted: false,
        });
        assert!(wrong(&retried, Answer::Failed, ran(1), NONE));
        assert!(wrong(&retried, Answer::Failed, ran(4), NONE));
        // A budget may stop it early, never before its first attempt nor after a
        // success.
        let budgeted = cpu(Behaviour::Retried {
            failures: 3,
            attempts: 3,
            budgeted: true,
        });
        assert!(!wrong(&budgeted, Answer::Failed, ran(1), NONE));
        assert!(wrong(&budgeted, Answer::Failed, ran(0), NONE));
        assert!(wrong(&budgeted, Answer::Failed, ran(4), NONE));
        // A map that lost or repeated items, or hid its panic.
        let map = task(
            Route::MapCpu,
            Behaviour::Map {
                items: 5,
                panic_at: None,
            },
        );
        assert!(wrong(&map, Answer::Ok, Did { runs: 0, items: 4 }, NONE));
        assert!(wrong(&map, Answer::Ok, Did { runs: 0, items: 6 }, NONE));
        let panics = task(
            Route::MapCpu,
            Behaviour::Map {
                items: 5,
                panic_at: Some(1),
            },
        );
        assert!(wrong(&panics, Answer::Ok, Did { runs: 0, items: 5 }, NONE));
    }

    #[test]
    fn excuses_excuse_only_what_they_cover() {
        let mut keyed = task(Route::Io, Behaviour::Succeed);
        keyed.key = Some(Keyed {
            slot: 0,
            seq: 2,
            cancel_rest: false,
        });
        let rest = Excuses {
            rest_cancelled: true,
            ..NONE
        };
        assert_eq!(judge(&keyed, Answer::Cancelled, ran(0), rest), None);
        assert!(judge(&keyed, Answer::Cancelled, ran(1), rest).is_some());
        let shutdown = Excuses {
            shutdown: true,
            ..NONE
        };
        assert_eq!(judge(&keyed, Answer::Rejected, ran(0), shutdown), None);
        // An io overrun is dropped, never answered a value, even when cancelled.
        let mut io = task(Route::Io, Behaviour::Overrun);
        io.cancel = Cancel::AtOnce;
        assert!(judge(&io, Answer::Ok, ran(1), NONE).is_some());
        // Closure work asked to stop returns its value.
        let mut cpu = task(Route::Cpu, Behaviour::Overrun);
        cpu.cancel = Cancel::BeforeWait;
        assert_eq!(judge(&cpu, Answer::Ok, ran(1), NONE), None);
    }
}
