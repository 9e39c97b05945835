//! The load throttle driven by a scripted sampler, one sample at a time: exact limits
//! after each sample, the hysteresis band, recovery up to the configured limit, never
//! below one permit; and, with pressure flipping every millisecond, tasks on every
//! route still end exactly once and never run above their route's limit.

mod common;

use common::{TestResult, eventually, watchdog};
use sluice::throttle::{LoadSample, LoadSampler, Reason, ThrottleConfig, ThrottleView};
use sluice::{ConcurrencyManager, RouteKind, TaskError};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

/// Hands the throttle the samples a test sends, one per interval.
struct Scripted(Receiver<LoadSample>);

impl LoadSampler for Scripted {
    fn sample(&mut self) -> LoadSample {
        // Once the test is done the channel closes, and the thread is being stopped.
        self.0.recv().unwrap_or_default()
    }
}

/// A manager whose throttle reads what the test sends, and the sender.
fn scripted(
    limits: [usize; 3],
) -> Result<(ConcurrencyManager, Sender<LoadSample>), sluice::BuildError> {
    let (tx, rx) = mpsc::channel();
    let mgr = ConcurrencyManager::builder()
        .cpu_limit(limits[0])
        .chunk_limit(limits[1])
        .io_limit(limits[2])
        .throttle(ThrottleConfig::new().interval(Duration::from_millis(1)))
        .load_sampler(Scripted(rx))
        .build()?;
    Ok((mgr, tx))
}

fn view(mgr: &ConcurrencyManager) -> ThrottleView {
    mgr.snapshot().throttle.expect("the throttle is enabled")
}

/// Sends one sample and waits until the controller has applied it; returns the limits
/// of cpu, chunk, io and io_blocking, checking that each gate has the limit the
/// throttle reports.
fn feed(mgr: &ConcurrencyManager, tx: &Sender<LoadSample>, sample: LoadSample) -> [usize; 4] {
    let before = view(mgr).samples;
    tx.send(sample).expect("the throttle thread is alive");
    eventually("the sample is applied", || view(mgr).samples > before);
    let snapshot = mgr.snapshot();
    let throttle = snapshot.throttle.as_ref().expect("enabled");
    [
        RouteKind::Cpu,
        RouteKind::Chunk,
        RouteKind::Io,
        RouteKind::IoBlocking,
    ]
    .map(|kind| {
        let set = throttle
            .routes
            .iter()
            .find(|r| r.route == kind)
            .expect("every route is throttled");
        let gate = snapshot.route(&kind).expect("every route is listed").limit;
        assert_eq!(set.limit, gate, "{kind}: the gate has the throttle's limit");
        set.limit
    })
}

fn reason(mgr: &ConcurrencyManager, kind: RouteKind) -> Reason {
    view(mgr)
        .routes
        .into_iter()
        .find(|r| r.route == kind)
        .map(|r| r.reason)
        .expect("every route is throttled")
}

/// CPU used by other processes (`foreign` of the capacity), memory at 10%.
fn foreign(share: f64) -> LoadSample {
    LoadSample::default()
        .with_cpu(share, 0.0)
        .with_memory(10, 100)
}

