//! Allocations per task, by route and policy: the "Allocations per task" section of
//! `docs/benchmarks.md`, printed as markdown (`cargo xtask bench` appends it).
//!
//! Each row warms a manager up, then counts every allocation made on any thread while
//! `N` tasks are submitted and waited for one at a time, and divides by `N`: counts,
//! unlike times, do not drift with the machine's load. The bounds are the ones
//! `crates/sluice/tests/allocations.rs` holds the library to.
//!
//! `allocations --run ROW N` runs only ROW's round trips, N of them, and prints
//! nothing: a fixed workload for `valgrind --tool=callgrind` (instructions per task
//! are the difference of two runs with different N, divided by the difference). Three
//! rows are for `--run` only: `keyed-1` (every task on one key), `keyed-100` and
//! `keyed-10k`. `allocations --burst KEYS N` submits N tiny tasks at once over KEYS
//! keys (0: no key) and then waits for them, as the policy bench's keyed admission
//! rows do.

#![forbid(unsafe_code)]

use sluice::retry::Retry;
use sluice::throttle::ThrottleConfig;
use sluice::{BreakerConfig, ConcurrencyManager};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;
use std::hint::black_box;
use std::time::Duration;

#[global_allocator]
static COUNTING: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Tasks counted per row.
const N: u64 = 10_000;

/// Tasks run before counting starts.
const WARM_UP: u64 = 500;

/// The rows: a name for `--run`, a label for the table, and the bound the tests hold
/// it to.
const ROWS: [(&str, &str, Option<u32>); 7] = [
    ("plain", "`run_cpu(f).wait()`", Some(2)),
    (
        "policies",
        "`run_cpu` with retry + timeout + breaker, none triggered",
        Some(2),
    ),
    ("keyed", "`run_cpu` with a key (8 keys in turn)", Some(2)),
    ("io", "`run_io(f).wait()`", Some(2)),
    ("blocking", "`run_io_blocking(f).wait()`", Some(1)),
    ("chunk", "`run_chunk(f).wait()`", Some(1)),
    ("named", "`task(name).run_cpu(f).wait()`", Some(2)),
];

fn manager() -> ConcurrencyManager {
    let never_trips = BreakerConfig::builder()
        .consecutive_failures(1_000_000)
        .build()
        .expect("a valid breaker config");
    ConcurrencyManager::builder()
        .cpu_threads(2)
        .chunk_threads(2)
        .io_threads(2)
        .breaker("service", never_trips)
        .throttle(ThrottleConfig::disabled())
        .build()
        .expect("the manager builds")
}

/// One round trip of `row`'s task, for task number `i`.
fn round_trip(mgr: &ConcurrencyManager, row: &str, i: u64, keys: &[String], retry: &Retry) {
    let answer = match row {
        "plain" => mgr.run_cpu(move || i + 1).wait(),
        "policies" => mgr
            .task("fetch")
            .timeout(Duration::from_secs(60))
            .breaker("service")
            .retry(retry.clone())
            .run_cpu(move || i + 1)
            .wait(),
        "keyed" => mgr
            .task("keyed")
            .key(&keys[(i % 8) as usize])
            .run_cpu(move || i + 1)
            .wait(),
        // For `--run` only (callgrind): keyed admission over one key, 100 and 10,000.
        "keyed-1" => mgr
            .task("keyed")
            .key(&keys[0])
            .run_cpu(move || i + 1)
            .wait(),
        "keyed-100" => mgr
            .task("keyed")
            .key(&keys[(i % 100) as usize])
            .run_cpu(move || i + 1)
            .wait(),
        "keyed-10k" => mgr
            .task("keyed")
            .key(&keys[(i % 10_000) as usize])
            .run_cpu(move || i + 1)
            .wait(),
        "io" => mgr.run_io(async move { i + 1 }).wait(),
        "blocking" => mgr.run_io_blocking(move || i + 1).wait(),
        "chunk" => mgr.run_chunk(move || i + 1).wait(),
        "named" => mgr.task("named").run_cpu(move || i + 1).wait(),
        other => {
            #[allow(clippy::print_stderr)] // a usage error, for whoever ran it
            {
                eprintln!("allocations: no row {other}");
            }
            std::process::exit(2);
        }
    };
    black_box(answer.expect("the task runs"));
}

/// `n` tiny tasks submitted at once over `keys` keys in turn (none: no key), then
/// waited for: the policy bench's keyed admission rows, for callgrind (`--burst`), where
/// most keyed tasks wait in their key's queue rather than run at once.
fn burst(mgr: &ConcurrencyManager, keys: usize, n: u64) {
    let names: Vec<String> = (0..keys).map(|k| format!("key-{k}")).collect();
    let handles: Vec<_> = (0..n)
        .map(|i| match names.get(i as usize % keys.max(1)) {
            Some(key) => mgr.task("keyed").key(key).run_cpu(move || i + 1),
            None => mgr.run_cpu(move || i + 1),
        })
        .collect();
    for handle in handles {
        black_box(handle.wait().expect("the task runs"));
    }
}

/// Allocations and bytes per task of `row`.
fn measure(mgr: &ConcurrencyManager, row: &str) -> (f64, f64) {
    let keys: Vec<String> = (0..8).map(|k| format!("key-{k}")).collect();
    let retry = Retry::default();
    for i in 0..WARM_UP {
        round_trip(mgr, row, i, &keys, &retry);
    }
    let region = Region::new(COUNTING);
    for i in 0..N {
        round_trip(mgr, row, i, &keys, &retry);
    }
    let stats = region.change();
    let n = N as f64;
    (
        (stats.allocations + stats.reallocations) as f64 / n,
        stats.bytes_allocated as f64 / n,
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mgr = manager();
    if let [flag, keys, n] = args.as_slice()
        && flag == "--burst"
    {
        let keys: usize = keys.parse().expect("KEYS is a number");
        let n: u64 = n.parse().expect("N is a number");
        burst(&mgr, keys, n);
        return;
    }
    if let [flag, row, n] = args.as_slice()
        && flag == "--run"
    {
        let n: u64 = n.parse().expect("N is a number");
        let keys: Vec<String> = (0..10_000).map(|k| format!("key-{k}")).collect();
        let retry = Retry::default();
        for i in 0..n {
            round_trip(&mgr, row, i, &keys, &retry);
        }
        return;
    }
    let mut out = String::from(
        "## Allocations per task\n\n\
         Every allocation on any thread while 10,000 tasks are submitted and waited for \
         one at a time, divided by 10,000 (`benches/src/bin/allocations/`; \
         `crates/sluice/tests/allocations.rs` holds the bounds). The anchor, \
         `rayon::spawn` with a oneshot, makes two.\n\n\
         | task | allocations | bytes | bound |\n| --- | --- | --- | --- |\n",
    );
    for (row, label, bound) in ROWS {
        let (count, bytes) = measure(&mgr, row);
        let bound = bound.map_or_else(|| "—".to_owned(), |b| format!("≤ {b}"));
        out.push_str(&format!(
            "| {label} | {count:.2} | {bytes:.0} | {bound} |\n"
        ));
    }
    #[allow(clippy::print_stdout)] // the table is this program's output
    {
        print!("{out}");
    }
}
