//! The Markdown the runner prints: one table per area, and the verdict of each row.

use crate::confidence::{self, Interval, Reading};
use crate::measure::{Measured, Pair, Target, median};

/// How a row fares against its target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// The row has no target.
    Measure,
    /// The whole confidence interval of the figure is within the target.
    Meets,
    /// The whole interval is outside it; `anchor_too` when the anchor's median misses
    /// the same bound (a row against an ideal nobody reaches).
    Misses {
        /// The anchor misses the ideal too.
        anchor_too: bool,
    },
    /// The interval straddles the target, even after the extra rounds the row got.
    Unclear,
}

impl Verdict {
    /// The confidence reading behind the verdict (a measure is never unclear).
    pub fn reading(self) -> Reading {
        match self {
            Verdict::Measure | Verdict::Meets => Reading::Meets,
            Verdict::Misses { .. } => Reading::Misses,
            Verdict::Unclear => Reading::Unclear,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Verdict::Measure => "measure",
            Verdict::Meets => "meets",
            Verdict::Misses { anchor_too: false } => "misses",
            Verdict::Misses { anchor_too: true } => "misses (so does the anchor)",
            Verdict::Unclear => "unclear",
        }
    }
}

/// A time per operation, in a unit that suits it.
pub fn show(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.2} ns")
    }
}

