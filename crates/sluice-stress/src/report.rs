//! The end-of-run summary: throughput, outcomes, what the controller did, memory, and
//! the verdict.

use crate::args::Args;
use crate::tally::Tally;
use crate::wave::Events;
use std::fmt::Write;
use std::time::Duration;

/// Allowed growth of resident memory from the first quarter of the waves to the last:
/// a quarter, plus this much for the allocator's slack.
const RSS_SLACK: u64 = 32 << 20;

/// What the run did and found.
#[derive(Debug, Default)]
pub struct Summary {
    /// Tasks submitted, children included; a map is one task.
    pub tasks: u64,
    /// Wall time of the waves.
    pub elapsed: Duration,
    /// Waves run.
    pub waves: u64,
    /// Waves with an `abort_pending()`, and the tasks it cancelled.
    pub aborts: (u64, u64),
    /// Per manager: pending before shutdown, queued tasks it cancelled, drained.
    pub shutdown: Vec<(u64, usize, bool)>,
    /// Gate limit moves by the throttle, all managers.
    pub throttle_moves: u64,
    /// Per manager, the dependency's calls measured, of them failed, and its limit at
    /// shutdown.
    pub dependency: Vec<(u64, u64, usize)>,
    /// Resident memory after each wave.
    pub rss: Vec<u64>,
    /// Peak resident memory.
    pub peak: u64,
    /// Outcomes as the harness saw them (equal to the managers' counters, or a
    /// violation says otherwise).
    pub expected: Tally,
    /// Violations found.
    pub violations: u64,
    /// The first of them.
    pub first: Vec<String>,
}

impl Summary {
    /// Adds one wave.
    pub fn record(&mut self, events: &Events, rss: Option<(u64, u64)>) {
        self.waves += 1;
        if let Some((_, cancelled)) = events.aborted {
            self.aborts.0 += 1;
            self.aborts.1 += cancelled as u64;
        }
        if let Some((pending, reports)) = &events.shutdown {
            self.shutdown = pending
                .iter()
                .zip(reports)
                .map(|(p, r)| (*p, r.cancelled_queued, r.drained))
                .collect();
            self.throttle_moves = reports
                .iter()
                .filter_map(|r| r.snapshot.throttle.as_ref())
                .flat_map(|t| t.routes.iter().map(|r| r.changes))
                .sum();
            self.dependency = reports
                .iter()
                .flat_map(|r| r.snapshot.dependencies.iter())
                .map(|d| (d.samples, d.drops, d.limit))
                .collect();
        }
        if let Some((now, peak)) = rss {
            self.rss.push(now);
            self.peak = peak;
        }
    }

    /// Resident memory in the first and last quarter of the waves, if the run was
    /// long enough to tell, and whether it grew past the slack.
    fn memory(&self) -> Option<(u64, u64, bool)> {
        let n = self.rss.len();
        if n < 8 {
            return None;
        }
        let quarter = n / 4;
        // Wave 0 fills the pools and the allocator's arenas: it is not the baseline.
        let early = self.rss[1..=quarter].iter().copied().max()?;
        let late = self.rss[n - quarter..].iter().copied().max()?;
        Some((early, late, late > early + early / 4 + RSS_SLACK))
    }

    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.violations == 0 && !self.memory().is_some_and(|(_, _, grew)| grew)
    }

    /// The report.
    pub fn render(&self, args: &Args) -> String {
        let mut out = String::new();
        let secs = self.elapsed.as_secs_f64();
        let _ = writeln!(out, "sluice-stress: seed {:#x}", args.seed);
        let _ = writeln!(
            out,
            "  tasks     {} in {secs:.2} s: {:.0} tasks/s (nested tasks included; a map is one task)",
            self.tasks,
            self.tasks as f64 / secs.max(1e-9)
        );
        let _ = writeln!(
            out,
            "  waves     {} of up to {}; abort_pending() in {} of them cancelled {} queued tasks",
            self.waves, args.wave, self.aborts.0, self.aborts.1
        );
        let _ = writeln!(
            out,
            "  outcomes  {} (harness books = manager counters)",
            self.expected
        );
        for (i, (pending, cancelled, drained)) in self.shutdown.iter().enumerate() {
            let _ = writeln!(
                out,
                "  shutdown  manager {i}: {pending} pending at the call, {cancelled} queued cancelled at the deadline, drained: {drained}"
            );
        }
        let _ = writeln!(out, "  throttle  {} gate limit moves", self.throttle_moves);
        for (i, (calls, drops, limit)) in self.dependency.iter().enumerate() {
            let _ = writeln!(
                out,
                "  limited   manager {i}: {calls} calls measured, {drops} failed or timed out, limit {limit} at shutdown"
            );
        }
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        match self.memory() {
            Some((early, late, grew)) => {
                let _ = writeln!(
                    out,
                    "  memory    peak RSS {:.1} MiB; after waves 1–{}: ≤ {:.1} MiB, in the last quarter: ≤ {:.1} MiB ({:+.1} MiB; a quarter plus 32 MiB is allowed{})",
                    mib(self.peak),
                    self.rss.len() / 4,
                    mib(early),
                    mib(late),
                    mib(late) - mib(early),
                    if grew { " — GREW PAST IT" } else { "" }
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  memory    peak RSS {:.1} MiB (too few waves to judge growth)",
                    mib(self.peak)
                );
            }
        }
        if self.passed() {
            let _ = writeln!(out, "  result    PASS");
        } else {
            let _ = writeln!(
                out,
                "  result    FAIL: {} violation(s); the first:",
                self.violations
            );
            for violation in &self.first {
                let _ = writeln!(out, "    - {violation}");
            }
            let _ = writeln!(
                out,
                "  replay    cargo xtask stress --seed {:#x} --tasks {} --wave {}",
                args.seed, args.tasks, args.wave
            );
        }
        out
    }
}
