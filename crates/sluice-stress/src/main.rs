//! `sluice-stress`, run by `cargo xtask stress`: millions of tasks through every route
//! of three managers (one per key order), with every fault kind, while a scripted load
//! sampler moves their gate limits; every answer is checked against what its task's
//! body did, and the harness's books against the managers' counters.
//!
//! The run goes in waves of `--wave` top-level tasks (plus the children some of them
//! submit). Each wave's plan — route, caller (`wait()` or `.await`), behaviour (succeed,
//! fail, panic, overrun a timeout, retry, hit an open or a flaky breaker, nest a
//! subtask, map with or without a panicking item, stream a map read fast, slowly or dropped
//! midway, map over a channel that blocks until it is cancelled; some with values whose
//! drop panics), key and key order, cancellation —
//! follows from the seed alone; `abort_pending()` hits a third of the waves, and the
//! last one ends in `shutdown(deadline)` with work still queued. Thread timing is not
//! reproducible, so a seed replays the same plan, not the same interleaving.
//!
//! Exit codes: 0 all checks passed, 1 a check failed, 2 bad arguments, 3 the watchdog
//! fired (nothing answered for `--hang` seconds). Failures print the seed.

#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod agree;
mod args;
mod blocked;
mod body;
mod fleet;
mod hang;
mod hostile;
mod items;
mod judge;
mod ledger;
mod plan;
mod report;
mod rng;
mod stream;
mod stream_judge;
mod stream_plan;
mod submit;
mod tally;
mod verify;
mod watchdog;
mod wave;

use agree::{Bases, counters_agree};
use args::Args;
use fleet::Fleet;
use items::{ItemBase, ItemBooks};
use plan::{MANAGERS, Wave};
use report::Summary;
use rng::Rng;
use sluice::retry::{Backoff, BudgetConfig, Retry};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tally::Tally;
use wave::Shared;

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("sluice-stress: {message}");
            return ExitCode::from(2);
        }
    };
    quiet_planned_panics();
    match run(&args) {
        Ok(summary) => {
            print!("{}", summary.render(&args));
            if summary.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(error) => {
            eprintln!("sluice-stress: FAIL: seed {:#x}: {error}", args.seed);
            ExitCode::from(1)
        }
    }
}

fn run(args: &Args) -> Result<Summary, String> {
    let mut rng = Rng::new(args.seed);
    eprintln!(
        "sluice-stress: seed {:#x}, up to {} tasks{}, waves of {}",
        args.seed,
        args.tasks,
        args.seconds.map_or(String::new(), |s| format!(" or {s} s")),
        args.wave
    );
    let fleet = Fleet::new(&mut rng.fork())?;
    let base: Vec<_> = fleet
        .members
        .iter()
        .map(|m| m.mgr.snapshot().total())
        .collect();
    let base_items: Vec<ItemBase> = fleet.members.iter().map(ItemBase::of).collect();
    let base_records: Vec<u64> = fleet
        .members
        .iter()
        .map(|m| m.records.tasks.load(Ordering::Relaxed))
        .collect();
    let shared = Arc::new(Shared {
        fleet,
        retries: retries(None)?,
        budgeted: retries(Some(
            // Retries may add a fifth to the calls of the last 100 ms, with none
            // allowed for free: planned retries are refused now and then.
            BudgetConfig::new()
                .window(Duration::from_millis(100))
                .ratio(0.2)
                .min_per_window(0),
        ))?,
        violations: Default::default(),
        answered: Arc::new(AtomicU64::new(0)),
        runtime: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("stress-caller")
            .enable_all()
            .build()
            .map_err(|e| format!("the callers' runtime: {e}"))?,
        current: Default::default(),
    });
    let described = shared.clone();
    watchdog::start(shared.answered.clone(), args.hang, args.seed, move || {
        hang::describe(&described)
    });

    let began = Instant::now();
    let mut summary = Summary::default();
    let mut expected = [Tally::default(); MANAGERS];
    let mut expected_items = [[ItemBooks::default(); 3]; MANAGERS];
    let mut previous: Option<(Arc<wave::Ctx>, Vec<u32>)> = None;
    let mut shown = Instant::now();
    for number in 0.. {
        let remaining = args.tasks.saturating_sub(summary.tasks);
        let size = (args.wave as u64).min(remaining.max(10)) as usize;
        let out_of_time = args
            .seconds
            .is_some_and(|s| began.elapsed().as_secs_f64() >= s);
        let last = out_of_time || summary.tasks + size as u64 >= args.tasks;
        let plan = Wave::draw(number, size, &mut rng.fork(), last);
        let (ctx, events) = wave::run(&shared, plan);
        verify::settle(&ctx, Duration::from_secs(30));
        let tallies = verify::check(&ctx, &events);
        for (m, (tally, items)) in tallies.iter().enumerate() {
            expected[m] = expected[m].plus(*tally);
            summary.tasks += tally.submitted;
            for (sum, books) in expected_items[m].iter_mut().zip(items) {
                *sum = sum.plus(*books);
            }
        }
        let bases = Bases {
            counts: &base,
            records: &base_records,
            items: &base_items,
        };
        if let Err(disagreement) = counters_agree(&shared, &bases, &expected, &expected_items) {
            shared.violations.push(format!(
                "after wave {number}: counters disagree: {disagreement}"
            ));
        }
        if let Some((before, runs)) = previous.take() {
            verify::late_starts(&before, &runs);
        }
        previous = Some((ctx.clone(), verify::runs(&ctx)));
        summary.record(&events, watchdog::rss());
        if shown.elapsed() >= Duration::from_secs(5) {
            shown = Instant::now();
            eprintln!(
                "sluice-stress: wave {number}: {} tasks, {:.0} tasks/s, {} violation(s)",
                summary.tasks,
                summary.tasks as f64 / began.elapsed().as_secs_f64(),
                shared.violations.count()
            );
        }
        if last {
            break;
        }
    }
    summary.elapsed = began.elapsed();
    // Work cancelled at shutdown must never start: give it the time to try.
    std::thread::sleep(Duration::from_millis(300));
    if let Some((before, runs)) = previous.take() {
        verify::late_starts(&before, &runs);
    }
    summary.expected = expected.iter().fold(Tally::default(), |a, t| a.plus(*t));
    summary.violations = shared.violations.count();
    summary.first = shared
        .violations
        .first
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    Ok(summary)
}

/// Retry policies of 1, 2 and 3 attempts, with `budget` or none.
fn retries(budget: Option<BudgetConfig>) -> Result<Vec<Retry>, String> {
    (1..=3)
        .map(|attempts| {
            let retry = Retry::builder().max_attempts(attempts).backoff(
                Backoff::exponential(Duration::from_micros(100))
                    .max_delay(Duration::from_millis(1)),
            );
            match budget {
                Some(budget) => retry.budget(budget),
                None => retry.no_budget(),
            }
            .build()
            .map_err(|e| e.to_string())
        })
        .collect()
}

/// Planned panics are thousands per second and expected; any other panic still
/// prints.
fn quiet_planned_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied());
        let planned = message.is_some_and(|m| m.starts_with(body::PANIC_PREFIX))
            || payload.is::<hostile::Payload>();
        if !planned {
            default(info);
        }
    }));
}
