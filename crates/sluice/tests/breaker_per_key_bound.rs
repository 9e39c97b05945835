//! Per-key circuit breakers stay bounded whatever the number of keys: an idle, closed
//! breaker is forgotten (a fresh one is the same), open ones are kept, and the
//! snapshot lists a bounded number and says how many it left out. No timing.

mod common;

use common::{TestResult, watchdog};
use sluice::{BreakerConfig, ConcurrencyManager, ManualClock, TaskError};
use std::sync::Arc;
use std::time::Duration;

const TRACKED: usize = 64;

fn crawler(failures: u32) -> Result<ConcurrencyManager, Box<dyn std::error::Error + Send + Sync>> {
    let per_host = BreakerConfig::builder()
        .consecutive_failures(failures)
        .recovery(Duration::from_secs(60))
        .build()?;
    Ok(ConcurrencyManager::builder()
        .cpu_threads(2)
        .max_tracked_keys(TRACKED)
        .breaker_per_key("crawl", per_host)
        .breaker_clock(Arc::new(ManualClock::new()))
        .build()?)
}

#[test]
fn two_hundred_thousand_hosts_keep_a_bounded_registry() -> TestResult {
    let mgr = crawler(3)?;
    watchdog("200 k keys", move || -> TestResult {
        const HOSTS: usize = 200_000;
        const BATCH: usize = 1_000;
        for batch in 0..HOSTS / BATCH {
            let pages: Vec<_> = (0..BATCH)
                .map(|i| {
                    let host = format!("host-{}.example", batch * BATCH + i);
                    mgr.task("fetch").breaker("crawl").key(host).run_cpu(|| 1u8)
                })
                .collect();
            for page in pages {
                page.wait()?;
            }
            let view = mgr.snapshot();
            let crawl = view.keyed_breaker("crawl").ok_or("listed")?;
            // The breakers in use (a batch's) and half the tracked number at most.
            assert!(
                crawl.tracked <= BATCH + TRACKED,
                "{} breakers kept after {} hosts",
                crawl.tracked,
                (batch + 1) * BATCH
            );
        }
        // One host at a time: then nothing is in use but the one call, and the
        // registry comes down to the tracked number.
        for host in 0..2 * TRACKED {
            let host = format!("late-{host}.example");
            mgr.task("fetch")
                .breaker("crawl")
                .key(host)
                .run_cpu(|| ())
                .wait()?;
        }
        let view = mgr.snapshot();
        let crawl = view.keyed_breaker("crawl").ok_or("listed")?;
        assert!(crawl.tracked <= TRACKED, "{crawl:?}");
        assert_eq!(
            crawl.forgotten + crawl.tracked as u64,
            (HOSTS + 2 * TRACKED) as u64,
            "every breaker made is kept or was forgotten"
        );
        assert!(view.breakers.len() <= TRACKED);
        assert_eq!(
            view.breakers.len() + crawl.left_out,
            crawl.tracked,
            "each kept breaker is listed or counted as left out"
        );
        Ok(())
    })
}

#[test]
fn open_breakers_are_kept_and_listed_first() -> TestResult {
    let mgr = crawler(1)?;
    watchdog("open breakers kept", move || -> TestResult {
        const DOWN: usize = 100;
        for host in 0..DOWN {
            let fetch = mgr
                .task("fetch")
                .breaker("crawl")
                .key(format!("down-{host}"))
                .try_run_cpu(|| Err::<(), _>("connection refused"));
            assert!(fetch.wait().is_err());
        }
        for host in 0..5_000 {
            let key = format!("up-{host}");
            mgr.task("fetch")
                .breaker("crawl")
                .key(key)
                .run_cpu(|| ())
                .wait()?;
        }
        // Each down host still has its open breaker: its next call is refused.
        for host in 0..DOWN {
            let again = mgr
                .task("fetch")
                .breaker("crawl")
                .key(format!("down-{host}"))
                .run_cpu(|| ());
            assert!(
                matches!(again.wait(), Err(TaskError::Rejected { .. })),
                "{host}"
            );
        }
        let view = mgr.snapshot();
        let crawl = view.keyed_breaker("crawl").ok_or("listed")?;
        // The open ones and half the tracked number at most.
        assert!(
            crawl.tracked >= DOWN && crawl.tracked <= DOWN + TRACKED,
            "{crawl:?}"
        );
        assert_eq!(view.breakers.len(), TRACKED, "the listing is bounded");
        assert_eq!(crawl.left_out, crawl.tracked - TRACKED);
        assert!(
            view.breakers.iter().all(|b| b.state == "open"),
            "open first"
        );
        Ok(())
    })
}
