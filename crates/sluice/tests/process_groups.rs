//! A command's whole process group ends with its task: at a timeout, a cancel or
//! shutdown, and when the command exits leaving processes behind — `SIGTERM`, then
//! `SIGKILL` for those that ignore it. Each command here is a `sh -c` line that starts
//! grandchildren; `/proc` is read to check that none of its group is left.

#![cfg(target_os = "linux")]

mod common;

use common::{TestResult, watchdog};
use sluice::process::Command;
use sluice::{ConcurrencyManager, TaskError};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// How long a condition may take to hold before the test fails.
const BOUND: Duration = Duration::from_secs(10);

/// A shell that writes its pid (its group's id) to `pid_file`, then waits for two
/// grandchildren; `prelude` runs first (a `trap`).
fn spawner(pid_file: &Path, prelude: &str) -> Command {
    let script = format!(
        "{prelude} echo $$ > {0}.tmp && mv {0}.tmp {0}; sleep 1000 & sleep 1000 & wait",
        pid_file.display()
    );
    Command::new("sh")
        .args(["-c", &script])
        .grace(Duration::from_millis(200))
}

fn pid_file(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("sluice-group-{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// The live (not zombie) processes of group `pgid`, as `pid state`.
fn members(pgid: i32) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue; // not a process, or gone meanwhile
        };
        // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let (Some(state), Some(pgrp)) = (fields.first(), fields.get(2)) else {
            continue;
        };
        if pgrp.parse() == Ok(pgid) && !matches!(*state, "Z" | "X") {
            found.push(format!("{} {state}", head.trim_end()));
        }
    }
    found
}

fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + BOUND;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "never: {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// The group of the shell writing `pid_file`, once it and both grandchildren run.
fn started_group(pid_file: &Path) -> i32 {
    let pgid = eventually("the shell wrote its pid", || {
        std::fs::read_to_string(pid_file).ok()?.trim().parse().ok()
    });
    eventually("the shell and both grandchildren run", || {
        (members(pgid).len() >= 3).then_some(())
    });
    let _ = std::fs::remove_file(pid_file);
    pgid
}

fn assert_group_gone(pgid: i32) {
    let deadline = Instant::now() + BOUND;
    loop {
        let left = members(pgid);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "group {pgid} still has {left:?}");
        thread::sleep(Duration::from_millis(10));
    }
}

fn manager() -> ConcurrencyManager {
    ConcurrencyManager::builder()
        .build()
        .expect("the manager builds")
}

#[test]
fn a_timeout_ends_the_whole_group() -> TestResult {
    watchdog("timeout", || {
        let mgr = manager();
        let file = pid_file("timeout");
        let handle = mgr
            .task("sleepy")
            .timeout(Duration::from_secs(1))
            .run_process(spawner(&file, ""));
        let pgid = started_group(&file);
        assert!(matches!(handle.wait(), Err(TaskError::TimedOut)));
        assert_group_gone(pgid);
        Ok(())
    })
}

#[test]
fn a_whole_task_deadline_ends_the_whole_group() -> TestResult {
    watchdog("deadline", || {
        let mgr = manager();
        let file = pid_file("deadline");
        let handle = mgr
            .task("sleepy")
            .deadline(Duration::from_secs(1))
            .run_process(spawner(&file, ""));
        let pgid = started_group(&file);
        assert!(matches!(handle.wait(), Err(TaskError::TimedOut)));
        assert_group_gone(pgid);
        Ok(())
    })
}

#[test]
fn a_cancel_ends_the_whole_group() -> TestResult {
    watchdog("cancel", || {
        let mgr = manager();
        let file = pid_file("cancel");
        let handle = mgr.run_process(spawner(&file, ""));
        let pgid = started_group(&file);
        assert!(handle.cancel());
        assert!(matches!(handle.wait(), Err(TaskError::Cancelled)));
        assert_group_gone(pgid);
        Ok(())
    })
}

