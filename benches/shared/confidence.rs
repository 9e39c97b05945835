//! How sure a verdict is: a bootstrap interval of the median over a row's rounds, the
//! rule that reads it against the target, and how many more rounds an unclear row gets.
//!
//! The rounds of a row are its sample: resampling them with replacement, many times,
//! and taking each resample's median shows how far the median could move on another
//! run of the same machine. The resampler is seeded, so the same rounds always give the
//! same interval, and the page says the same thing when the figures do.
//!
//! One file, two readers: the `pairs` runner (its `main.rs`) and `cargo xtask bench
//! queue` (`xtask/src/bench_queue.rs`) include it by `#[path]`, so that both pages read
//! their rows by the same rule. It needs nothing but `std`: xtask is built first on a
//! fresh clone and must stay light.

// Each reader uses part of the rule: `pairs` reads a ceiling, the queue page a floor.
#![allow(dead_code)]

use std::time::Duration;

/// How much of the resampled medians the interval holds.
pub const LEVEL: f64 = 0.95;
/// Resamples per interval: enough for the 2.5th and 97.5th percentiles to settle.
const RESAMPLES: usize = 2_000;
/// The resampler's seed.
pub const SEED: u64 = 0x5eed_b007_57a9_0001;

/// The bounds within which the median falls in [`LEVEL`] of the resamples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// The lower bound.
    pub lo: f64,
    /// The upper bound.
    pub hi: f64,
}

/// What the interval says against a bound on the figure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reading {
    /// All of the interval is within the bound.
    Meets,
    /// All of it is past the bound.
    Misses,
    /// The interval straddles the bound: this many rounds cannot tell.
    Unclear,
}

/// splitmix64: small, fast, and good enough to pick resample indices.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// An index below `n`, without the modulo's bias (Lemire's multiply-shift).
    fn below(&mut self, n: usize) -> usize {
        let wide = u128::from(self.next()) * n as u128;
        usize::try_from(wide >> 64).unwrap_or(0)
    }
}

/// The [`LEVEL`] bootstrap interval of the median of `values` (percentile method,
/// medians taken as `median` takes them), or `None` when there are no values.
pub fn median_interval(values: &[f64], seed: u64) -> Option<Interval> {
    if values.is_empty() {
        return None;
    }
    let mut rng = SplitMix(seed);
    let mut resample = vec![0.0; values.len()];
    let medians: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            for slot in &mut resample {
                *slot = values[rng.below(values.len())];
            }
            median(&resample)
        })
        .collect();
    Some(percentiles(medians))
}

/// The [`LEVEL`] interval of the median of `values` when they come in groups that may
/// differ from one another as a whole — the rounds of one pass, all measured by one
/// process in one stretch of minutes, share its thread placement, its heap and that
/// stretch's machine. `groups[i]` names the group of `values[i]`. Each resample draws
/// as many groups as there are, with replacement, and then, within each group drawn,
/// as many of its values, with replacement (a two-stage bootstrap): so the interval is
/// as wide as the groups' disagreement, where resampling the pooled values would treat
/// rounds of one process as if each had seen a machine of its own, and two runs of the
/// page would each be sure of a different answer. With one group it is
/// [`median_interval`]'s. `None` when there are no values (or `groups` does not match).
pub fn grouped_median_interval(values: &[f64], groups: &[u32], seed: u64) -> Option<Interval> {
    if values.is_empty() || groups.len() != values.len() {
        return None;
    }
    let mut names: Vec<u32> = groups.to_vec();
    names.sort_unstable();
    names.dedup();
    if names.len() == 1 {
        return median_interval(values, seed);
    }
    let clusters: Vec<Vec<f64>> = names
        .iter()
        .map(|name| {
            values
                .iter()
                .zip(groups)
                .filter(|(_, group)| *group == name)
                .map(|(value, _)| *value)
                .collect()
        })
        .collect();
    let mut rng = SplitMix(seed);
    let mut pooled = Vec::with_capacity(values.len());
    let medians: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            pooled.clear();
            for _ in 0..clusters.len() {
                let cluster = &clusters[rng.below(clusters.len())];
                for _ in 0..cluster.len() {
                    pooled.push(cluster[rng.below(cluster.len())]);
                }
            }
            median(&pooled)
        })
        .collect();
    Some(percentiles(medians))
}

/// The [`LEVEL`] interval of the resampled `medians` (percentile method).
fn percentiles(mut medians: Vec<f64>) -> Interval {
    medians.sort_by(f64::total_cmp);
    let tail = (1.0 - LEVEL) / 2.0;
    let last = medians.len().saturating_sub(1);
    let at = |q: f64| medians[((q * medians.len() as f64) as usize).min(last)];
    Interval {
        lo: at(tail),
        hi: at(1.0 - tail),
    }
}

