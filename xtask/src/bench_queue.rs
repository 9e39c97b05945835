//! `cargo xtask bench queue [--quick]`: builds and runs `sluice-pg-bench` (in
//! `crates/sluice-postgres/src/bin/sluice-pg-bench/`) in release, reads each row by the
//! bootstrap interval of its median ratio (the rule of the `pairs` runner, in
//! `benches/shared/confidence.rs`), gives the unclear rows more rounds in further
//! passes until they are clear or bounded, and writes the "Queue" section of
//! `docs/benchmarks.md` from the lines (see `bench_queue_page.rs`).

#[path = "../../benches/shared/confidence.rs"]
pub mod confidence;

use crate::bench_memory::{median, spread};
use crate::run::{cargo, workspace_root};
use confidence::Limits;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A row of the grid: (sync on, keys, batch, workers).
pub type RowKey = (bool, u32, u32, u32);

/// Rounds of every row in the first pass; an unclear row gets batches of this many.
pub const FIRST_ROUNDS: usize = 3;

/// How far an unclear row is extended: to three times the first pass's rounds, and
/// within two minutes of its own measured time.
pub const LIMITS: Limits = Limits {
    factor: 3,
    cap: Duration::from_secs(120),
};

/// The whole run's bound (the build aside): a further pass starts only if it is
/// expected to end within it.
pub const RUN_CAP: Duration = Duration::from_secs(12 * 60);

/// What one row measured: tasks/s of each side per round, in round order.
#[derive(Debug, Default, Clone)]
pub struct RowRuns {
    /// The raw loop's tasks/s, by round.
    pub raw: BTreeMap<u32, f64>,
    /// Sluice's tasks/s, by round.
    pub sluice: BTreeMap<u32, f64>,
    /// The seconds both sides' runs took, summed over the rounds.
    pub seconds: f64,
}

impl RowRuns {
    /// Sluice over raw in each round both sides ran.
    pub fn ratios(&self) -> Vec<f64> {
        self.sluice
            .iter()
            .filter_map(|(round, s)| self.raw.get(round).map(|r| s / r))
            .collect()
    }

    /// The median of `side`'s tasks/s.
    pub fn median(side: &BTreeMap<u32, f64>) -> f64 {
        median(&side.values().copied().collect::<Vec<_>>())
    }

    /// The ratio's median and spread, as the table shows them.
    pub fn ratio_text(&self) -> (f64, String) {
        let ratios = self.ratios();
        (median(&ratios), spread(&ratios))
    }
}

/// Everything the passes printed.
#[derive(Debug, Default)]
pub struct Measured {
    /// By row.
    pub rows: BTreeMap<RowKey, RowRuns>,
    /// Wake-up latencies, ms.
    pub wake_ms: Vec<f64>,
    /// Passes of the bench run: the first over every row, the rest over unclear rows.
    pub passes: usize,
    /// Whether unclear rows were left so because the run reached [`RUN_CAP`].
    pub capped: bool,
}

