//! Streamed maps as a user writes them: order, backpressure, one outcome per item,
//! cancelling by dropping, stages that chain, and inputs that block.

mod common;

use common::{TestResult, watchdog};
use futures::StreamExt;
use sluice::{ConcurrencyManager, Progress, StreamOptions, TaskError};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Waits until `done()` holds, for at most a few seconds; answers whether it did.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if done() {
            return true;
        }
        thread::sleep(Duration::from_millis(2));
    }
    done()
}

/// Every task the manager took has ended, in one counted outcome.
fn all_ended(mgr: &ConcurrencyManager) -> bool {
    let total = mgr.snapshot().total();
    total.submitted == total.ended()
}

#[test]
fn ordered_streams_keep_input_order_on_every_route() -> TestResult {
    watchdog("ordered", || -> TestResult {
        let mgr = ConcurrencyManager::builder().build()?;
        let expect: Vec<u64> = (0..20_000u64).map(|x| x * 3).collect();
        let cpu: Vec<u64> = mgr
            .stream_cpu(0..20_000u64, |x| x * 3)
            .into_iter()
            .collect::<Result<_, _>>()?;
        assert_eq!(cpu, expect);
        let chunks: Vec<u64> = mgr
            .stream(StreamOptions::new().buffer(7))
            .chunks(0..20_000u64, |x| x * 3)
            .into_iter()
            .collect::<Result<_, _>>()?;
        assert_eq!(chunks, expect);
        // Later items finish first; the stream still answers in input order.
        let io: Vec<u64> = mgr
            .stream_io(0..64u64, |x| async move {
                tokio::time::sleep(Duration::from_micros(64 - x)).await;
                x * 3
            })
            .into_iter()
            .collect::<Result<_, _>>()?;
        assert_eq!(io, expect[..64]);
        assert!(eventually(|| all_ended(&mgr)));
        Ok(())
    })
}

#[test]
fn unordered_streams_answer_every_item_once() -> TestResult {
    watchdog("unordered", || -> TestResult {
        let mgr = ConcurrencyManager::builder().build()?;
        let seen: BTreeSet<u32> = mgr
            .stream(StreamOptions::new().unordered().buffer(16))
            .cpu(0..10_000u32, |x| x)
            .into_iter()
            .collect::<Result<_, _>>()?;
        assert_eq!(seen, (0..10_000).collect());
        let seen: BTreeSet<u32> = mgr
            .stream(StreamOptions::new().unordered())
            .io(0..500u32, |x| async move { x })
            .into_iter()
            .collect::<Result<_, _>>()?;
        assert_eq!(seen, (0..500).collect());
        Ok(())
    })
}

#[test]
fn a_consumer_that_stops_reading_stops_the_input() -> TestResult {
    watchdog("backpressure", || -> TestResult {
        let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
        for route in ["cpu", "chunks", "io"] {
            let pulled = Arc::new(AtomicUsize::new(0));
            let counter = pulled.clone();
            let input = (0..1_000_000u64).inspect(move |_| {
                counter.fetch_add(1, Ordering::Relaxed);
            });
            let options = StreamOptions::new().buffer(32);
            let mut stream = match route {
                "cpu" => mgr.stream(options).cpu(input, |x| x + 1),
                "chunks" => mgr.stream(options).chunks(input, |x| x + 1),
                _ => mgr.stream(options).io(input, |x| async move { x + 1 }),
            };
            for expected in 1..=10u64 {
                assert_eq!(stream.next_blocking().transpose()?, Some(expected));
            }
            // Give the map every chance to run ahead; it must stay within its buffer.
            let mut last = usize::MAX;
            while eventually(|| pulled.load(Ordering::Relaxed) != last) {
                last = pulled.load(Ordering::Relaxed);
                thread::sleep(Duration::from_millis(20));
                if pulled.load(Ordering::Relaxed) == last {
                    break;
                }
            }
            let pulled_now = pulled.load(Ordering::Relaxed);
            assert!(
                pulled_now <= 10 + 32,
                "{route}: {pulled_now} items pulled for 10 read and a buffer of 32"
            );
            drop(stream);
        }
        assert!(eventually(|| all_ended(&mgr)));
        Ok(())
    })
}

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn dropping_the_stream_cancels_the_map_and_drops_its_input() -> TestResult {
    watchdog("drop cancels", || -> TestResult {
        let mgr = ConcurrencyManager::builder().build()?;
        for route in ["cpu", "io"] {
            let input_dropped = Arc::new(AtomicBool::new(false));
            let flag = DropFlag(input_dropped.clone());
            let endless = (0u64..).inspect(move |_| {
                let _keep = &flag;
            });
            let mut stream = match route {
                "cpu" => mgr.stream_cpu(endless, |x| x),
                _ => mgr.stream_io(endless, |x| async move { x }),
            };
            assert_eq!(stream.next_blocking().transpose()?, Some(0));
            drop(stream);
            assert!(
                eventually(|| input_dropped.load(Ordering::SeqCst)),
                "{route}: the endless input was dropped"
            );
            assert!(eventually(|| all_ended(&mgr)), "{route}: the map ended");
        }
        let total = mgr.snapshot().total();
        assert_eq!(total.cancelled, 2, "both maps counted cancelled: {total:?}");
        Ok(())
    })
}

