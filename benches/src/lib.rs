//! Benchmark scenarios: each Sluice area next to its raw anchor.
//!
//! One module per area, each holding both sides of its comparisons; the criterion
//! benches (`benches/<area>.rs`, per-function profiles) and the interleaved runner
//! (`src/bin/pairs/`, driven by `cargo xtask bench`, which writes
//! `docs/benchmarks.md`) call the same functions, so the two always measure the same
//! code. The anchor and Sluice get the same number of threads.
//!
//! | module | area | anchor |
//! | --- | --- | --- |
//! | [`roundtrip`] | one task submitted and waited for, in a loop (idle, and beside a [`hog`] on one core) | rayon spawn, `tokio::spawn`, `spawn_blocking`, [`deque_pool`] |
//! | [`submit`] | many tiny tasks submitted, then all waited for | the same four |
//! | [`maps`] | `map_chunks` / `map_cpu` | `par_iter` and a sequential loop |
//! | [`policy`] | retry, timeout, breaker, keys and the throttle, never triggered | the bare route |
//! | [`gate`] | [`sluice_core::Gate`] under contention | `tokio::sync::Semaphore` |
//! | [`scenarios`] | IO workloads with a known ideal time | the same on raw tokio |
//! | [`streams`] | streamed maps: `stream_io`, `stream_cpu`, a map of four items | `buffer_unordered` / `buffered`, `par_iter` into a bounded channel, a sequential loop |

#![forbid(unsafe_code)]

pub mod deque_pool;
pub mod fixture;
pub mod gate;
pub mod hog;
pub mod maps;
pub mod policy;
pub mod roundtrip;
pub mod scenarios;
pub mod streams;
pub mod submit;
pub mod work;

pub use fixture::{Fixture, threads};
