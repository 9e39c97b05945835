//! The throttle's arithmetic: from one [`LoadSample`] to each route's next limit.
//! Pure, so that tests can step it sample by sample.

use super::config::ThrottleConfig;
use super::sample::LoadSample;
use serde::Serialize;
use std::fmt;

/// Which signal moved (or holds) a route's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// No pressure: the limit is the configured one.
    Clear,
    /// Other processes took more CPU than the threshold.
    ForeignCpu,
    /// Runnable tasks stalled on CPU more than the threshold (PSI).
    CpuStall,
    /// Memory in use passed its threshold.
    Memory,
    /// Pressure is gone and the limit is growing back.
    Recovering,
    /// A signal sits between its threshold and the hysteresis margin: the limit holds.
    Holding,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::Clear => "clear",
            Reason::ForeignCpu => "foreign cpu",
            Reason::CpuStall => "cpu stall",
            Reason::Memory => "memory",
            Reason::Recovering => "recovering",
            Reason::Holding => "holding",
        })
    }
}

/// Which signals a route listens to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signals {
    /// CPU and memory: work that burns CPU.
    CpuAndMemory,
    /// Memory only: work that mostly waits.
    MemoryOnly,
}

/// One route's throttle state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RouteLimit {
    /// The limit set in the builder: the most the throttle gives.
    pub(crate) configured: usize,
    /// The limit now.
    pub(crate) limit: usize,
    /// What it listens to.
    pub(crate) signals: Signals,
    /// Why it is where it is.
    pub(crate) reason: Reason,
    /// How many times the limit moved.
    pub(crate) changes: u64,
}

impl RouteLimit {
    pub(crate) fn new(configured: usize, signals: Signals) -> Self {
        RouteLimit {
            configured,
            limit: configured,
            signals,
            reason: Reason::Clear,
            changes: 0,
        }
    }

    /// The limit now as a share of the configured one.
    pub(crate) fn factor(&self) -> f64 {
        self.limit as f64 / self.configured as f64
    }
}

/// Where one signal stands against its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// Above the threshold.
    Over,
    /// Between the threshold and the hysteresis margin below it.
    Near,
    /// Below the margin, or not measured.
    Under,
}

/// Where a sample stands, signal by signal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pressure {
    /// Foreign CPU and CPU stall, the worse of the two, with the signal that decides.
    cpu: (Level, Reason),
    /// Memory in use.
    memory: Level,
}

impl Pressure {
    /// Reads `sample` against the thresholds of `config`.
    pub(crate) fn of(sample: &LoadSample, config: &ThrottleConfig) -> Self {
        let level = |value: Option<f64>, threshold: f64| match value {
            Some(value) if value > threshold => Level::Over,
            Some(value) if value > threshold - config.hysteresis => Level::Near,
            _ => Level::Under,
        };
        let foreign = level(
            sample.foreign_cpu().map(|share| share * 100.0),
            config.cpu_threshold,
        );
        let stall = config
            .cpu_stall_threshold
            .map_or(Level::Under, |threshold| {
                level(sample.cpu_stall.map(|stall| stall.avg10), threshold)
            });
        let cpu = match (foreign, stall) {
            (Level::Over, _) => (Level::Over, Reason::ForeignCpu),
            (_, Level::Over) => (Level::Over, Reason::CpuStall),
            (Level::Near, _) | (_, Level::Near) => (Level::Near, Reason::Holding),
            _ => (Level::Under, Reason::Clear),
        };
        let memory = level(
            sample.memory_fraction().map(|share| share * 100.0),
            config.memory_threshold,
        );
        Pressure { cpu, memory }
    }
}

