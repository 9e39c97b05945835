//! `map_cpu`, `map_chunks` and `map_io`: results in input order at every size, every
//! item exactly once, the input pulled lazily, the io window bounded, panics and
//! cancellation answered.

mod common;

use common::{TestResult, watchdog};
use sluice::{BuildError, ConcurrencyManager, TaskError};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// Threads of each pool in these tests.
const THREADS: usize = 2;

fn manager() -> Result<ConcurrencyManager, BuildError> {
    ConcurrencyManager::builder()
        .cpu_threads(THREADS)
        .chunk_threads(THREADS)
        .io_threads(THREADS)
        .build()
}

fn work(x: u64) -> u64 {
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
}

/// Keeps the thread busy for `d`, the way a real item of parsing would.
fn busy_for(d: Duration) {
    let began = Instant::now();
    while began.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[test]
fn results_come_back_in_input_order_at_every_size() -> TestResult {
    let mgr = manager()?;
    watchdog(
        "maps of 0, 1, 3 and 100 000 items",
        move || -> TestResult {
            for n in [0u64, 1, 3, 100_000] {
                let expected: Vec<u64> = (0..n).map(work).collect();
                let items: Vec<u64> = (0..n).collect();
                // A Vec knows its length; a filter does not: both ways of sizing units.
                let unsized_items = move || (0..n).filter(|_| true);

                assert_eq!(
                    mgr.map_cpu(items.clone(), work).wait()?,
                    expected,
                    "map_cpu, {n}"
                );
                assert_eq!(mgr.map_cpu(unsized_items(), work).wait()?, expected);
                assert_eq!(mgr.map_chunks(items.clone(), work).wait()?, expected);
                assert_eq!(mgr.map_chunks(unsized_items(), work).wait()?, expected);
                let by_future = mgr.map_io(items, |x| async move { work(x) });
                assert_eq!(by_future.wait()?, expected, "map_io, {n}");
                let by_future = mgr.map_io(unsized_items(), |x| async move { work(x) });
                assert_eq!(by_future.wait()?, expected);
            }
            Ok(())
        },
    )
}

#[test]
fn map_io_keeps_input_order_when_later_items_finish_first() -> TestResult {
    let mgr = manager()?;
    watchdog("map_io with reversed delays", move || -> TestResult {
        let fetched = mgr.map_io(0..50u64, |x| async move {
            tokio::time::sleep(Duration::from_micros(50 * (50 - x))).await;
            x
        });
        assert_eq!(fetched.wait()?, (0..50).collect::<Vec<_>>());
        Ok(())
    })
}

#[test]
fn map_chunks_over_two_million_items_equals_the_sequential_result() -> TestResult {
    let mgr = manager()?;
    watchdog("map_chunks of 2 000 000 items", move || -> TestResult {
        let sequential: Vec<u64> = (1..=2_000_000u64).map(work).collect();
        assert_eq!(mgr.map_chunks(1..=2_000_000u64, work).wait()?, sequential);
        Ok(())
    })
}

/// Yields `0..end` and counts how many items were pulled from it.
struct Counted {
    /// The next item to yield.
    next: u64,
    /// One past the last item.
    end: u64,
    /// Items handed out so far.
    pulled: Arc<AtomicUsize>,
    /// Items mapped so far (counted by `f`).
    mapped: Arc<AtomicUsize>,
    /// The most items ever handed out and not yet mapped.
    most_ahead: Arc<AtomicUsize>,
}

impl Iterator for Counted {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        if self.next == self.end {
            return None;
        }
        // Measured here, where it peaks: a fresh `mapped` can only make it smaller, so a
        // pause of this thread never inflates it.
        let pulled = self.pulled.fetch_add(1, Ordering::SeqCst) + 1;
        let ahead = pulled.saturating_sub(self.mapped.load(Ordering::SeqCst));
        self.most_ahead.fetch_max(ahead, Ordering::Relaxed);
        self.next += 1;
        Some(self.next - 1)
    }
}

