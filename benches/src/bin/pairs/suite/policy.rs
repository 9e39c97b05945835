//! Policy overhead: policies, keys and the load throttle, configured but idle.

use super::{Area, Ctx, count};
use crate::measure::{Pair, Target};
use sluice_benches::{policy, roundtrip};

/// The area.
pub const AREA: Area = Area {
    key: "policy_overhead",
    title: "Policy overhead",
    note: "CPU tasks submitted at once and then waited for, with retry + timeout + breaker \
           configured but never triggered (the work never fails, a minute-long timeout, a \
           breaker that never trips), against the same tasks with no policy; then the load \
           throttle on (and idle) against off, and admission through the key queue. Times \
           are per task.",
    rows,
    prepare: |ctx| {
        ctx.fx();
    },
};

/// A never-triggered policy costs at most 5% of a 10 µs task.
const IDLE_POLICY: Target = Target::Ratio(1.05);

/// Admission through the key queue costs at most 30% more than none (issue 20).
const KEYED_ADMISSION: Target = Target::Ratio(1.3);

fn rows(ctx: &'static Ctx) -> Vec<Pair> {
    let n = ctx.sizes.policy_tasks;
    let trips = ctx.sizes.trips;
    let plain = "the same tasks with no policy";
    let policies = |micros: u64, keyed: bool, target: Target| {
        let key = if keyed { " + a key each" } else { "" };
        Pair::new(
            format!("{micros} µs tasks with retry + timeout + breaker{key}, never triggered"),
            plain,
            n,
            move || policy::tasks_plain(ctx.fx(), n, micros),
            move || policy::tasks_with_policies(ctx.fx(), n, micros, keyed),
        )
        .target(target)
    };
    let keyed = ctx.sizes.keyed_tasks;
    let keys = |keys: usize, note: &str, target: Target| {
        Pair::new(
            format!(
                "keyed admission, tiny tasks over {} key{}{note}",
                count(keys as u64),
                if keys == 1 { "" } else { "s" }
            ),
            "the same tasks with no key",
            keyed,
            move || policy::unkeyed_tasks(ctx.fx(), keyed),
            move || policy::keyed_tasks(ctx.fx(), keyed, keys),
        )
        .target(target)
    };
    vec![
        policies(1, false, Target::Measure),
        policies(1, true, Target::Measure),
        policies(10, false, IDLE_POLICY),
        policies(10, true, Target::Measure),
        Pair::new(
            "`run_cpu(f).wait()` round trip, load throttle on and idle",
            "the same with the throttle off",
            trips,
            move || roundtrip::cpu_sync_on(&ctx.fx().unthrottled, trips),
            move || roundtrip::cpu_sync_on(&ctx.fx().mgr, trips),
        )
        .target(IDLE_POLICY),
        Pair::new(
            "10 µs tasks on a saturated pool, load throttle on and idle",
            "the same with the throttle off",
            n,
            move || policy::tasks_on(&ctx.fx().unthrottled, n, 10),
            move || policy::tasks_on(&ctx.fx().mgr, n, 10),
        )
        .target(IDLE_POLICY),
        // One key runs its tasks one at a time, but tasks this small are bound by
        // their submission, not their run: measured, one key costs what 100 do
        // (quiet machine: 1.92x and 2.02x unkeyed; callgrind, submitted at once:
        // 1.37x and 1.56x the instructions), so its row prices admission too.
        keys(1, " (one at a time by design)", KEYED_ADMISSION),
        keys(100, "", KEYED_ADMISSION),
        keys(10_000, "", KEYED_ADMISSION),
    ]
}
