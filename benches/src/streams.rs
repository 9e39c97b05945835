//! Streamed maps: `stream_io`, `stream_cpu` and a map of four items, each against the
//! raw code a user would write instead.
//!
//! - io: 1 ms sleeps through an unordered (or ordered) [`MapStream`](sluice::MapStream)
//!   at most [`IN_FLIGHT`] at once, against
//!   `futures::stream::iter(..).map(f).buffer_unordered(IN_FLIGHT)` (or `buffered`) on
//!   the anchor runtime of as many threads. Both are awaited by the calling thread: the
//!   anchor's in `block_on` of its runtime, Sluice's on a current-thread caller runtime
//!   while the items run on Sluice's own.
//! - cpu: ~1 µs items through an unordered stream read by the caller, against rayon's
//!   `par_iter().for_each` sending into a bounded channel the caller reads. The channel
//!   is `std::sync::mpsc::sync_channel`, which is crossbeam-channel's bounded channel
//!   ported into std; both sides buffer the same number of results.
//! - small: a map of [`SMALL`] items of ~1 µs, `map_cpu(..).wait()` and `stream_cpu`
//!   collected, against the sequential loop: what a map costs when it is too small to
//!   be worth a pool.
//!
//! Every side folds its results into one value, `black_box`ed, so none is optimised
//! away and none is kept.

use crate::Fixture;
use crate::maps::Item;
use futures_util::StreamExt;
use futures_util::stream;
use rayon::prelude::*;
use sluice::throttle::ThrottleConfig;
use sluice::{ConcurrencyManager, StreamOptions};
use std::hint::black_box;
use std::sync::mpsc::sync_channel;
use std::time::Duration;

/// Most io items in flight on each side: Sluice's `io_limit`, the anchor's
/// `buffer_unordered` / `buffered` limit.
pub const IN_FLIGHT: usize = 256;
/// Results a cpu stream produces ahead of its reader, per thread, on both sides:
/// Sluice's default buffer for the cpu route.
pub const CPU_BUFFER_PER_THREAD: usize = 512;
/// Items of the small map.
pub const SMALL: u64 = 4;
/// How long each io item sleeps.
pub const SLEEP: Duration = Duration::from_millis(1);

/// The manager of the streamed rows: `threads` threads on every route, at most
/// [`IN_FLIGHT`] io items at once, the load throttle off (on a shared machine it would
/// rightly give way to a neighbour's build, which is not what these rows measure).
pub fn manager(threads: usize) -> ConcurrencyManager {
    ConcurrencyManager::builder()
        .cpu_threads(threads)
        .chunk_threads(threads)
        .io_threads(threads)
        .io_limit(IN_FLIGHT)
        .throttle(ThrottleConfig::disabled())
        .build()
        .expect("the manager builds")
}

/// One io item: sleeps [`SLEEP`], answers its input.
async fn sleep_item(item: u64) -> u64 {
    tokio::time::sleep(SLEEP).await;
    item
}

/// `stream::iter(0..n).map(f).buffer_unordered(IN_FLIGHT)` (or `buffered` when
/// `ordered`) awaited on the anchor runtime.
pub fn io_anchor(fx: &Fixture, n: u64, ordered: bool) -> u64 {
    fx.tokio.block_on(async {
        let futures = stream::iter(0..n).map(sleep_item);
        if ordered {
            futures.buffered(IN_FLIGHT).fold(0, fold).await
        } else {
            futures.buffer_unordered(IN_FLIGHT).fold(0, fold).await
        }
    })
}

/// The same items through `mgr.stream(..).io(0..n, f)`, awaited on the caller runtime,
/// with the stream's default buffer (twice the io limit) or `buffer` places.
pub fn io_sluice(
    fx: &Fixture,
    mgr: &ConcurrencyManager,
    n: u64,
    ordered: bool,
    buffer: Option<usize>,
) -> u64 {
    let mut options = StreamOptions::new();
    if let Some(places) = buffer {
        options = options.buffer(places);
    }
    if !ordered {
        options = options.unordered();
    }
    let results = mgr.stream(options).io(0..n, sleep_item);
    fx.caller.block_on(results.fold(0, |acc, item| {
        fold(acc, item.expect("a sleeping item answers"))
    }))
}