#[test]
fn a_maps_closure_is_dropped_when_the_map_ends_not_when_the_stream_is() -> TestResult {
    watchdog("closure dropped at the end", || -> TestResult {
        let mgr = ConcurrencyManager::builder().build()?;
        // The closure sends into a bounded channel; the reader ends when every sender
        // is gone — which must not wait for the stream's drop.
        let (tx, rx) = mpsc::sync_channel::<u32>(4);
        let reader = thread::spawn(move || rx.iter().count());
        let stream = mgr.stream_cpu(0..1_000u32, move |x| {
            tx.send(x).expect("the reader is there");
            x
        });
        let (stream_tx, stream_rx) = mpsc::channel();
        // The stream is kept alive (unread) until the reader has ended.
        let sent = reader.join().expect("the reader ends");
        stream_tx.send(stream).expect("kept");
        assert_eq!(sent, 1_000);
        let stream = stream_rx.recv()?;
        assert_eq!(stream.into_iter().count(), 1_000);
        Ok(())
    })
}

#[test]
fn each_item_answers_in_its_place_and_the_others_go_on() -> TestResult {
    watchdog("per-item outcomes", || -> TestResult {
        let mgr = ConcurrencyManager::builder().build()?;
        let parse = |text: &str| -> Result<u32, std::num::ParseIntError> {
            if text == "boom" {
                panic!("bad record");
            }
            text.parse()
        };
        let input = ["1", "x", "boom", "4"];
        let cpu: Vec<_> = mgr
            .stream(StreamOptions::new())
            .try_cpu(input, parse)
            .into_iter()
            .collect();
        assert_eq!(cpu[0], Ok(1));
        assert!(matches!(cpu[1], Err(TaskError::Failed(_))));
        assert_eq!(cpu[2], Err(TaskError::Panicked("bad record".into())));
        assert_eq!(cpu[3], Ok(4));
        let io: Vec<_> = mgr
            .stream(StreamOptions::new())
            .try_io(input, move |text| async move { parse(text) })
            .into_iter()
            .collect();
        assert_eq!(io.len(), 4);
        assert_eq!((io[0].clone().ok(), io[3].clone().ok()), (Some(1), Some(4)));
        assert!(matches!(io[1], Err(TaskError::Failed(_))));
        assert_eq!(io[2], Err(TaskError::Panicked("bad record".into())));
        assert!(eventually(|| all_ended(&mgr)));
        let total = mgr.snapshot().total();
        assert_eq!(
            total.succeeded, 2,
            "a map with failed items still ran: {total:?}"
        );
        Ok(())
    })
}

