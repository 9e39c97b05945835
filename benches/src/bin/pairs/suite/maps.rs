//! Map throughput: `map_chunks` and `map_cpu` against `par_iter` and a sequential loop.

use super::{Area, Ctx, count};
use crate::measure::{Pair, Target};
use sluice_benches::maps;
use sluice_benches::work::{busy_1ms, busy_1us, work_20ns};
use std::hint::black_box;

/// The area.
pub const AREA: Area = Area {
    key: "map_throughput",
    title: "Map throughput",
    note: "`map_chunks` and `map_cpu` answer a `Vec` in input order, and so does \
           `par_iter().map(f).collect()`, on a rayon pool of as many threads. The \
           \"no output\" rows drop each result on both sides \
           (`par_iter().for_each(f)` against a map whose closure returns `()`), which \
           leaves only the cost of handing out the items (unordered streamed maps, whose \
           results are read, are in \"Streamed maps\"). The \"reference\" rows time \
           `par_iter` itself against the sequential loop, in the same rounds: what two \
           threads reach on this machine, against which the 1.9× target can be read. \
           Times are per item.",
    rows,
    prepare: |ctx| {
        ctx.fx();
    },
};

/// A Sluice map at least as fast as `par_iter`.
const PAR_ITER: Target = Target::Ratio(1.0);
/// A Sluice map on two threads at least 1.9× faster than one thread alone.
const SEQUENTIAL: Target = Target::Faster(1.9);

/// The ordered rows of one item size: both maps against `par_iter` and sequential.
fn ordered(ctx: &'static Ctx, n: u64, size: &str, f: impl maps::Item) -> Vec<Pair> {
    let ops = usize::try_from(n).unwrap_or(usize::MAX);
    let items = format!("{} items of ~{size}", count(n));
    let par_iter = move || drop(black_box(maps::par_iter_collect(ctx.fx(), n, f)));
    let sequential = move || drop(black_box(maps::sequential(n, f)));
    let chunks = move || drop(black_box(maps::map_chunks(ctx.fx(), n, f)));
    let cpu = move || drop(black_box(maps::map_cpu(ctx.fx(), n, f)));
    let collect = "`par_iter().map(f).collect::<Vec<_>>()`";
    let loop_ = "sequential loop collecting the same `Vec`";
    vec![
        Pair::new(
            format!("`map_chunks`, {items}"),
            collect,
            ops,
            par_iter,
            chunks,
        )
        .target(PAR_ITER),
        Pair::new(format!("`map_cpu`, {items}"), collect, ops, par_iter, cpu).target(PAR_ITER),
        Pair::new(
            format!("`map_chunks`, {items}"),
            loop_,
            ops,
            sequential,
            chunks,
        )
        .target(SEQUENTIAL),
        Pair::new(format!("`map_cpu`, {items}"), loop_, ops, sequential, cpu).target(SEQUENTIAL),
        // What rayon itself gets over one thread on the same machine in the same
        // rounds: the ceiling the two rows above are held to.
        Pair::new(
            format!("reference: `par_iter().map(f).collect()` itself, {items}"),
            loop_,
            ops,
            sequential,
            par_iter,
        ),
    ]
}

fn rows(ctx: &'static Ctx) -> Vec<Pair> {
    let sizes = &ctx.sizes;
    let mut rows = ordered(ctx, sizes.tiny_items, "20 ns", work_20ns);
    rows.extend(ordered(ctx, sizes.micro_items, "1 µs", busy_1us));
    let n = sizes.tiny_items;
    let ops = usize::try_from(n).unwrap_or(usize::MAX);
    let for_each = move || maps::par_iter_for_each(ctx.fx(), n, work_20ns);
    let label = "`par_iter().for_each(f)`";
    rows.push(
        Pair::new(
            format!(
                "`map_chunks` → `()`, {} items of ~20 ns, no output",
                count(n)
            ),
            label,
            ops,
            for_each,
            move || maps::map_chunks_unit(ctx.fx(), n, work_20ns),
        )
        .target(PAR_ITER),
    );
    rows.push(
        Pair::new(
            format!("`map_cpu` → `()`, {} items of ~20 ns, no output", count(n)),
            label,
            ops,
            for_each,
            move || maps::map_cpu_unit(ctx.fx(), n, work_20ns),
        )
        .target(PAR_ITER),
    );
    let heavy = sizes.milli_items;
    rows.push(
        Pair::new(
            format!("`map_chunks`, {} items of ~1 ms", count(heavy)),
            "`par_iter().map(f).collect::<Vec<_>>()`",
            usize::try_from(heavy).unwrap_or(usize::MAX),
            move || drop(black_box(maps::par_iter_collect(ctx.fx(), heavy, busy_1ms))),
            move || drop(black_box(maps::map_chunks(ctx.fx(), heavy, busy_1ms))),
        )
        .target(PAR_ITER),
    );
    rows
}
