//! `cargo xtask bench`: runs the interleaved pairs and writes `docs/benchmarks.md`.

use crate::run::{cargo, workspace_root};
use std::fs;
use std::process::Command;

/// Builds and runs the pairs runner in release, then writes the page.
pub fn run(quick: bool) -> Result<(), String> {
    let built = cargo(&[
        "build",
        "--release",
        "-p",
        "sluice-benches",
        "--bin",
        "pairs",
    ])
    .status()
    .map_err(|e| format!("cargo build: {e}"))?;
    if !built.success() {
        return Err("building the pairs runner failed".into());
    }
    let runner = workspace_root()
        .join("target")
        .join("release")
        .join("pairs");
    let mut command = Command::new(runner);
    if quick {
        command.arg("--quick");
    }
    let output = command.output().map_err(|e| format!("pairs: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "pairs failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let table = String::from_utf8_lossy(&output.stdout);
    print!("{table}");
    let page = page(&table, quick);
    let path = workspace_root().join("docs").join("benchmarks.md");
    fs::write(&path, page).map_err(|e| format!("writing {}: {e}", path.display()))?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

fn page(table: &str, quick: bool) -> String {
    format!(
        "# Benchmarks\n\n\
         Written by `cargo xtask bench{}`; do not edit by hand.\n\n\
         - machine: {} ({} cores), a shared virtual machine whose speed drifts by up to 1.6× within seconds\n\
         - date: {}\n\
         - commit: {}\n\n\
         Every row runs the raw anchor and Sluice **interleaved** — anchor, Sluice, anchor,\n\
         Sluice … — with the same number of threads on each side, and takes the ratio\n\
         (Sluice's time over the anchor's; below 1 means Sluice is faster) per round. The\n\
         table gives the median ratio and the spread (lowest–highest) of those per-round\n\
         ratios; times per operation are medians too. The scenarios are in\n\
         `benches/src/lib.rs`; `cargo bench -p sluice-benches` runs the same code under\n\
         criterion for per-function profiles.\n\n\
         {table}\n\
         Why `wait()` beats its anchor: a blocking `wait()` spins for a few microseconds\n\
         before it parks (`sluice-core/src/completion.rs`), and short work usually finishes\n\
         within that, so the caller skips the futex round trip of a wakeup; the anchor's\n\
         `blocking_recv` parks at once. Async callers must not spin, so in the async rows\n\
         both sides park and wake the caller once per round trip; there the cost is the\n\
         scheduler's, and Sluice's own code is under 1% of a profile of the caller.\n",
        if quick { " --quick" } else { "" },
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        shell(&["date", "-u", "+%Y-%m-%d %H:%M UTC"]),
        commit(),
    )
}

fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown cpu".into())
}

fn commit() -> String {
    let hash = shell(&["git", "rev-parse", "--short", "HEAD"]);
    let dirty = !shell(&["git", "status", "--porcelain", "--untracked-files=no"]).is_empty();
    if dirty {
        format!("{hash} with uncommitted changes")
    } else {
        hash
    }
}

fn shell(args: &[&str]) -> String {
    Command::new(args[0])
        .args(&args[1..])
        .current_dir(workspace_root())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}
