//! `sluice-pg-bench`: end-to-end throughput of the queue (enqueue + claim + run a
//! no-op + complete) through Sluice's workers and through a raw SQL loop running the
//! same statements with no Sluice code, interleaved, and the wake-up latency of an
//! idle worker. Run by `cargo xtask bench queue`, which turns its lines into the
//! "Queue" section of `docs/benchmarks.md`.
//!
//! Output, one line per measurement (`key=value` fields):
//! `run workers=W batch=B keys=K sync=on|off side=raw|sluice round=R tasks=N seconds=S
//! cpu_us_per_task=C server_us_per_task=P` (C: this process's user and system CPU
//! during the run over its tasks, the client's cost per task; P: the server's) and
//! `wake ms=M`. `--quick` runs a tenth of the
//! tasks once; `--rounds N` sets the rounds (default 3); `--batch N`, `--workers N`,
//! `--keys N` and `--sync on|off` keep only the rows that match; `--row
//! SYNC:KEYS:BATCH:WORKERS` (as `off:0:100:2`, repeatable) keeps only the rows named
//! (how `cargo xtask bench queue` gives its unclear rows more rounds); `--side raw|sluice`
//! runs only that side of each row (to profile one side); `--no-wake` skips the
//! wake-up samples; `--no-warm-up` skips the untimed runs (one of each side, unkeyed
//! and keyed) that warm a fresh server before the first row; `--manager-runtime` starts
//! the Sluice side's workers on the manager's io runtime instead of the bench's own
//! (the tasks they submit then need no wake-up of another runtime's threads).

mod cpu;
mod raw;
mod sluice_side;

use sluice_postgres::testing::TestServer;
use std::io::Write;
use std::time::Duration;

/// One row of the grid.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Concurrent claimers.
    pub workers: usize,
    /// Tasks per claim at most.
    pub batch: usize,
    /// Distinct keys (0: unkeyed).
    pub keys: usize,
    /// `synchronous_commit` on the clients' sessions.
    pub sync: bool,
    /// Tasks enqueued and run.
    pub tasks: usize,
}

/// Tasks of each untimed warm-up run (see `--no-warm-up`).
pub const WARM_UP_TASKS: usize = 10_000;

/// Tasks enqueued per producer transaction.
pub const ENQUEUE_CHUNK: usize = 1000;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match bench().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "sluice-pg-bench: {}", chain(&*error));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The whole run.
async fn bench() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let rounds = match args.iter().position(|a| a == "--rounds") {
        Some(at) => args
            .get(at + 1)
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .ok_or("--rounds takes a number of rounds, at least 1")?,
        None if quick => 1,
        None => 3,
    };
    let server = TestServer::start()?;
    // The throwaway server runs without fsync; these numbers are about a real one.
    let (admin, connection) = tokio_postgres::connect(server.url(), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    for setting in ["fsync = on", "full_page_writes = on"] {
        admin
            .batch_execute(&format!("ALTER SYSTEM SET {setting}"))
            .await?;
    }
    admin.batch_execute("SELECT pg_reload_conf()").await?;
    let backend: i32 = admin
        .query_one("SELECT pg_backend_pid()", &[])
        .await?
        .get(0);
    let postmaster = cpu::postmaster_of(u32::try_from(backend)?)?;
    let base = server.fresh_database().await?;
    // Migrates the schema, which the raw side expects.
    sluice_postgres::Queue::connect_with(&base, 1).await?;
    let url = |sync: bool| {
        let value = if sync { "on" } else { "off" };
        format!("{base}?options=-c%20synchronous_commit%3D{value}")
    };

    // `--batch N`: only the rows of that claim batch.
    let only_batch = number_flag(&args, "--batch", "--batch takes 1, 10 or 100")?;
    // `--workers N`: only the rows of that many workers.
    let only_workers = number_flag(&args, "--workers", "--workers takes 1, 2, 4 or 8")?;
    // `--keys N`: only the rows of that many keys (0: unkeyed).
    let only_keys = number_flag(&args, "--keys", "--keys takes 0 or 2000")?;
    // `--sync on|off`: only the rows with that synchronous_commit.
    let only_sync = match args.iter().position(|a| a == "--sync") {
        Some(at) => Some(match args.get(at + 1).map(String::as_str) {
            Some("on") => true,
            Some("off") => false,
            _ => return Err("--sync takes on or off".into()),
        }),
        None => None,
    };
    // `--side raw|sluice`: only that side of each row (a profile of one side).
    let only_side = match args.iter().position(|a| a == "--side") {
        Some(at) => match args.get(at + 1).map(String::as_str) {
            Some(side @ ("raw" | "sluice")) => Some(side.to_owned()),
            _ => return Err("--side takes raw or sluice".into()),
        },
        None => None,
    };
    let named = named_rows(&args)?;
    let every = grid(quick);
    if let Some(&(sync, keys, batch, workers)) =
        named.iter().find(|&&(sync, keys, batch, workers)| {
            !every.iter().any(|row| {
                (row.sync, row.keys, row.batch, row.workers) == (sync, keys, batch, workers)
            })
        })
    {
        return Err(format!(
            "--row {}:{keys}:{batch}:{workers} is not a row of the grid",
            if sync { "on" } else { "off" }
        )
        .into());
    }
    let wake = !args.iter().any(|a| a == "--no-wake");
    let on_manager = args.iter().any(|a| a == "--manager-runtime");
    let grid: Vec<Row> = every
        .into_iter()
        .filter(|row| only_batch.is_none_or(|batch| row.batch == batch))
        .filter(|row| only_workers.is_none_or(|workers| row.workers == workers))
        .filter(|row| only_keys.is_none_or(|keys| row.keys == keys))
        .filter(|row| only_sync.is_none_or(|sync| row.sync == sync))
        .filter(|row| {
            named.is_empty() || named.contains(&(row.sync, row.keys, row.batch, row.workers))
        })
        .collect();
    // A fresh server's first runs are slow (its tables and indexes grow, their files
    // extended page by page, and the first backends fill their caches): one untimed
    // run of each side first, unkeyed and keyed, so that round 1 of the first rows
    // measures the queue rather than the server's warm-up.
    if !grid.is_empty() && !args.iter().any(|a| a == "--no-warm-up") {
        for (n, keys) in [0, 2000].into_iter().enumerate() {
            let row = Row {
                workers: 2,
                batch: 100,
                keys,
                sync: false,
                tasks: WARM_UP_TASKS / if quick { 10 } else { 1 },
            };
            raw::run(&url(false), &format!("warm_up_{n}_raw"), row).await?;
            sluice_side::run(&url(false), &format!("warm_up_{n}_sluice"), row, on_manager).await?;
        }
    }
    // Line by line as rows end, so that a long run shows its progress.
    let mut out = std::io::stdout();
    let mut serial = 0;
    for round in 1..=rounds {
        for row in &grid {
            serial += 1;
            // Each side first in every other pair: neither gets the warmer machine.
            let sides: [&str; 2] = if (serial + round) % 2 == 0 {
                ["raw", "sluice"]
            } else {
                ["sluice", "raw"]
            };
            for side in sides {
                if only_side.as_deref().is_some_and(|only| only != side) {
                    continue;
                }
                let queue = format!("bench_{serial}_{side}");
                let (cpu_before, server_before) =
                    (cpu::own_seconds()?, cpu::server_seconds(postmaster)?);
                let took = match side {
                    "raw" => raw::run(&url(row.sync), &queue, *row).await?,
                    _ => sluice_side::run(&url(row.sync), &queue, *row, on_manager).await?,
                };
                let cpu = cpu::own_seconds()? - cpu_before;
                let server = cpu::server_seconds(postmaster)? - server_before;
                writeln!(
                    out,
                    "run workers={} batch={} keys={} sync={} side={side} round={round} tasks={} seconds={:.4} cpu_us_per_task={:.1} server_us_per_task={:.1}",
                    row.workers,
                    row.batch,
                    row.keys,
                    if row.sync { "on" } else { "off" },
                    row.tasks,
                    took.as_secs_f64(),
                    cpu * 1e6 / row.tasks as f64,
                    server * 1e6 / row.tasks as f64
                )?;
            }
        }
    }
    if !wake {
        return Ok(());
    }
    let samples = if quick { 10 } else { 50 };
    for latency in sluice_side::wake_ups(&url(false), samples).await? {
        writeln!(out, "wake ms={:.3}", latency.as_secs_f64() * 1e3)?;
    }
    Ok(())
}

