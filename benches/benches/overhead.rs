//! Each route against its raw anchor, in one criterion run.
//!
//! - `cpu_roundtrip`: `run_cpu(..).wait()` vs `rayon::ThreadPool::spawn` + oneshot;
//! - `cpu_roundtrip_async`: the same awaited from async code;
//! - `io_roundtrip`: `run_io(..).await` vs `tokio::spawn(..).await`;
//! - `map_10m`: `map_chunks` over 10 M items of ~20 ns vs `par_iter().map().collect()`
//!   and a sequential loop.
//!
//! Criterion runs the two sides minutes apart, and this machine's speed drifts; the
//! ratios quoted in `docs/benchmarks.md` come from `cargo xtask bench`, which
//! interleaves them. Use this bench for profiles of one side.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_benches::*;
use std::time::Duration;

const ROUND_TRIPS: usize = 1_000;
const MAP_ITEMS: u64 = 10_000_000;

/// One side of a round-trip comparison: `n` round trips on the fixture.
type RoundTrips = fn(&Fixture, usize);

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn round_trips(c: &mut Criterion) {
    let fx = Fixture::new(threads());
    let cases: [(&str, RoundTrips, RoundTrips); 3] = [
        ("cpu_roundtrip", cpu_roundtrip_anchor, cpu_roundtrip_sluice),
        (
            "cpu_roundtrip_async",
            cpu_roundtrip_async_anchor,
            cpu_roundtrip_async_sluice,
        ),
        ("io_roundtrip", io_roundtrip_anchor, io_roundtrip_sluice),
    ];
    for (name, anchor, ours) in cases {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(ROUND_TRIPS as u64));
        group.bench_function("anchor", |b| b.iter(|| anchor(&fx, ROUND_TRIPS)));
        group.bench_function("sluice", |b| b.iter(|| ours(&fx, ROUND_TRIPS)));
        group.finish();
    }
}

fn maps(c: &mut Criterion) {
    let fx = Fixture::new(threads());
    let mut group = c.benchmark_group("map_10m");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(MAP_ITEMS));
    group.bench_function("par_iter_collect", |b| {
        b.iter(|| map_par_iter(&fx, MAP_ITEMS))
    });
    group.bench_function("sluice_map_chunks", |b| {
        b.iter(|| map_sluice(&fx, MAP_ITEMS))
    });
    group.bench_function("sequential", |b| b.iter(|| map_sequential(MAP_ITEMS)));
    group.finish();
}

criterion_group!(benches, round_trips, maps);
criterion_main!(benches);
