//! The "Queue" section of `docs/benchmarks.md`: the table of `cargo xtask bench
//! queue`, written between its own markers so that the rest of the page stays as it
//! is (and kept by `cargo xtask bench` when it rewrites the page).

use crate::bench_queue::{Measured, RowRuns, quantile};
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

/// The rows with their verdicts, as a Markdown table, and the wake-up line.
pub fn table(m: &Measured) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| synchronous_commit | keys | batch | workers | raw loop, tasks/s | Sluice, tasks/s | Sluice ÷ raw (spread) | target | |"
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"
    );
    let (mut met, mut missed) = (0, 0);
    for (&(sync, keys, batch, workers), runs) in &m.rows {
        let raw = RowRuns::median(&runs.raw);
        let sluice = RowRuns::median(&runs.sluice);
        let (ratio, ratio_spread) = runs.ratio_text();
        let floor = (!sync && batch == 100).then_some(if keys == 0 {
            UNKEYED_TARGET
        } else {
            KEYED_TARGET
        });
        let mut target = format!("≥ {RATIO_TARGET}×");
        let mut ok = ratio >= RATIO_TARGET;
        if let Some(floor) = floor {
            let _ = write!(target, ", ≥ {:.0} k/s", floor / 1000.0);
            ok &= sluice >= floor;
        }
        if ok {
            met += 1;
        } else {
            missed += 1;
        }
        let _ = writeln!(
            out,
            "| {} | {} | {batch} | {workers} | {:.1} k | {:.1} k | {ratio:.2}× ({ratio_spread}) | {target} | {} |",
            if sync { "on" } else { "off" },
            if keys == 0 {
                "none".to_owned()
            } else {
                keys.to_string()
            },
            raw / 1000.0,
            sluice / 1000.0,
            if ok { "met" } else { "**missed**" },
        );
    }
    let p50 = quantile(&m.wake_ms, 0.5);
    let p99 = quantile(&m.wake_ms, 0.99);
    let wake_ok = p50 < WAKE_TARGET_MS;
    let _ = writeln!(
        out,
        "\nWake-up of an idle worker after an enqueue ({} samples): p50 {p50:.1} ms, p99 {p99:.1} ms \
         (target p50 < {WAKE_TARGET_MS:.0} ms: {}).\n\n{met} rows met their targets, {missed} missed.",
        m.wake_ms.len(),
        if wake_ok { "met" } else { "**missed**" },
    );
    out
}

/// The whole section: markers, heading, method, table.
pub fn section(m: &Measured, table: &str, quick: bool) -> String {
    let rounds = m.rows.values().map(|r| r.sluice.len()).max().unwrap_or(0);
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
         unkeyed and keyed, warms the fresh server before the first row. In each round \
         the two sides of a row run back to back, each first in every other row; the \
         ratio is the median over {rounds} round(s) of Sluice's tasks/s over the raw \
         loop's in the same round, with the lowest and highest. Tasks per run: 2,000 \
         at batch 1, 10,000 at batch 10, 20,000 at batch 100{}. The machine is shared \
         with other builds: tasks/s are indicative, the ratios less so.\n",
        if quick { " --quick" } else { "" },
        crate::bench::stamp(),
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