/// The median as both readers' tables take it: the upper of the two middle values
/// when there are two (`values` is not empty).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// Reads `interval` against `bound` (the figure at most `bound` meets): meets when
/// even its upper end is within, misses when even its lower end is past, unclear
/// otherwise.
pub fn read(interval: Interval, bound: f64) -> Reading {
    if interval.hi <= bound {
        Reading::Meets
    } else if interval.lo > bound {
        Reading::Misses
    } else {
        Reading::Unclear
    }
}

/// Reads `interval` against `floor` (the figure at least `floor` meets): meets when
/// even its lower end reaches it, misses when even its upper end falls short, unclear
/// otherwise.
pub fn read_at_least(interval: Interval, floor: f64) -> Reading {
    if interval.lo >= floor {
        Reading::Meets
    } else if interval.hi < floor {
        Reading::Misses
    } else {
        Reading::Unclear
    }
}

/// How far an unclear row may be extended: see [`more`].
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most rounds, as a multiple of the first batch.
    pub factor: usize,
    /// Most time one row may take, its first batch included.
    pub cap: Duration,
}

/// The next batch of rounds for a row whose reading is `reading`, after `done` rounds
/// (the first batch was `first`) in `elapsed`; `None` when the row is done: its reading
/// is clear, or another round would pass `limits`. A batch is the first batch's size,
/// cut to the rounds left and to the rounds that fit in the time left at the pace so far.
pub fn more(
    reading: Reading,
    done: usize,
    first: usize,
    elapsed: Duration,
    limits: Limits,
) -> Option<usize> {
    if reading != Reading::Unclear || done == 0 {
        return None;
    }
    let left = first.saturating_mul(limits.factor).saturating_sub(done);
    let per_round = elapsed.as_secs_f64() / done as f64;
    let time_left = limits.cap.saturating_sub(elapsed).as_secs_f64();
    let fit = if per_round > 0.0 {
        (time_left / per_round).floor().min(usize::MAX as f64) as usize
    } else {
        usize::MAX
    };
    let batch = first.min(left).min(fit);
    (batch > 0).then_some(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        factor: 3,
        cap: Duration::from_secs(60),
    };

    /// A fixed, spread-out sample: 21 rounds between 0.90 and 1.10.
    fn rounds() -> Vec<f64> {
        (0..21).map(|i| 0.90 + 0.01 * f64::from(i)).collect()
    }

    #[test]
    fn the_same_rounds_and_seed_give_the_same_interval() {
        let a = median_interval(&rounds(), SEED);
        let b = median_interval(&rounds(), SEED);
        assert!(a.is_some());
        assert_eq!(a, b);
    }

    #[test]
    fn the_interval_holds_the_median_and_lies_within_the_rounds() -> Result<(), String> {
        let values = rounds();
        let interval = median_interval(&values, SEED).ok_or("no interval")?;
        let mid = median(&values);
        assert!(
            interval.lo <= mid && mid <= interval.hi,
            "{interval:?} vs {mid}"
        );
        assert!(interval.lo >= 0.90 && interval.hi <= 1.10, "{interval:?}");
        // Twenty-one evenly spread rounds leave the median a few rounds either way,
        // not the whole range.
        assert!(interval.lo > 0.92 && interval.hi < 1.08, "{interval:?}");
        assert!(interval.lo < mid && mid < interval.hi, "{interval:?}");
        Ok(())
    }

    #[test]
    fn rounds_that_agree_give_a_point() {
        let interval = median_interval(&[1.02; 9], SEED);
        assert_eq!(interval, Some(Interval { lo: 1.02, hi: 1.02 }));
        assert_eq!(
            median_interval(&[0.7], SEED),
            Some(Interval { lo: 0.7, hi: 0.7 })
        );
    }

    #[test]
    fn more_rounds_of_the_same_spread_narrow_the_interval() -> Result<(), String> {
        let few = rounds();
        let many: Vec<f64> = few.iter().cycle().take(few.len() * 9).copied().collect();
        let wide = median_interval(&few, SEED).ok_or("no interval")?;
        let narrow = median_interval(&many, SEED).ok_or("no interval")?;
        assert!(
            narrow.hi - narrow.lo < wide.hi - wide.lo,
            "{narrow:?} vs {wide:?}"
        );
        Ok(())
    }

    #[test]
    fn one_group_gives_the_plain_interval() {
        let values = rounds();
        let groups = vec![7; values.len()];
        assert_eq!(
            grouped_median_interval(&values, &groups, SEED),
            median_interval(&values, SEED)
        );
    }

    #[test]
    fn groups_that_disagree_widen_the_interval_past_the_pooled_one() -> Result<(), String> {
        // Five passes, each sure of itself (a narrow spread), four near 1.03 and one at
        // 1.14: a run whose one process saw another machine. Pooled, the 35 rounds look
        // sure of about 1.04; grouped, the interval allows that the odd pass was right.
        let means = [1.00, 1.02, 1.04, 1.06, 1.14];
        let values: Vec<f64> = (0..35)
            .map(|i| means[i / 7] + 0.002 * (i % 7) as f64)
            .collect();
        let groups: Vec<u32> = (0..35).map(|i| (i / 7) as u32).collect();
        let pooled = median_interval(&values, SEED).ok_or("no interval")?;
        let grouped = grouped_median_interval(&values, &groups, SEED).ok_or("no interval")?;
        assert!(
            grouped.lo <= pooled.lo && grouped.hi > pooled.hi,
            "{grouped:?} vs {pooled:?}"
        );
        // Against a bound of 1.10 the pooled rounds would meet; the grouped ones cannot tell.
        assert_eq!(read(pooled, 1.10), Reading::Meets, "{pooled:?}");
        assert_eq!(read(grouped, 1.10), Reading::Unclear, "{grouped:?}");
        Ok(())
    }

    #[test]
    fn groups_that_agree_stay_clear() -> Result<(), String> {
        let values: Vec<f64> = (0..21).map(|i| 0.90 + 0.001 * f64::from(i)).collect();
        let groups: Vec<u32> = (0..21).map(|i| i % 3).collect();
        let grouped = grouped_median_interval(&values, &groups, SEED).ok_or("no interval")?;
        assert_eq!(read(grouped, 1.0), Reading::Meets);
        assert_eq!(grouped_median_interval(&values, &groups[1..], SEED), None);
        assert_eq!(grouped_median_interval(&[], &[], SEED), None);
        Ok(())
    }

    #[test]
    fn no_rounds_give_no_interval() {
        assert_eq!(median_interval(&[], SEED), None);
    }

    #[test]
    fn an_interval_within_the_bound_meets_past_it_misses_across_it_is_unclear() {
        let at = |lo, hi| Interval { lo, hi };
        assert_eq!(read(at(0.95, 1.04), 1.05), Reading::Meets);
        assert_eq!(read(at(0.95, 1.05), 1.05), Reading::Meets);
        assert_eq!(read(at(1.06, 1.20), 1.05), Reading::Misses);
        assert_eq!(read(at(1.00, 1.06), 1.05), Reading::Unclear);
        // A lower end exactly at the bound could still meet it.
        assert_eq!(read(at(1.05, 1.06), 1.05), Reading::Unclear);
    }

    #[test]
    fn an_interval_above_the_floor_meets_below_it_misses_across_it_is_unclear() {
        let at = |lo, hi| Interval { lo, hi };
        assert_eq!(read_at_least(at(0.81, 0.95), 0.8), Reading::Meets);
        assert_eq!(read_at_least(at(0.80, 0.95), 0.8), Reading::Meets);
        assert_eq!(read_at_least(at(0.60, 0.79), 0.8), Reading::Misses);
        assert_eq!(read_at_least(at(0.74, 0.91), 0.8), Reading::Unclear);
        // An upper end exactly at the floor could still meet it.
        assert_eq!(read_at_least(at(0.70, 0.80), 0.8), Reading::Unclear);
    }

    #[test]
    fn a_clear_row_gets_no_more_rounds() {
        let elapsed = Duration::from_secs(1);
        assert_eq!(more(Reading::Meets, 21, 21, elapsed, LIMITS), None);
        assert_eq!(more(Reading::Misses, 21, 21, elapsed, LIMITS), None);
    }

    #[test]
    fn an_unclear_row_gets_batches_up_to_the_factor() {
        let second = Duration::from_secs(1);
        assert_eq!(more(Reading::Unclear, 21, 21, second, LIMITS), Some(21));
        assert_eq!(more(Reading::Unclear, 42, 21, second * 2, LIMITS), Some(21));
        assert_eq!(more(Reading::Unclear, 63, 21, second * 3, LIMITS), None);
        // A first batch cut short leaves a short last batch, not an overrun.
        assert_eq!(more(Reading::Unclear, 50, 21, second * 2, LIMITS), Some(13));
    }

    #[test]
    fn an_unclear_row_stops_at_the_time_cap() {
        // 21 rounds took 40 s: 20 s are left, room for 10 more rounds at that pace.
        let forty = Duration::from_secs(40);
        assert_eq!(more(Reading::Unclear, 21, 21, forty, LIMITS), Some(10));
        assert_eq!(
            more(Reading::Unclear, 21, 21, Duration::from_secs(60), LIMITS),
            None
        );
        assert_eq!(
            more(Reading::Unclear, 21, 21, Duration::from_secs(90), LIMITS),
            None
        );
    }
}
