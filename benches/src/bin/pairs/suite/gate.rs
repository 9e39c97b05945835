//! Gate contention: `Gate` against `tokio::sync::Semaphore`, the same loop on both.

use super::{Area, Ctx};
use crate::measure::{Pair, Target};
use sluice_benches::gate;
use std::hint::black_box;

/// The area.
pub const AREA: Area = Area {
    key: "gate_contention",
    title: "Gate contention",
    note: "Each thread loops `try_acquire` + drop until it has made its share of \
           successful pairs; failed attempts spin, yielding every 64 in a row. Times are \
           per successful pair, all threads together. A gate's permit is owned (it travels \
           with a task: an `Arc` clone), so the targets are against tokio's owned permit; \
           the borrowed one is shown as the floor. With a limit of 1 the rows are a \
           measure: their time is the cache line's hand-off and the scheduler's preemption \
           of a holder, not the gate's code, and a gate that also keeps a fair queue need \
           not win a race of spinning threads.",
    rows,
    prepare: |_| {},
};

/// One side of a row: `threads` threads, a limit, pairs per thread.
type Side = fn(usize, usize, usize) -> usize;

/// As fast as a semaphore's fast path with an owned permit, give or take 10%.
const FAST_PATH: Target = Target::Ratio(1.10);

fn rows(ctx: &'static Ctx) -> Vec<Pair> {
    let pairs = ctx.sizes.gate_pairs;
    let row = |threads: usize, limit: usize, anchor: &str, semaphore: Side, target: Target| {
        Pair::new(
            format!("`Gate`, {threads} threads, limit {limit}"),
            anchor,
            threads * pairs,
            move || {
                black_box(semaphore(threads, limit, pairs));
            },
            move || {
                black_box(gate::gate_pairs(threads, limit, pairs));
            },
        )
        .target(target)
    };
    let owned = "`Semaphore::try_acquire_owned`, the same loop";
    let borrowed = "`Semaphore::try_acquire` (a borrowed permit), the same loop";
    vec![
        row(2, 2, owned, gate::semaphore_owned_pairs, FAST_PATH),
        row(4, 4, owned, gate::semaphore_owned_pairs, FAST_PATH),
        row(2, 1, owned, gate::semaphore_owned_pairs, Target::Measure),
        row(4, 1, owned, gate::semaphore_owned_pairs, Target::Measure),
        row(2, 2, borrowed, gate::semaphore_pairs, Target::Measure),
        row(4, 4, borrowed, gate::semaphore_pairs, Target::Measure),
    ]
}
