//! Seed scenarios: IO workloads with a known ideal time, on Sluice and on raw tokio —
//! 300 sleeps of 10 ms at most 50 in flight (ideal 60 ms), the same as blocking
//! calls, 10 keys × 10 sleeps of 30 ms in per-key order at most 5 in flight (ideal
//! 600 ms), and the same in strict order (ideal 3 s).
//!
//! Criterion runs the sides apart; the ratios quoted in `docs/benchmarks.md`, to the
//! anchor and to the ideal, come from `cargo xtask bench`, which interleaves them.
//! Use this bench for profiles of one side.

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use sluice_benches::scenarios::{Flight, Keyed, Scenarios};
use sluice_benches::threads;
use std::time::Duration;

fn scenarios(c: &mut Criterion) {
    let sc = Scenarios::new(threads());
    let flight = Flight {
        tasks: 300,
        sleep: Duration::from_millis(10),
    };
    let keyed = Keyed {
        keys: 10,
        per_key: 10,
        sleep: Duration::from_millis(30),
    };
    let mut group = c.benchmark_group("seed_scenarios");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.bench_function("in_flight_anchor", |b| b.iter(|| sc.flight_anchor(flight)));
    group.bench_function("in_flight_sluice", |b| b.iter(|| sc.flight_sluice(flight)));
    group.bench_function("in_flight_blocking_anchor", |b| {
        b.iter(|| sc.flight_blocking_anchor(flight))
    });
    group.bench_function("in_flight_blocking_sluice", |b| {
        b.iter(|| sc.flight_blocking_sluice(flight))
    });
    group.measurement_time(Duration::from_secs(7));
    group.bench_function("per_key_anchor", |b| b.iter(|| sc.per_key_anchor(keyed)));
    group.bench_function("per_key_sluice", |b| b.iter(|| sc.per_key_sluice(keyed)));
    group.measurement_time(Duration::from_secs(32));
    group.bench_function("strict_anchor", |b| b.iter(|| sc.strict_anchor(keyed)));
    group.bench_function("strict_sluice", |b| b.iter(|| sc.strict_sluice(keyed)));
    group.finish();
}

criterion_group!(benches, scenarios);
criterion_main!(benches);
