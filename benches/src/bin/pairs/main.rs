//! The interleaved benchmark runner behind `cargo xtask bench`.
//!
//! This machine's speed drifts by up to 1.6× within seconds, so a ratio of two
//! measurements taken minutes apart is noise. Each pair is measured interleaved —
//! anchor, Sluice, Sluice, anchor … — and the ratio is taken per round; the tables
//! give the median of the per-round ratios, their spread (min–max) and a 95%
//! bootstrap interval of the median, one table per area. A row's verdict reads the
//! interval: meets or misses when all of it is on one side of the target, unclear when
//! it straddles the target; an unclear row gets more rounds, in batches, until it is
//! clear or its bound is reached (`Sizes::more`). A row's rounds are spread over the
//! whole run, in passes over every row (`passes.rs` says why), each pass a process of
//! its own (`child.rs` says why).
//!
//! `pairs [--quick | --smoke] [--area NAME[,NAME…]] [--only TEXT]` prints Markdown on
//! stdout and each row's progress on stderr. `--area` keeps the areas whose name (as
//! `route_roundtrip`) or heading contains one of the NAMEs; `--only` keeps the rows
//! whose name or anchor contains TEXT. `pairs --run SIDE ROUTE N` runs one side
//! (`sluice` or `anchor`) of one submit-throughput row (`cpu`, `io`, `blocking` or
//! `chunk`), or of one round-trip row (`trip-cpu-wait`, `trip-cpu-await`, … as in
//! `roundtrip::NAMES`; prefixed `loaded-`, beside a hog), or of a streamed io row
//! (`stream-io-unordered`, `stream-io-ordered`: N items), once, over N tasks, and
//! prints nothing: a fixed workload for `perf` and
//! `valgrind --tool=callgrind`, one side at a time.
//!
//! - `measure.rs`: a pair, its target, the interleaved rounds;
//! - `child.rs`: a pass as a process of its own, and what it reports;
//! - `../../../shared/confidence.rs`: the bootstrap interval, the verdict rule, the
//!   extra rounds (shared with `cargo xtask bench queue`);
//! - `passes.rs`: the passes over the rows, and each pass's share of a row's rounds;
//! - `table.rs`: the Markdown and the verdicts;
//! - `suite/`: the rows, one file per area, and the sizes of each mode.

#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

pub(crate) mod child;
#[path = "../../../shared/confidence.rs"]
pub(crate) mod confidence;
pub(crate) mod measure;
pub(crate) mod passes;
pub(crate) mod suite;
pub(crate) mod table;

use child::{Order, Pass, Report};
use measure::{Measured, Pair};
use passes::PASSES;
use std::time::{Duration, Instant};
use suite::{Ctx, Mode, Sizes};
use table::Verdict;

const USAGE: &str = "usage: pairs [--quick | --smoke] [--area NAME[,NAME...]] [--only TEXT]\n       pairs --run sluice|anchor cpu|io|blocking|chunk|keyed-1|keyed-100|keyed-10k|[loaded-]trip-ROUTE-wait|await|stream-io-(un)ordered N";

/// What the command line asks for.
struct Args {
    /// How long the run may take.
    mode: Mode,
    /// Keeps the areas whose name or heading contains one of these (all if empty).
    areas: Vec<String>,
    /// Keeps the rows whose name or anchor contains this.
    only: String,
    /// Set in a pass's own process: the rounds the parent orders.
    pass: Option<Pass>,
}

fn usage(problem: &str) -> ! {
    eprintln!("pairs: {problem}\n{USAGE}");
    std::process::exit(2);
}

