//! Retry per item of a streamed map: a failed item is tried again in its place and
//! answers after its last attempt; retries are counted; panics are retried only when
//! the policy says so; io attempts that time out are retried; cancel stops a pending
//! retry and the item answers `Cancelled`.

mod common;

use common::{Calls, TestResult, eventually, quick_retry, watchdog};
use sluice::retry::{Backoff, Retry};
use sluice::{ConcurrencyManager, ItemCounts, RouteKind, StreamOptions, TaskError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn items(mgr: &ConcurrencyManager, route: RouteKind) -> ItemCounts {
    mgr.snapshot()
        .route(&route)
        .map(|r| r.items)
        .unwrap_or_default()
}

/// Calls per item, shared with the map's function.
#[derive(Clone, Default)]
struct CallsPerItem(Arc<Mutex<HashMap<u32, u32>>>);

impl CallsPerItem {
    /// Counts a call of `item` and returns its number, from 1.
    fn next(&self, item: u32) -> u32 {
        let mut calls = self.0.lock().expect("calls");
        let n = calls.entry(item).or_default();
        *n += 1;
        *n
    }

    fn of(&self, item: u32) -> u32 {
        self.0
            .lock()
            .expect("calls")
            .get(&item)
            .copied()
            .unwrap_or(0)
    }
}

#[test]
fn each_failed_item_is_retried_in_its_place_and_answers_after_its_last_attempt() -> TestResult {
    watchdog("cpu retry", || -> TestResult {
        let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
        let calls = CallsPerItem::default();
        let seen = calls.clone();
        // Item `i` fails its first `i % 4` calls; three attempts in all.
        let answers: Vec<_> = mgr
            .stream(StreamOptions::new().buffer(4))
            .retry(quick_retry(3)?)
            .try_cpu(0..40u32, move |i| {
                if seen.next(i) <= i % 4 {
                    Err(format!("item {i} not yet"))
                } else {
                    Ok(i * 10)
                }
            })
            .into_iter()
            .collect();
        assert_eq!(answers.len(), 40);
        for (i, answer) in (0..40u32).zip(&answers) {
            if i % 4 == 3 {
                assert_eq!(answer, &Err(TaskError::Failed(format!("item {i} not yet"))));
                assert_eq!(calls.of(i), 3, "item {i}: as many calls as attempts");
            } else {
                assert_eq!(answer, &Ok(i * 10), "item {i} in its place");
                assert_eq!(calls.of(i), i % 4 + 1);
            }
        }
        let counts = items(&mgr, RouteKind::Cpu);
        // Retries: 0 + 1 + 2 + 2 per four items.
        assert_eq!((counts.ok, counts.failed, counts.retried), (30, 10, 50));
        assert_eq!(counts.total(), 40, "a retried item answers once");
        Ok(())
    })
}

#[test]
fn an_unordered_chunk_stream_retries_too() -> TestResult {
    watchdog("chunk retry", || -> TestResult {
        let mgr = ConcurrencyManager::builder().build()?;
        let calls = CallsPerItem::default();
        let seen = calls.clone();
        let mut answers: Vec<_> = mgr
            .stream(StreamOptions::new().unordered().buffer(3))
            .retry(quick_retry(2)?)
            .try_chunks(0..20u32, move |i| {
                if seen.next(i) == 1 {
                    Err("flaky".to_string())
                } else {
                    Ok(i)
                }
            })
            .into_iter()
            .collect();
        answers.sort_unstable_by_key(|answer| answer.as_ref().ok().copied());
        assert_eq!(answers, (0..20).map(Ok).collect::<Vec<_>>());
        assert_eq!(items(&mgr, RouteKind::Chunk).retried, 20);
        Ok(())
    })
}

#[test]
fn panics_are_retried_only_when_the_policy_says_so() -> TestResult {
    watchdog("panics", || -> TestResult {
        let mgr = ConcurrencyManager::builder().build()?;
        let calls = Calls::default();
        let counted = calls.clone();
        let by_default: Vec<_> = mgr
            .stream(StreamOptions::new())
            .retry(quick_retry(3)?)
            .try_cpu([1u32], move |_| -> Result<u32, String> {
                counted.next();
                panic!("bad input")
            })
            .into_iter()
            .collect();
        assert_eq!(by_default, [Err(TaskError::Panicked("bad input".into()))]);
        assert_eq!(calls.get(), 1, "a panic is not transient");

        let calls = Calls::default();
        let counted = calls.clone();
        let retried: Vec<_> = mgr
            .stream(StreamOptions::new())
            .retry(quick_retry(3)?)
            .retry_if(|error: &TaskError<String>| matches!(error, TaskError::Panicked(_)))
            .try_cpu([1u32], move |x| {
                if counted.next() < 3 {
                    panic!("flaky decoder");
                }
                Ok::<u32, String>(x)
            })
            .into_iter()
            .collect();
        assert_eq!(retried, [Ok(1)]);
        assert_eq!(calls.get(), 3);
        Ok(())
    })
}

#[test]
fn io_attempts_that_fail_or_time_out_are_made_again_from_the_item() -> TestResult {
    watchdog("io retry", || -> TestResult {
        let mgr = ConcurrencyManager::builder().build()?;
        let calls = CallsPerItem::default();
        let seen = calls.clone();
        let answers: Vec<_> = mgr
            .stream(StreamOptions::new().item_timeout(Duration::from_millis(100)))
            .retry(quick_retry(3)?)
            .try_io(0..6u32, move |&i| {
                let call = seen.next(i);
                async move {
                    match (i % 3, call) {
                        // Stuck on its first attempt: timed out, then retried.
                        (1, 1) => tokio::time::sleep(Duration::from_secs(30)).await,
                        // Fails its first attempt.
                        (2, 1) => return Err("refused"),
                        _ => {}
                    }
                    Ok(i)
                }
            })
            .into_iter()
            .collect();
        assert_eq!(answers, (0..6).map(Ok).collect::<Vec<_>>());
        assert_eq!((calls.of(0), calls.of(1), calls.of(2)), (1, 2, 2));
        let counts = items(&mgr, RouteKind::Io);
        assert_eq!((counts.ok, counts.retried, counts.timed_out), (6, 4, 0));
        Ok(())
    })
}

#[test]
fn cancelling_the_map_stops_a_pending_retry_and_the_item_answers_cancelled() -> TestResult {
    watchdog("cancel a retry", || -> TestResult {
        let mgr = ConcurrencyManager::builder().build()?;
        // A backoff far longer than the test may take.
        let patient = Retry::builder()
            .backoff(Backoff::exponential(Duration::from_secs(600)))
            .no_budget()
            .build()?;
        let calls = Calls::default();
        let counted = calls.clone();
        // An input of unknown length, so that the map starts without being read.
        let mut input = Some(7u32).into_iter().chain(std::iter::from_fn(|| None));
        let mut stream = mgr.stream(StreamOptions::new()).retry(patient).try_cpu(
            std::iter::from_fn(move || input.next()),
            move |_| {
                counted.next();
                Err::<u32, _>("down")
            },
        );
        eventually("the first attempt", || calls.get() == 1);
        assert!(stream.cancel(), "the map was still waiting to retry");
        eventually("the item's answer", || {
            items(&mgr, RouteKind::Cpu).other == 1
        });
        let counts = items(&mgr, RouteKind::Cpu);
        assert_eq!((counts.failed, counts.retried), (0, 1));
        assert_eq!(calls.get(), 1, "no attempt after the cancel");
        Ok(())
    })
}

#[test]
fn a_retried_item_keeps_the_ordered_window_and_its_backpressure() -> TestResult {
    watchdog("window", || -> TestResult {
        let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
        let pulled = Calls::default();
        let counted = pulled.clone();
        let input = (0..1_000u32).inspect(move |_| {
            counted.next();
        });
        let calls = CallsPerItem::default();
        let seen = calls.clone();
        let mut stream = mgr
            .stream(StreamOptions::new().buffer(8))
            .retry(quick_retry(4)?)
            .try_cpu(input, move |i| {
                // The first item fails three times: the others wait behind it in order.
                if i == 0 && seen.next(i) < 4 {
                    Err("slow start".to_string())
                } else {
                    Ok(i)
                }
            });
        assert_eq!(stream.next_blocking(), Some(Ok(0)));
        assert_eq!(stream.next_blocking(), Some(Ok(1)));
        // Nobody reads now: the input pulled stays within the buffer and the unit
        // being taken.
        std::thread::sleep(Duration::from_millis(50));
        assert!(pulled.get() <= 2 + 8 + 8, "pulled {}", pulled.get());
        let rest: Vec<_> = stream.into_iter().collect();
        assert_eq!(rest, (2..1_000).map(Ok).collect::<Vec<_>>());
        Ok(())
    })
}
