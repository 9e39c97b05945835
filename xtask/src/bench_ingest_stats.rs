//! One program's measurement in a round of `cargo xtask bench ingest`, and the
//! statistics the page gives of them: median and spread, and a verdict against a target.

use crate::bench_tools::Timed;
use std::time::Duration;

/// One program's measurement in one round.
pub struct Sample {
    /// The first ingest (for the floor: both passes, one after the other).
    pub first: Duration,
    /// Its peak RSS in KiB.
    pub first_rss: u64,
    /// The unchanged re-run, and its peak RSS.
    pub again: Option<(Duration, u64)>,
    /// Chunk bytes stored, before compression.
    pub stored: Option<u64>,
}

impl Sample {
    /// An ingest and its re-run.
    pub fn ingest(first: Timed, again: Timed, stored: Option<u64>) -> Self {
        Self {
            first: first.wall,
            first_rss: first.rss_kib,
            again: Some((again.wall, again.rss_kib)),
            stored,
        }
    }

    /// The floor: hashing, then compressing.
    pub fn floor(hashed: Timed, compressed: Timed) -> Self {
        Self {
            first: hashed.wall + compressed.wall,
            first_rss: hashed.rss_kib.max(compressed.rss_kib),
            again: None,
            stored: None,
        }
    }

    /// The larger peak RSS of the two runs, in KiB.
    pub fn peak_rss(&self) -> u64 {
        self.again
            .map_or(self.first_rss, |(_, rss)| rss.max(self.first_rss))
    }
}

/// Median, lowest and highest.
pub fn summary(values: &[f64]) -> Option<(f64, f64, f64)> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    Some((median, sorted[0], sorted[n - 1]))
}

/// `median unit (lowest–highest)`.
pub fn spread(values: &[f64], unit: &str, digits: usize) -> String {
    match summary(values) {
        Some((median, low, high)) => {
            format!("{median:.digits$}{unit} ({low:.digits$}–{high:.digits$})")
        }
        None => "—".into(),
    }
}

/// Whether the whole spread of `ratios` is within (`meets`), past (`misses`) or
/// across (`unclear`) a target of at most (`at_most`) or at least `target`.
pub fn verdict(ratios: &[f64], target: f64, at_most: bool) -> &'static str {
    match summary(ratios) {
        None => "no data",
        Some((_, low, high)) => {
            let (best, worst) = if at_most { (low, high) } else { (high, low) };
            let within = |v: f64| if at_most { v <= target } else { v >= target };
            match (within(worst), within(best)) {
                (true, _) => "meets",
                (false, false) => "misses",
                (false, true) => "unclear",
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_reads_the_whole_spread() {
        assert_eq!(verdict(&[0.40, 0.45, 0.48], 0.5, true), "meets");
        assert_eq!(verdict(&[0.40, 0.60], 0.5, true), "unclear");
        assert_eq!(verdict(&[0.60, 0.70], 0.5, true), "misses");
        assert_eq!(verdict(&[1.9, 2.0], 1.8, false), "meets");
        assert_eq!(verdict(&[1.5, 1.7], 1.8, false), "misses");
        assert_eq!(verdict(&[f64::NAN], 1.0, true), "no data");
        assert_eq!(summary(&[3.0, 1.0, 2.0, 10.0]), Some((2.5, 1.0, 10.0)));
        assert_eq!(spread(&[1.0, 2.0, 4.0], " s", 1), "2.0 s (1.0–4.0)");
    }
}