fn parse() -> Args {
    let mut parsed = Args {
        mode: Mode::Full,
        areas: Vec::new(),
        only: String::new(),
        pass: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--smoke" => parsed.mode = Mode::Smoke,
            "--quick" if parsed.mode != Mode::Smoke => parsed.mode = Mode::Quick,
            "--quick" => {}
            "--area" | "--only" => {
                let Some(text) = args.next() else {
                    usage(&format!("{arg} needs a value"))
                };
                if arg == "--area" {
                    parsed.areas = text
                        .to_lowercase()
                        .split(',')
                        .map(|name| name.trim().to_string())
                        .filter(|name| !name.is_empty())
                        .collect();
                } else {
                    parsed.only = text;
                }
            }
            "--pass" => match args.next().as_deref().map(Pass::parse) {
                Some(Ok(pass)) => parsed.pass = Some(pass),
                Some(Err(e)) => usage(&e),
                None => usage("--pass needs a value"),
            },
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    parsed
}

/// A row of the run and what it has measured so far.
struct Row {
    pair: Pair,
    /// Its rounds before any extension: shared out over the passes.
    first: usize,
    m: Measured,
    /// Time spent measuring it, for the bound on its extension.
    spent: Duration,
}

impl Row {
    /// `rounds` more rounds of the row.
    fn measure(&mut self, rounds: usize) {
        let began = Instant::now();
        self.m.pass(&self.pair, rounds);
        self.spent += began.elapsed();
    }
}

fn main() {
    run("the system allocator (glibc)");
}

/// `--run SIDE ROUTE N`: one side of one submit-throughput row, once, for a profiler.
fn run_one(side: &str, route: &str, n: &str) {
    use sluice_benches::hog::Hog;
    use sluice_benches::{policy, roundtrip as rt, submit};
    let Ok(n) = n.parse::<usize>() else {
        usage(&format!("--run needs a task count, not {n:?}"))
    };
    let row: fn(&sluice_benches::Fixture, usize) = match (side, route) {
        ("sluice", "cpu") => submit::cpu_sluice,
        ("anchor", "cpu") => submit::cpu_anchor,
        ("sluice", "io") => submit::io_sluice,
        ("anchor", "io") => submit::io_anchor,
        ("sluice", "blocking") => submit::blocking_sluice,
        ("anchor", "blocking") => submit::blocking_anchor,
        ("sluice", "chunk") => submit::chunk_sluice,
        ("anchor", "chunk") => submit::chunk_anchor,
        // The policy area's keyed admission rows, and their anchor (no key).
        ("sluice", "keyed-1") => |fx, n| policy::keyed_tasks(fx, n, 1),
        ("sluice", "keyed-100") => |fx, n| policy::keyed_tasks(fx, n, 100),
        ("sluice", "keyed-10k") => |fx, n| policy::keyed_tasks(fx, n, 10_000),
        ("anchor", "keyed-1" | "keyed-100" | "keyed-10k") => policy::unkeyed_tasks,
        _ => match rt::by_name(side, route.trim_start_matches("loaded-"))
            .or_else(|| sluice_benches::streams::by_name(side, route))
        {
            Some(row) => row,
            None => usage(&format!(
                "--run takes sluice|anchor and cpu|io|blocking|chunk|keyed-1|keyed-100|\
                 keyed-10k, a round trip \
                 ({}, each maybe prefixed loaded-) or a streamed io map ({}), not \
                 {side:?} {route:?}",
                rt::NAMES.join("|"),
                sluice_benches::streams::NAMES.join("|")
            )),
        },
    };
    let fixture = sluice_benches::Fixture::new(sluice_benches::threads());
    let hog = route.starts_with("loaded-").then(Hog::start);
    row(&fixture, n);
    drop(hog);
}

/// Every row the arguments keep, by area, nothing measured yet. The parent and each
/// pass's process build the same plan from the same arguments, so a row's index in it
/// names the row to both.
fn plan(args: &Args, ctx: &'static Ctx) -> Vec<(suite::Area, Vec<Row>)> {
    let areas: Vec<_> = suite::areas()
        .into_iter()
        .filter(|area| {
            args.areas.is_empty()
                || args.areas.iter().any(|name| {
                    area.key.contains(name.as_str())
                        || area.title.to_lowercase().contains(name.as_str())
                })
        })
        .collect();
    if areas.is_empty() {
        let names: Vec<_> = suite::areas().iter().map(|area| area.key).collect();
        usage(&format!(
            "no area matches {:?}; areas: {}",
            args.areas,
            names.join(", ")
        ));
    }
    let mut plan: Vec<(suite::Area, Vec<Row>)> = Vec::new();
    for area in areas {
        let rows: Vec<Row> = (area.rows)(ctx)
            .into_iter()
            .filter(|p| p.name.contains(&args.only) || p.anchor_label.contains(&args.only))
            .map(|pair| Row {
                first: pair.rounds.unwrap_or(ctx.sizes.rounds),
                pair,
                m: Measured::new(),
                spent: Duration::ZERO,
            })
            .collect();
        if !rows.is_empty() {
            plan.push((area, rows));
        }
    }
    if plan.is_empty() {
        usage(&format!("no row matches {:?}", args.only));
    }
    plan
}

/// A pass's own process: measures the rows `pass` orders and prints each round.
fn serve(pass: &Pass, plan: &mut [(suite::Area, Vec<Row>)], ctx: &'static Ctx) {
    let mut at = 0;
    for (area, rows) in plan.iter_mut() {
        let first = at;
        at += rows.len();
        let mut prepared = false;
        for order in pass.orders.iter().filter(|o| (first..at).contains(&o.row)) {
            let row = &mut rows[order.row - first];
            if !prepared {
                (area.prepare)(ctx);
                prepared = true;
            }
            row.m = Measured::after(order.done);
            row.measure(order.rounds);
            for (anchor, ours) in row.m.anchor.iter().zip(&row.m.ours) {
                let report = Report::Round {
                    row: order.row,
                    anchor: *anchor,
                    ours: *ours,
                };
                println!("{}", report.line());
            }
            let spent = Report::Spent {
                row: order.row,
                seconds: row.spent.as_secs_f64(),
            };
            println!("{}", spent.line());
            eprintln!(
                "pairs: pass {}{}: {}: {} vs {}: {:.3} over this pass's {} rounds",
                pass.number,
                if pass.number <= pass.of {
                    format!("/{}", pass.of)
                } else {
                    " (extra)".to_owned()
                },
                area.key,
                row.pair.name,
                row.pair.anchor_label,
                row.m.ratio(),
                row.m.rounds()
            );
        }
    }
}

/// The runner, `allocator` naming the global allocator on the page (`pairs-mimalloc`
/// calls this with its own).
pub(crate) fn run(allocator: &str) {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, side, route, n] = raw.as_slice()
        && flag == "--run"
    {
        return run_one(side, route, n);
    }
    let args = parse();
    let began = Instant::now();
    let threads = sluice_benches::threads();
    let ctx: &'static Ctx = Box::leak(Box::new(Ctx::new(Sizes::of(args.mode), threads)));
    let mut plan = plan(&args, ctx);
    if let Some(pass) = &args.pass {
        return serve(pass, &mut plan, ctx);
    }
    // The parent: every pass, and every extra pass of the unclear rows, is a child.
    let passes = if args.mode == Mode::Smoke { 1 } else { PASSES };
    let mut number = 0;
    let mut pass_of = |orders: Vec<Order>, plan: &mut Vec<(suite::Area, Vec<Row>)>| {
        number += 1;
        let pass = Pass {
            number,
            of: passes,
            orders,
        };
        let group = u32::try_from(number).unwrap_or(u32::MAX);
        let mut rows: Vec<&mut Row> = plan.iter_mut().flat_map(|(_, rows)| rows).collect();
        let filed = child::run(&raw, &pass, |report| match report {
            Report::Round { row, anchor, ours } => {
                if let Some(row) = rows.get_mut(row) {
                    row.m.absorb(anchor, ours, group);
                }
            }
            Report::Spent { row, seconds } => {
                if let Some(row) = rows.get_mut(row) {
                    row.spent += Duration::from_secs_f64(seconds);
                }
            }
        });
        if let Err(e) = filed {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    for pass in 0..passes {
        let orders = plan
            .iter()
            .flat_map(|(_, rows)| rows)
            .enumerate()
            .map(|(at, row)| Order {
                row: at,
                rounds: passes::share(row.first, pass, passes),
                done: row.m.rounds(),
            })
            .filter(|order| order.rounds > 0)
            .collect();
        pass_of(orders, &mut plan);
    }
    // Rows still unclear get more rounds, in further passes over them, each pass a
    // share of a first batch, until they are clear or their bound is reached.
    loop {
        let orders: Vec<Order> = plan
            .iter()
            .flat_map(|(_, rows)| rows)
            .enumerate()
            .filter_map(|(at, row)| {
                let batch = confidence::more(
                    table::judge(&row.pair, &row.m).0.reading(),
                    row.m.rounds(),
                    row.first,
                    row.spent,
                    ctx.sizes.more,
                )?;
                Some(Order {
                    row: at,
                    rounds: batch.min(row.first.div_ceil(passes)),
                    done: row.m.rounds(),
                })
            })
            .collect();
        if orders.is_empty() {
            break;
        }
        eprintln!(
            "pairs: {} row(s) unclear, another pass over them",
            orders.len()
        );
        pass_of(orders, &mut plan);
    }
    let (mut misses, mut unclear) = (Vec::new(), Vec::new());
    let mut targets = 0;
    for (area, rows) in &plan {
        let ideal = rows.iter().any(|row| row.pair.ideal.is_some());
        println!("{}", table::heading(area.title, area.note, ideal));
        for row in rows {
            let (pair, m) = (&row.pair, &row.m);
            let (line, verdict) = table::row(pair, m, ideal);
            println!("{line}");
            if verdict != Verdict::Measure {
                targets += 1;
            }
            let named = || {
                format!(
                    "{} — {} (against {})",
                    area.title, pair.name, pair.anchor_label
                )
            };
            match verdict {
                Verdict::Misses { .. } => misses.push(named()),
                Verdict::Unclear => unclear.push(named()),
                Verdict::Measure | Verdict::Meets => {}
            }
        }
        println!();
    }
    let sizes = &ctx.sizes;
    println!(
        "{} interleaved rounds per row unless the row says otherwise (submitting blocking \
         calls: {}; the keyed scenarios: {} and {}), shared out over {passes} pass(es) \
         over all the rows, each pass a fresh process, so that each row's rounds come \
         from the whole run's stretch of the machine and from more than one process, \
         each pass's share after a warm-up run of each side; a row whose interval straddles its \
         target gets batches of more rounds, in further passes, up to {}× its first \
         rounds or {} s of its own measuring in all (the rounds column gives each row's). {threads} threads on each side, {} round \
         trips per measurement; 95% intervals by bootstrap (2,000 resamples of the \
         passes and of the rounds within each, seeded; {} pass(es) in all); global allocator: {allocator}; wall time {:.0} s.",
        sizes.rounds,
        sizes.submit_blocking.1,
        sizes.per_key.1,
        sizes.strict.1,
        sizes.more.factor,
        sizes.more.cap.as_secs(),
        sizes.trips,
        number,
        began.elapsed().as_secs_f64()
    );
    println!();
    if args.mode == Mode::Smoke {
        println!("A smoke run: the sizes are too small (and the build may be a debug one) for");
        println!("the verdicts below to mean anything; it proves that every row still runs.");
        println!();
    }
    let met = targets - misses.len() - unclear.len();
    println!(
        "**{met} of {targets} targets met, {} missed, {} unclear.**",
        misses.len(),
        unclear.len()
    );
    for (heading, rows) in [("Missed", &misses), ("Unclear", &unclear)] {
        if rows.is_empty() {
            continue;
        }
        println!();
        println!("{heading}:");
        println!();
        for row in rows {
            println!("- {row}");
        }
    }
}
