//! One comparison, its target, and how it is measured: interleaved rounds.

use std::time::{Duration, Instant};

/// What a row promises about its ratio (Sluice's time over the anchor's).
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// No promise: the row is a measure (a cost paid by design, or a comparison whose
    /// outcome is not Sluice's to decide).
    Measure,
    /// The ratio at most this.
    Ratio(f64),
    /// Sluice at least this many times faster: the ratio at most its inverse.
    Faster(f64),
    /// Sluice at least this fraction of the anchor's throughput: the ratio at most its
    /// inverse.
    Throughput(f64),
    /// Sluice's time at most this multiple of the row's ideal time.
    Ideal(f64),
}

impl Target {
    /// The bound on the figure the verdict reads, if any.
    pub fn bound(self) -> Option<f64> {
        match self {
            Target::Measure => None,
            Target::Ratio(max) | Target::Ideal(max) => Some(max),
            Target::Faster(k) | Target::Throughput(k) => Some(1.0 / k),
        }
    }

    /// The target as the table shows it.
    pub fn label(self) -> String {
        match self {
            Target::Measure => "—".to_owned(),
            Target::Ratio(max) => format!("≤ {max:.2}"),
            Target::Faster(k) => format!("≤ {:.3} (≥ {k:.1}× faster)", 1.0 / k),
            Target::Throughput(k) => format!("≤ {:.3} (≥ {k:.1}× its throughput)", 1.0 / k),
            Target::Ideal(max) => format!("≤ {max:.2}× ideal"),
        }
    }
}

/// One comparison: the anchor, Sluice, and the target the ratio should meet.
pub struct Pair {
    /// What is compared.
    pub name: String,
    /// The raw anchor, as a label.
    pub anchor_label: String,
    /// Operations per measurement, for per-operation times.
    pub ops: usize,
    /// The anchor's run.
    pub anchor: Box<dyn Fn()>,
    /// Sluice's run.
    pub ours: Box<dyn Fn()>,
    /// What the row promises.
    pub target: Target,
    /// The time one measurement would take with no overhead at all, where known.
    pub ideal: Option<Duration>,
    /// Rounds for this row when not the mode's own (rows of seconds each).
    pub rounds: Option<usize>,
    /// Whether to run each side once, untimed, before the rounds.
    pub warm_up: bool,
}

impl Pair {
    /// A row with no target yet (a measure), the mode's rounds and a warm-up run.
    pub fn new(
        name: impl Into<String>,
        anchor_label: impl Into<String>,
        ops: usize,
        anchor: impl Fn() + 'static,
        ours: impl Fn() + 'static,
    ) -> Self {
        Pair {
            name: name.into(),
            anchor_label: anchor_label.into(),
            ops,
            anchor: Box::new(anchor),
            ours: Box::new(ours),
            target: Target::Measure,
            ideal: None,
            rounds: None,
            warm_up: true,
        }
    }

    /// With a target.
    pub fn target(mut self, target: Target) -> Self {
        self.target = target;
        self
    }

    /// With an ideal time per measurement; the target then reads Sluice against it.
    pub fn ideal(mut self, ideal: Duration, within: f64) -> Self {
        self.ideal = Some(ideal);
        self.target = Target::Ideal(within);
        self
    }

    /// With its own number of rounds (for rows of seconds each).
    pub fn rounds(mut self, rounds: usize) -> Self {
        self.rounds = Some(rounds);
        self
    }

    /// Without the untimed warm-up run (for rows of seconds each on warm pools).
    pub fn cold(mut self) -> Self {
        self.warm_up = false;
        self
    }
}

/// The per-round figures of one pair.
pub struct Measured {
    /// Anchor nanoseconds per operation, each round.
    pub anchor: Vec<f64>,
    /// Sluice nanoseconds per operation, each round.
    pub ours: Vec<f64>,
    /// Sluice over anchor, each round.
    pub ratios: Vec<f64>,
    /// The pass (the process) that measured each round: rounds of one pass share its
    /// stretch of the machine, and the verdict's interval treats them as a group.
    pub groups: Vec<u32>,
    /// Rounds measured before these by another process: which side goes first
    /// alternates over all of a row's rounds, not each process's.
    earlier: usize,
}

impl Measured {
    /// The median ratio.
    pub fn ratio(&self) -> f64 {
        median(&self.ratios)
    }

    /// The lowest and highest ratio.
    pub fn spread(&self) -> (f64, f64) {
        let lo = self.ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = self.ratios.iter().copied().fold(0.0, f64::max);
        (lo, hi)
    }
}

/// Nanoseconds per operation, as a float: 10 M operations of a few nanoseconds each
/// need sub-nanosecond precision, which `Duration` does not have.
fn time(run: &dyn Fn(), ops: usize) -> f64 {
    let began = Instant::now();
    run();
    began.elapsed().as_secs_f64() * 1e9 / ops as f64
}

impl Measured {
    /// Nothing measured yet.
    pub fn new() -> Self {
        Measured {
            anchor: Vec::new(),
            ours: Vec::new(),
            ratios: Vec::new(),
            groups: Vec::new(),
            earlier: 0,
        }
    }

    /// Nothing measured yet by this process, after `earlier` rounds measured by others.
    pub fn after(earlier: usize) -> Self {
        Measured {
            earlier,
            ..Measured::new()
        }
    }

    /// Takes one round measured elsewhere (by a pass's process), in pass `group`.
    pub fn absorb(&mut self, anchor: f64, ours: f64, group: u32) {
        self.ratios.push(ours / anchor.max(1e-12));
        self.anchor.push(anchor);
        self.ours.push(ours);
        self.groups.push(group);
    }

    /// One pass's share of `pair`'s rounds: `rounds` more, the two sides interleaved,
    /// after a warm-up run of each side if the pair wants one (each pass comes back to
    /// the row after the others have run: its threads parked, its caches cold).
    pub fn pass(&mut self, pair: &Pair, rounds: usize) {
        if rounds == 0 {
            return;
        }
        if pair.warm_up {
            // One untimed run of each side first: thread start-up, page faults, caches.
            (pair.anchor)();
            (pair.ours)();
        }
        self.more(pair, rounds);
    }

    /// The rounds measured so far.
    pub fn rounds(&self) -> usize {
        self.ratios.len()
    }

    /// Runs `rounds` more rounds of `pair`. The side that goes first alternates from
    /// round to round, across batches too, so a steady drift of the machine's speed
    /// favours neither.
    pub fn more(&mut self, pair: &Pair, rounds: usize) {
        for _ in 0..rounds {
            let (a, o) = if (self.earlier + self.rounds()).is_multiple_of(2) {
                let a = time(&*pair.anchor, pair.ops);
                (a, time(&*pair.ours, pair.ops))
            } else {
                let o = time(&*pair.ours, pair.ops);
                (time(&*pair.anchor, pair.ops), o)
            };
            self.absorb(a, o, 0);
        }
    }
}

/// The middle value (the upper one of an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}