#[test]
fn fail_fast_stops_pulling_after_the_first_failure() -> TestResult {
    watchdog("fail fast", || -> TestResult {
        let mgr = ConcurrencyManager::builder().build()?;
        let pulled = Arc::new(AtomicUsize::new(0));
        let counter = pulled.clone();
        let input = (0..1_000_000u32).inspect(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        let results: Vec<_> = mgr
            .stream(StreamOptions::new().fail_fast().buffer(64))
            .try_cpu(input, |x| if x == 100 { Err("bad") } else { Ok(x) })
            .into_iter()
            .collect();
        assert!(results.len() < 1_000_000);
        assert_eq!(results[100], Err(TaskError::Failed("bad")));
        assert!(pulled.load(Ordering::Relaxed) < 1_000);
        assert!(eventually(|| all_ended(&mgr)));
        assert_eq!(mgr.snapshot().total().failed, 1);
        Ok(())
    })
}

#[test]
fn stages_chain_without_collecting() -> TestResult {
    watchdog("stages", || -> TestResult {
        // Two CPU threads: the third stage's puller blocks one while it waits for the
        // second stage (see `MapStream`'s docs on blocking consumers).
        let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
        // cpu → io (awaiting the first stage) → cpu (pulling the second's iterator).
        let squares = mgr.stream_cpu(0..5_000u64, |x| x * x);
        let halves = mgr
            .stream(StreamOptions::new().buffer(16))
            .io_stream(squares, |square| async move { square.map(|s| s / 2) });
        let digits = mgr.stream_cpu(halves, |half| half.map(|h| h.map(|h| h % 10)));
        let out: Vec<u64> = digits
            .into_iter()
            .map(|r| r.and_then(|r| r).and_then(|r| r))
            .collect::<Result<_, _>>()?;
        let expect: Vec<u64> = (0..5_000u64).map(|x| x * x / 2 % 10).collect();
        assert_eq!(out, expect);
        Ok(())
    })
}

#[test]
fn a_stream_read_inside_a_cpu_task_of_a_one_thread_pool_makes_progress() -> TestResult {
    watchdog("one thread", || -> TestResult {
        let mgr = ConcurrencyManager::builder().cpu_threads(1).build()?;
        let inner = mgr.clone();
        let sum = mgr
            .run_cpu(move || {
                inner
                    .stream(StreamOptions::new().buffer(8))
                    .cpu(0..1_000u64, |x| x)
                    .into_iter()
                    .map(|r| r.unwrap_or(0))
                    .sum::<u64>()
            })
            .wait()?;
        assert_eq!(sum, 999 * 1_000 / 2);
        Ok(())
    })
}

#[test]
fn an_input_that_blocks_holds_one_thread_and_cancel_does_not_wait_for_it() -> TestResult {
    watchdog("blocked input", || -> TestResult {
        let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
        let (tx, rx) = mpsc::channel::<u32>();
        tx.send(1)?;
        let mut stream = mgr.stream_cpu(rx, |x| x * 10);
        assert_eq!(stream.next_blocking().transpose()?, Some(10));
        // The input now blocks in `recv`: other work still runs.
        let other = mgr.run_cpu(|| 7).wait()?;
        assert_eq!(other, 7);
        let began = Instant::now();
        stream.cancel();
        assert!(began.elapsed() < Duration::from_secs(5), "cancel returned");
        // The map ends once the input returns.
        drop(tx);
        assert!(eventually(|| all_ended(&mgr)));
        Ok(())
    })
}

#[test]
fn progress_takes_a_total_for_a_lazy_input() -> TestResult {
    watchdog("progress", || -> TestResult {
        let mgr = ConcurrencyManager::builder().build()?;
        let progress = Progress::new();
        progress.set_total(300);
        let lazy = (0..900u32).filter(|x| x % 3 == 0);
        let stream = mgr
            .stream(StreamOptions::new().progress(&progress))
            .io(lazy, |x| async move { x });
        let mut count = 0;
        for result in stream {
            result?;
            count += 1;
        }
        assert_eq!(count, 300);
        let end = progress.snapshot();
        assert_eq!((end.done, end.total, end.finished), (300, Some(300), true));
        Ok(())
    })
}

#[test]
fn async_consumers_read_streams_on_the_runtime() -> TestResult {
    watchdog("async", || -> TestResult {
        let mgr = ConcurrencyManager::builder().build()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let lengths: Vec<usize> = runtime.block_on(async {
            mgr.stream_cpu(["a", "bb", "ccc"], str::len)
                .map(|r| r.unwrap_or(0))
                .collect()
                .await
        });
        assert_eq!(lengths, [1, 2, 3]);
        Ok(())
    })
}

#[test]
fn a_stream_ended_by_abort_or_shutdown_says_so_last() -> TestResult {
    watchdog("ended from outside", || -> TestResult {
        let mgr = ConcurrencyManager::builder().build()?;
        mgr.shutdown(Duration::from_secs(1));
        let refused: Vec<_> = mgr.stream_cpu(0..10u32, |x| x).into_iter().collect();
        assert_eq!(refused, [Err(TaskError::ShuttingDown)]);
        Ok(())
    })
}

#[test]
fn a_stuck_item_times_out_in_its_place_and_the_rest_go_on() -> TestResult {
    watchdog("item timeouts", || -> TestResult {
        let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
        let limit = Duration::from_millis(100);
        let release = Arc::new(AtomicBool::new(false));
        let held = release.clone();
        let cpu: Vec<_> = mgr
            .stream(StreamOptions::new().item_timeout(limit))
            .cpu(0..6u32, move |x| {
                if x == 2 {
                    // Stuck until the test lets it go, well past its limit.
                    while !held.load(Ordering::Acquire) {
                        thread::sleep(Duration::from_millis(1));
                    }
                }
                x
            })
            .into_iter()
            .take(6)
            .collect();
        release.store(true, Ordering::Release);
        assert_eq!(cpu[2], Err(TaskError::TimedOut));
        let others: Vec<u32> = cpu
            .iter()
            .filter_map(|r| r.as_ref().ok().copied())
            .collect();
        assert_eq!(others, [0, 1, 3, 4, 5]);
        let io: Vec<_> = mgr
            .stream(StreamOptions::new().item_timeout(limit).unordered())
            .io([0u64, 60_000, 0], |ms| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                ms
            })
            .into_iter()
            .collect();
        assert_eq!(io.iter().filter(|r| **r == Ok(0)).count(), 2);
        assert_eq!(
            io.iter()
                .filter(|r| **r == Err(TaskError::TimedOut))
                .count(),
            1
        );
        assert!(eventually(|| all_ended(&mgr)));
        Ok(())
    })
}

