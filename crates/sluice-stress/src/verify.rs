//! Checking a wave's books: every task answered exactly once, with an answer its body's
//! record allows, its body run no more often than its retry asked; and no body started
//! after its wave was checked.

use crate::judge::{Did, Excuses, judge};
use crate::ledger::Answer;
use crate::plan::{MANAGERS, Spec};
use crate::tally::Tally;
use crate::wave::{Ctx, Events};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

/// Waits up to `patience` for every submitted child to be answered (a parent hands its
/// child's answer to the books after its own may already have been given).
pub fn settle(ctx: &Ctx, patience: Duration) {
    let until = Instant::now() + patience;
    let unanswered = || {
        ctx.wave.specs[ctx.wave.top_level..]
            .iter()
            .filter(|s| ctx.submitted(s) && ctx.ledger.entries[s.index].answer() == Answer::None)
            .count()
    };
    while unanswered() > 0 && Instant::now() < until {
        thread::sleep(Duration::from_millis(1));
    }
}

/// Checks every task of the wave; returns what each manager should have counted.
pub fn check(ctx: &Ctx, events: &Events) -> [Tally; MANAGERS] {
    let mut tallies = [Tally::default(); MANAGERS];
    for spec in &ctx.wave.specs {
        if !ctx.submitted(spec) {
            let runs = ctx.ledger.entries[spec.index].runs.load(Ordering::Acquire);
            if runs > 0 {
                ctx.violation(spec, format!("ran {runs} time(s) though never submitted"));
            }
            continue;
        }
        let entry = &ctx.ledger.entries[spec.index];
        let answers = entry.answers.load(Ordering::Acquire);
        if answers != 1 {
            ctx.violation(spec, format!("was answered {answers} times"));
        }
        let answer = entry.answer();
        tallies[spec.manager].count(answer);
        if let Some(wrong) = contradiction(ctx, spec, answer, events) {
            ctx.violation(
                spec,
                format!(
                    "answered {answer:?}, but {wrong} ({:?} on manager {}, cancel {:?}, key {:?}; {events:?})",
                    spec.route, spec.manager, spec.cancel, spec.key
                ),
            );
        }
    }
    tallies
}

/// The body runs of every task, to hold against [`late_starts`] later.
pub fn runs(ctx: &Ctx) -> Vec<u32> {
    ctx.ledger
        .entries
        .iter()
        .map(|e| e.runs.load(Ordering::Acquire))
        .collect()
}

/// Bodies that started after their wave was checked: work that ran after its task was
/// answered cancelled, rejected or refused, or ran twice.
pub fn late_starts(ctx: &Ctx, before: &[u32]) {
    for (spec, before) in ctx.wave.specs.iter().zip(before) {
        let now = ctx.ledger.entries[spec.index].runs.load(Ordering::Acquire);
        if now != *before {
            ctx.violation(
                spec,
                format!("its body started after it was answered ({before} runs, then {now})"),
            );
        }
    }
}

/// Why `answer` cannot be the answer of `spec`, given what its body did; `None` if it
/// can.
fn contradiction(ctx: &Ctx, spec: &Spec, answer: Answer, events: &Events) -> Option<String> {
    let entry = &ctx.ledger.entries[spec.index];
    let did = Did {
        runs: entry.runs.load(Ordering::Acquire),
        items: entry.items.load(Ordering::Acquire),
    };
    let excuses = Excuses {
        shutdown: events.shutdown.is_some(),
        aborted: events.aborted.is_some_and(|(m, _)| m == spec.manager),
        rest_cancelled: spec.key.is_some_and(|key| {
            ctx.wave.cancel_rest_from[key.slot].is_some_and(|from| from < key.seq)
        }),
    };
    judge(spec, answer, did, excuses)
}