#[test]
fn a_grace_period_too_long_to_end_still_sends_sigterm() -> TestResult {
    watchdog("endless grace", || {
        let mgr = manager();
        let file = pid_file("endless");
        let handle = mgr.run_process(spawner(&file, "").grace(Duration::MAX));
        let pgid = started_group(&file);
        assert!(handle.cancel());
        assert_group_gone(pgid);
        Ok(())
    })
}

#[test]
fn processes_that_ignore_sigterm_get_sigkill_after_the_grace_period() -> TestResult {
    watchdog("stubborn", || {
        let mgr = manager();
        let file = pid_file("stubborn");
        // The shell and its grandchildren all ignore SIGTERM (an ignored signal stays
        // ignored across fork and exec).
        let handle = mgr.run_process(spawner(&file, "trap '' TERM;"));
        let pgid = started_group(&file);
        assert!(handle.cancel());
        assert!(matches!(handle.wait(), Err(TaskError::Cancelled)));
        assert_group_gone(pgid);
        Ok(())
    })
}

#[test]
fn shutdown_past_its_deadline_ends_the_whole_group() -> TestResult {
    watchdog("shutdown", || {
        let mgr = manager();
        let file = pid_file("shutdown");
        let handle = mgr.run_process(spawner(&file, ""));
        let pgid = started_group(&file);
        let report = mgr.shutdown(Duration::from_millis(50));
        assert!(!report.drained);
        assert!(matches!(handle.wait(), Err(TaskError::Cancelled)));
        assert_group_gone(pgid);
        Ok(())
    })
}

#[test]
fn abort_pending_cancels_a_queued_command_before_it_starts() -> TestResult {
    watchdog("abort pending", || {
        let mgr = ConcurrencyManager::builder().io_limit(1).build()?;
        let running_file = pid_file("abort-running");
        let queued_file = pid_file("abort-queued");
        let running = mgr.run_process(spawner(&running_file, ""));
        let pgid = started_group(&running_file);
        let queued = mgr.run_process(spawner(&queued_file, ""));
        assert_eq!(mgr.abort_pending(), 1);
        assert!(matches!(queued.wait(), Err(TaskError::Cancelled)));
        assert!(!queued_file.exists(), "the queued command never started");
        // The running command was not touched, until its own cancel.
        assert_eq!(members(pgid).len(), 3);
        assert!(running.cancel());
        assert_group_gone(pgid);
        Ok(())
    })
}

#[test]
fn processes_left_behind_by_a_command_that_exits_are_ended() -> TestResult {
    watchdog("leftovers", || {
        let mgr = manager();
        let file = pid_file("leftovers");
        // Exits at once, leaving a grandchild that holds its stdout open.
        let script = format!("echo $$ > {}; sleep 1000 & echo started", file.display());
        let output = mgr
            .run_process(Command::new("sh").args(["-c", &script]))
            .wait()?;
        assert_eq!(output.stdout, b"started\n");
        let pgid: i32 = std::fs::read_to_string(&file)?.trim().parse()?;
        std::fs::remove_file(&file)?;
        assert_group_gone(pgid);
        Ok(())
    })
}

#[test]
fn shutdown_ends_many_groups_at_once() -> TestResult {
    watchdog("many", || {
        let mgr = manager();
        let files: Vec<_> = (0..8).map(|i| pid_file(&format!("many-{i}"))).collect();
        // Half of them ignore SIGTERM and need the grace period's SIGKILL.
        let handles: Vec<_> = files
            .iter()
            .enumerate()
            .map(|(i, file)| {
                let prelude = if i % 2 == 0 { "" } else { "trap '' TERM;" };
                mgr.run_process(spawner(file, prelude))
            })
            .collect();
        let groups: Vec<i32> = files.iter().map(|file| started_group(file)).collect();
        mgr.shutdown(Duration::from_millis(10));
        for handle in handles {
            assert!(matches!(handle.wait(), Err(TaskError::Cancelled)));
        }
        for pgid in groups {
            assert_group_gone(pgid);
        }
        Ok(())
    })
}
