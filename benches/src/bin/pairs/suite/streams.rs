//! Streamed maps: `stream_io` and `stream_cpu` against the raw streams a user would
//! write, and a map of four items against the sequential loop.

use super::{Area, Ctx, count};
use crate::measure::{Pair, Target};
use sluice_benches::streams::{self, IN_FLIGHT, SMALL};
use sluice_benches::work::busy_1us;
use std::hint::black_box;

/// The area.
pub const AREA: Area = Area {
    key: "streamed_maps",
    title: "Streamed maps",
    note: "Results read as they are produced. io: futures sleeping 1 ms, at most 256 in \
           flight on both sides (`io_limit(256)`), against \
           `futures::stream::iter(..).map(f).buffer_unordered(256)` (or `buffered(256)`) \
           awaited on a tokio runtime of as many threads; Sluice's stream is awaited on a \
           current-thread caller runtime, with its default buffer (512 places, twice the \
           io limit: the items in flight and the results waiting for the consumer share \
           them), and once with `buffer(256)`, where the driver starts no item until the \
           consumer, woken on its own runtime, has taken a result. cpu: items of ~1 µs through an unordered stream \
           read by the caller, against `par_iter().for_each` on a rayon pool of as many \
           threads sending into a bounded channel the caller reads \
           (`std::sync::mpsc::sync_channel`, crossbeam-channel's bounded channel in std), \
           both buffering 512 results per thread (Sluice's default). Times are per item, except the small \
           maps: per map of 4 items of ~1 µs, against the sequential loop collecting the \
           same `Vec`. The manager runs with the load throttle off, as in the seed \
           scenarios.",
    rows,
    prepare: |ctx| {
        ctx.fx();
        ctx.streams();
    },
};

/// A streamed io map within 5% of `buffer_unordered` / `buffered`.
const IO: Target = Target::Ratio(1.05);
/// A streamed cpu map at least as fast as rayon into a channel.
const CPU: Target = Target::Ratio(1.0);
/// A map too small for a pool at most twice the sequential loop.
const SMALL_MAP: Target = Target::Ratio(2.0);

fn rows(ctx: &'static Ctx) -> Vec<Pair> {
    let sizes = &ctx.sizes;
    let threads = ctx.threads;
    let io = sizes.stream_io;
    let io_ops = usize::try_from(io).unwrap_or(usize::MAX);
    let io_row = |ordered: bool, buffer: Option<usize>| {
        let (kind, anchor) = if ordered {
            ("ordered", "buffered")
        } else {
            ("unordered", "buffer_unordered")
        };
        let places = buffer.map_or(String::new(), |places| format!(", `buffer({places})`"));
        let row = Pair::new(
            format!(
                "`stream(..).io`, {kind}, {} futures sleeping 1 ms, {IN_FLIGHT} in flight{places}",
                count(io)
            ),
            format!("`stream::iter(..).map(f).{anchor}({IN_FLIGHT})` on tokio"),
            io_ops,
            move || {
                black_box(streams::io_anchor(ctx.fx(), io, ordered));
            },
            move || {
                black_box(streams::io_sluice(
                    ctx.fx(),
                    ctx.streams(),
                    io,
                    ordered,
                    buffer,
                ));
            },
        );
        // The tight buffer is a measure of the hand-off's cost, not a target.
        if buffer.is_none() {
            row.target(IO)
        } else {
            row
        }
    };
    let cpu = sizes.stream_cpu;
    let maps = sizes.small_maps;
    vec![
        io_row(false, None),
        io_row(true, None),
        io_row(false, Some(IN_FLIGHT)),
        Pair::new(
            format!(
                "`stream(..).cpu`, unordered, {} items of ~1 µs, read by the caller",
                count(cpu)
            ),
            "`par_iter().for_each` into a bounded channel",
            usize::try_from(cpu).unwrap_or(usize::MAX),
            move || {
                black_box(streams::cpu_anchor(ctx.fx(), cpu, busy_1us));
            },
            move || {
                black_box(streams::cpu_sluice(ctx.streams(), threads, cpu, busy_1us));
            },
        )
        .target(CPU),
        Pair::new(
            format!("`map_cpu(..).wait()`, {SMALL} items of ~1 µs"),
            "sequential loop collecting the same `Vec`",
            maps,
            move || streams::small_sequential(maps, busy_1us),
            move || streams::small_map_cpu(ctx.streams(), maps, busy_1us),
        )
        .target(SMALL_MAP),
        Pair::new(
            format!("`stream_cpu` collected, {SMALL} items of ~1 µs"),
            "sequential loop collecting the same `Vec`",
            maps,
            move || streams::small_sequential(maps, busy_1us),
            move || streams::small_stream_cpu(ctx.streams(), maps, busy_1us),
        )
        .target(SMALL_MAP),
    ]
}
