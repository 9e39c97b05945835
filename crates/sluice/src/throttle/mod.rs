//! Auto-throttling by system load: routes give way when the machine is under pressure
//! from *other* work, and take the room back when it is free.
//!
//! A [`LoadSampler`] ([`SystemSampler`] for the real machine) is read every interval
//! on the `sluice-throttle` thread. The controller compares the sample with the
//! thresholds of [`ThrottleConfig`] and moves each route's gate: halving its limit
//! under pressure (never below 1), giving back a tenth of the configured limit per
//! interval once pressure has fallen below the threshold by the hysteresis margin.
//! Work already admitted runs on; a lowered limit admits nobody until in-flight work
//! has fallen below it. Every move is a `tracing` event and shows in
//! [`Snapshot::throttle`](crate::Snapshot::throttle).
//!
//! - `sample.rs`: [`LoadSample`] and the [`LoadSampler`] trait;
//! - `system.rs`, `linux.rs`: the real machine (`sysinfo`, Linux PSI, cgroup limits);
//! - `config.rs`: [`ThrottleConfig`];
//! - `controller.rs`: the arithmetic, one sample at a time;
//! - `thread.rs`: the thread, and the view snapshots read.
//!
//! # Examples
//!
//! ```
//! use sluice::ConcurrencyManager;
//! use sluice::throttle::{LoadSample, LoadSampler, Reason, ThrottleConfig};
//! use std::time::Duration;
//!
//! /// A machine where another process takes 95% of the CPU.
//! struct Busy;
//! impl LoadSampler for Busy {
//!     fn sample(&mut self) -> LoadSample {
//!         LoadSample::default().with_cpu(1.0, 0.05)
//!     }
//! }
//!
//! let mgr = ConcurrencyManager::builder()
//!     .cpu_limit(8)
//!     .throttle(ThrottleConfig::new().interval(Duration::from_millis(5)))
//!     .load_sampler(Busy)
//!     .build()?;
//! // Halved every interval: 4, 2, 1 — and never below 1.
//! while mgr.snapshot().throttle.expect("enabled").samples < 4 {
//!     std::thread::sleep(Duration::from_millis(5));
//! }
//! let throttle = mgr.snapshot().throttle.expect("enabled");
//! let cpu = throttle.routes.iter().find(|r| r.route == sluice::RouteKind::Cpu).expect("cpu");
//! assert_eq!((cpu.limit, cpu.reason), (1, Reason::ForeignCpu));
//! assert_eq!(mgr.run_cpu(|| 6 * 7).wait()?, 42); // still runs, one at a time
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod controller;
mod linux;
mod sample;
mod system;
mod thread;

pub use config::{ThrottleConfig, ThrottleConfigError};
pub use controller::Reason;
pub use sample::{LoadSample, LoadSampler, Stall};
pub use system::SystemSampler;
pub use thread::{RouteThrottle, ThrottleView};

pub(crate) use thread::Throttle;
