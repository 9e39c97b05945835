//! Policy overhead: tasks of 1 µs and 10 µs with retry + timeout + breaker (and
//! optionally a key each) configured but never triggered, against the same tasks on
//! the bare route; and the load throttle on against off.
//!
//! Criterion runs the sides apart, and this machine's speed drifts; the ratios quoted
//! in `docs/benchmarks.md` come from `cargo xtask bench`, which interleaves them. Use
//! this bench for profiles of one side.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_benches::{Fixture, policy, threads};
use std::time::Duration;

/// Tasks per iteration.
const TASKS: usize = 5_000;

fn policies(c: &mut Criterion) {
    let fx = Fixture::new(threads());
    for micros in [1, 10] {
        let mut group = c.benchmark_group(format!("policies_{micros}us"));
        group
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .throughput(Throughput::Elements(TASKS as u64));
        group.bench_function("plain", |b| {
            b.iter(|| policy::tasks_plain(&fx, TASKS, micros))
        });
        group.bench_function("retry_timeout_breaker", |b| {
            b.iter(|| policy::tasks_with_policies(&fx, TASKS, micros, false))
        });
        group.bench_function("retry_timeout_breaker_key", |b| {
            b.iter(|| policy::tasks_with_policies(&fx, TASKS, micros, true))
        });
        group.finish();
    }
    let mut group = c.benchmark_group("throttle_10us");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(TASKS as u64));
    group.bench_function("off", |b| {
        b.iter(|| policy::tasks_on(&fx.unthrottled, TASKS, 10))
    });
    group.bench_function("on", |b| b.iter(|| policy::tasks_on(&fx.mgr, TASKS, 10)));
    group.finish();
}

criterion_group!(benches, policies);
criterion_main!(benches);
