//! Submit throughput: many tiny tasks (~20 ns each) submitted through each route, then
//! all waited for, against the same through the route's raw anchor (rayon spawn +
//! oneshots, `tokio::spawn` and `spawn_blocking` `JoinHandle`s, a raw `crossbeam-deque`
//! pool + oneshots).
//!
//! Criterion runs the two sides apart, and this machine's speed drifts; the ratios
//! quoted in `docs/benchmarks.md` come from `cargo xtask bench`, which interleaves them
//! (with 1 M tasks). Use this bench for profiles of one side.

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use sluice_benches::{Fixture, submit, threads};
use std::time::Duration;

/// Tasks per iteration.
const TASKS: usize = 200_000;

/// One side of a comparison: `n` tasks on the fixture.
type Tasks = fn(&Fixture, usize);

fn throughput(c: &mut Criterion) {
    let fx = Fixture::new(threads());
    let cases: [(&str, Tasks, Tasks); 4] = [
        ("submit_cpu", submit::cpu_anchor, submit::cpu_sluice),
        ("submit_io", submit::io_anchor, submit::io_sluice),
        (
            "submit_io_blocking",
            submit::blocking_anchor,
            submit::blocking_sluice,
        ),
        ("submit_chunk", submit::chunk_anchor, submit::chunk_sluice),
    ];
    for (name, anchor, ours) in cases {
        let mut group = c.benchmark_group(name);
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4))
            .throughput(Throughput::Elements(TASKS as u64));
        group.bench_function("anchor", |b| b.iter(|| anchor(&fx, TASKS)));
        group.bench_function("sluice", |b| b.iter(|| ours(&fx, TASKS)));
        group.finish();
    }
}

criterion_group!(benches, throughput);
criterion_main!(benches);
