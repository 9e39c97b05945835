//! The scenarios of `signals.rs`, as a program would write them; each runs in a
//! child process and prints `> ` lines for the parent to read.

use super::{TestResult, say};
use sluice::ConcurrencyManager;
use sluice::signal::{OnSignal, SecondSignal, ShutdownSignal, SignalOptions};
use std::thread;
use std::time::Duration;

/// A task that runs until shutdown begins, then a little longer, and then tries to
/// submit more work (which must be refused).
fn finisher(mgr: &ConcurrencyManager) -> impl FnOnce() -> String + Send + 'static {
    let mgr = mgr.clone();
    move || {
        say("ready");
        while !mgr.is_shutting_down() {
            thread::sleep(Duration::from_millis(5));
        }
        thread::sleep(Duration::from_millis(50));
        format!("finished; more work: {:?}", mgr.run_cpu(|| 1).wait())
    }
}

pub(crate) fn drain() -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    let signals = mgr.shutdown_on_signal(SignalOptions::new())?;
    let running = mgr.run_io_blocking(finisher(&mgr));
    let report = signals.wait()?;
    say(&format!("signal: {:?}", signals.signal()));
    say(&format!("running: {}", running.wait()?));
    say(&format!("after: {:?}", mgr.run_cpu(|| 2).wait()));
    say(&format!("drained: {}", report.drained));
    Ok(())
}

pub(crate) fn abort() -> TestResult {
    let mgr = ConcurrencyManager::builder().cpu_limit(1).build()?;
    let signals = mgr.shutdown_on_signal(SignalOptions::new().on_signal(OnSignal::AbortPending))?;
    let running = mgr.run_cpu(finisher(&mgr));
    let queued: Vec<_> = (0..3).map(|i| mgr.run_cpu(move || i)).collect();
    let report = signals.wait()?;
    say(&format!("running: {}", running.wait()?));
    for handle in queued {
        say(&format!("queued: {:?}", handle.wait()));
    }
    say(&format!("cancelled_queued: {}", report.cancelled_queued));
    say(&format!("drained: {}", report.drained));
    Ok(())
}

/// A future that never ends, no deadline at all: only a second signal ends the wait.
fn stuck(second: SecondSignal) -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    let options = SignalOptions::new()
        .deadline(Duration::MAX)
        .second_signal(second);
    let signals = mgr.shutdown_on_signal(options)?;
    let never = mgr.run_io(std::future::pending::<()>());
    let watcher = mgr.clone();
    thread::spawn(move || {
        while !watcher.is_shutting_down() {
            thread::sleep(Duration::from_millis(5));
        }
        say("draining");
    });
    say("ready");
    let report = signals.wait()?;
    say(&format!("never: {:?}", never.wait()));
    say(&format!("drained: {}", report.drained));
    Ok(())
}

pub(crate) fn force() -> TestResult {
    stuck(SecondSignal::Force)
}

pub(crate) fn exit() -> TestResult {
    stuck(SecondSignal::Exit(7))
}

/// On the program's own current-thread runtime, built without an IO driver, which
/// the manager is attached to: listening needs nothing of it.
pub(crate) fn in_async() -> TestResult {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let mgr = ConcurrencyManager::builder()
        .io_handle(runtime.handle().clone())
        .build()?;
    runtime.block_on(async {
        let signals =
            mgr.shutdown_on_signal(SignalOptions::new().signals([ShutdownSignal::Interrupt]))?;
        let flag = mgr.clone();
        let running = mgr.run_io(async move {
            say("ready");
            while !flag.is_shutting_down() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            "finished"
        });
        let report = signals.await?;
        say(&format!("running: {}", running.await?));
        say(&format!("drained: {}", report.drained));
        Ok(())
    })
}
