//! The "Queue" section of `docs/benchmarks.md`: the table of `cargo xtask bench
//! queue`, written between its own markers so that the rest of the page stays as it
//! is (and kept by `cargo xtask bench` when it rewrites the page).

use crate::bench_queue::confidence::{Interval, Reading, SEED, median_interval, read_at_least};
use crate::bench_queue::{FIRST_ROUNDS, LIMITS, Measured, RUN_CAP, RowKey, RowRuns};
use crate::page_section::Section;
use std::fmt::Write as _;

/// Where the section begins on the page.
pub const BEGIN: &str = "<!-- queue:begin -->";
/// Where it ends.
pub const END: &str = "<!-- queue:end -->";

/// Sluice's throughput over the raw loop's, at least, in every row.
const RATIO_TARGET: f64 = 0.8;
/// Tasks/s at batch 100 with synchronous_commit off: unkeyed, and with 2,000 keys.
const UNKEYED_TARGET: f64 = 20_000.0;
/// See [`UNKEYED_TARGET`].
const KEYED_TARGET: f64 = 10_000.0;
/// An idle worker's median wake-up, ms.
const WAKE_TARGET_MS: f64 = 50.0;

/// A row's reading and the interval of its ratio it rests on.
#[derive(Debug, Clone, Copy)]
pub struct RowVerdict {
    /// The bootstrap interval of the median ratio (none without a round).
    pub ratio: Option<Interval>,
    /// Meets when every target's interval is within it, misses when one's is wholly
    /// past it, unclear otherwise.
    pub reading: Reading,
}

/// Reads row `key` against its targets: the interval of its median ratio against
/// [`RATIO_TARGET`], and at batch 100 with synchronous_commit off the interval of
/// Sluice's median tasks/s against its floor.
pub fn verdict(key: RowKey, runs: &RowRuns) -> RowVerdict {
    let (sync, keys, batch, _) = key;
    let ratio = median_interval(&runs.ratios(), SEED);
    let mut readings = vec![ratio.map_or(Reading::Unclear, |i| read_at_least(i, RATIO_TARGET))];
    if let Some(floor) = floor(sync, keys, batch) {
        let tps: Vec<f64> = runs.sluice.values().copied().collect();
        readings.push(
            median_interval(&tps, SEED).map_or(Reading::Unclear, |i| read_at_least(i, floor)),
        );
    }
    let reading = if readings.contains(&Reading::Misses) {
        Reading::Misses
    } else if readings.iter().all(|r| *r == Reading::Meets) {
        Reading::Meets
    } else {
        Reading::Unclear
    };
    RowVerdict { ratio, reading }
}

/// The row's floor on Sluice's tasks/s, if it has one.
fn floor(sync: bool, keys: u32, batch: u32) -> Option<f64> {
    (!sync && batch == 100).then_some(if keys == 0 {
        UNKEYED_TARGET
    } else {
        KEYED_TARGET
    })
}

/// The rows with their verdicts, as a Markdown table, and the wake-up line.
pub fn table(m: &Measured) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| synchronous_commit | keys | batch | workers | rounds | raw loop, tasks/s | Sluice, tasks/s | Sluice ÷ raw (spread) | 95% interval | target | |"
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"
    );
    let (mut met, mut missed, mut unclear) = (0, 0, 0);
    for (&key, runs) in &m.rows {
        let (sync, keys, batch, workers) = key;
        let raw = RowRuns::median(&runs.raw);
        let sluice = RowRuns::median(&runs.sluice);
        let (ratio, ratio_spread) = runs.ratio_text();
        let read = verdict(key, runs);
        let mut target = format!("≥ {RATIO_TARGET}×");
        if let Some(floor) = floor(sync, keys, batch) {
            let _ = write!(target, ", ≥ {:.0} k/s", floor / 1000.0);
        }
        let said = match read.reading {
            Reading::Meets => {
                met += 1;
                "meets"
            }
            Reading::Misses => {
                missed += 1;
                "**misses**"
            }
            Reading::Unclear => {
                unclear += 1;
                "unclear"
            }
        };
        let interval = read
            .ratio
            .map_or_else(|| "–".to_owned(), |i| format!("{:.2}–{:.2}", i.lo, i.hi));
        let _ = writeln!(
            out,
            "| {} | {} | {batch} | {workers} | {} | {:.1} k | {:.1} k | {ratio:.2}× ({ratio_spread}) | {interval} | {target} | {said} |",
            if sync { "on" } else { "off" },
            if keys == 0 {
                "none".to_owned()
            } else {
                keys.to_string()
            },
            runs.ratios().len(),
            raw / 1000.0,
            sluice / 1000.0,
        );
    }
    let p50 = quantile(&m.wake_ms, 0.5);
    let p99 = quantile(&m.wake_ms, 0.99);
    let wake_ok = p50 < WAKE_TARGET_MS;
    let _ = writeln!(
        out,
        "\nWake-up of an idle worker after an enqueue ({} samples): p50 {p50:.1} ms, p99 {p99:.1} ms \
         (target p50 < {WAKE_TARGET_MS:.0} ms: {}).\n\n{met} rows meet their targets, {missed} miss, \
         {unclear} unclear{}.",
        m.wake_ms.len(),
        if wake_ok { "met" } else { "**missed**" },
        if unclear > 0 && m.capped {
            " (the run reached its time cap)"
        } else if unclear > 0 {
            " at their bound of rounds"
        } else {
            ""
        },
    );
    out
}