#[test]
fn each_sample_moves_the_limits_exactly() -> TestResult {
    watchdog("scripted samples", || {
        let (mgr, tx) = scripted([8, 4, 100])?;
        // Foreign CPU over 85%: the CPU routes halve, never below 1; IO routes hold.
        assert_eq!(feed(&mgr, &tx, foreign(0.95)), [4, 2, 100, 64]);
        assert_eq!(reason(&mgr, RouteKind::Cpu), Reason::ForeignCpu);
        assert_eq!(feed(&mgr, &tx, foreign(0.95)), [2, 1, 100, 64]);
        assert_eq!(feed(&mgr, &tx, foreign(0.95)), [1, 1, 100, 64]);
        assert_eq!(feed(&mgr, &tx, foreign(1.0)), [1, 1, 100, 64]);
        // 80% is under the threshold but inside the 10-point hysteresis band: hold.
        assert_eq!(feed(&mgr, &tx, foreign(0.80)), [1, 1, 100, 64]);
        assert_eq!(reason(&mgr, RouteKind::Cpu), Reason::Holding);
        // Below 75%: a tenth of the configured limit back per sample (at least 1).
        let recovery: Vec<[usize; 4]> = (0..8).map(|_| feed(&mgr, &tx, foreign(0.2))).collect();
        assert_eq!(
            recovery,
            [
                [2, 2, 100, 64],
                [3, 3, 100, 64],
                [4, 4, 100, 64],
                [5, 4, 100, 64],
                [6, 4, 100, 64],
                [7, 4, 100, 64],
                [8, 4, 100, 64],
                [8, 4, 100, 64],
            ]
        );
        assert_eq!(reason(&mgr, RouteKind::Cpu), Reason::Clear);
        // Memory over 80% moves every route.
        let full = LoadSample::default().with_memory(90, 100);
        assert_eq!(feed(&mgr, &tx, full), [4, 2, 50, 32]);
        assert_eq!(reason(&mgr, RouteKind::Io), Reason::Memory);
        let throttle = view(&mgr);
        assert_eq!(throttle.memory, Some(90.0));
        let cpu = throttle
            .routes
            .iter()
            .find(|r| r.route == RouteKind::Cpu)
            .expect("cpu");
        assert_eq!((cpu.configured, cpu.limit, cpu.factor), (8, 4, 0.5));
        assert_eq!(cpu.changes, 3 + 7 + 1);
        // Work still runs at the lowered limits.
        assert_eq!(mgr.run_cpu(|| 6 * 7).wait()?, 42);
        Ok(())
    })
}

#[test]
fn this_process_saturating_the_cpu_is_not_pressure() -> TestResult {
    watchdog("own load", || {
        let (mgr, tx) = scripted([4, 4, 16])?;
        for _ in 0..3 {
            let ours = LoadSample::default().with_cpu(1.0, 0.96).with_memory(1, 10);
            assert_eq!(feed(&mgr, &tx, ours), [4, 4, 16, 64]);
        }
        assert_eq!(reason(&mgr, RouteKind::Cpu), Reason::Clear);
        Ok(())
    })
}

#[test]
fn a_sampler_that_panics_costs_one_sample_not_the_throttle() -> TestResult {
    /// Panics on its first reading, then reports a busy machine.
    struct Flaky(bool);
    impl LoadSampler for Flaky {
        fn sample(&mut self) -> LoadSample {
            if !std::mem::replace(&mut self.0, true) {
                panic!("the sensor is unplugged");
            }
            LoadSample::default().with_cpu(1.0, 0.0)
        }
    }
    watchdog("panicking sampler", || {
        let mgr = ConcurrencyManager::builder()
            .cpu_limit(4)
            .throttle(ThrottleConfig::new().interval(Duration::from_millis(1)))
            .load_sampler(Flaky(false))
            .build()?;
        eventually("the cpu limit drops to 1", || {
            mgr.snapshot().route(&RouteKind::Cpu).map(|r| r.limit) == Some(1)
        });
        Ok(())
    })
}

#[test]
fn disabled_leaves_the_limits_alone_and_the_default_reads_the_machine() -> TestResult {
    watchdog("disabled and default", || {
        let off = ConcurrencyManager::builder()
            .throttle(ThrottleConfig::disabled())
            .build()?;
        assert!(off.snapshot().throttle.is_none());
        let on = ConcurrencyManager::builder()
            .throttle(ThrottleConfig::new().interval(Duration::from_millis(20)))
            .build()?;
        eventually("two samples of the real machine", || view(&on).samples >= 2);
        let last = view(&on).last.expect("a sample was taken");
        assert!(
            last.memory_fraction().is_some(),
            "memory is measured: {last:?}"
        );
        Ok(())
    })
}

