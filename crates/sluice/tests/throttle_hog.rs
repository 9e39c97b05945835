//! The throttle against the real machine: a separate process that keeps every CPU busy
//! shrinks the CPU gate within two sampling intervals, and the gate recovers after the
//! hog exits; this process saturating its own pool does not shrink it.
//!
//! The hog is this test binary run again on the ignored test `hog`, which spins one
//! thread per CPU (twice over) until its stdin closes.
//!
//! Other processes busy on this machine (a parallel build) are foreign load too: the
//! gate rightly stays shrunk under them. Where a step fails while the machine is busy
//! with processes other than ours and the hog's, the test says so and stops without a
//! verdict instead of blaming the throttle; on an otherwise quiet machine it judges.

mod common;

use common::{TestResult, watchdog};
use sluice::throttle::{Reason, RouteThrottle, ThrottleConfig};
use sluice::{ConcurrencyManager, RouteKind};
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Set in the hog's environment, so that `hog` spins only when started by the test.
const HOG: &str = "TEST_SLUICE_HOG";
/// The throttle's sampling interval in these tests.
const INTERVAL: Duration = Duration::from_millis(250);
/// The CPU route's configured limit.
const LIMIT: usize = 8;

#[test]
#[ignore = "the CPU hog, started by `a_cpu_hog_shrinks_the_cpu_gate_and_its_exit_restores_it`"]
fn hog() {
    if std::env::var_os(HOG).is_none() {
        return;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    for _ in 0..cpus * 2 {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut x = 0u64;
            while !stop.load(Ordering::Relaxed) {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        });
    }
    #[allow(clippy::print_stdout)] // the parent waits for this line
    {
        println!("hogging");
    }
    // Until the parent closes our stdin (or dies), with a cap in case it never does.
    let (done_tx, done) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        let _ = done_tx.send(());
    });
    let _ = done.recv_timeout(Duration::from_secs(60));
    stop.store(true, Ordering::Relaxed);
}

/// CPUs kept busy over `window` by processes other than this one, from `/proc/stat`
/// and `/proc/self/stat` (`None` where those cannot be read).
fn foreign_cpus(window: Duration) -> Option<f64> {
    fn machine_busy() -> Option<u64> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().next()?;
        let ticks: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
        Some(ticks.iter().take(8).sum::<u64>() - ticks.get(3)? - ticks.get(4)?)
    }
    fn own_busy() -> Option<u64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command's closing parenthesis; utime and stime are 14 and 15.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
    }
    let (machine, own) = (machine_busy()?, own_busy()?);
    thread::sleep(window);
    let foreign = (machine_busy()? - machine).saturating_sub(own_busy()? - own);
    // Kernel ticks are 1/100 s on every Linux this runs on (USER_HZ).
    Some(foreign as f64 / 100.0 / window.as_secs_f64())
}

/// Whether other processes keep more than half a CPU busy now: a failed step is then
/// no verdict on the throttle.
#[allow(clippy::print_stderr)] // why the test ends without a verdict, for whoever reads its log
fn machine_is_busy_elsewhere() -> bool {
    let foreign = foreign_cpus(Duration::from_secs(1));
    if let Some(cpus) = foreign.filter(|&cpus| cpus > 0.5) {
        eprintln!("no verdict: other processes keep {cpus:.1} CPUs busy on this machine");
        return true;
    }
    false
}

fn cpu(mgr: &ConcurrencyManager) -> (u64, RouteThrottle) {
    let throttle = mgr.snapshot().throttle.expect("the throttle is enabled");
    let cpu = throttle
        .routes
        .into_iter()
        .find(|r| r.route == RouteKind::Cpu)
        .expect("the cpu route is throttled");
    (throttle.samples, cpu)
}

/// Waits up to `within` for `done` on the cpu route's throttle; the sample count and
/// state it held at, or `None` where it never came while other processes kept the
/// machine busy and `busy_excuses` (no verdict).
fn wait_for(
    mgr: &ConcurrencyManager,
    within: Duration,
    what: &str,
    busy_excuses: bool,
    done: impl Fn(&RouteThrottle) -> bool,
) -> Option<(u64, RouteThrottle)> {
    let deadline = Instant::now() + within;
    loop {
        let (samples, route) = cpu(mgr);
        if done(&route) {
            return Some((samples, route));
        }
        if Instant::now() >= deadline {
            assert!(
                busy_excuses && machine_is_busy_elsewhere(),
                "never: {what} (last: {route:?})"
            );
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_cpu_hog_shrinks_the_cpu_gate_and_its_exit_restores_it() -> TestResult {
    watchdog("cpu hog", || {
        let mgr = ConcurrencyManager::builder()
            .cpu_limit(LIMIT)
            .throttle(ThrottleConfig::new().interval(INTERVAL))
            .build()?;

        // Our own saturating load, for six intervals: the gate stays where it is.
        if machine_is_busy_elsewhere() {
            return Ok(());
        }
        let Some((before, _)) =
            wait_for(&mgr, Duration::from_secs(5), "a first sample", true, |_| {
                true
            })
        else {
            return Ok(());
        };
        let busy_until = Instant::now() + INTERVAL * 6;
        let spinners: Vec<_> = (0..LIMIT)
            .map(|_| {
                mgr.run_cpu(move || {
                    let mut x = 0u64;
                    while Instant::now() < busy_until {
                        x = std::hint::black_box(x.wrapping_add(1));
                    }
                })
            })
            .collect();
        for spinner in spinners {
            spinner.wait()?;
        }
        let (after, own) = cpu(&mgr);
        assert!(
            after >= before + 4,
            "the throttle sampled while we were busy"
        );
        if (own.limit, own.changes) != (LIMIT, 0) {
            assert!(
                machine_is_busy_elsewhere(),
                "our own load moved the gate: {own:?}"
            );
            return Ok(());
        }

        // Another process takes every CPU: the gate shrinks within two samples.
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args([
                "hog",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HOG, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("the hog's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let hogging = lines.any(|line| line.is_ok_and(|line| line.trim_end().ends_with("hogging")));
        assert!(hogging, "the hog started");
        let (started, _) = cpu(&mgr);
        let Some((shrunk, route)) =
            // The hog is the foreign load here: no excuse.
            wait_for(&mgr, Duration::from_secs(10), "the gate shrinks", false, |r| {
                r.limit < LIMIT
            })
        else {
            return Ok(());
        };
        assert_eq!(route.reason, Reason::ForeignCpu);
        assert!(
            shrunk - started <= 2,
            "shrunk {} samples after the hog started",
            shrunk - started
        );

        // The hog exits: the gate recovers to its configured limit.
        drop(child.stdin.take());
        child.wait()?;
        if wait_for(
            &mgr,
            Duration::from_secs(15),
            "the gate recovers",
            true,
            |r| r.limit == LIMIT && r.reason == Reason::Clear,
        )
        .is_none()
        {
            return Ok(());
        }
        assert_eq!(
            mgr.snapshot().route(&RouteKind::Cpu).map(|r| r.limit),
            Some(LIMIT)
        );
        Ok(())
    })
}
