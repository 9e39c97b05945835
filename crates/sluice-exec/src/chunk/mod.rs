//! The chunk pool: work stealing on `crossbeam-deque` for many small pieces of work.
//!
//! Each `sluice-chunk-N` thread owns a `Worker` deque; jobs submitted from outside go to
//! the shared `Injector`, jobs submitted by a worker go to its own deque, and an idle
//! worker steals from the injector and then from its peers. A worker that finds nothing
//! spins briefly and then sleeps on a condition variable, so an idle pool costs no CPU
//! (the protocol is in `sleep.rs`).
//!
//! [`BlockSizer`] splits a stream of items into work units adaptively: it measures how
//! long an item takes and sizes the next unit to a fixed slice of time, so that ten
//! million items of 20 ns and a thousand items of 1 ms both keep every thread busy.

mod pool;
mod sizer;
mod sleep;

pub use pool::ChunkPool;
pub use sizer::BlockSizer;