#[test]
fn per_worker_state_is_made_once_per_thread_not_per_item() -> TestResult {
    watchdog("per-worker state", || -> TestResult {
        let mgr = ConcurrencyManager::builder()
            .cpu_threads(2)
            .chunk_threads(2)
            .io_limit(3)
            .build()?;
        for route in ["cpu", "chunks", "io"] {
            let made = Arc::new(AtomicUsize::new(0));
            let counter = made.clone();
            let init = move || {
                counter.fetch_add(1, Ordering::Relaxed);
                0u64
            };
            let options = StreamOptions::new();
            let stream = match route {
                "cpu" => mgr.stream(options).cpu_init(0..50_000u64, init, |seen, x| {
                    *seen += 1;
                    x
                }),
                "chunks" => mgr
                    .stream(options)
                    .chunks_init(0..50_000u64, init, |seen, x| {
                        *seen += 1;
                        x
                    }),
                _ => mgr
                    .stream(options)
                    .io_init(0..2_000u64, init, |x, mut seen| async move {
                        *seen += 1;
                        tokio::task::yield_now().await;
                        x
                    }),
            };
            let sum: u64 = stream.into_iter().map(|r| r.unwrap_or(0)).sum();
            let n: u64 = if route == "io" { 2_000 } else { 50_000 };
            assert_eq!(sum, n * (n - 1) / 2, "{route}");
            let made = made.load(Ordering::Relaxed);
            assert!((1..=3).contains(&made), "{route}: init ran {made} times");
        }
        Ok(())
    })
}

#[test]
fn a_small_stream_is_mapped_by_its_blocking_consumer_without_waiting_for_the_pool() -> TestResult {
    watchdog("small stream", || -> TestResult {
        let mgr = ConcurrencyManager::builder().cpu_threads(1).build()?;
        // The one CPU thread is busy until the small stream has been read.
        let (release, hold) = mpsc::channel::<()>();
        let busy = mgr.run_cpu(move || hold.recv().is_ok());
        assert!(eventually(|| mgr.snapshot().total().running == 1));
        let caller = thread::current().id();
        let threads: Vec<_> = mgr
            .stream_cpu(0..4u32, move |_| thread::current().id())
            .into_iter()
            .collect::<Result<_, _>>()?;
        assert!(
            threads.iter().all(|id| *id == caller),
            "mapped by the consumer"
        );
        release.send(())?;
        assert!(busy.wait()?);
        Ok(())
    })
}
