//! An io stream's items are polled inside its driver task, as `buffer_unordered` polls
//! its futures, not spawned one task each: what a task per item gave for free must
//! hold there too — a panicking item answers `Panicked` in its own place while the
//! others go on, items that time out answer `TimedOut`, every item runs in its frame
//! (a task it awaits at the io limit borrows its slot), and dropping the stream drops the items in flight.

mod common;

use common::{TestResult, eventually, watchdog};
use sluice::{ConcurrencyManager, RouteKind, StreamOptions, TaskError};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Counts the items whose futures were dropped, finished or not.
struct Dropped(Arc<AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_panicking_item_answers_in_its_place_and_the_others_go_on() -> TestResult {
    watchdog("panic per io item", || -> TestResult {
        let mgr = ConcurrencyManager::builder().io_limit(8).build()?;
        let answers: Vec<_> = mgr
            .stream(StreamOptions::new())
            .io(0..100u32, |n| async move {
                tokio::task::yield_now().await;
                assert!(n % 10 != 7, "item {n} is bad");
                n * 2
            })
            .into_iter()
            .collect();
        assert_eq!(answers.len(), 100);
        for (n, answer) in (0u32..).zip(answers) {
            if n % 10 == 7 {
                let Err(TaskError::Panicked(message)) = answer else {
                    panic!("item {n} answered {answer:?}");
                };
                assert!(message.contains(&format!("item {n} is bad")), "{message}");
            } else {
                assert_eq!(answer, Ok(n * 2));
            }
        }
        let items = mgr
            .snapshot()
            .route(&RouteKind::Io)
            .map(|r| r.items)
            .unwrap_or_default();
        assert_eq!((items.ok, items.panicked), (90, 10));
        Ok(())
    })
}

#[test]
fn a_stuck_item_times_out_alone() -> TestResult {
    watchdog("timeout per io item", || -> TestResult {
        let mgr = ConcurrencyManager::builder().build()?;
        let options = StreamOptions::new().item_timeout(Duration::from_millis(50));
        let answers: Vec<_> = mgr
            .stream(options)
            .io(0..6u32, |n| async move {
                if n == 3 {
                    std::future::pending::<()>().await;
                }
                n
            })
            .into_iter()
            .collect();
        let expected: Vec<_> = (0..6)
            .map(|n| {
                if n == 3 {
                    Err(TaskError::TimedOut)
                } else {
                    Ok(n)
                }
            })
            .collect();
        assert_eq!(answers, expected);
        Ok(())
    })
}

#[test]
fn dropping_the_stream_drops_the_items_in_flight() -> TestResult {
    watchdog("drop cancels io items", || -> TestResult {
        let mgr = ConcurrencyManager::builder().io_limit(4).build()?;
        let (started, dropped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (on_start, on_drop) = (started.clone(), dropped.clone());
        let stream = mgr
            .stream(StreamOptions::new().unordered())
            .io(0..1_000u32, move |n| {
                let guard = Dropped(on_drop.clone());
                let on_start = on_start.clone();
                async move {
                    let _guard = guard;
                    on_start.fetch_add(1, Ordering::SeqCst);
                    std::future::pending::<()>().await;
                    n
                }
            });
        eventually("four items run", || started.load(Ordering::SeqCst) == 4);
        drop(stream);
        eventually("the four are dropped", || {
            dropped.load(Ordering::SeqCst) == 4
        });
        eventually("the map is counted cancelled", || {
            common::counts(&mgr, RouteKind::Io).cancelled == 1
        });
        // No item past the io limit was ever made.
        assert_eq!(started.load(Ordering::SeqCst), 4);
        Ok(())
    })
}

#[test]
fn an_item_that_awaits_another_io_task_at_the_io_limit_lends_its_slot() -> TestResult {
    watchdog(
        "an io item awaits a run_io at the limit",
        || -> TestResult {
            let mgr = ConcurrencyManager::builder().io_limit(1).build()?;
            let inner = mgr.clone();
            let answers: Vec<_> = mgr
                .stream(StreamOptions::new())
                .io(0..3u32, move |n| {
                    let mgr = inner.clone();
                    // The item holds the route's only slot while it awaits this task: it
                    // runs only if the item, polled in the driver, lends the slot.
                    async move { mgr.run_io(async move { n + 1 }).await }
                })
                .into_iter()
                .collect();
            assert_eq!(answers, vec![Ok(Ok(1)), Ok(Ok(2)), Ok(Ok(3))]);
            Ok(())
        },
    )
}
