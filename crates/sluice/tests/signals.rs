//! Shutting down on a signal, in a child process: this test binary is started again on
//! the ignored test `child` with a scenario named in its environment, and the test
//! sends it `SIGTERM` or `SIGINT` and reads what it printed. (A signal sent to this
//! process would reach every test of the binary at once.)

#![cfg(unix)]
#![allow(clippy::print_stdout)] // the child's lines are what the parent reads

mod common;
mod signal_scenarios;

use common::{HANG_AFTER, TestResult, watchdog};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sluice::signal::{ShutdownSignal, SignalError, SignalOptions};
use sluice::{ConcurrencyManager, TaskError};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

/// Names the scenario the child runs.
const SCENARIO: &str = "TEST_SLUICE_SIGNAL_SCENARIO";
/// Marks the lines the child writes for the parent.
const MARK: &str = "> ";

/// The child: runs the scenario its environment names, printing `> ` lines.
#[test]
#[ignore = "run in a child process by the tests below"]
fn child() {
    let Ok(scenario) = std::env::var(SCENARIO) else {
        return;
    };
    let result = match scenario.as_str() {
        "drain" => signal_scenarios::drain(),
        "abort" => signal_scenarios::abort(),
        "force" => signal_scenarios::force(),
        "exit" => signal_scenarios::exit(),
        "async" => signal_scenarios::in_async(),
        other => panic!("unknown scenario {other}"),
    };
    if let Err(error) = result {
        panic!("scenario {scenario} failed: {error}");
    }
    say("done");
}

fn say(line: &str) {
    println!("{MARK}{line}");
}

/// The child process and the `> ` lines it prints, as they come.
struct Scenario {
    child: Child,
    lines: Receiver<String>,
}

impl Scenario {
    fn start(name: &str) -> Scenario {
        let exe = std::env::current_exe().expect("the test binary knows its path");
        let mut child = Command::new(exe)
            .args(["child", "--exact", "--include-ignored", "--nocapture"])
            .env(SCENARIO, name)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the child starts");
        let stdout = child.stdout.take().expect("its stdout is piped");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(line) = line.strip_prefix(MARK) {
                    let _ = tx.send(line.to_owned());
                }
            }
        });
        Scenario { child, lines }
    }

    /// Waits for the child to print `line`.
    fn expect(&self, line: &str) {
        match self.lines.recv_timeout(HANG_AFTER) {
            Ok(got) => assert_eq!(got, line),
            Err(_) => panic!("the child never printed {line:?}"),
        }
    }

    fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).expect("a pid fits"));
        kill(pid, signal).expect("the child can be signalled");
    }

    /// The rest of its lines and how it exited.
    fn finish(mut self) -> (Vec<String>, ExitStatus) {
        let status = self.child.wait().expect("the child is waited for");
        (self.lines.iter().collect(), status)
    }
}

#[test]
fn sigterm_drains_running_work_and_refuses_new_work() -> TestResult {
    watchdog("drain", || {
        let child = Scenario::start("drain");
        child.expect("ready");
        child.signal(Signal::SIGTERM);
        let (lines, status) = child.finish();
        assert!(status.success(), "{status}: {lines:?}");
        assert_eq!(
            lines,
            [
                "signal: Some(Terminate)",
                "running: finished; more work: Err(ShuttingDown)",
                "after: Err(ShuttingDown)",
                "drained: true",
                "done",
            ]
        );
        Ok(())
    })
}

#[test]
fn abort_pending_cancels_queued_work_and_lets_running_work_finish() -> TestResult {
    watchdog("abort", || {
        let child = Scenario::start("abort");
        child.expect("ready");
        child.signal(Signal::SIGTERM);
        let (lines, status) = child.finish();
        assert!(status.success(), "{status}: {lines:?}");
        assert_eq!(
            lines,
            [
                "running: finished; more work: Err(ShuttingDown)",
                "queued: Err(Cancelled)",
                "queued: Err(Cancelled)",
                "queued: Err(Cancelled)",
                "cancelled_queued: 3",
                "drained: true",
                "done",
            ]
        );
        Ok(())
    })
}

#[test]
fn a_second_signal_forces_the_end() -> TestResult {
    watchdog("force", || {
        let child = Scenario::start("force");
        child.expect("ready");
        child.signal(Signal::SIGTERM);
        child.expect("draining");
        child.signal(Signal::SIGINT);
        let (lines, status) = child.finish();
        assert!(status.success(), "{status}: {lines:?}");
        assert_eq!(lines, ["never: Err(Cancelled)", "drained: false", "done"]);
        Ok(())
    })
}

#[test]
fn a_second_signal_can_exit_the_process() -> TestResult {
    watchdog("exit", || {
        let child = Scenario::start("exit");
        child.expect("ready");
        child.signal(Signal::SIGTERM);
        child.expect("draining");
        child.signal(Signal::SIGTERM);
        let (lines, status) = child.finish();
        assert_eq!(status.code(), Some(7), "{lines:?}");
        assert!(lines.is_empty(), "{lines:?}");
        Ok(())
    })
}

#[test]
fn an_async_program_on_its_own_runtime_awaits_the_report_after_sigint() -> TestResult {
    watchdog("async", || {
        let child = Scenario::start("async");
        child.expect("ready");
        child.signal(Signal::SIGINT);
        let (lines, status) = child.finish();
        assert!(status.success(), "{status}: {lines:?}");
        assert_eq!(lines, ["running: finished", "drained: true", "done"]);
        Ok(())
    })
}

#[test]
fn options_without_signals_are_refused() -> TestResult {
    let mgr = ConcurrencyManager::builder().build()?;
    let refused = mgr.shutdown_on_signal(SignalOptions::new().signals([]));
    assert!(matches!(refused, Err(SignalError::NoSignals)));
    Ok(())
}

#[test]
fn waiting_ends_when_the_manager_shuts_down_without_a_signal() -> TestResult {
    watchdog("stopped", || {
        let mgr = ConcurrencyManager::builder().build()?;
        // SIGHUP only: this process never receives one during the tests.
        let signals =
            mgr.shutdown_on_signal(SignalOptions::new().signals([ShutdownSignal::Hangup]))?;
        mgr.shutdown(Duration::from_secs(1));
        assert!(matches!(signals.wait(), Err(SignalError::Stopped)));
        assert!(!signals.triggered());
        assert_eq!(mgr.run_cpu(|| 0).wait(), Err(TaskError::ShuttingDown));
        Ok(())
    })
}

#[test]
fn dropping_the_handle_before_a_signal_releases_the_manager() -> TestResult {
    watchdog("released", || {
        /// Tells when the future holding it is dropped.
        struct OnDrop(mpsc::Sender<()>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                let _ = self.0.send(());
            }
        }
        let mgr = ConcurrencyManager::builder().build()?;
        let signals =
            mgr.shutdown_on_signal(SignalOptions::new().signals([ShutdownSignal::Hangup]))?;
        let (dropped_tx, dropped) = mpsc::channel();
        let guard = OnDrop(dropped_tx);
        let _never = mgr.run_io(async move {
            let _guard = guard;
            std::future::pending::<()>().await
        });
        drop(signals);
        // The last clone gone, the manager drops its running futures.
        drop(mgr);
        dropped.recv_timeout(HANG_AFTER)?;
        Ok(())
    })
}
