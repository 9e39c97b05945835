//! Checking a wave's books: every task answered exactly once, with an answer its body's
//! record allows, its body run no more often than its retry asked; and no body started
//! after its wave was checked.

use crate::items::ItemBooks;
use crate::judge::{Did, Excuses, judge};
use crate::ledger::Answer;
use crate::plan::{Behaviour, MANAGERS, Route, Spec};
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

/// What each manager should have counted: its tasks, and its streamed maps' items
/// per route (`items::ROUTES`).
pub type Books = [(Tally, [ItemBooks; 3]); MANAGERS];

/// Checks every task of the wave; returns what each manager should have counted.
pub fn check(ctx: &Ctx, events: &Events) -> Books {
    let mut tallies = [(Tally::default(), [ItemBooks::default(); 3]); MANAGERS];
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
        tallies[spec.manager].0.count(answer);
        add_items(ctx, spec, &mut tallies[spec.manager].1);
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

/// Adds a streamed map's items, as its consumer saw them, to its route's books.
fn add_items(ctx: &Ctx, spec: &Spec, books: &mut [ItemBooks; 3]) {
    let route = match spec.route {
        Route::StreamCpu => 0,
        Route::StreamChunks => 1,
        Route::StreamIo => 2,
        _ => return,
    };
    let entry = &ctx.ledger.entries[spec.index];
    match spec.behaviour {
        Behaviour::Stream(plan) => {
            let seen = std::array::from_fn(|i| entry.seen[i].load(Ordering::Acquire));
            let complete = entry.complete.load(Ordering::Acquire);
            books[route].add(seen, complete, plan.items);
        }
        // Never read: any item fed may have been answered.
        Behaviour::Blocked(plan) => books[route].add([0; 6], false, plan.fed),
        _ => {}
    }
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