/// The whole section: markers, heading, method, table.
pub fn section(m: &Measured, table: &str, quick: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{BEGIN}\n## Queue\n");
    let _ = writeln!(
        out,
        "Written by `cargo xtask bench queue{}` ({}); do not edit by hand. \
         `sluice-pg-bench` (`crates/sluice-postgres/src/bin/sluice-pg-bench/`) starts a \
         throwaway PostgreSQL server on this machine (fsync and full_page_writes turned \
         back on; `synchronous_commit` set per session) and measures end-to-end tasks/s: \
         a producer enqueues the row's tasks in transactions of 1,000 while the workers \
         claim, run a no-op and complete them; the clock runs from the first enqueue to \
         the last completion. **Sluice** is that many `Worker`s in one process (batch \
         size as in the row, `max_in_flight` twice that, a no-op on the io route). The \
         **raw loop** is that many claimers, each a plain loop on its own connection \
         running the queue's own statements (`sluice_postgres::testing::sql`: the same \
         enqueue, claim, and settle after the chain locks, prepared once per \
         connection) with no Sluice code. Both sides open their connections and \
         start their claimers before the clock, and one untimed run of each side, \
         unkeyed and keyed, warms each fresh server before its first row. In each round \
         the two sides of a row run back to back, each first in every other row; a \
         row's ratio is the median over its rounds of Sluice's tasks/s over the raw \
         loop's in the same round, with the lowest and highest, and a 95% bootstrap \
         interval of that median (the rule of the `pairs` runner, \
         `benches/shared/confidence.rs`). A row **meets** its target when all of the \
         interval is at or above {RATIO_TARGET}× (and, at batch 100 with \
         synchronous_commit off, all of the interval of Sluice's median tasks/s at or \
         above its floor), **misses** when all of one is below, and is **unclear** when \
         an interval straddles its target. The first pass gives every row {FIRST_ROUNDS} \
         rounds; each further pass, on a fresh server minutes later, gives the rows \
         still unclear {FIRST_ROUNDS} more, up to {} rounds a row, while the whole run \
         stays within {} minutes ({} pass(es) here). Tasks per run: 2,000 at batch 1, \
         10,000 at batch 10, 20,000 at batch 100{}. The rows are producer-bound on both \
         sides (the last enqueue commits at 93–97% of a run's time), so a row's ratio is \
         decided by the CPU a task costs, client and server together, on the two shared \
         cores: measured marginally (a 20,000-task run less a 2,000-task one) at \
         off:0:100:2, the raw loop's client 2.2 µs and server 44.4 µs per task, Sluice's \
         6.1 and 48.3 (about 22,000 client instructions per task against 6,300, by \
         callgrind). The machine is shared with other builds: tasks/s are indicative; \
         the verdicts say how sure they are.\n",
        if quick { " --quick" } else { "" },
        crate::bench::stamp(),
        FIRST_ROUNDS * LIMITS.factor,
        RUN_CAP.as_secs() / 60,
        m.passes,
        if quick {
            " (a tenth of that in a quick run)"
        } else {
            ""
        },
    );
    out.push_str(table);
    let _ = writeln!(out, "{END}");
    out
}

/// This section of the page: its markers and its name.
pub const SECTION: Section = Section {
    begin: BEGIN,
    end: END,
    name: "Queue",
};

/// Writes `section` into the page: in place of the one there, or at its end.
pub fn write(section: &str) -> Result<(), String> {
    SECTION.write(section)
}

/// The section on `page`, markers included, if it has one: kept by `cargo xtask bench`
/// when it rewrites the page.
pub fn existing(page: &str) -> Option<&str> {
    SECTION.existing(page)
}

/// The `q` quantile of `values` (nearest rank; NaN for none).
pub fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
