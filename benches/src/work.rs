//! The work items the scenarios run: opaque to the optimiser, of known cost.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// About 20 ns of arithmetic on this machine's cores: the "tiny item" of the map and
/// throughput scenarios. Opaque to the optimiser.
#[inline]
pub fn work_20ns(item: u64) -> u64 {
    let mut x = black_box(item);
    for _ in 0..22 {
        x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ item;
    }
    x
}

/// About `micros` microseconds of busy work: the "heavy item" of the map scenarios
/// and the task of the policy scenarios.
pub fn busy_item(item: u64, micros: u64) -> u64 {
    let until = Instant::now() + Duration::from_micros(micros);
    let mut x = item;
    while Instant::now() < until {
        x = work_20ns(x);
    }
    x
}

/// [`busy_item`] of 1 µs, as a plain function for the maps.
pub fn busy_1us(item: u64) -> u64 {
    busy_item(item, 1)
}

/// [`busy_item`] of 1 ms, as a plain function for the maps.
pub fn busy_1ms(item: u64) -> u64 {
    busy_item(item, 1_000)
}