/// An area's heading, its note and its table's header. Areas whose rows have an
/// ideal time get the columns that compare both sides with it.
pub fn heading(title: &str, note: &str, ideal: bool) -> String {
    let columns = if ideal {
        "| scenario | anchor | ideal | anchor time | sluice time | anchor / ideal | sluice / ideal \
         | ratio to anchor (median) | spread | 95% interval (sluice / ideal, else ratio) \
         | rounds | target | |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    } else {
        "| scenario | anchor | anchor / op | sluice / op | ratio (median) | spread | 95% interval \
         | rounds | target | |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    };
    format!("### {title}\n\n{note}\n\n{columns}")
}

/// The per-round figures a row's verdict reads: Sluice's time over the ideal for a row
/// against an ideal, the ratio to the anchor otherwise; and the row's ideal time per
/// operation, if it has one.
fn figures(pair: &Pair, m: &Measured) -> (Vec<f64>, Option<f64>) {
    let ideal_ns = pair.ideal.map(|d| d.as_secs_f64() * 1e9 / pair.ops as f64);
    match (pair.target, ideal_ns) {
        (Target::Ideal(_), Some(best)) => (m.ours.iter().map(|o| o / best).collect(), ideal_ns),
        _ => (m.ratios.clone(), ideal_ns),
    }
}

/// A row's verdict so far and the confidence interval it rests on: the interval of the
/// median of [`figures`], its rounds grouped by the pass that measured them, read
/// against the target's bound.
pub fn judge(pair: &Pair, m: &Measured) -> (Verdict, Option<Interval>) {
    let (figures, ideal_ns) = figures(pair, m);
    let interval = confidence::grouped_median_interval(&figures, &m.groups, confidence::SEED);
    let verdict = match (pair.target.bound(), interval) {
        (None, _) | (_, None) => Verdict::Measure,
        (Some(max), Some(interval)) => match confidence::read(interval, max) {
            Reading::Meets => Verdict::Meets,
            Reading::Unclear => Verdict::Unclear,
            Reading::Misses => Verdict::Misses {
                anchor_too: ideal_ns.is_some_and(|best| median(&m.anchor) / best > max),
            },
        },
    };
    (verdict, interval)
}

/// One row of the table, and its verdict. `ideal` says which header the area uses.
pub fn row(pair: &Pair, m: &Measured, ideal: bool) -> (String, Verdict) {
    let anchor = median(&m.anchor);
    let ours = median(&m.ours);
    let ratio = m.ratio();
    let (lo, hi) = m.spread();
    let (verdict, interval) = judge(pair, m);
    let ideal_ns = figures(pair, m).1;
    let interval = interval.map_or_else(|| "—".to_owned(), |i| format!("{:.3}–{:.3}", i.lo, i.hi));
    let rounds = m.rounds();
    let line = if ideal {
        let (best, to_anchor, to_ours) = match ideal_ns {
            Some(best) => (
                show(best),
                format!("{:.3}", anchor / best),
                format!("{:.3}", ours / best),
            ),
            None => ("—".to_owned(), "—".to_owned(), "—".to_owned()),
        };
        format!(
            "| {} | {} | {best} | {} | {} | {to_anchor} | {to_ours} | {ratio:.3} | {lo:.3}–{hi:.3} | {interval} | {rounds} | {} | {} |",
            pair.name,
            pair.anchor_label,
            show(anchor),
            show(ours),
            pair.target.label(),
            verdict.label(),
        )
    } else {
        format!(
            "| {} | {} | {} | {} | {ratio:.3} | {lo:.3}–{hi:.3} | {interval} | {rounds} | {} | {} |",
            pair.name,
            pair.anchor_label,
            show(anchor),
            show(ours),
            pair.target.label(),
            verdict.label(),
        )
    };
    (line, verdict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A row of 1,000 operations whose rounds are given, not run.
    fn rounds(anchor: &[f64], ours: &[f64]) -> Measured {
        let mut m = Measured::new();
        for (a, o) in anchor.iter().zip(ours) {
            m.absorb(*a, *o, 0);
        }
        m
    }

    fn pair(target: Target) -> Pair {
        Pair::new("row", "anchor", 1_000, || {}, || {}).target(target)
    }

    #[test]
    fn a_ratio_row_reads_the_interval_of_its_ratios() {
        let anchor = [100.0; 9];
        let near = rounds(
            &anchor,
            &[98.0, 99.0, 100.0, 101.0, 102.0, 103.0, 104.0, 105.0, 106.0],
        );
        let far = rounds(&anchor, &[120.0; 9]);
        let within = rounds(&anchor, &[90.0; 9]);
        let bound = Target::Ratio(1.02);
        assert_eq!(judge(&pair(bound), &near).0, Verdict::Unclear);
        assert_eq!(
            judge(&pair(bound), &far).0,
            Verdict::Misses { anchor_too: false }
        );
        assert_eq!(judge(&pair(bound), &within).0, Verdict::Meets);
        assert_eq!(judge(&pair(Target::Measure), &far).0, Verdict::Measure);
        // Faster(2.0): the ratio at most 0.5.
        assert_eq!(
            judge(&pair(Target::Faster(2.0)), &within).0,
            Verdict::Misses { anchor_too: false }
        );
    }

    #[test]
    fn an_ideal_row_reads_sluice_against_the_ideal_and_names_an_anchor_that_misses_too() {
        // 1,000 operations in 1 ms: an ideal of 1,000 ns per operation.
        let ideal = |p: Pair| p.ideal(Duration::from_millis(1), 1.05);
        let meets = rounds(&[2_000.0; 5], &[1_010.0; 5]);
        assert_eq!(
            judge(&ideal(pair(Target::Measure)), &meets).0,
            Verdict::Meets
        );
        let both_miss = rounds(&[1_200.0; 5], &[1_300.0; 5]);
        assert_eq!(
            judge(&ideal(pair(Target::Measure)), &both_miss).0,
            Verdict::Misses { anchor_too: true }
        );
        let only_ours = rounds(&[1_000.0; 5], &[1_300.0; 5]);
        assert_eq!(
            judge(&ideal(pair(Target::Measure)), &only_ours).0,
            Verdict::Misses { anchor_too: false }
        );
    }

    #[test]
    fn the_row_shows_its_interval_rounds_and_verdict() {
        let m = rounds(&[100.0; 3], &[150.0; 3]);
        let (line, verdict) = row(&pair(Target::Ratio(1.10)), &m, false);
        assert_eq!(verdict, Verdict::Misses { anchor_too: false });
        assert!(line.contains("| 1.500–1.500 | 3 |"), "{line}");
        assert!(line.ends_with("| misses |"), "{line}");
    }
}
