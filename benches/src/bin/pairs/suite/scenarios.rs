//! Seed scenarios: IO workloads with a known ideal time.

use super::{Area, Ctx};
use crate::measure::Pair;
use sluice_benches::scenarios::{IN_FLIGHT, KEYED_IN_FLIGHT};

/// The area.
pub const AREA: Area = Area {
    key: "seed_scenarios",
    title: "Seed scenarios",
    note: "Whole workloads of sleeping tasks, timed from the first submission to the last \
           answer, on Sluice and on raw tokio. The target is Sluice's time against the \
           ideal (what a perfect scheduler with a perfect timer would take); tokio's timer \
           counts whole milliseconds, so each sleep may take up to 1 ms longer than asked, \
           on both sides.",
    rows,
    prepare: |ctx| {
        ctx.sc();
    },
};

/// Sluice within 5% of the ideal.
const WITHIN: f64 = 1.05;

fn rows(ctx: &'static Ctx) -> Vec<Pair> {
    let flight = ctx.sizes.flight;
    let (per_key, per_key_rounds) = ctx.sizes.per_key;
    let (strict, strict_rounds) = ctx.sizes.strict;
    let ms = |d: std::time::Duration| d.as_millis();
    vec![
        Pair::new(
            format!(
                "{} `run_io` tasks of {} ms sleep, `io_limit({IN_FLIGHT})`",
                flight.tasks,
                ms(flight.sleep)
            ),
            format!("`tokio::spawn` + `Semaphore({IN_FLIGHT})`"),
            1,
            move || ctx.sc().flight_anchor(flight),
            move || ctx.sc().flight_sluice(flight),
        )
        .ideal(flight.ideal(), WITHIN),
        Pair::new(
            format!(
                "{} `run_io_blocking` calls of {} ms `thread::sleep`, {IN_FLIGHT} blocking threads",
                flight.tasks,
                ms(flight.sleep)
            ),
            format!("`spawn_blocking`, `max_blocking_threads({IN_FLIGHT})`"),
            1,
            move || ctx.sc().flight_blocking_anchor(flight),
            move || ctx.sc().flight_blocking_sluice(flight),
        )
        .ideal(flight.ideal(), WITHIN),
        Pair::new(
            format!(
                "{} keys × {} `run_io` tasks of {} ms, per-key FIFO, `io_limit({KEYED_IN_FLIGHT})`",
                per_key.keys,
                per_key.per_key,
                ms(per_key.sleep)
            ),
            format!("one sequential chain per key + `Semaphore({KEYED_IN_FLIGHT})`"),
            1,
            move || ctx.sc().per_key_anchor(per_key),
            move || ctx.sc().per_key_sluice(per_key),
        )
        .ideal(per_key.ideal_per_key(), WITHIN)
        .rounds(per_key_rounds)
        .cold(),
        Pair::new(
            format!(
                "{} keys × {} `run_io` tasks of {} ms, `KeyOrder::Strict`",
                strict.keys,
                strict.per_key,
                ms(strict.sleep)
            ),
            "one sequential loop",
            1,
            move || ctx.sc().strict_anchor(strict),
            move || ctx.sc().strict_sluice(strict),
        )
        .ideal(strict.ideal_strict(), WITHIN)
        .rounds(strict_rounds)
        .cold(),
    ]
}
