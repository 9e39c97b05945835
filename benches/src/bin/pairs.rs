//! The interleaved benchmark runner behind `cargo xtask bench`.
//!
//! This machine's speed drifts by up to 1.6× within seconds, so a ratio of two
//! measurements taken minutes apart is noise. Each pair is measured interleaved —
//! anchor, Sluice, anchor, Sluice … — and the ratio is taken per round; the table
//! gives the median of the per-round ratios and their spread (min–max).
//!
//! `pairs [--quick | --smoke] [--only TEXT]` prints a Markdown table on stdout;
//! `--only` keeps the scenarios whose name or anchor contains TEXT.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use sluice_benches::*;
use std::hint::black_box;
use std::time::Instant;

/// One comparison: the anchor, Sluice, and the bound the ratio should stay under.
struct Pair {
    /// What is compared.
    name: &'static str,
    /// The raw anchor, as a label.
    anchor_label: &'static str,
    /// Operations per measurement, for per-operation times.
    ops: usize,
    /// The anchor's run.
    anchor: Box<dyn Fn()>,
    /// Sluice's run.
    ours: Box<dyn Fn()>,
    /// The target: Sluice's time over the anchor's at most this; `None` where the pair
    /// is a measure, not a promise (one key runs its tasks one at a time, by design).
    max_ratio: Option<f64>,
}

/// The per-round figures of one pair.
struct Measured {
    /// Anchor nanoseconds per operation, each round.
    anchor: Vec<f64>,
    /// Sluice nanoseconds per operation, each round.
    ours: Vec<f64>,
    /// Sluice over anchor, each round.
    ratios: Vec<f64>,
}

/// Nanoseconds per operation, as a float: 10 M operations of a few nanoseconds each
/// need sub-nanosecond precision, which `Duration` does not have.
fn time(run: &dyn Fn(), ops: usize) -> f64 {
    let began = Instant::now();
    run();
    began.elapsed().as_secs_f64() * 1e9 / ops as f64
}

fn measure(pair: &Pair, rounds: usize) -> Measured {
    // One untimed run of each side first: thread start-up, page faults, caches.
    (pair.anchor)();
    (pair.ours)();
    let mut m = Measured {
        anchor: Vec::new(),
        ours: Vec::new(),
        ratios: Vec::new(),
    };
    for _ in 0..rounds {
        let a = time(&*pair.anchor, pair.ops);
        let o = time(&*pair.ours, pair.ops);
        m.ratios.push(o / a.max(1e-12));
        m.anchor.push(a);
        m.ours.push(o);
    }
    m
}

fn median<T: PartialOrd + Copy>(values: &[T]) -> T {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    sorted[sorted.len() / 2]
}

fn show(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.2} ns")
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("pairs: {problem}\nusage: pairs [--quick | --smoke] [--only TEXT]");
    std::process::exit(2);
}