#[test]
fn map_chunks_pulls_its_input_lazily() -> TestResult {
    const ITEMS: u64 = 5_000_000;
    let mgr = manager()?;
    watchdog(
        "map_chunks of 5 000 000 counted items",
        move || -> TestResult {
            let pulled = Arc::new(AtomicUsize::new(0));
            let mapped = Arc::new(AtomicUsize::new(0));
            let most_ahead = Arc::new(AtomicUsize::new(0));
            let items = Counted {
                next: 0,
                end: ITEMS,
                pulled: pulled.clone(),
                mapped: mapped.clone(),
                most_ahead: most_ahead.clone(),
            };
            let f = {
                let mapped = mapped.clone();
                move |_item: u64| {
                    mapped.fetch_add(1, Ordering::SeqCst);
                }
            };
            let out = mgr.map_chunks(items, f).wait()?;

            assert_eq!(out.len() as u64, ITEMS);
            assert_eq!(pulled.load(Ordering::SeqCst) as u64, ITEMS);
            let bound = 4 * 65_536 * THREADS;
            let most_ahead = most_ahead.load(Ordering::Relaxed);
            assert!(
                most_ahead <= bound,
                "{most_ahead} items were pulled but not yet mapped at once (bound {bound})"
            );
            Ok(())
        },
    )
}

#[test]
fn a_panic_in_f_answers_panicked() -> TestResult {
    let mgr = manager()?;
    watchdog("maps whose f panics", move || {
        let bad_item = |x: u64| {
            if x == 500 {
                panic!("bad item {x}");
            }
            x
        };
        let panicked = Err(TaskError::Panicked("bad item 500".to_owned()));
        assert_eq!(mgr.map_cpu(0..1_000, bad_item).wait(), panicked);
        assert_eq!(mgr.map_chunks(0..1_000, bad_item).wait(), panicked);
        assert_eq!(
            mgr.map_io(0..1_000, move |x| async move { bad_item(x) })
                .wait(),
            panicked,
            "a future that panics"
        );
        assert_eq!(
            mgr.map_io(0..1_000, move |x| {
                let x = bad_item(x);
                async move { x }
            })
            .wait(),
            panicked,
            "f itself panics before making its future"
        );
        let totals = mgr.snapshot().total();
        assert_eq!((totals.submitted, totals.panicked), (4, 4));
        Ok(())
    })
}

#[test]
fn map_io_never_has_more_than_io_limit_futures_in_flight() -> TestResult {
    let mgr = ConcurrencyManager::builder()
        .io_threads(THREADS)
        .io_limit(4)
        .build()?;
    watchdog("map_io under io_limit(4)", move || -> TestResult {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let fetched = mgr.map_io(0..200u64, {
            let (in_flight, most) = (in_flight.clone(), most.clone());
            move |x| {
                let (in_flight, most) = (in_flight.clone(), most.clone());
                async move {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    x
                }
            }
        });
        assert_eq!(fetched.wait()?, (0..200).collect::<Vec<_>>());
        let most = most.load(Ordering::SeqCst);
        assert!((1..=4).contains(&most), "{most} futures in flight at once");
        Ok(())
    })
}

