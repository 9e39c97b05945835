//! Submit throughput: many tiny tasks submitted at once, then all waited for.

use super::{Area, Ctx, count};
use crate::measure::{Pair, Target};
use sluice_benches::{Fixture, submit};

/// The area.
pub const AREA: Area = Area {
    key: "submit_throughput",
    title: "Submit throughput",
    note: "Tiny tasks (~20 ns of work) submitted through one route as fast as the caller \
           can, then all waited for; times are per task. Sluice admits a route's limit at \
           once and queues the rest at its gate; the anchors hand everything to their \
           pool's queue.",
    rows,
    prepare: |ctx| {
        ctx.fx();
    },
};

/// Sluice keeps at least 90% of the anchor's throughput.
const THROUGHPUT: Target = Target::Throughput(0.9);

/// One side of a row: `n` tasks on the fixture.
type Side = fn(&Fixture, usize);

fn rows(ctx: &'static Ctx) -> Vec<Pair> {
    let pair = |n: usize, ours: &str, anchor: &str, a: Side, o: Side| {
        Pair::new(
            format!("{} × {ours}", count(n as u64)),
            anchor,
            n,
            move || a(ctx.fx(), n),
            move || o(ctx.fx(), n),
        )
        .target(THROUGHPUT)
    };
    let n = ctx.sizes.submit;
    let (blocking, blocking_rounds) = ctx.sizes.submit_blocking;
    vec![
        pair(
            n,
            "`run_cpu`, then `.wait()` each",
            "`rayon::ThreadPool::spawn` + oneshot each, then `blocking_recv`",
            submit::cpu_anchor,
            submit::cpu_sluice,
        ),
        pair(
            n,
            "`run_io`, then awaited",
            "`tokio::spawn`, `JoinHandle`s awaited",
            submit::io_anchor,
            submit::io_sluice,
        ),
        pair(
            blocking,
            "`run_io_blocking`, then awaited",
            "`spawn_blocking`, `JoinHandle`s awaited",
            submit::blocking_anchor,
            submit::blocking_sluice,
        )
        .rounds(blocking_rounds),
        pair(
            n,
            "`run_chunk`, then `.wait()` each",
            "raw `crossbeam-deque` pool + oneshot each, then `blocking_recv`",
            submit::chunk_anchor,
            submit::chunk_sluice,
        ),
    ]
}