/// The whole number after `flag`, if `flag` is given; `problem` when it is not one.
fn number_flag(args: &[String], flag: &str, problem: &str) -> Result<Option<usize>, String> {
    match args.iter().position(|a| a == flag) {
        Some(at) => args
            .get(at + 1)
            .and_then(|n| n.parse::<usize>().ok())
            .map(Some)
            .ok_or_else(|| problem.to_owned()),
        None => Ok(None),
    }
}

/// The rows named by `--row SYNC:KEYS:BATCH:WORKERS` flags, as (sync, keys, batch,
/// workers); empty when there are none.
fn named_rows(args: &[String]) -> Result<Vec<(bool, usize, usize, usize)>, String> {
    let problem = |given: &str| {
        format!("--row takes SYNC:KEYS:BATCH:WORKERS, as off:0:100:2 (got `{given}`)")
    };
    let mut rows = Vec::new();
    for (at, _) in args.iter().enumerate().filter(|(_, a)| *a == "--row") {
        let given = args.get(at + 1).map(String::as_str).unwrap_or_default();
        let parts: Vec<&str> = given.split(':').collect();
        let [sync, keys, batch, workers] = parts[..] else {
            return Err(problem(given));
        };
        let sync = match sync {
            "on" => true,
            "off" => false,
            _ => return Err(problem(given)),
        };
        let number = |text: &str| text.parse::<usize>().map_err(|_| problem(given));
        rows.push((sync, number(keys)?, number(batch)?, number(workers)?));
    }
    Ok(rows)
}

/// Every row: 1, 2, 4, 8 workers × batch 1, 10, 100 × unkeyed and 2,000 keys ×
/// synchronous_commit on and off; the task count grows with the batch so that each
/// run lasts about as long.
fn grid(quick: bool) -> Vec<Row> {
    let mut rows = Vec::new();
    for sync in [false, true] {
        for keys in [0, 2000] {
            for batch in [1, 10, 100] {
                for workers in [1, 2, 4, 8] {
                    let tasks = match batch {
                        1 => 2_000,
                        10 => 10_000,
                        _ => 20_000,
                    } / if quick { 10 } else { 1 };
                    rows.push(Row {
                        workers,
                        batch,
                        keys,
                        sync,
                        tasks,
                    });
                }
            }
        }
    }
    rows
}

/// The key of task `n` in a row with `keys` keys.
pub fn key_of(n: usize, keys: usize) -> Option<String> {
    (keys > 0).then(|| format!("k{}", n % keys))
}

/// How long the runs wait for their last task before giving up (a hang, not a time).
pub const GIVE_UP: Duration = Duration::from_secs(600);

/// An error with its sources, for the message (tokio-postgres says "db error" and puts
/// the server's words in the source).
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
