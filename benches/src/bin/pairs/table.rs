//! The Markdown the runner prints: one table per area, and the verdict of each row.

use crate::measure::{Measured, Pair, Target, median};

/// How a row fares against its target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// The row has no target.
    Measure,
    /// The median figure is within the target.
    Meets,
    /// The median figure is outside it; `anchor_too` when the anchor misses the same
    /// bound (a row against an ideal nobody reaches).
    Misses {
        /// The anchor misses the ideal too.
        anchor_too: bool,
    },
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Measure => "measure",
            Verdict::Meets => "meets",
            Verdict::Misses { anchor_too: false } => "misses",
            Verdict::Misses { anchor_too: true } => "misses (so does the anchor)",
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
         | ratio to anchor (median) | spread | target | |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    } else {
        "| scenario | anchor | anchor / op | sluice / op | ratio (median) | spread | target | |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"
    };
    format!("### {title}\n\n{note}\n\n{columns}")
}

/// One row of the table, and its verdict. `ideal` says which header the area uses.
pub fn row(pair: &Pair, m: &Measured, ideal: bool) -> (String, Verdict) {
    let anchor = median(&m.anchor);
    let ours = median(&m.ours);
    let ratio = m.ratio();
    let (lo, hi) = m.spread();
    let ideal_ns = pair.ideal.map(|d| d.as_secs_f64() * 1e9 / pair.ops as f64);
    let verdict = match (pair.target.bound(), pair.target, ideal_ns) {
        (None, _, _) => Verdict::Measure,
        (Some(max), Target::Ideal(_), Some(best)) if ours / best > max => Verdict::Misses {
            anchor_too: anchor / best > max,
        },
        (Some(_), Target::Ideal(_), Some(_)) => Verdict::Meets,
        (Some(max), _, _) if ratio <= max => Verdict::Meets,
        (Some(_), _, _) => Verdict::Misses { anchor_too: false },
    };
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
            "| {} | {} | {best} | {} | {} | {to_anchor} | {to_ours} | {ratio:.3} | {lo:.3}–{hi:.3} | {} | {} |",
            pair.name,
            pair.anchor_label,
            show(anchor),
            show(ours),
            pair.target.label(),
            verdict.label(),
        )
    } else {
        format!(
            "| {} | {} | {} | {} | {ratio:.3} | {lo:.3}–{hi:.3} | {} | {} |",
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
