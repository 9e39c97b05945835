//! `cargo xtask bench queue [--quick]`: builds and runs `sluice-pg-bench` (in
//! `crates/sluice-postgres/src/bin/sluice-pg-bench/`) in release, and writes the
//! "Queue" section of `docs/benchmarks.md` from its lines (see `bench_queue_page.rs`).

use crate::bench_memory::{median, spread};
use crate::run::{cargo, workspace_root};
use std::collections::BTreeMap;
use std::process::Command;

/// A row of the grid: (sync on, keys, batch, workers).
pub type RowKey = (bool, u32, u32, u32);

/// What one row measured: tasks/s of each side per round, in round order.
#[derive(Debug, Default, Clone)]
pub struct RowRuns {
    /// The raw loop's tasks/s, by round.
    pub raw: BTreeMap<u32, f64>,
    /// Sluice's tasks/s, by round.
    pub sluice: BTreeMap<u32, f64>,
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

/// Everything one run printed.
#[derive(Debug, Default)]
pub struct Measured {
    /// By row.
    pub rows: BTreeMap<RowKey, RowRuns>,
    /// Wake-up latencies, ms.
    pub wake_ms: Vec<f64>,
}

/// Builds and runs the bench, prints its table, writes the section.
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
    let mut command = Command::new(program);
    if quick {
        command.arg("--quick");
    }
    let output = command
        .output()
        .map_err(|e| format!("sluice-pg-bench: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "sluice-pg-bench failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let measured = parse(&String::from_utf8_lossy(&output.stdout))?;
    let table = crate::bench_queue_page::table(&measured);
    print!("{table}");
    crate::bench_queue_page::write(&crate::bench_queue_page::section(&measured, &table, quick))
}

/// Reads the bench's lines.
pub fn parse(text: &str) -> Result<Measured, String> {
    let mut measured = Measured::default();
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
                let tps = number("tasks")? / number("seconds")?;
                let round = number("round")? as u32;
                let row = measured.rows.entry(key).or_default();
                match fields.get("side") {
                    Some(&"raw") => row.raw.insert(round, tps),
                    _ => row.sluice.insert(round, tps),
                };
            }
            "wake" => measured.wake_ms.push(number("ms")?),
            _ => {}
        }
    }
    if measured.rows.is_empty() {
        return Err("sluice-pg-bench printed no measurement".into());
    }
    Ok(measured)
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(quantile(&measured.wake_ms, 0.5), 1.5);
        assert_eq!(quantile(&measured.wake_ms, 0.99), 3.5);
        assert!(parse("nothing here").is_err());
    }
}
