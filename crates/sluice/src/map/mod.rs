//! Many items through one function: `map_cpu`, `map_chunks`, `map_io`.
//!
//! Results come back in input order, and memory stays bounded whatever the number of
//! items: the input iterator is pulled lazily, one work unit at a time, never
//! collected up front.
//!
//! - `pull/` (cpu and chunk routes): a few pullers, each admitted through the route's
//!   gate like any task, take units from the shared iterator, sized by a
//!   [`BlockSizer`](sluice_exec::BlockSizer) to about 300 µs of work, and map them.
//!   With a known input length each unit writes its results in place (a claimed range
//!   of a [`SlotVec`](sluice_core::SlotVec)); otherwise units are appended in order. A caller that waits from inside
//!   another task becomes a puller itself, so a map cannot deadlock a full pool.
//! - `io.rs` (io route): a driver on the runtime keeps at most the io limit of futures
//!   in flight, each admitted through the io gate, and collects them in order.
//!
//! - `stream/`: the same maps with their results streamed as they are produced,
//!   through a bounded buffer that is their backpressure, one outcome per item.
//!
//! A map counts as one task in its route's counters.

mod io;
mod pull;
pub(crate) mod stream;

pub(crate) use io::{start_io_map, submit_io_map};
pub(crate) use pull::{start_pull_map, submit_pull_map};