#[test]
fn bad_throttle_settings_are_named() {
    let cases = [
        (
            ThrottleConfig::new().cpu_threshold(140.0),
            "throttle.cpu_threshold = 140: must be between 1 and 100",
        ),
        (
            ThrottleConfig::new().memory_threshold(0.0),
            "throttle.memory_threshold = 0: must be between 1 and 100",
        ),
        (
            ThrottleConfig::new().cpu_stall_threshold(Some(f64::NAN)),
            "throttle.cpu_stall_threshold = NaN: must be between 1 and 100",
        ),
        (
            ThrottleConfig::new().hysteresis(-1.0),
            "throttle.hysteresis = -1: must be at least 0 and less than 100",
        ),
        (
            ThrottleConfig::new().decrease(1.0),
            "throttle.decrease = 1: must be more than 0 and less than 1",
        ),
        (
            ThrottleConfig::new().recovery(0.0),
            "throttle.recovery = 0: must be more than 0 and at most 1",
        ),
        (
            ThrottleConfig::new().interval(Duration::ZERO),
            "throttle.interval = 0ns: must be at least 1ms",
        ),
    ];
    for (config, message) in cases {
        let err = ConcurrencyManager::builder()
            .throttle(config)
            .build()
            .map(drop);
        assert_eq!(err.map_err(|e| e.to_string()), Err(message.to_owned()));
    }
}

/// Flips between pressure and calm at random (a fixed seed), one sample per call.
struct Flipping(u64);

impl LoadSampler for Flipping {
    fn sample(&mut self) -> LoadSample {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        let memory = if self.0.is_multiple_of(5) { 95 } else { 10 };
        let cpu = (self.0 >> 8) % 100;
        LoadSample::default()
            .with_cpu(cpu as f64 / 100.0, 0.0)
            .with_memory(memory, 100)
    }
}

/// Counts a route's bodies running at once, and the most ever seen.
#[derive(Default)]
struct Running {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl Running {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn limits_moving_under_load_lose_and_double_admit_nothing() -> TestResult {
    watchdog("limits moving under load", || {
        const TASKS: usize = 4_000;
        let mgr = ConcurrencyManager::builder()
            .cpu_limit(4)
            .chunk_limit(3)
            .io_limit(8)
            .io_blocking_threads(5)
            .throttle(ThrottleConfig::new().interval(Duration::from_millis(1)))
            .load_sampler(Flipping(0x9E37_79B9_7F4A_7C15))
            .build()?;
        let routes: [Arc<Running>; 4] = Default::default();
        let ran: Arc<Vec<AtomicUsize>> =
            Arc::new((0..TASKS).map(|_| AtomicUsize::new(0)).collect());
        let handles: Vec<_> = (0..TASKS)
            .map(|i| {
                let running = routes[i % 4].clone();
                let ran = ran.clone();
                let body = move || {
                    running.enter();
                    ran[i].fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_micros(50));
                    running.leave();
                    i
                };
                let handle = match i % 4 {
                    0 => mgr.run_cpu(body),
                    1 => mgr.run_chunk(body),
                    2 => mgr.run_io(async move { body() }),
                    _ => mgr.run_io_blocking(body),
                };
                if i % 9 == 0 {
                    handle.cancel();
                }
                handle
            })
            .collect();
        let mut cancelled = 0;
        for (i, handle) in handles.into_iter().enumerate() {
            match handle.wait() {
                Ok(value) => assert_eq!(value, i),
                Err(TaskError::Cancelled) => cancelled += 1,
                Err(other) => panic!("task {i} answered {other:?}"),
            }
        }
        let bodies: usize = ran.iter().map(|n| n.load(Ordering::SeqCst)).sum();
        assert!(
            ran.iter().all(|n| n.load(Ordering::SeqCst) <= 1),
            "a body ran twice"
        );
        assert_eq!(
            bodies,
            TASKS - cancelled,
            "every task not cancelled ran once"
        );
        for (running, limit) in routes.iter().zip([4, 3, 8, 5]) {
            assert!(running.most.load(Ordering::SeqCst) <= limit);
        }
        let snapshot = mgr.snapshot();
        let total = snapshot.total();
        assert_eq!(total.submitted, TASKS as u64);
        assert_eq!(total.ended(), TASKS as u64);
        assert_eq!(total.cancelled as usize, cancelled);
        assert_eq!(total.running, 0);
        let moves: u64 = snapshot
            .throttle
            .expect("enabled")
            .routes
            .iter()
            .map(|r| r.changes)
            .sum();
        assert!(
            moves > 10,
            "the limits moved while tasks ran ({moves} moves)"
        );
        Ok(())
    })
}
