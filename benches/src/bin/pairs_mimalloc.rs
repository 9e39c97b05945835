//! `pairs-mimalloc`: the interleaved runner (`pairs`) with mimalloc as the global
//! allocator, so that both sides of every pair allocate through it. Built with
//! `--features mimalloc`; `cargo xtask bench` runs its submit and round-trip areas.

#![forbid(unsafe_code)]

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// The runner's own `main` is the `pairs` binary's entry, unused here.
#[allow(dead_code)]
#[path = "pairs/main.rs"]
mod pairs;
// The runner's modules name each other from the crate root, as in `pairs`.
use pairs::{confidence, measure};

fn main() {
    pairs::run("mimalloc");
}
