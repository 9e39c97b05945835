//! What one look at the machine saw ([`LoadSample`]), and who looks ([`LoadSampler`]).

use serde::Serialize;

/// One reading of the machine's load, as the throttle sees it. Every figure is
/// optional: a platform that lacks it (or a scripted sampler that leaves it out) gives
/// `None`, and the throttle ignores what it does not have.
///
/// CPU figures are shares of the CPU capacity *this process may use*: the cgroup
/// quota of its container when that is lower than the machine's CPU count.
///
/// # Examples
///
/// ```
/// use sluice::throttle::LoadSample;
///
/// let sample = LoadSample::default().with_cpu(0.95, 0.60).with_memory(6 << 30, 8 << 30);
/// let foreign = sample.foreign_cpu().expect("cpu figures were given");
/// assert!((foreign - 0.35).abs() < 1e-9); // what other processes took
/// assert_eq!(sample.memory_fraction(), Some(0.75));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct LoadSample {
    /// Share of the capacity used by every process since the previous sample, 0 to 1.
    pub cpu_total: Option<f64>,
    /// Share of the same capacity used by this process, 0 to 1.
    pub cpu_own: Option<f64>,
    /// CPUs this process may use: the machine's, or its container's quota if lower.
    pub cpu_capacity: Option<f64>,
    /// Bytes of memory in use, counted against `memory_limit`.
    pub memory_used: Option<u64>,
    /// The memory limit that applies, in bytes: the container's if it has one.
    pub memory_limit: Option<u64>,
    /// The 1, 5 and 15 minute load averages, where the platform has them.
    pub load_average: Option<[f64; 3]>,
    /// Linux pressure stall information for CPU (`some`): time runnable tasks waited.
    pub cpu_stall: Option<Stall>,
    /// Linux pressure stall information for memory (`some`).
    pub memory_stall: Option<Stall>,
    /// Whether the figures came from a container's cgroup limits.
    pub in_container: bool,
}

/// One line of Linux pressure stall information (`/proc/pressure/*`): the share of
/// time, in percent, that at least one task stalled on the resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Stall {
    /// Average over the last 10 seconds, percent.
    pub avg10: f64,
    /// Average over the last 60 seconds, percent.
    pub avg60: f64,
    /// Average over the last 300 seconds, percent.
    pub avg300: f64,
}

impl Stall {
    /// A stall reading with these averages (percent).
    pub fn new(avg10: f64, avg60: f64, avg300: f64) -> Self {
        Stall {
            avg10,
            avg60,
            avg300,
        }
    }
}

impl LoadSample {
    /// The same sample with CPU use: `total` by every process and `own` by this one,
    /// each a share (0 to 1) of the capacity this process may use.
    #[must_use]
    pub fn with_cpu(mut self, total: f64, own: f64) -> Self {
        self.cpu_total = Some(total);
        self.cpu_own = Some(own);
        self
    }

    /// The same sample with memory: `used` bytes of `limit`.
    #[must_use]
    pub fn with_memory(mut self, used: u64, limit: u64) -> Self {
        self.memory_used = Some(used);
        self.memory_limit = Some(limit);
        self
    }

    /// The same sample with a CPU stall reading.
    #[must_use]
    pub fn with_cpu_stall(mut self, stall: Stall) -> Self {
        self.cpu_stall = Some(stall);
        self
    }

    /// The share of the capacity other processes took: total minus this process's own,
    /// never below zero. A saturated pool of this process is not pressure.
    pub fn foreign_cpu(&self) -> Option<f64> {
        let total = self.cpu_total?;
        let own = self.cpu_own.unwrap_or(0.0);
        Some((total - own).clamp(0.0, 1.0))
    }

    /// Memory in use as a share (0 to 1) of the limit that applies.
    pub fn memory_fraction(&self) -> Option<f64> {
        let used = self.memory_used?;
        let limit = self.memory_limit.filter(|&limit| limit > 0)?;
        Some((used as f64 / limit as f64).clamp(0.0, 1.0))
    }
}

/// Takes readings of the machine's load for the throttle's controller.
///
/// The controller calls [`sample`](Self::sample) on its own thread once per interval.
/// [`SystemSampler`](crate::throttle::SystemSampler) reads the real machine; tests and
/// simulations script their own.
///
/// # Examples
///
/// ```
/// use sluice::throttle::{LoadSample, LoadSampler};
///
/// /// Replays a recorded day, one reading per call.
/// struct Replay(std::vec::IntoIter<LoadSample>);
///
/// impl LoadSampler for Replay {
///     fn sample(&mut self) -> LoadSample {
///         self.0.next().unwrap_or_default()
///     }
/// }
///
/// let mut replay = Replay(vec![LoadSample::default().with_cpu(0.9, 0.1)].into_iter());
/// assert_eq!(replay.sample().cpu_total, Some(0.9));
/// assert_eq!(replay.sample(), LoadSample::default());
/// ```
pub trait LoadSampler: Send + 'static {
    /// Takes one reading. CPU use is measured between two calls, so the first call may
    /// leave the CPU figures out.
    fn sample(&mut self) -> LoadSample;
}