#[test]
fn cancelling_a_map_answers_cancelled() -> TestResult {
    let mgr = manager()?;
    watchdog("cancelled endless maps", move || -> TestResult {
        // Endless inputs: only the cancel can end these maps.
        for route in ["cpu", "chunk"] {
            let (first, first_mapped) = mpsc::channel();
            let first = Mutex::new(Some(first));
            let f = move |x: u64| {
                if let Some(first) = first.lock().ok().and_then(|mut first| first.take()) {
                    let _ = first.send(());
                }
                std::thread::sleep(Duration::from_millis(1));
                x
            };
            let map = match route {
                "cpu" => mgr.map_cpu(0u64.., f),
                _ => mgr.map_chunks(0u64.., f),
            };
            first_mapped.recv()?;
            assert!(map.cancel(), "{route}: a running map can be cancelled");
            assert_eq!(map.wait(), Err(TaskError::Cancelled), "{route}");
        }

        let (started, first_started) = tokio::sync::mpsc::unbounded_channel();
        let map = mgr.map_io(0u64.., move |x| {
            let started = started.clone();
            async move {
                let _ = started.send(x);
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        });
        let mut first_started = first_started;
        first_started.blocking_recv();
        assert!(map.cancel());
        assert_eq!(map.wait(), Err(TaskError::Cancelled), "io");
        let totals = mgr.snapshot().total();
        assert_eq!((totals.submitted, totals.cancelled), (3, 3));
        Ok(())
    })
}

#[test]
fn slow_items_each_come_back_exactly_once() -> TestResult {
    let mgr = manager()?;
    watchdog("1000 items of 200 µs", move || -> TestResult {
        for route in ["cpu", "chunk"] {
            let calls: Arc<Vec<AtomicU32>> =
                Arc::new((0..1_000).map(|_| AtomicU32::new(0)).collect());
            let f = {
                let calls = calls.clone();
                move |x: usize| {
                    calls[x].fetch_add(1, Ordering::SeqCst);
                    busy_for(Duration::from_micros(200));
                    x
                }
            };
            let out = match route {
                "cpu" => mgr.map_cpu(0..1_000usize, f).wait()?,
                _ => mgr.map_chunks(0..1_000usize, f).wait()?,
            };
            assert_eq!(out, (0..1_000).collect::<Vec<_>>(), "{route}");
            let twice_or_never: Vec<usize> = (0..1_000)
                .filter(|&x| calls[x].load(Ordering::SeqCst) != 1)
                .collect();
            assert!(
                twice_or_never.is_empty(),
                "{route}: not mapped exactly once: {twice_or_never:?}"
            );
        }
        Ok(())
    })
}

#[test]
fn a_map_counts_as_one_task() -> TestResult {
    let mgr = manager()?;
    watchdog("three maps", move || -> TestResult {
        mgr.map_cpu(0..10_000u64, work).wait()?;
        mgr.map_chunks(0..10_000u64, work).wait()?;
        mgr.map_io(0..1_000u64, |x| async move { work(x) }).wait()?;
        let totals = mgr.snapshot().total();
        assert_eq!(
            (totals.submitted, totals.succeeded, totals.started),
            (3, 3, 3)
        );
        assert_eq!(totals.running, 0);
        Ok(())
    })
}

/// Two pullers running out of input at the same moment both tried to end the map; the
/// second found the output taken and answered an empty `Vec` (found by `cargo xtask
/// stress`). Small maps from several callers at once, on pools busier than the cores,
/// make two pullers finish together often.
#[test]
fn small_maps_finishing_on_two_pullers_at_once_keep_every_result() -> TestResult {
    watchdog("small maps", || -> TestResult {
        let mgr = manager()?;
        std::thread::scope(|s| -> TestResult {
            let callers: Vec<_> = (0..4u64)
                .map(|caller| {
                    let mgr = mgr.clone();
                    s.spawn(move || -> Result<(), String> {
                        for round in 0..2_000u64 {
                            let n = 1 + (caller * 7 + round) % 40;
                            let out = if round % 2 == 0 {
                                mgr.map_chunks(0..n, work).wait()
                            } else {
                                mgr.map_cpu(0..n, work).wait()
                            }
                            .map_err(|e| e.to_string())?;
                            let expected: Vec<u64> = (0..n).map(work).collect();
                            if out != expected {
                                return Err(format!("a map of {n} items answered {out:?}"));
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            for caller in callers {
                caller.join().map_err(|_| "a caller panicked")??;
            }
            Ok(())
        })
    })
}