/// Builds and runs the bench in passes, prints its table, writes the section.
pub fn run(quick: bool) -> Result<(), String> {
    let built = cargo(&[
        "build",
        "--release",
        "-p",
        "sluice-postgres",
        "--features",
        "testing",
        "--bin",
        "sluice-pg-bench",
    ])
    .status()
    .map_err(|e| format!("cargo build: {e}"))?;
    if !built.success() {
        return Err("building sluice-pg-bench failed".into());
    }
    let program = workspace_root()
        .join("target")
        .join("release")
        .join("sluice-pg-bench");
    let started = Instant::now();
    let mut measured = Measured::default();
    let first = FIRST_ROUNDS.to_string();
    pass(&program, quick, &["--rounds", &first], &mut measured)?;
    // Wall time per measured second: the server's start and warm-up, each run's setup.
    let measured_seconds: f64 = measured.rows.values().map(|r| r.seconds).sum();
    let overhead = started.elapsed().as_secs_f64() / measured_seconds.max(1e-3);
    loop {
        let plan = plan(&measured);
        if plan.is_empty() {
            break;
        }
        for (rounds, rows) in plan {
            let expected: f64 = rows
                .iter()
                .map(|key| {
                    let runs = &measured.rows[key];
                    runs.seconds / runs.ratios().len().max(1) as f64
                })
                .sum::<f64>()
                * rounds as f64
                * overhead;
            if started.elapsed() + Duration::from_secs_f64(expected) > RUN_CAP {
                measured.capped = true;
                break;
            }
            eprintln!(
                "queue bench: {} unclear row(s), {rounds} more round(s)",
                rows.len()
            );
            let mut args = vec!["--rounds".to_owned(), rounds.to_string()];
            args.push("--no-wake".to_owned());
            for (sync, keys, batch, workers) in rows {
                args.push("--row".to_owned());
                let sync = if sync { "on" } else { "off" };
                args.push(format!("{sync}:{keys}:{batch}:{workers}"));
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            pass(&program, quick, &args, &mut measured)?;
        }
        if measured.capped {
            break;
        }
    }
    let table = crate::bench_queue_page::table(&measured);
    print!("{table}");
    crate::bench_queue_page::write(&crate::bench_queue_page::section(&measured, &table, quick))
}

/// Runs the bench once with `args` and adds what it printed to `measured`.
fn pass(program: &Path, quick: bool, args: &[&str], measured: &mut Measured) -> Result<(), String> {
    let mut command = Command::new(program);
    if quick {
        command.arg("--quick");
    }
    let output = command
        .args(args)
        .output()
        .map_err(|e| format!("sluice-pg-bench: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "sluice-pg-bench failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    parse_into(measured, &String::from_utf8_lossy(&output.stdout))
}

/// The further rounds each unclear row gets next, grouped by their number (one run of
/// the bench each): empty when every row is clear or bounded.
pub fn plan(measured: &Measured) -> BTreeMap<usize, Vec<RowKey>> {
    let mut plan: BTreeMap<usize, Vec<RowKey>> = BTreeMap::new();
    for (&key, runs) in &measured.rows {
        let reading = crate::bench_queue_page::verdict(key, runs).reading;
        let elapsed = Duration::from_secs_f64(runs.seconds);
        let done = runs.ratios().len();
        if let Some(rounds) = confidence::more(reading, done, FIRST_ROUNDS, elapsed, LIMITS) {
            plan.entry(rounds).or_default().push(key);
        }
    }
    plan
}

/// Adds one run's lines to `measured`, as its next pass: its rounds are numbered on
/// from the rounds already there.
pub fn parse_into(measured: &mut Measured, text: &str) -> Result<(), String> {
    let before = measured
        .rows
        .values()
        .flat_map(|row| row.raw.keys().chain(row.sluice.keys()))
        .max()
        .copied()
        .unwrap_or(0);
    let mut any = false;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let what = words.next().unwrap_or_default();
        let fields: BTreeMap<&str, &str> = words.filter_map(|w| w.split_once('=')).collect();
        let number = |name: &str| -> Result<f64, String> {
            fields
                .get(name)
                .and_then(|v| v.parse::<f64>().ok())
                .ok_or_else(|| format!("sluice-pg-bench line without a number `{name}`: {line}"))
        };
        match what {
            "run" => {
                let key = (
                    fields.get("sync") == Some(&"on"),
                    number("keys")? as u32,
                    number("batch")? as u32,
                    number("workers")? as u32,
                );
                let seconds = number("seconds")?;
                let tps = number("tasks")? / seconds;
                let round = before + number("round")? as u32;
                let row = measured.rows.entry(key).or_default();
                row.seconds += seconds;
                any = true;
                match fields.get("side") {
                    Some(&"raw") => row.raw.insert(round, tps),
                    _ => row.sluice.insert(round, tps),
                };
            }
            "wake" => measured.wake_ms.push(number("ms")?),
            _ => {}
        }
    }
    if !any {
        return Err("sluice-pg-bench printed no measurement".into());
    }
    measured.passes += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench_queue_page::quantile;

    /// Reads one run's lines into a fresh [`Measured`].
    fn parse(text: &str) -> Result<Measured, String> {
        let mut measured = Measured::default();
        parse_into(&mut measured, text)?;
        Ok(measured)
    }

    #[test]
    fn lines_become_rows_with_their_ratios() {
        let text = "\
run workers=2 batch=100 keys=0 sync=off side=raw round=1 tasks=1000 seconds=0.1
run workers=2 batch=100 keys=0 sync=off side=sluice round=1 tasks=1000 seconds=0.125
run workers=2 batch=100 keys=0 sync=off side=sluice round=2 tasks=1000 seconds=0.1
run workers=2 batch=100 keys=0 sync=off side=raw round=2 tasks=1000 seconds=0.1
wake ms=3.5
wake ms=1.5
";
        let measured = parse(text).expect("parsed");
        let row = &measured.rows[&(false, 0, 100, 2)];
        assert_eq!(row.ratios(), vec![0.8, 1.0]);
        assert_eq!(row.ratio_text().0, 0.9);
        assert_eq!(measured.wake_ms, vec![3.5, 1.5]);
        assert_eq!(measured.passes, 1);
        assert_eq!(quantile(&measured.wake_ms, 0.5), 1.5);
        assert_eq!(quantile(&measured.wake_ms, 0.99), 3.5);
        assert!(parse("nothing here").is_err());
    }

    /// A row's line of one round, both sides, at `ratio`.
    fn round(sync: &str, workers: u32, round: u32, ratio: f64) -> String {
        format!(
            "run workers={workers} batch=10 keys=0 sync={sync} side=raw round={round} tasks=1000 seconds=0.1\n\
             run workers={workers} batch=10 keys=0 sync={sync} side=sluice round={round} tasks=1000 seconds={}\n",
            0.1 / ratio
        )
    }

    #[test]
    fn a_further_pass_numbers_its_rounds_on_and_only_unclear_rows_get_more() -> Result<(), String> {
        // Row 1 is far above 0.8×, row 2 straddles it.
        let first: String = [(1, 1.0), (2, 1.1), (3, 0.95)]
            .iter()
            .map(|&(n, r)| round("off", 1, n, r))
            .chain(
                [(1, 0.7), (2, 0.9), (3, 0.82)]
                    .iter()
                    .map(|&(n, r)| round("off", 2, n, r)),
            )
            .collect();
        let mut measured = parse(&first)?;
        let plan = plan(&measured);
        assert_eq!(plan.get(&FIRST_ROUNDS), Some(&vec![(false, 0, 10, 2)]));
        assert_eq!(plan.len(), 1);
        // The bench numbers a further run's rounds from 1 again.
        let second: String = (1..=3).map(|n| round("off", 2, n, 0.9)).collect();
        parse_into(&mut measured, &second)?;
        let row = &measured.rows[&(false, 0, 10, 2)];
        assert_eq!(row.ratios().len(), 6);
        assert_eq!(
            row.sluice.keys().copied().collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5, 6]
        );
        assert_eq!(measured.rows[&(false, 0, 10, 1)].ratios().len(), 3);
        assert_eq!(measured.passes, 2);
        Ok(())
    }
}
