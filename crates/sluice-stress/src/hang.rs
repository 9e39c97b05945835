//! What the watchdog prints when nothing has been answered for too long: each route's
//! counters and gate, the current wave's unanswered tasks, and the keyed tasks that may
//! still hold a key's turn.

use crate::ledger::Answer;
use crate::wave::{Ctx, Shared};
use std::sync::atomic::Ordering;

/// What the watchdog prints: each route's counters and gate, and the tasks of the
/// current wave not answered yet.
pub fn describe(shared: &Shared) -> String {
    let mut out = Vec::new();
    for member in &shared.fleet.members {
        for route in member.mgr.snapshot().routes {
            let c = route.counters;
            out.push(format!(
                "{:?} manager, {:?}: submitted {}, ended {}, running {}, gate limit {}, admitted {}, queued {}",
                member.order,
                route.route,
                c.submitted,
                c.ended(),
                c.running,
                route.limit,
                route.admitted,
                route.queued
            ));
        }
    }
    if let Some(ctx) = shared.current.lock().ok().and_then(|c| c.clone()) {
        out.push(format!("unanswered in wave {}:", ctx.wave.number));
        out.push(unanswered(&ctx));
    }
    out.join("\n")
}

/// The tasks not answered yet, with what their keys did before them: the
/// watchdog's report of a hang.
fn unanswered(ctx: &Ctx) -> String {
    let mut out = Vec::new();
    for spec in &ctx.wave.specs {
        let entry = &ctx.ledger.entries[spec.index];
        if !ctx.submitted(spec) || entry.answer() != Answer::None || out.len() >= 20 {
            continue;
        }
        let runs = entry.runs.load(Ordering::Acquire);
        let items = entry.items.load(Ordering::Acquire);
        out.push(format!(
            "  {}: {spec:?}, {runs} runs, {items} items started",
            ctx.ledger.id(spec)
        ));
        if let Some(key) = spec.key {
            let before = ctx.wave.specs[..spec.index]
                .iter()
                .rfind(|s| s.key.is_some_and(|k| k.slot == key.slot));
            if let Some(before) = before {
                let e = &ctx.ledger.entries[before.index];
                out.push(format!(
                    "    the key's task before it: {spec:?}, answered {:?}, {} runs",
                    e.answer(),
                    e.runs.load(Ordering::Acquire),
                    spec = before
                ));
            }
        }
    }
    // What may still hold a key's turn: keyed tasks of the same managers answered
    // anything but a value.
    let stuck: Vec<usize> = ctx
        .wave
        .specs
        .iter()
        .filter(|s| s.key.is_some() && ctx.ledger.entries[s.index].answer() == Answer::None)
        .map(|s| s.manager)
        .collect();
    for spec in &ctx.wave.specs {
        let entry = &ctx.ledger.entries[spec.index];
        if spec.key.is_some()
            && stuck.contains(&spec.manager)
            && !matches!(entry.answer(), Answer::None | Answer::Ok)
        {
            out.push(format!(
                "  keyed, answered {:?} after {} runs: {spec:?}",
                entry.answer(),
                entry.runs.load(Ordering::Acquire)
            ));
        }
    }
    out.join("\n")
}
