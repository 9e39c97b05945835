//! A small watcher: every new file in a directory is handed to a command run as a task
//! with a timeout; on SIGTERM or SIGINT it stops taking files, lets the commands that
//! run finish, and prints the shutdown report. A second signal ends it at once.
//!
//! Run with `cargo run --example watcher -- DIR [PROGRAM ARGS...]` (default: `.` and
//! `wc -c`; the file's path is the command's last argument), then drop files into DIR
//! and press Ctrl-C.

#![allow(clippy::print_stdout)]

use sluice::process::{Command, ProcessError, ProcessOutput};
use sluice::signal::SignalOptions;
use sluice::{ConcurrencyManager, TaskError, TaskHandle};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

type Running = Vec<(PathBuf, TaskHandle<ProcessOutput, ProcessError>)>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let mut program: Vec<String> = args.collect();
    if program.is_empty() {
        program = vec!["wc".into(), "-c".into()];
    }

    let mgr = ConcurrencyManager::builder().io_limit(4).build()?;
    let signals = mgr.shutdown_on_signal(SignalOptions::new().deadline(Duration::from_secs(10)))?;
    println!("watching {} (Ctrl-C to stop)", dir.display());

    let mut seen = HashSet::new();
    let mut running: Running = Vec::new();
    while !signals.triggered() {
        for entry in std::fs::read_dir(&dir)?.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_file() && seen.insert(path.clone()) {
                let command = Command::new(&program[0])
                    .args(&program[1..])
                    .arg(&path)
                    .stdout_limit(64 * 1024)
                    .grace(Duration::from_secs(2));
                let handle = mgr
                    .task("handle-file")
                    .timeout(Duration::from_secs(30))
                    .run_process(command);
                running.push((path, handle));
            }
        }
        report_finished(&mut running, false);
        std::thread::sleep(Duration::from_millis(500));
    }

    println!(
        "signal received: finishing {} running command(s)",
        running.len()
    );
    let report = signals.wait()?;
    report_finished(&mut running, true);
    println!(
        "drained: {}, cancelled while queued: {}, took {:?}",
        report.drained, report.cancelled_queued, report.elapsed
    );
    Ok(())
}

/// Prints and forgets the commands that have ended (all of them, when `all`).
fn report_finished(running: &mut Running, all: bool) {
    let (done, still): (Running, Running) = running
        .drain(..)
        .partition(|(_, handle)| all || handle.is_finished());
    *running = still;
    for (path, handle) in done {
        match handle.wait() {
            Ok(output) => println!("{}: {}", path.display(), output.stdout_lossy().trim()),
            Err(TaskError::Failed(error)) => println!("{}: {error}", path.display()),
            Err(other) => println!("{}: {other}", path.display()),
        }
    }
}