/// Moves `route` one step for `pressure`; true if its limit changed.
pub(crate) fn step(route: &mut RouteLimit, pressure: Pressure, config: &ThrottleConfig) -> bool {
    let cpu = match route.signals {
        Signals::CpuAndMemory => pressure.cpu,
        Signals::MemoryOnly => (Level::Under, Reason::Clear),
    };
    let before = route.limit;
    if pressure.memory == Level::Over || cpu.0 == Level::Over {
        route.reason = if pressure.memory == Level::Over {
            Reason::Memory
        } else {
            cpu.1
        };
        route.limit = ((route.limit as f64 * config.decrease) as usize).max(1);
    } else if pressure.memory == Level::Under && cpu.0 == Level::Under {
        let back = ((route.configured as f64 * config.recovery).ceil() as usize).max(1);
        route.limit = (route.limit + back).min(route.configured);
        route.reason = if route.limit == route.configured {
            Reason::Clear
        } else {
            Reason::Recovering
        };
    } else if route.limit < route.configured {
        route.reason = Reason::Holding;
    }
    let moved = route.limit != before;
    if moved {
        route.changes += 1;
    }
    moved
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ThrottleConfig {
        ThrottleConfig::new()
    }

    fn cpu(foreign: f64) -> LoadSample {
        LoadSample::default()
            .with_cpu(foreign, 0.0)
            .with_memory(1, 100)
    }

    fn run(route: &mut RouteLimit, samples: &[LoadSample]) -> Vec<usize> {
        let config = config();
        samples
            .iter()
            .map(|sample| {
                step(route, Pressure::of(sample, &config), &config);
                route.limit
            })
            .collect()
    }

    #[test]
    fn halves_under_pressure_and_never_goes_below_one() {
        let mut route = RouteLimit::new(16, Signals::CpuAndMemory);
        let limits = run(&mut route, &vec![cpu(0.95); 7]);
        assert_eq!(limits, [8, 4, 2, 1, 1, 1, 1]);
        assert_eq!(route.reason, Reason::ForeignCpu);
        assert_eq!(route.changes, 4);
    }

    #[test]
    fn holds_inside_the_hysteresis_band_then_recovers_additively() {
        let mut route = RouteLimit::new(20, Signals::CpuAndMemory);
        // 0.80 is under the threshold of 85% but within its 10 points: hold.
        let limits = run(&mut route, &[cpu(0.9), cpu(0.9), cpu(0.8), cpu(0.8)]);
        assert_eq!(limits, [10, 5, 5, 5]);
        assert_eq!(route.reason, Reason::Holding);
        let limits = run(&mut route, &vec![cpu(0.5); 9]);
        // A tenth of 20 back per sample, capped at the configured limit.
        assert_eq!(limits, [7, 9, 11, 13, 15, 17, 19, 20, 20]);
        assert_eq!(route.reason, Reason::Clear);
    }

    #[test]
    fn memory_moves_io_routes_and_cpu_does_not() {
        let mut io = RouteLimit::new(100, Signals::MemoryOnly);
        assert_eq!(run(&mut io, &[cpu(0.99)]), [100]);
        let full = LoadSample::default().with_memory(90, 100);
        assert_eq!(run(&mut io, &[full]), [50]);
        assert_eq!(io.reason, Reason::Memory);
    }

    #[test]
    fn a_saturated_pool_of_our_own_is_not_pressure() {
        let mut route = RouteLimit::new(4, Signals::CpuAndMemory);
        let ours = LoadSample::default().with_cpu(1.0, 0.97);
        assert_eq!(run(&mut route, &[ours.clone(), ours]), [4, 4]);
        assert_eq!(route.reason, Reason::Clear);
    }

    #[test]
    fn stall_counts_only_when_its_threshold_is_set() {
        use crate::throttle::Stall;
        let stalled = LoadSample::default().with_cpu_stall(Stall::new(40.0, 10.0, 1.0));
        let mut route = RouteLimit::new(8, Signals::CpuAndMemory);
        assert_eq!(run(&mut route, std::slice::from_ref(&stalled)), [8]);
        let config = config().cpu_stall_threshold(Some(25.0));
        step(&mut route, Pressure::of(&stalled, &config), &config);
        assert_eq!((route.limit, route.reason), (4, Reason::CpuStall));
    }

    #[test]
    fn missing_figures_count_as_no_pressure() {
        let mut route = RouteLimit::new(8, Signals::CpuAndMemory);
        route.limit = 2;
        assert_eq!(run(&mut route, &[LoadSample::default()]), [3]);
    }
}