/// XORs a result into the running value.
async fn fold(acc: u64, item: u64) -> u64 {
    black_box(acc ^ item)
}

/// Rayon's `par_iter().for_each` sending each `f(i)` into a bounded channel that the
/// calling thread reads as the pool fills it.
pub fn cpu_anchor(fx: &Fixture, n: u64, f: impl Item) -> u64 {
    let (results, read) = sync_channel(CPU_BUFFER_PER_THREAD * fx.rayon.current_num_threads());
    fx.rayon.spawn(move || {
        (0..n).into_par_iter().for_each_with(results, |results, i| {
            results.send(f(i)).expect("the caller reads every result");
        });
    });
    read.into_iter().fold(0, |acc, item| black_box(acc ^ item))
}

/// `mgr.stream(StreamOptions::new().unordered().buffer(..)).cpu(0..n, f)`, read by the
/// calling thread through the blocking iterator, with the anchor's buffer.
pub fn cpu_sluice(mgr: &ConcurrencyManager, threads: usize, n: u64, f: impl Item) -> u64 {
    let options = StreamOptions::new()
        .unordered()
        .buffer(CPU_BUFFER_PER_THREAD * threads);
    mgr.stream(options)
        .cpu(0..n, f)
        .into_iter()
        .fold(0, |acc, item| {
            black_box(acc ^ item.expect("a cpu item answers"))
        })
}

/// `maps` sequential loops over [`SMALL`] items, each collecting its `Vec`.
pub fn small_sequential(maps: usize, f: impl Item) {
    for _ in 0..maps {
        black_box((0..SMALL).map(f).collect::<Vec<_>>());
    }
}

/// `maps` maps of [`SMALL`] items, each `map_cpu(..).wait()`.
pub fn small_map_cpu(mgr: &ConcurrencyManager, maps: usize, f: impl Item) {
    for _ in 0..maps {
        black_box(mgr.map_cpu(0..SMALL, f).wait().expect("the map runs"));
    }
}

/// `maps` streamed maps of [`SMALL`] items, each `stream_cpu` collected into a `Vec`.
pub fn small_stream_cpu(mgr: &ConcurrencyManager, maps: usize, f: impl Item) {
    for _ in 0..maps {
        let results: Result<Vec<u64>, _> = mgr.stream_cpu(0..SMALL, f).into_iter().collect();
        black_box(results.expect("the map runs"));
    }
}

/// The streamed io rows by name, for `pairs --run` (a fixed workload for a profiler).
pub const NAMES: [&str; 2] = ["stream-io-unordered", "stream-io-ordered"];

/// One side (`sluice` or `anchor`) of the streamed io row named `name` (one of
/// [`NAMES`]), over `n` items; Sluice's side on a manager of its own, as in the rows.
pub fn by_name(side: &str, name: &str) -> Option<fn(&Fixture, usize)> {
    Some(match (side, name) {
        ("sluice", "stream-io-unordered") => |fx, n| io_run(fx, n, false),
        ("sluice", "stream-io-ordered") => |fx, n| io_run(fx, n, true),
        ("anchor", "stream-io-unordered") => |fx, n| {
            black_box(io_anchor(fx, n as u64, false));
        },
        ("anchor", "stream-io-ordered") => |fx, n| {
            black_box(io_anchor(fx, n as u64, true));
        },
        _ => return None,
    })
}

/// [`io_sluice`] on a fresh [`manager`] of the fixture's width.
fn io_run(fx: &Fixture, n: usize, ordered: bool) {
    let mgr = manager(crate::threads());
    black_box(io_sluice(fx, &mgr, n as u64, ordered, None));
}
