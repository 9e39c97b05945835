//! Route round trips: one trivial task submitted and waited for, in a loop, on an idle
//! machine and beside a CPU hog on one core.

use super::{Area, Ctx};
use crate::measure::{Pair, Target};
use sluice_benches::Fixture;
use sluice_benches::hog::Hog;
use sluice_benches::roundtrip as rt;

/// The area.
pub const AREA: Area = Area {
    key: "route_roundtrip",
    title: "Route round trips",
    note: "One trivial task submitted and waited for, again and again: the fixed cost of \
           a route. Sync rows wait with `.wait()` against the anchor's oneshot \
           `blocking_recv`; async rows `.await` on a current-thread caller runtime, both \
           sides.",
    rows: |ctx| rows(ctx, false),
    prepare: |ctx| {
        ctx.fx();
    },
};

/// The same rows, each measurement beside a thread spinning on one core.
pub const LOADED: Area = Area {
    key: "route_roundtrip_loaded",
    title: "Route round trips under load",
    note: "The round trips above, each measurement (both sides) run beside a thread that \
           spins on one core: a waiting strategy must not win on an idle machine and lose \
           on a busy one.",
    rows: |ctx| rows(ctx, true),
    prepare: |ctx| {
        ctx.fx();
    },
};

/// Sluice's target for a round trip.
const ROUND_TRIP: Target = Target::Ratio(1.10);
/// `run_io_blocking` is to beat `spawn_blocking` by half again.
const BLOCKING: Target = Target::Faster(1.5);

fn rows(ctx: &'static Ctx, loaded: bool) -> Vec<Pair> {
    let n = ctx.sizes.trips;
    let run = move |f: fn(&Fixture, usize)| {
        let hog = loaded.then(Hog::start);
        f(ctx.fx(), n);
        drop(hog);
    };
    let pair = |name: &str, anchor: &str, a: fn(&Fixture, usize), o: fn(&Fixture, usize)| {
        Pair::new(name, anchor, n, move || run(a), move || run(o))
    };
    vec![
        pair(
            "`run_cpu(f).wait()`",
            "`rayon::ThreadPool::spawn` + oneshot",
            rt::cpu_sync_anchor,
            rt::cpu_sync_sluice,
        )
        .target(ROUND_TRIP),
        pair(
            "`run_cpu(f).await`",
            "`rayon::ThreadPool::spawn` + oneshot, awaited",
            rt::cpu_async_anchor,
            rt::cpu_async_sluice,
        )
        .target(ROUND_TRIP),
        pair(
            "`run_io(fut).wait()`",
            "`tokio::spawn` + oneshot",
            rt::io_sync_anchor,
            rt::io_sync_sluice,
        )
        .target(ROUND_TRIP),
        pair(
            "`run_io(fut).await`",
            "`tokio::spawn(fut).await`",
            rt::io_async_anchor,
            rt::io_async_sluice,
        )
        .target(ROUND_TRIP),
        pair(
            "`run_io_blocking(f).wait()`",
            "`spawn_blocking` + oneshot",
            rt::blocking_sync_anchor,
            rt::blocking_sync_sluice,
        )
        .target(BLOCKING),
        pair(
            "`run_io_blocking(f).await`",
            "`spawn_blocking(f).await`",
            rt::blocking_async_anchor,
            rt::blocking_async_sluice,
        )
        .target(BLOCKING),
        pair(
            "`run_chunk(f).wait()`",
            "raw `crossbeam-deque` pool + oneshot",
            rt::chunk_sync_anchor,
            rt::chunk_sync_sluice,
        )
        .target(ROUND_TRIP),
        pair(
            "`run_chunk(f).await`",
            "raw `crossbeam-deque` pool + oneshot, awaited",
            rt::chunk_async_anchor,
            rt::chunk_async_sluice,
        )
        .target(ROUND_TRIP),
    ]
}
