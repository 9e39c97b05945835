//! Route round trips: each route's `submit one, wait for it, repeat` against its raw
//! anchor, sync (`.wait()` against a oneshot's `blocking_recv`) and async (`.await` on a
//! current-thread caller runtime against awaiting the oneshot or `JoinHandle`).
//!
//! | group | Sluice | anchor |
//! | --- | --- | --- |
//! | `cpu_{sync,async}` | `run_cpu` | `rayon::ThreadPool::spawn` + oneshot |
//! | `io_{sync,async}` | `run_io` | `tokio::spawn` on a multi-thread runtime |
//! | `io_blocking_{sync,async}` | `run_io_blocking` | `spawn_blocking` on that runtime |
//! | `chunk_{sync,async}` | `run_chunk` | a raw `crossbeam-deque` pool + oneshot |
//!
//! Criterion runs the two sides seconds to minutes apart, and this machine's speed
//! drifts; the ratios quoted in `docs/benchmarks.md` come from `cargo xtask bench`,
//! which interleaves them. Use this bench for profiles of one side.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_benches::{Fixture, roundtrip, threads};
use std::time::Duration;

/// Round trips per iteration.
const TRIPS: usize = 1_000;

/// One side of a comparison: `n` round trips on the fixture.
type Trips = fn(&Fixture, usize);

fn round_trips(c: &mut Criterion) {
    let fx = Fixture::new(threads());
    let cases: [(&str, Trips, Trips); 8] = [
        (
            "cpu_sync",
            roundtrip::cpu_sync_anchor,
            roundtrip::cpu_sync_sluice,
        ),
        (
            "cpu_async",
            roundtrip::cpu_async_anchor,
            roundtrip::cpu_async_sluice,
        ),
        (
            "io_sync",
            roundtrip::io_sync_anchor,
            roundtrip::io_sync_sluice,
        ),
        (
            "io_async",
            roundtrip::io_async_anchor,
            roundtrip::io_async_sluice,
        ),
        (
            "io_blocking_sync",
            roundtrip::blocking_sync_anchor,
            roundtrip::blocking_sync_sluice,
        ),
        (
            "io_blocking_async",
            roundtrip::blocking_async_anchor,
            roundtrip::blocking_async_sluice,
        ),
        (
            "chunk_sync",
            roundtrip::chunk_sync_anchor,
            roundtrip::chunk_sync_sluice,
        ),
        (
            "chunk_async",
            roundtrip::chunk_async_anchor,
            roundtrip::chunk_async_sluice,
        ),
    ];
    for (name, anchor, ours) in cases {
        let mut group = c.benchmark_group(name);
        group
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(2))
            .throughput(Throughput::Elements(TRIPS as u64));
        group.bench_function("anchor", |b| b.iter(|| anchor(&fx, TRIPS)));
        group.bench_function("sluice", |b| b.iter(|| ours(&fx, TRIPS)));
        group.finish();
    }
}

criterion_group!(benches, round_trips);
criterion_main!(benches);
