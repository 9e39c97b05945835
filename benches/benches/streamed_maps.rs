//! Streamed maps: `stream_io` against `buffer_unordered` / `buffered`, `stream_cpu`
//! against `par_iter().for_each` into a bounded channel, and a map of four items against
//! the sequential loop.
//!
//! Criterion runs the sides apart, and this machine's speed drifts; the ratios quoted
//! in `docs/benchmarks.md` come from `cargo xtask bench`, which interleaves them. Use
//! this bench for profiles of one side.

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use sluice_benches::streams;
use sluice_benches::work::busy_1us;
use sluice_benches::{Fixture, threads};
use std::time::Duration;

/// Sleeping io items per stream.
const IO_ITEMS: u64 = 20_000;
/// Items of ~1 µs per cpu stream.
const CPU_ITEMS: u64 = 100_000;
/// Small maps per iteration.
const SMALL_MAPS: usize = 1_000;

fn group<'c>(
    c: &'c mut Criterion,
    name: &str,
    elements: u64,
) -> criterion::BenchmarkGroup<'c, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(elements));
    group
}

fn all_streams(c: &mut Criterion) {
    let threads = threads();
    let fx = Fixture::new(threads);
    let mgr = streams::manager(threads);
    let mut io = group(c, "stream_io_1ms", IO_ITEMS);
    io.bench_function("buffer_unordered", |b| {
        b.iter(|| streams::io_anchor(&fx, IO_ITEMS, false))
    });
    io.bench_function("sluice_unordered", |b| {
        b.iter(|| streams::io_sluice(&fx, &mgr, IO_ITEMS, false, None))
    });
    io.bench_function("buffered", |b| {
        b.iter(|| streams::io_anchor(&fx, IO_ITEMS, true))
    });
    io.bench_function("sluice_ordered", |b| {
        b.iter(|| streams::io_sluice(&fx, &mgr, IO_ITEMS, true, None))
    });
    io.finish();
    let mut cpu = group(c, "stream_cpu_1us", CPU_ITEMS);
    cpu.bench_function("par_iter_into_channel", |b| {
        b.iter(|| streams::cpu_anchor(&fx, CPU_ITEMS, busy_1us))
    });
    cpu.bench_function("sluice_unordered", |b| {
        b.iter(|| streams::cpu_sluice(&mgr, threads, CPU_ITEMS, busy_1us))
    });
    cpu.finish();
    let mut small = group(c, "map_4_items_1us", SMALL_MAPS as u64);
    small.bench_function("sequential", |b| {
        b.iter(|| streams::small_sequential(SMALL_MAPS, busy_1us))
    });
    small.bench_function("sluice_map_cpu", |b| {
        b.iter(|| streams::small_map_cpu(&mgr, SMALL_MAPS, busy_1us))
    });
    small.bench_function("sluice_stream_cpu", |b| {
        b.iter(|| streams::small_stream_cpu(&mgr, SMALL_MAPS, busy_1us))
    });
    small.finish();
}

criterion_group!(benches, all_streams);
criterion_main!(benches);
