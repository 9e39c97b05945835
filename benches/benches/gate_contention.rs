//! Gate contention: `sluice_core::Gate::try_acquire` + release loops against
//! `tokio::sync::Semaphore`'s `try_acquire_owned` (an owned permit, like the gate's)
//! and `try_acquire` (a borrowed one), on 2 and 4 threads, with a limit equal to the
//! threads (no attempt fails) and a limit of 1 (attempts fail and spin).
//!
//! Criterion runs the sides apart, and this machine's speed drifts; the ratios quoted
//! in `docs/benchmarks.md` come from `cargo xtask bench`, which interleaves them. Use
//! this bench for profiles of one side.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_benches::gate;
use std::time::Duration;

/// Successful acquire + release pairs per thread per iteration.
const PAIRS: usize = 20_000;

fn contention(c: &mut Criterion) {
    for threads in [2, 4] {
        for limit in [threads, 1] {
            let mut group = c.benchmark_group(format!("gate_{threads}_threads_limit_{limit}"));
            group
                .sample_size(20)
                .warm_up_time(Duration::from_secs(1))
                .measurement_time(Duration::from_secs(2))
                .throughput(Throughput::Elements((threads * PAIRS) as u64));
            group.bench_function("semaphore_owned", |b| {
                b.iter(|| gate::semaphore_owned_pairs(threads, limit, PAIRS))
            });
            group.bench_function("semaphore", |b| {
                b.iter(|| gate::semaphore_pairs(threads, limit, PAIRS))
            });
            group.bench_function("gate", |b| {
                b.iter(|| gate::gate_pairs(threads, limit, PAIRS))
            });
            group.finish();
        }
    }
}

criterion_group!(benches, contention);
criterion_main!(benches);
