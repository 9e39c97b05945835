//! Map throughput: `map_chunks` and `map_cpu` against `par_iter` on a rayon pool of the
//! same threads and against a sequential loop, over 10 M items of ~20 ns and 100 k
//! items of ~1 µs; and, with no output kept, against `par_iter().for_each`.
//!
//! Criterion runs the sides apart, and this machine's speed drifts; the ratios quoted
//! in `docs/benchmarks.md` come from `cargo xtask bench`, which interleaves them. Use
//! this bench for profiles of one side.

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use sluice_benches::maps::{self, Item};
use sluice_benches::work::{busy_1us, work_20ns};
use sluice_benches::{Fixture, threads};
use std::time::Duration;

/// Items of ~20 ns per map.
const TINY_ITEMS: u64 = 10_000_000;
/// Items of ~1 µs per map.
const MICRO_ITEMS: u64 = 100_000;

fn ordered(c: &mut Criterion, fx: &Fixture, name: &str, n: u64, f: impl Item) {
    let mut group = c.benchmark_group(name);
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(n));
    group.bench_function("par_iter_collect", |b| {
        b.iter(|| maps::par_iter_collect(fx, n, f))
    });
    group.bench_function("sluice_map_chunks", |b| {
        b.iter(|| maps::map_chunks(fx, n, f))
    });
    group.bench_function("sluice_map_cpu", |b| b.iter(|| maps::map_cpu(fx, n, f)));
    group.bench_function("sequential", |b| b.iter(|| maps::sequential(n, f)));
    group.finish();
}

fn no_output(c: &mut Criterion, fx: &Fixture) {
    let mut group = c.benchmark_group("map_20ns_no_output");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(TINY_ITEMS));
    group.bench_function("par_iter_for_each", |b| {
        b.iter(|| maps::par_iter_for_each(fx, TINY_ITEMS, work_20ns))
    });
    group.bench_function("sluice_map_chunks_unit", |b| {
        b.iter(|| maps::map_chunks_unit(fx, TINY_ITEMS, work_20ns))
    });
    group.bench_function("sluice_map_cpu_unit", |b| {
        b.iter(|| maps::map_cpu_unit(fx, TINY_ITEMS, work_20ns))
    });
    group.finish();
}

fn all_maps(c: &mut Criterion) {
    let fx = Fixture::new(threads());
    ordered(c, &fx, "map_20ns", TINY_ITEMS, work_20ns);
    ordered(c, &fx, "map_1us", MICRO_ITEMS, busy_1us);
    no_output(c, &fx);
}

criterion_group!(benches, all_maps);
criterion_main!(benches);
