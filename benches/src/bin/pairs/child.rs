//! Each pass over the rows runs in a process of its own.
//!
//! A row's rounds measured by one process share more than a stretch of the machine:
//! where the scheduler put that process's pools and the hog, its heap's layout, the
//! pools' warmed state. Two runs of the page saw rows near their target land on
//! opposite sides of it, each run's interval narrow and sure, because every round of a
//! run came from the same process. So the runner (the parent) only plans: each pass
//! is a fresh `pairs` process (the child) that builds the same rows from the same
//! arguments, measures the share of rounds the parent orders, and prints each round
//! back; the parent files a pass's rounds as one group, and the verdict's interval
//! resamples the groups as well as the rounds within them
//! (`confidence::grouped_median_interval`).
//!
//! The order travels as one argument, `--pass K/N:ROW=ROUNDS+DONE,…` (rows by their
//! index in the plan; `DONE`, the rounds the row has so far, keeps the alternation of
//! which side goes first running over all of a row's rounds); the child answers on
//! stdout, one line per round, `round ROW ANCHOR_NS OURS_NS`, and one per row,
//! `spent ROW SECONDS`. Its progress goes to stderr, which it shares with the parent.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// One row's share of a pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Order {
    /// The row's index in the plan (areas in order, each area's rows in order).
    pub row: usize,
    /// Rounds to measure.
    pub rounds: usize,
    /// Rounds the row had before this pass.
    pub done: usize,
}

/// A pass as the child's command line carries it.
#[derive(Debug, PartialEq)]
pub struct Pass {
    /// This pass's number, from 1, and how many the parent has planned so far (the
    /// extra passes of unclear rows come after).
    pub number: usize,
    /// Passes planned.
    pub of: usize,
    /// The rows it measures, in the plan's order.
    pub orders: Vec<Order>,
}

impl Pass {
    /// The argument that carries the pass.
    pub fn argument(&self) -> String {
        let orders: Vec<String> = self
            .orders
            .iter()
            .map(|o| format!("{}={}+{}", o.row, o.rounds, o.done))
            .collect();
        format!("{}/{}:{}", self.number, self.of, orders.join(","))
    }

    /// Reads [`Pass::argument`]'s text back.
    pub fn parse(text: &str) -> Result<Pass, String> {
        let bad = || format!("--pass takes K/N:ROW=ROUNDS+DONE,…, not {text:?}");
        let (head, list) = text.split_once(':').ok_or_else(bad)?;
        let (number, of) = head.split_once('/').ok_or_else(bad)?;
        let number = number.parse().map_err(|_| bad())?;
        let of = of.parse().map_err(|_| bad())?;
        let mut orders = Vec::new();
        for item in list.split(',').filter(|item| !item.is_empty()) {
            let (row, rest) = item.split_once('=').ok_or_else(bad)?;
            let (rounds, done) = rest.split_once('+').ok_or_else(bad)?;
            orders.push(Order {
                row: row.parse().map_err(|_| bad())?,
                rounds: rounds.parse().map_err(|_| bad())?,
                done: done.parse().map_err(|_| bad())?,
            });
        }
        Ok(Pass { number, of, orders })
    }
}

/// What a child reports.
#[derive(Debug, PartialEq)]
pub enum Report {
    /// One round of a row: the anchor's and Sluice's nanoseconds per operation.
    Round {
        /// The row's index in the plan.
        row: usize,
        /// The anchor's time per operation.
        anchor: f64,
        /// Sluice's time per operation.
        ours: f64,
    },
    /// The time a row took in this pass, warm-up included.
    Spent {
        /// The row's index in the plan.
        row: usize,
        /// Seconds.
        seconds: f64,
    },
}

impl Report {
    /// The line the child prints.
    pub fn line(&self) -> String {
        match self {
            Report::Round { row, anchor, ours } => format!("round {row} {anchor:e} {ours:e}"),
            Report::Spent { row, seconds } => format!("spent {row} {seconds:e}"),
        }
    }

    /// Reads a child's line back.
    pub fn parse(line: &str) -> Result<Report, String> {
        let bad = || format!("a pass's process printed {line:?}, not a round or a time");
        let fields: Vec<&str> = line.split_whitespace().collect();
        let number = |at: usize| -> Result<f64, String> {
            fields
                .get(at)
                .and_then(|field| field.parse::<f64>().ok())
                .filter(|value| value.is_finite())
                .ok_or_else(bad)
        };
        let row = fields
            .get(1)
            .and_then(|field| field.parse::<usize>().ok())
            .ok_or_else(bad)?;
        match (fields.first(), fields.len()) {
            (Some(&"round"), 4) => Ok(Report::Round {
                row,
                anchor: number(2)?,
                ours: number(3)?,
            }),
            (Some(&"spent"), 3) => Ok(Report::Spent {
                row,
                seconds: number(2)?,
            }),
            _ => Err(bad()),
        }
    }
}

/// Runs `pass` in a fresh process of this binary, given the run's own arguments, and
/// hands each report to `take` as it arrives.
pub fn run(args: &[String], pass: &Pass, mut take: impl FnMut(Report)) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("pairs: its own path: {e}"))?;
    let mut child = Command::new(&exe)
        .args(args)
        .arg("--pass")
        .arg(pass.argument())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("pairs: starting pass {}: {e}", pass.number))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| format!("pairs: pass {} has no stdout", pass.number))?;
    let mut failed = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| format!("pairs: reading pass {}: {e}", pass.number))?;
        match Report::parse(&line) {
            Ok(report) => take(report),
            Err(e) => failed = failed.or(Some(e)),
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("pairs: waiting for pass {}: {e}", pass.number))?;
    if !status.success() {
        return Err(format!("pairs: pass {} failed: {status}", pass.number));
    }
    failed.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_reads_back_what_it_wrote() -> Result<(), String> {
        let pass = Pass {
            number: 2,
            of: 3,
            orders: vec![
                Order {
                    row: 0,
                    rounds: 7,
                    done: 7,
                },
                Order {
                    row: 12,
                    rounds: 1,
                    done: 40,
                },
            ],
        };
        assert_eq!(pass.argument(), "2/3:0=7+7,12=1+40");
        assert_eq!(Pass::parse(&pass.argument())?, pass);
        Ok(())
    }

    #[test]
    fn a_malformed_pass_is_an_error_naming_it() {
        for text in [
            "",
            "2/3",
            "x/3:0=1+0",
            "2/3:0=1",
            "2/3:a=1+0",
            "2/3:0=1+0,,1",
        ] {
            let e = Pass::parse(text).err();
            assert!(
                e.as_ref().is_some_and(|e| e.contains(text)),
                "{text:?}: {e:?}"
            );
        }
    }

    #[test]
    fn reports_read_back_exactly() -> Result<(), String> {
        let round = Report::Round {
            row: 3,
            anchor: 309.171_234_5,
            ours: 1.0e-3,
        };
        assert_eq!(Report::parse(&round.line())?, round);
        let spent = Report::Spent {
            row: 0,
            seconds: 12.5,
        };
        assert_eq!(Report::parse(&spent.line())?, spent);
        for line in ["", "round 1 2", "round x 1 2", "spent 1 NaN", "hello 1 2 3"] {
            assert!(Report::parse(line).is_err(), "{line:?}");
        }
        Ok(())
    }
}
