//! `cargo xtask bench`: runs the interleaved pairs and writes `docs/benchmarks.md`
//! (keeping the Ingest section, which `cargo xtask bench ingest` writes, and the Memory
//! and overlap section, which `cargo xtask bench memory` writes, and the Queue section,
//! which `cargo xtask bench queue` writes).

use crate::run::{release_binary, release_binary_with, workspace_root};
use std::fs;
use std::process::Command;

/// Builds and runs the pairs runner in release, then writes the page.
pub fn run(quick: bool) -> Result<(), String> {
    let runner = release_binary("sluice-benches", "pairs")?;
    let mut command = Command::new(runner);
    if quick {
        command.arg("--quick");
    }
    let output = command.output().map_err(|e| format!("pairs: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "pairs failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let table = String::from_utf8_lossy(&output.stdout);
    print!("{table}");
    let mut page = page(&table, quick);
    let mimalloc = with_mimalloc(quick)?;
    print!("{mimalloc}");
    page = format!(
        "{}\n\n{MIMALLOC}\n\n{}\n",
        page.trim_end(),
        mimalloc.trim_end()
    );
    let allocations = crate::bench_allocations::section()?;
    print!("{allocations}");
    page = format!("{}\n\n{}", page.trim_end(), allocations.trim_end());
    let path = workspace_root().join("docs").join("benchmarks.md");
    // The Ingest and the Memory and overlap sections are `cargo xtask bench ingest`'s
    // and `cargo xtask bench memory`'s: kept as they were.
    let before = fs::read_to_string(&path).unwrap_or_default();
    if let Some(ingest) = crate::bench_ingest_page::existing(&before) {
        page = format!(
            "{}

{ingest}
",
            page.trim_end()
        );
    }
    if let Some(memory) = crate::bench_memory_page::existing(&before) {
        page = format!(
            "{}

{memory}
",
            page.trim_end()
        );
    }
    if let Some(queue) = crate::bench_queue_page::existing(&before) {
        page = format!(
            "{}

{queue}
",
            page.trim_end()
        );
    }
    fs::write(&path, page).map_err(|e| format!("writing {}: {e}", path.display()))?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

/// The heading and note of the mimalloc rows.
const MIMALLOC: &str = "## With mimalloc\n\n\
The submit and round-trip areas again, built as `pairs-mimalloc`: mimalloc is the \
global allocator of both sides (`--features mimalloc`). For users who choose it; the \
targets are stated for the system allocator, above.";

/// The submit and round-trip areas with mimalloc as the global allocator.
fn with_mimalloc(quick: bool) -> Result<String, String> {
    let runner = release_binary_with("sluice-benches", "pairs-mimalloc", &["mimalloc"])?;
    let mut command = Command::new(runner);
    command.args(["--area", "submit,route_roundtrip"]);
    if quick {
        command.arg("--quick");
    }
    let output = command
        .output()
        .map_err(|e| format!("pairs-mimalloc: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "pairs-mimalloc failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    // Its tables one heading level down, under the section's; its count of targets met
    // is left out, since the page's targets are the system allocator's.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let tables = stdout.split("\n**").next().unwrap_or_default();
    Ok(tables
        .replace("\n### ", "\n#### ")
        .replacen("### ", "#### ", 1))
}

fn page(table: &str, quick: bool) -> String {
    format!(
        "# Benchmarks\n\n\
         Written by `cargo xtask bench{}`; do not edit by hand.\n\n\
         - machine: {} ({} cores), a shared virtual machine whose speed drifts by up to 1.6× within seconds\n\
         - date: {}\n\
         - commit: {}\n\n\
         {METHOD}\n\
         {table}\n\
         {READING}",
        if quick { " --quick" } else { "" },
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        shell(&["date", "-u", "+%Y-%m-%d %H:%M UTC"]),
        commit(),
    )
}

/// How the rows are measured: the page's opening.
const METHOD: &str = "\
Every row runs a raw anchor and Sluice **interleaved** — anchor, Sluice, Sluice, anchor
… — with the same number of threads on each side, and takes the ratio (Sluice's time
over the anchor's; below 1 means Sluice is faster) per round. The tables give the
median ratio, the spread (lowest–highest) of those per-round ratios, and a 95%
confidence interval of the median by bootstrap over the rounds; times are medians too.
A verdict reads the interval, not the median alone: **meets** when all of it is within
the target, **misses** when all of it is past, **unclear** when it straddles the
target; an unclear row is measured again, in batches, until it is clear or it reaches
three times its rounds (or a time cap), and the rounds column says how many it had.
A row's rounds are not taken in one stretch, nor by one process: the runner makes
three passes over all the rows, each pass a fresh process giving every row a third of
its rounds (after a warm-up run of each side), and every extra batch of an unclear row
is a pass of its own. The interval resamples the passes as well as the rounds within
each (a two-stage bootstrap), so it is as wide as the passes' disagreement: rounds of
one process share its stretch of the machine, its threads' placement and its heap, and
two runs of the page, each from one process, had disagreed on rows near their targets
while each was sure of itself. Rows are grouped by area, one table each:

| area | Sluice | anchor | target |
| --- | --- | --- | --- |
| route round trips | `run_cpu`, `run_io`, `run_io_blocking`, `run_chunk`: one trivial task submitted and waited for, in a loop, sync and async; again beside a thread spinning on one core (both sides) | rayon `spawn`, `tokio::spawn`, `spawn_blocking`, a raw `crossbeam-deque` pool, each with a oneshot or `JoinHandle` | ≤ 1.10 idle and loaded; `run_io_blocking` ≥ 1.5× faster |
| submit throughput | 1 M tiny tasks through each route (fewer with `--quick`), then all waited for | the same through the anchors | ≥ 0.9× the anchor's throughput |
| map throughput | `map_chunks`, `map_cpu` over 10 M items of ~20 ns and 100 k of ~1 µs | `par_iter().map(f).collect()` on as many threads; a sequential loop | ≤ 1.00 against `par_iter`; ≥ 1.9× faster than sequential |
| streamed maps | `stream(..).io` unordered and ordered, 100 k futures sleeping 1 ms, 256 in flight; `stream(..).cpu` unordered, 1 M items of ~1 µs read by the caller; maps of 4 items of ~1 µs (`map_cpu(..).wait()`, `stream_cpu` collected) | `buffer_unordered(256)` / `buffered(256)` on tokio; `par_iter().for_each` into a bounded channel; a sequential loop | ≤ 1.05; ≤ 1.00; ≤ 2.00 |
| policy overhead | retry + timeout + breaker (+ a key) configured but never triggered; the load throttle on and idle; keyed admission | the bare route; the throttle off; no key | ≤ 1.05 for 10 µs tasks; the rest are measures |
| gate contention | `sluice_core::Gate` `try_acquire` + release on 2 and 4 threads | `tokio::sync::Semaphore`, owned and borrowed permits | ≤ 1.10 where no attempt fails |
| seed scenarios | sleeping IO workloads with a known ideal: 300 × 10 ms at most 50 in flight; 10 keys × 10 × 30 ms per-key FIFO at most 5 in flight; the same in strict order | the same on raw tokio with a `Semaphore` | within 5% of the ideal |

The scenarios live in `benches/src/` (one module per area) and the rows in
`benches/src/bin/pairs/suite/`; `cargo bench -p sluice-benches` runs the same code
under criterion, one bench per area, for per-function profiles (criterion runs the two
sides apart, so its ratios are not the ones quoted here).
";

/// How to read the verdicts, and why some rows come out as they do: the page's end.
const READING: &str = "\
How to read the verdicts:

- **meets** / **misses**: the row's 95% interval lies wholly within / wholly past its
  target. The interval is that of the median of the per-round figure the target is
  about — the ratio to the anchor, or for a row against an ideal, Sluice's time over
  the ideal — by a two-stage bootstrap: 2,000 resamples, each drawing as many passes
  as the row had, with replacement, then as many rounds from each pass drawn, with
  replacement, from a fixed seed, so the same rounds always give the same interval. The spread is wider
  than the interval: it is where single rounds fell, the interval where the median
  would fall on another run of this machine.
- **unclear**: the interval straddles the target even after the extra rounds, so
  this machine could not tell on this run; the median says which side it leans to.
  With `--quick` there are fewer rounds, so more rows come out unclear.
- **measure**: the row has no target. It prices something paid by design (a key makes
  its tasks wait for each other; with one key they run one at a time), or a race whose
  outcome is not the code's (threads spinning for a gate of one).
- **misses (so does the anchor)**: a scenario row whose ideal nobody reaches. tokio's
  timer counts whole milliseconds, so a sleep of 10 ms takes 10–11 ms and every wave of
  a scenario pays that on both sides; the blocking row, with `thread::sleep`, shows how
  much of a miss is the timer and how much the threads' wake-ups on a busy machine.

Why `wait()` beats its anchor on an idle machine: a blocking `wait()` spins for a few
microseconds before it parks, while a worker runs its task (`sluice-core/src/spin.rs`),
and short work usually finishes within that, so the caller skips the futex round trip
of a wakeup; the anchor's `blocking_recv` parks at once. Beside a busy core the spin
would keep the task's worker from the waiter's core, so a thread whose last two spins
missed parks at once for its next 16 waits, as the anchor does. Async callers must not spin, so in the async rows
both sides park and wake the caller once per round trip. Most of that time is the
kernel's on both sides (rayon's idle workers yield in a loop, and the woken caller
competes with them for two cores); what Sluice adds is its own work on the path —
the task's accounting, its answer's slot, the gate — done partly before the answer
reaches the caller, which the sync rows hide by spinning and the async rows cannot.
`callgrind` counts about 8,000 instructions per `run_cpu(f).await` round trip against
3,200 for the anchor (idle spinning included on both sides).

The throttle rows compare two managers, throttle on and off: the throttle adds no
work to a round trip (nothing on the submission or wait path reads it; its thread wakes
twice a second, and callgrind counts the same instructions per trip either way), so a
reading past 1.05 there is the two managers' pools placed differently on the cores.

Why the submit rows miss: the anchors hand each job to their pool's queue with one or
two small allocations. A Sluice task is counted, timed and answered exactly once and
waits its turn at its route's gate; it allocates twice on the cpu route, as rayon's
`spawn` with a oneshot does, and once on the blocking and chunk routes (see
\"Allocations per task\" below), but the task is larger (about 370 bytes with its
handle, against the anchor's 130 in all). Submitted in a burst, allocations are
made on the caller's thread and partly freed on the workers', past glibc's per-thread
caches, so the allocator's arena lock is contended; and a million tasks in flight touch about
98 k fresh pages (a plain task is a 368-byte malloc chunk) against the rayon anchor's
23 k, which the kernel zeroes on each burst (a quarter of the row's CPU samples). On the io route tokio copies each task's
future about six times: Sluice's is 240 bytes against the anchor's 16. See \"Where that cost shows\" in
`docs/ARCHITECTURE.md`.
";

/// The machine, date and commit of a measurement, on one line.
pub fn stamp() -> String {
    format!(
        "{}, {} cores; {}; commit {}",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        shell(&["date", "-u", "+%Y-%m-%d %H:%M UTC"]),
        commit(),
    )
}

fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown cpu".into())
}

fn commit() -> String {
    let hash = shell(&["git", "rev-parse", "--short", "HEAD"]);
    let dirty = !shell(&["git", "status", "--porcelain", "--untracked-files=no"]).is_empty();
    if dirty {
        format!("{hash} with uncommitted changes")
    } else {
        hash
    }
}

fn shell(args: &[&str]) -> String {
    Command::new(args[0])
        .args(&args[1..])
        .current_dir(workspace_root())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}
