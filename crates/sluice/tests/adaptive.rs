//! Adaptive concurrency per dependency: against a simulated service whose latency grows
//! once more than K calls run at once, the limit settles near K and beats a fixed limit
//! far above it; failures shrink the limit; waiting at a dependency is cancellable and
//! leaks no permit; unknown names and bad settings are named errors.

mod common;

use common::{TestResult, eventually, watchdog};
use sluice::limit::DependencyView;
use sluice::limit::LimitConfig;
use sluice::{BreakerConfig, ConcurrencyManager, TaskError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Workers of the simulated service: beyond this many calls at once it thrashes.
const KNEE: usize = 8;
/// A call's latency when the service is not overloaded.
const BASE: Duration = Duration::from_millis(5);

/// A service with `KNEE` workers that thrashes when overloaded: a call that starts with
/// `c` calls in flight takes `BASE * (1 + 0.5 * (c - KNEE))` once `c > KNEE`.
#[derive(Clone, Default)]
struct Service {
    in_flight: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

impl Service {
    async fn call(self, id: usize) -> usize {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        let overload = now.saturating_sub(KNEE) as f64;
        tokio::time::sleep(BASE.mul_f64(1.0 + 0.5 * overload)).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        id
    }
}

/// The dependency `svc` once its last call has given its permit back (a call answers
/// first and releases its permit just after).
fn settled(mgr: &ConcurrencyManager) -> DependencyView {
    let view = || {
        mgr.snapshot()
            .dependency("svc")
            .cloned()
            .expect("registered")
    };
    eventually("every svc permit is back", || view().in_flight == 0);
    view()
}

/// Runs `calls` calls through `mgr` (with `.limit("svc")` if `adaptive`) and returns
/// the time they took and the `svc` views seen every 5 ms while they ran.
fn run(mgr: &ConcurrencyManager, calls: usize, adaptive: bool) -> (Duration, Vec<DependencyView>) {
    let service = Service::default();
    let began = Instant::now();
    let handles: Vec<_> = (0..calls)
        .map(|id| {
            let task = mgr.task("fetch");
            let task = if adaptive { task.limit("svc") } else { task };
            task.run_io(service.clone().call(id))
        })
        .collect();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let watcher = {
        let (mgr, seen) = (mgr.clone(), seen.clone());
        std::thread::spawn(move || {
            while mgr.snapshot().total().pending() > 0 {
                if let Some(svc) = mgr.snapshot().dependency("svc") {
                    seen.lock().expect("not poisoned").push(svc.clone());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    for (id, handle) in handles.into_iter().enumerate() {
        assert_eq!(handle.wait(), Ok(id));
    }
    let elapsed = began.elapsed();
    watcher.join().expect("the watcher ends");
    let seen = std::mem::take(&mut *seen.lock().expect("not poisoned"));
    (elapsed, seen)
}

#[test]
fn the_limit_settles_near_the_knee_and_beats_a_fixed_limit_far_above_it() -> TestResult {
    watchdog("adaptive against fixed", || {
        const CALLS: usize = 1_200;
        let adaptive = ConcurrencyManager::builder()
            .io_limit(200)
            .dependency("svc", LimitConfig::new().max(200))
            .build()?;
        let (fast, views) = run(&adaptive, CALLS, true);
        let limits: Vec<usize> = views.iter().map(|v| v.limit).collect();
        let fixed = ConcurrencyManager::builder().io_limit(200).build()?;
        let (slow, _) = run(&fixed, CALLS, false);

        // Vegas holds where the queue it estimates, L * (1 - BASE / rtt), is between
        // 3 and 6 calls per decade of L: for this service that is L = 10, with the
        // neighbours 9 (queue 3) and 11 (queue 6.6) moving back towards it.
        let late = &limits[limits.len() / 2..];
        let mean = late.iter().sum::<usize>() as f64 / late.len() as f64;
        assert!(
            (KNEE as f64..=2.0 * KNEE as f64).contains(&mean),
            "settled at {mean:.1} (limits seen {limits:?}), expected within [{KNEE}, {}]",
            2 * KNEE
        );
        // At the knee a call takes about 10 ms with 10 in flight: ~1,000 calls/s. At
        // 200 in flight one takes ~500 ms: ~400 calls/s.
        assert!(
            fast.as_secs_f64() * 1.5 < slow.as_secs_f64(),
            "adaptive took {fast:?}, a fixed limit of 200 took {slow:?}"
        );
        let svc = settled(&adaptive);
        assert_eq!(
            (svc.samples, svc.drops, svc.in_flight),
            (CALLS as u64, 0, 0)
        );
        // A probe forgets `min_rtt` until its next sample, so the views seen while the
        // calls ran, not the last one, say what it was: never below the service's own
        // latency.
        let rtts: Vec<u64> = views.iter().filter_map(|v| v.min_rtt_us).collect();
        assert!(!rtts.is_empty(), "no min_rtt while the calls ran");
        assert!(rtts.iter().all(|&us| us >= 5_000), "{rtts:?}");
        Ok(())
    })
}

#[test]
fn failures_and_timeouts_shrink_the_limit_by_its_backoff() -> TestResult {
    watchdog("failures shrink", || {
        let mgr = ConcurrencyManager::builder()
            .dependency("svc", LimitConfig::new().initial(20).backoff(0.5))
            .build()?;
        let failing = mgr
            .task("fetch")
            .limit("svc")
            .try_run_io(async { Err::<(), _>("503") });
        assert!(matches!(failing.wait(), Err(TaskError::Failed("503"))));
        let stuck = mgr
            .task("fetch")
            .limit("svc")
            .timeout(Duration::from_millis(5))
            .run_io(std::future::pending::<()>());
        assert_eq!(stuck.wait(), Err(TaskError::TimedOut));
        let panicked = mgr
            .task("parse")
            .limit("svc")
            .run_io_blocking(|| -> u8 { panic!("bad page") });
        assert!(matches!(panicked.wait(), Err(TaskError::Panicked(_))));
        let svc = settled(&mgr);
        assert_eq!(
            (svc.limit, svc.samples, svc.drops, svc.in_flight),
            (2, 3, 3, 0)
        );
        Ok(())
    })
}

#[test]
fn calls_never_exceed_the_dependency_limit_on_any_route_or_in_maps() -> TestResult {
    watchdog("dependency bound", || {
        let pinned = LimitConfig::new().initial(3).min(3).max(3);
        let mgr = ConcurrencyManager::builder()
            .io_limit(64)
            .dependency("svc", pinned)
            .build()?;
        let service = Service::default();
        let single: Vec<_> = (0..40)
            .map(|id| {
                mgr.task("fetch")
                    .limit("svc")
                    .run_io(service.clone().call(id))
            })
            .collect();
        let blocking_in = Arc::new(AtomicUsize::new(0));
        let blocking: Vec<_> = (0..12)
            .map(|_| {
                let (service, blocking_in) = (service.clone(), blocking_in.clone());
                mgr.task("fetch").limit("svc").run_io_blocking(move || {
                    let now = service.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    blocking_in.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(2));
                    service.in_flight.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        let s = service.clone();
        let mapped = mgr
            .task("fetch-all")
            .limit("svc")
            .map_io(0..30usize, move |id| s.clone().call(id));
        for handle in single {
            handle.wait()?;
        }
        for handle in blocking {
            handle.wait()?;
        }
        assert_eq!(mapped.wait()?, (0..30).collect::<Vec<_>>());
        assert!(service.most.load(Ordering::SeqCst) <= 3);
        assert!(blocking_in.load(Ordering::SeqCst) <= 3);
        let svc = settled(&mgr);
        assert_eq!((svc.samples, svc.in_flight, svc.waiting), (82, 0, 0));
        Ok(())
    })
}

#[test]
fn a_breaker_of_the_same_name_brings_its_tasks_to_the_dependency() -> TestResult {
    watchdog("breaker name", || {
        let mgr = ConcurrencyManager::builder()
            .breaker(
                "svc",
                BreakerConfig::builder().consecutive_failures(5).build()?,
            )
            .dependency("svc", LimitConfig::new())
            .build()?;
        mgr.task("fetch").breaker("svc").run_io(async {}).wait()?;
        mgr.task("fetch").breaker("svc").run_cpu(|| ()).wait()?;
        assert_eq!(mgr.snapshot().dependency("svc").map(|d| d.samples), Some(2));
        Ok(())
    })
}

#[test]
fn waiting_at_a_dependency_is_cancellable_and_leaks_no_permit() -> TestResult {
    watchdog("cancel at the dependency", || {
        let mgr = ConcurrencyManager::builder()
            .dependency("svc", LimitConfig::new().initial(1).min(1).max(1))
            .build()?;
        let (release, blocked) = tokio::sync::oneshot::channel::<()>();
        let (started_tx, started) = std::sync::mpsc::channel();
        let holder = mgr.task("hold").limit("svc").run_io(async move {
            started_tx.send(()).ok();
            blocked.await.ok();
        });
        started.recv()?;
        let cancelled = mgr.task("fetch").limit("svc").run_io(async { 1 });
        let aborted: Vec<_> = (0..3)
            .map(|_| mgr.task("fetch").limit("svc").run_cpu(|| 2))
            .collect();
        assert_eq!(mgr.snapshot().dependency("svc").map(|d| d.waiting), Some(4));
        assert!(cancelled.cancel());
        assert_eq!(cancelled.wait(), Err(TaskError::Cancelled));
        assert_eq!(mgr.abort_pending(), 3);
        for handle in aborted {
            assert_eq!(handle.wait(), Err(TaskError::Cancelled));
        }
        release.send(()).ok();
        holder.wait()?;
        let after = mgr.task("fetch").limit("svc").run_io(async { 3 });
        assert_eq!(
            after.wait()?,
            3,
            "the permit of every cancelled task came back"
        );
        let svc = settled(&mgr);
        assert_eq!((svc.in_flight, svc.waiting, svc.samples), (0, 0, 2));
        Ok(())
    })
}

#[test]
fn unknown_names_and_bad_settings_are_named_errors() {
    let mgr = ConcurrencyManager::builder().build().expect("builds");
    let unknown = mgr.task("fetch").limit("nope").run_io(async { 1 });
    assert_eq!(
        unknown.wait(),
        Err(TaskError::UnknownDependency("nope".into()))
    );
    let unknown = mgr.task("sum").limit("nope").map_cpu(0..3, |x| x);
    assert_eq!(
        unknown.wait(),
        Err(TaskError::UnknownDependency("nope".into()))
    );
    assert_eq!(mgr.snapshot().total().submitted, 0, "nothing was submitted");

    let duplicate = ConcurrencyManager::builder()
        .dependency("svc", LimitConfig::new())
        .dependency("svc", LimitConfig::new())
        .build();
    assert_eq!(
        duplicate.map(drop).map_err(|e| e.to_string()),
        Err("dependency name \"svc\" is already taken".to_owned())
    );
    let bad = ConcurrencyManager::builder()
        .dependency("svc", LimitConfig::new().backoff(1.5))
        .build();
    assert_eq!(
        bad.map(drop).map_err(|e| e.to_string()),
        Err(
            "dependency \"svc\": limit.backoff = 1.5: must be more than 0 and less than 1"
                .to_owned()
        )
    );
}

#[test]
fn a_waiter_never_runs_a_call_its_dependency_has_not_admitted() -> TestResult {
    watchdog("no inline bypass", || {
        let mgr = ConcurrencyManager::builder()
            .cpu_threads(2)
            .dependency("svc", LimitConfig::new().initial(1).min(1).max(1))
            .build()?;
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = std::sync::mpsc::channel();
        let holder = mgr.task("hold").limit("svc").run_cpu(move || {
            started_tx.send(()).ok();
            blocked.recv().ok();
        });
        started.recv()?;
        let ran = Arc::new(AtomicUsize::new(0));
        let seen = ran.clone();
        let queued = mgr.task("fetch").limit("svc").run_cpu(move || {
            seen.fetch_add(1, Ordering::SeqCst);
        });
        // A task that waits runs unstarted CPU work inline: not this work, which its
        // dependency has not admitted.
        let waiter = mgr.run_cpu(move || queued.wait());
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "ran past the dependency's limit"
        );
        release.send(())?;
        holder.wait()?;
        waiter.wait()??;
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        Ok(())
    })
}

#[test]
fn cancels_racing_admission_leak_no_dependency_permit() -> TestResult {
    watchdog("cancel racing admission", || {
        let mgr = ConcurrencyManager::builder()
            .dependency("svc", LimitConfig::new().initial(1).min(1).max(1))
            .build()?;
        let mut kept = Vec::new();
        for round in 0..200 {
            let handles: Arc<Vec<_>> = Arc::new(
                (0..4)
                    .map(|i| {
                        mgr.task("fetch")
                            .limit("svc")
                            .run_io(async move { round * 4 + i })
                    })
                    .collect(),
            );
            let canceller = {
                let handles = handles.clone();
                std::thread::spawn(move || {
                    for handle in handles.iter().skip(round % 3).step_by(2) {
                        handle.cancel();
                    }
                })
            };
            canceller.join().map_err(|_| "the canceller panicked")?;
            let handles = Arc::try_unwrap(handles).map_err(|_| "the handles are ours again")?;
            // Awaited through `&mut`, so the handles stay alive to the end: a permit
            // kept by a cancelled task would stay with them and block every later call.
            for mut handle in handles {
                match mgr.io_handle().block_on(&mut handle) {
                    Ok(_) | Err(TaskError::Cancelled) => {}
                    Err(other) => return Err(format!("answered {other:?}").into()),
                }
                kept.push(handle);
            }
        }
        let svc = settled(&mgr);
        assert_eq!((svc.in_flight, svc.waiting, svc.running), (0, 0, 0));
        assert_eq!(
            mgr.task("fetch").limit("svc").run_io(async { 7 }).wait()?,
            7
        );
        let total = mgr.snapshot().total();
        assert_eq!(total.submitted, total.ended());
        drop(kept);
        Ok(())
    })
}