fn main() {
    let mut smoke = false;
    let mut quick = false;
    let mut only = String::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--smoke" => smoke = true,
            "--quick" => quick = true,
            "--only" => match args.next() {
                Some(text) => only = text,
                None => usage("--only needs a value"),
            },
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    let (rounds, trips, items, heavy) = match (smoke, quick) {
        (true, _) => (1, 20, 100_000, 20),
        (false, true) => (7, 1_000, 10_000_000, 1_000),
        (false, false) => (21, 2_000, 10_000_000, 1_000),
    };
    let heavy_ops = usize::try_from(heavy).unwrap_or(usize::MAX);
    let policy_tasks = if smoke { 50 } else { 5_000 };
    let keyed = if smoke { 200 } else { 20_000 };
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let fx: &'static Fixture = Box::leak(Box::new(Fixture::new(threads)));
    let item_ops = usize::try_from(items).unwrap_or(usize::MAX);
    let seq_target = 1.0 / 1.9;
    let pairs = [
        Pair {
            name: "`run_cpu(f).wait()` round trip",
            anchor_label: "`rayon::ThreadPool::spawn` + oneshot",
            ops: trips,
            anchor: Box::new(move || cpu_roundtrip_anchor(fx, trips)),
            ours: Box::new(move || cpu_roundtrip_sluice(fx, trips)),
            max_ratio: Some(1.1),
        },
        Pair {
            name: "`run_cpu(f).await` round trip",
            anchor_label: "`rayon::ThreadPool::spawn` + oneshot, awaited",
            ops: trips,
            anchor: Box::new(move || cpu_roundtrip_async_anchor(fx, trips)),
            ours: Box::new(move || cpu_roundtrip_async_sluice(fx, trips)),
            max_ratio: Some(1.1),
        },
        Pair {
            name: "`run_io(fut).await` round trip",
            anchor_label: "`tokio::spawn(fut).await`",
            ops: trips,
            anchor: Box::new(move || io_roundtrip_anchor(fx, trips)),
            ours: Box::new(move || io_roundtrip_sluice(fx, trips)),
            max_ratio: Some(1.1),
        },
        Pair {
            name: "`map_chunks`, items of ~20 ns",
            anchor_label: "`par_iter().map(f).collect::<Vec<_>>()`",
            ops: item_ops,
            anchor: Box::new(move || drop(black_box(map_par_iter(fx, items)))),
            ours: Box::new(move || drop(black_box(map_sluice(fx, items)))),
            max_ratio: Some(1.0),
        },
        Pair {
            name: "`map_chunks`, items of ~20 ns",
            anchor_label: "sequential loop collecting the same `Vec`",
            ops: item_ops,
            anchor: Box::new(move || drop(black_box(map_sequential(items)))),
            ours: Box::new(move || drop(black_box(map_sluice(fx, items)))),
            max_ratio: Some(seq_target),
        },
        Pair {
            name: "`run_cpu(f).wait()` round trip, load throttle on and idle",
            anchor_label: "the same with the throttle off",
            ops: trips,
            anchor: Box::new(move || cpu_roundtrip_on(&fx.unthrottled, trips)),
            ours: Box::new(move || cpu_roundtrip_on(&fx.mgr, trips)),
            max_ratio: Some(1.05),
        },
        Pair {
            name: "10 µs tasks on a saturated pool, load throttle on and idle",
            anchor_label: "the same with the throttle off",
            ops: policy_tasks,
            anchor: Box::new(move || tasks_on(&fx.unthrottled, policy_tasks, 10)),
            ours: Box::new(move || tasks_on(&fx.mgr, policy_tasks, 10)),
            max_ratio: Some(1.05),
        },
        Pair {
            name: "10 µs tasks with retry + timeout + breaker, never triggered",
            anchor_label: "the same tasks with no policy",
            ops: policy_tasks,
            anchor: Box::new(move || tasks_plain(fx, policy_tasks, 10)),
            ours: Box::new(move || tasks_with_policies(fx, policy_tasks, 10, false)),
            max_ratio: Some(1.05),
        },
        Pair {
            name: "10 µs tasks with retry + timeout + breaker + a key each, never triggered",
            anchor_label: "the same tasks with no policy",
            ops: policy_tasks,
            anchor: Box::new(move || tasks_plain(fx, policy_tasks, 10)),
            ours: Box::new(move || tasks_with_policies(fx, policy_tasks, 10, true)),
            max_ratio: None,
        },
        Pair {
            name: "keyed admission, tiny tasks over 1 key (serial by design)",
            anchor_label: "the same tasks with no key",
            ops: keyed,
            anchor: Box::new(move || unkeyed_tasks(fx, keyed)),
            ours: Box::new(move || keyed_tasks(fx, keyed, 1)),
            max_ratio: None,
        },
        Pair {
            name: "keyed admission, tiny tasks over 100 keys",
            anchor_label: "the same tasks with no key",
            ops: keyed,
            anchor: Box::new(move || unkeyed_tasks(fx, keyed)),
            ours: Box::new(move || keyed_tasks(fx, keyed, 100)),
            max_ratio: None,
        },
        Pair {
            name: "keyed admission, tiny tasks over 10,000 keys",
            anchor_label: "the same tasks with no key",
            ops: keyed,
            anchor: Box::new(move || unkeyed_tasks(fx, keyed)),
            ours: Box::new(move || keyed_tasks(fx, keyed, 10_000)),
            max_ratio: None,
        },
        Pair {
            name: "`map_chunks`, items of ~1 ms",
            anchor_label: "`par_iter().map(f).collect::<Vec<_>>()`",
            ops: heavy_ops,
            anchor: Box::new(move || drop(black_box(map_heavy_par_iter(fx, heavy, 1_000)))),
            ours: Box::new(move || drop(black_box(map_heavy_sluice(fx, heavy, 1_000)))),
            max_ratio: Some(1.0),
        },
    ];
    println!(
        "| scenario | anchor | anchor / op | sluice / op | ratio (median) | spread | target | |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |");
    for pair in pairs
        .iter()
        .filter(|p| p.name.contains(&only) || p.anchor_label.contains(&only))
    {
        let m = measure(pair, rounds);
        let ratio = median(&m.ratios);
        let lo = m.ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = m.ratios.iter().copied().fold(0.0, f64::max);
        let (target, verdict) = match pair.max_ratio {
            None => ("—".to_owned(), "measure"),
            Some(max) if max < 1.0 => (
                format!("≤ {max:.3} (≥ {:.1}× faster)", 1.0 / max),
                if ratio <= max { "meets" } else { "misses" },
            ),
            Some(max) => (
                format!("≤ {max:.2}"),
                if ratio <= max { "meets" } else { "misses" },
            ),
        };
        println!(
            "| {} | {} | {} | {} | {:.3} | {:.3}–{:.3} | {} | {} |",
            pair.name,
            pair.anchor_label,
            show(median(&m.anchor)),
            show(median(&m.ours)),
            ratio,
            lo,
            hi,
            target,
            verdict
        );
    }
    println!();
    println!(
        "{rounds} interleaved rounds per pair, {threads} threads on each side; \
         {trips} round trips per measurement, {items} items per map of ~20 ns, {heavy} per map of ~1 ms."
    );
}
