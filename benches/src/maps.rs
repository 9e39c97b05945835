//! Map throughput: `map_chunks` and `map_cpu` over `0..n` against `par_iter` on a
//! rayon pool of the same threads, and against a sequential loop.
//!
//! `map_chunks` and `map_cpu` answer a `Vec` in input order (the streamed maps, which
//! may be unordered, are in [`streams`](crate::streams)). So there are two kinds of
//! row:
//! - ordered: the `Vec` of results, in order, on both sides
//!   (`par_iter().map(f).collect::<Vec<_>>()`, which keeps order too);
//! - no output: each item's result is dropped (`black_box`ed) on both sides, the
//!   nearest honest match for an unordered map: rayon's `par_iter().for_each(f)`
//!   against a Sluice map whose closure returns `()`, a zero-sized `Vec<()>` that costs
//!   nothing to allocate or order. What is left is the cost of handing out the items.
//!
//! Item functions are generic, so a function item such as
//! [`work_20ns`](crate::work::work_20ns) is inlined on both sides alike.

use crate::Fixture;
use rayon::prelude::*;
use std::hint::black_box;

/// What a map applies to each item.
pub trait Item: Fn(u64) -> u64 + Send + Sync + Copy + 'static {}
impl<F: Fn(u64) -> u64 + Send + Sync + Copy + 'static> Item for F {}

/// `(0..n).into_par_iter().map(f).collect()` on the anchor pool.
pub fn par_iter_collect(fx: &Fixture, n: u64, f: impl Item) -> Vec<u64> {
    fx.rayon.install(|| (0..n).into_par_iter().map(f).collect())
}

/// `(0..n).into_par_iter().for_each(f)` on the anchor pool, each result dropped.
pub fn par_iter_for_each(fx: &Fixture, n: u64, f: impl Item) {
    fx.rayon.install(|| {
        (0..n).into_par_iter().for_each(|i| {
            black_box(f(i));
        });
    });
}

/// The same map on the calling thread alone, collecting the same `Vec`.
pub fn sequential(n: u64, f: impl Item) -> Vec<u64> {
    (0..n).map(f).collect()
}

/// `map_chunks(0..n, f)`: results in input order.
pub fn map_chunks(fx: &Fixture, n: u64, f: impl Item) -> Vec<u64> {
    fx.mgr.map_chunks(0..n, f).wait().expect("the map runs")
}

/// `map_cpu(0..n, f)`: results in input order.
pub fn map_cpu(fx: &Fixture, n: u64, f: impl Item) -> Vec<u64> {
    fx.mgr.map_cpu(0..n, f).wait().expect("the map runs")
}

/// `map_chunks` whose closure drops each result and returns `()`.
pub fn map_chunks_unit(fx: &Fixture, n: u64, f: impl Item) {
    let units = fx.mgr.map_chunks(0..n, move |i| {
        black_box(f(i));
    });
    black_box(units.wait().expect("the map runs"));
}

/// `map_cpu` whose closure drops each result and returns `()`.
pub fn map_cpu_unit(fx: &Fixture, n: u64, f: impl Item) {
    let units = fx.mgr.map_cpu(0..n, move |i| {
        black_box(f(i));
    });
    black_box(units.wait().expect("the map runs"));
}
