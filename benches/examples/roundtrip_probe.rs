//! One side of one round-trip row, alone, for profilers (`perf stat`, `perf trace -s`,
//! callgrind): `roundtrip_probe ROUTE SIDE N [--loaded]`, where ROUTE is cpu-sync,
//! cpu-async, io-sync, io-async, blocking-sync, blocking-async, chunk-sync or
//! chunk-async and SIDE is anchor or sluice. Prints nanoseconds per round trip.

#![forbid(unsafe_code)]
// A command-line tool: its results and its usage go to the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use sluice_benches::hog::Hog;
use sluice_benches::roundtrip as rt;
use sluice_benches::{Fixture, threads};
use std::time::Instant;

type Side = fn(&Fixture, usize);

fn pick(route: &str, side: &str) -> Option<Side> {
    let (anchor, sluice): (Side, Side) = match route {
        "cpu-sync" => (rt::cpu_sync_anchor, rt::cpu_sync_sluice),
        "cpu-async" => (rt::cpu_async_anchor, rt::cpu_async_sluice),
        "io-sync" => (rt::io_sync_anchor, rt::io_sync_sluice),
        "io-async" => (rt::io_async_anchor, rt::io_async_sluice),
        "blocking-sync" => (rt::blocking_sync_anchor, rt::blocking_sync_sluice),
        "blocking-async" => (rt::blocking_async_anchor, rt::blocking_async_sluice),
        "chunk-sync" => (rt::chunk_sync_anchor, rt::chunk_sync_sluice),
        "chunk-async" => (rt::chunk_async_anchor, rt::chunk_async_sluice),
        _ => return None,
    };
    match side {
        "anchor" => Some(anchor),
        "sluice" => Some(sluice),
        _ => None,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: roundtrip_probe ROUTE anchor|sluice N [--loaded]";
    let (Some(route), Some(side), Some(n)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let (Some(f), Ok(n)) = (pick(route, side), n.parse::<usize>()) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let loaded = args.get(3).is_some_and(|a| a == "--loaded");
    let fx = Fixture::new(threads());
    // Warm both sides' pools once, as the pairs runner's first rounds do.
    f(&fx, n.min(1_000));
    let hog = loaded.then(Hog::start);
    let start = Instant::now();
    f(&fx, n);
    let ns = start.elapsed().as_nanos() / n.max(1) as u128;
    drop(hog);
    println!(
        "{route} {side} {}: {ns} ns per round trip",
        if loaded { "loaded" } else { "idle" }
    );
}
