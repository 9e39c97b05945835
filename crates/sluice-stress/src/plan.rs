//! The plan of one wave: what every task does, on which manager and route, who waits
//! for it and how, drawn from the wave's seed alone.

use crate::rng::Rng;
use crate::stream_plan::{BlockedPlan, StreamPlan};
use sluice::Priority;
use std::time::Duration;

/// The managers of the fleet, one per key order (see `fleet.rs`).
pub const MANAGERS: usize = 3;
/// Callers per wave: the first half wait with `wait()` on threads of their own, the
/// rest `.await` on the harness's runtime.
pub const LANES: usize = 4;
/// Keys per lane and manager. A key belongs to one lane, so its submission order is
/// the lane's order, which the harness knows.
const KEYS_PER_LANE: usize = 6;

/// Where a task goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `run_cpu`.
    Cpu,
    /// `run_chunk`.
    Chunk,
    /// `run_io_blocking`.
    IoBlocking,
    /// `run_io`.
    Io,
    /// `map_cpu`.
    MapCpu,
    /// `map_chunks`.
    MapChunks,
    /// `map_io`.
    MapIo,
    /// `stream(options).try_cpu`.
    StreamCpu,
    /// `stream(options).try_chunks`.
    StreamChunks,
    /// `stream(options).try_io`.
    StreamIo,
}

/// What a task's body does, and so which answers are consistent with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Returns its value.
    Succeed,
    /// Returns its error.
    Fail,
    /// Panics.
    Panic,
    /// Runs past its timeout until told to stop.
    Overrun,
    /// Fails its first `failures` attempts under a retry of `attempts` attempts.
    Retried {
        /// Attempts that fail before one succeeds.
        failures: u32,
        /// The retry's attempt limit.
        attempts: u32,
        /// Whether the retry has a tight budget (task name `budgeted`), which refuses
        /// some of the retries asked for: the task then answers its last error early.
        budgeted: bool,
    },
    /// Guarded by a breaker held open: must be rejected without running.
    OpenBreaker,
    /// Guarded by a breaker that trips and recovers all the time.
    Flaky {
        /// Whether this call fails.
        fails: bool,
    },
    /// Submits another task of the wave (`child`), waits for it and records its answer.
    Nest {
        /// The child's index in the wave.
        child: usize,
    },
    /// A map over `items` items; with `panic_at`, that item panics.
    Map {
        /// How many items.
        items: u32,
        /// The item that panics, if any.
        panic_at: Option<u32>,
    },
    /// A streamed map, read by its caller as planned.
    Stream(StreamPlan),
    /// A map (or streamed map) over a channel the harness feeds slowly and then
    /// cancels with the channel still open.
    Blocked(BlockedPlan),
}

/// Whether and when the caller cancels the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    /// Never.
    Never,
    /// Right after submitting it.
    AtOnce,
    /// Just before waiting for it, after the rest of its lane was submitted.
    BeforeWait,
}

/// A keyed task's place in its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyed {
    /// The key's index in the wave.
    pub slot: usize,
    /// Its position in the key's submission order, from 1.
    pub seq: u64,
    /// `OnKeyFailure::CancelRest`: if it fails, the rest of its key is cancelled.
    pub cancel_rest: bool,
}

/// One task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Its index in the wave (its id, with the wave's number).
    pub index: usize,
    /// Which manager of the fleet.
    pub manager: usize,
    /// Which route.
    pub route: Route,
    /// What its body does.
    pub behaviour: Behaviour,
    /// Its key, if ordered.
    pub key: Option<Keyed>,
    /// Whether its caller cancels it.
    pub cancel: Cancel,
    /// A timeout that never fires, so the timer policy is there but not triggered.
    pub idle_timeout: bool,
    /// Its place in its gates' queues.
    pub priority: Priority,
    /// Whether it goes through the fleet's adaptive dependency limit (a call of every
    /// attempt, or of every item of `map_io`).
    pub limited: bool,
    /// Whether its user values panic when dropped (`hostile.rs`): its captures if it
    /// never runs or its future is dropped halfway, its errors, its panic's payload.
    pub hostile: bool,
}

/// How long an overrunning task may run before it times out.
pub const OVERRUN_TIMEOUT: Duration = Duration::from_millis(2);
/// The timeout of a task whose timeout must never fire.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// One wave.
#[derive(Debug, Clone)]
pub struct Wave {
    /// Its number, from 0.
    pub number: u64,
    /// Every task: the top-level ones first, then the children of nesting tasks.
    pub specs: Vec<Spec>,
    /// How many of `specs` the lanes submit; the rest are children.
    pub top_level: usize,
    /// The top-level indices each lane submits, in order.
    pub lanes: Vec<Vec<usize>>,
    /// The manager of each key slot.
    pub key_managers: Vec<usize>,
    /// Per key slot, the first `seq` whose task cancels the rest of its key on failure.
    pub cancel_rest_from: Vec<Option<u64>>,
    /// `abort_pending()` on this manager, this long after the wave starts.
    pub abort: Option<(usize, Duration)>,
    /// Whether the wave ends in `shutdown(deadline)`, this long after it starts.
    pub shutdown: Option<Duration>,
}

impl Wave {
    /// The wave `number` of `size` top-level tasks, drawn from `rng`.
    pub fn draw(number: u64, size: usize, rng: &mut Rng, last: bool) -> Wave {
        let keys = LANES * KEYS_PER_LANE;
        let key_managers: Vec<usize> = (0..keys).map(|slot| slot % MANAGERS).collect();
        let mut next_seq = vec![0u64; keys];
        let mut cancel_rest_from = vec![None; keys];
        let mut specs = Vec::with_capacity(size + size / 16);
        let mut children = Vec::new();
        let mut lanes = vec![Vec::new(); LANES];
        for index in 0..size {
            let lane = index % LANES;
            // Blocked inputs are fed from the synchronous lanes' side threads, and
            // never in the last wave: its shutdown could refuse them unseen.
            let blocked = !last && lane < LANES / 2 && rng.below(5_000) == 0;
            let route = if blocked {
                [Route::MapCpu, Route::MapChunks, Route::StreamCpu][rng.below(3) as usize]
            } else if rng.below(1_000) < 8 {
                [Route::StreamCpu, Route::StreamChunks, Route::StreamIo][rng.below(3) as usize]
            } else {
                draw_route(rng)
            };
            let mut manager = rng.below(MANAGERS as u64) as usize;
            let behaviour = if blocked {
                Behaviour::Blocked(BlockedPlan::draw(rng))
            } else if is_stream(route) {
                Behaviour::Stream(StreamPlan::draw(rng, route != Route::StreamIo))
            } else if is_map(route) {
                let items = 1 + rng.below(48) as u32;
                let panic_at = rng.chance(8).then(|| rng.below(u64::from(items)) as u32);
                Behaviour::Map { items, panic_at }
            } else {
                draw_behaviour(rng, size + children.len())
            };
            let key = (!is_map(route) && rng.chance(18)).then(|| {
                let slot = lane * KEYS_PER_LANE + rng.below(KEYS_PER_LANE as u64) as usize;
                manager = key_managers[slot];
                next_seq[slot] += 1;
                let fails = matches!(behaviour, Behaviour::Fail | Behaviour::Panic);
                let cancel_rest = fails && rng.chance(30);
                if cancel_rest && cancel_rest_from[slot].is_none() {
                    cancel_rest_from[slot] = Some(next_seq[slot]);
                }
                Keyed {
                    slot,
                    seq: next_seq[slot],
                    cancel_rest,
                }
            });
            let cancel = match rng.below(100) {
                // A stream is cancelled by its consumer's drop, a blocked input by its
                // feeder.
                _ if is_stream(route) || blocked => Cancel::Never,
                0..4 => Cancel::AtOnce,
                4..8 => Cancel::BeforeWait,
                _ => Cancel::Never,
            };
            if let Behaviour::Nest { child } = behaviour {
                children.push(Spec {
                    index: child,
                    manager,
                    route: draw_leaf_route(rng),
                    behaviour: match rng.below(10) {
                        0 => Behaviour::Fail,
                        1 => Behaviour::Panic,
                        _ => Behaviour::Succeed,
                    },
                    key: None,
                    cancel: Cancel::Never,
                    idle_timeout: false,
                    priority: draw_priority(rng),
                    limited: false,
                    hostile: false,
                });
            }
            specs.push(Spec {
                index,
                manager,
                route,
                behaviour,
                key,
                cancel,
                idle_timeout: behaviour != Behaviour::Overrun && rng.chance(20),
                priority: draw_priority(rng),
                limited: rng.chance(10),
                hostile: rng.chance(5),
            });
            lanes[lane].push(index);
        }
        specs.extend(children);
        let abort = rng
            .chance(30)
            .then(|| (rng.below(MANAGERS as u64) as usize, micros(rng, 3_000)));
        let shutdown = last.then(|| micros(rng, 4_000));
        Wave {
            number,
            specs,
            top_level: size,
            lanes,
            key_managers,
            cancel_rest_from,
            abort,
            shutdown,
        }
    }
}

/// Whether a route is a map (streamed or not).
pub fn is_map(route: Route) -> bool {
    matches!(route, Route::MapCpu | Route::MapChunks | Route::MapIo) || is_stream(route)
}

/// Whether a route is a streamed map.
pub fn is_stream(route: Route) -> bool {
    matches!(
        route,
        Route::StreamCpu | Route::StreamChunks | Route::StreamIo
    )
}

fn micros(rng: &mut Rng, max: u64) -> Duration {
    Duration::from_micros(rng.below(max))
}

fn draw_route(rng: &mut Rng) -> Route {
    match rng.below(100) {
        0..20 => Route::Cpu,
        20..35 => Route::Chunk,
        35..45 => Route::IoBlocking,
        45..70 => Route::Io,
        70..80 => Route::MapCpu,
        80..90 => Route::MapChunks,
        _ => Route::MapIo,
    }
}

/// A priority: mostly normal, with enough high and low ones that every gate's queue
/// holds a mix to reorder.
fn draw_priority(rng: &mut Rng) -> Priority {
    match rng.below(10) {
        0 | 1 => Priority::High,
        2 | 3 => Priority::Low,
        _ => Priority::Normal,
    }
}

/// A child's route: any single-task route.
fn draw_leaf_route(rng: &mut Rng) -> Route {
    match rng.below(4) {
        0 => Route::Cpu,
        1 => Route::Chunk,
        2 => Route::IoBlocking,
        _ => Route::Io,
    }
}

/// A single task's behaviour; `next_child` is the index its child would take.
fn draw_behaviour(rng: &mut Rng, next_child: usize) -> Behaviour {
    match rng.below(1_000) {
        0..700 => Behaviour::Succeed,
        700..760 => Behaviour::Fail,
        760..800 => Behaviour::Panic,
        800..810 => Behaviour::Overrun,
        810..890 => Behaviour::Retried {
            failures: rng.below(4) as u32,
            attempts: 1 + rng.below(3) as u32,
            budgeted: rng.chance(25),
        },
        890..920 => Behaviour::OpenBreaker,
        920..960 => Behaviour::Flaky {
            fails: rng.chance(50),
        },
        _ => Behaviour::Nest { child: next_child },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wave_is_a_function_of_its_seed() {
        let a = Wave::draw(3, 2_000, &mut Rng::new(11), false);
        let b = Wave::draw(3, 2_000, &mut Rng::new(11), false);
        assert_eq!(a.specs, b.specs);
        assert_eq!(a.abort, b.abort);
    }

    #[test]
    fn every_kind_appears_and_children_follow_their_parents() {
        let wave = Wave::draw(0, 20_000, &mut Rng::new(5), true);
        let has = |pred: &dyn Fn(&Spec) -> bool| wave.specs.iter().any(pred);
        for route in [
            Route::Cpu,
            Route::Chunk,
            Route::IoBlocking,
            Route::Io,
            Route::MapCpu,
            Route::MapChunks,
            Route::MapIo,
        ] {
            assert!(has(&|s| s.route == route), "{route:?} missing");
        }
        assert!(has(&|s| s.behaviour == Behaviour::Overrun));
        assert!(has(&|s| s.behaviour == Behaviour::OpenBreaker));
        assert!(has(&|s| matches!(
            s.behaviour,
            Behaviour::Retried { budgeted: true, .. }
        )));
        assert!(has(&|s| matches!(
            s.behaviour,
            Behaviour::Map {
                panic_at: Some(_),
                ..
            }
        )));
        assert!(has(&|s| s.key.is_some_and(|k| k.cancel_rest)));
        assert!(has(&|s| s.priority == Priority::High) && has(&|s| s.priority == Priority::Low));
        assert!(has(&|s| s.limited && s.behaviour == Behaviour::Succeed));
        assert!(has(&|s| s.limited && s.route == Route::MapIo));
        assert!(has(&|s| s.cancel == Cancel::AtOnce) && has(&|s| s.cancel == Cancel::BeforeWait));
        assert!(has(&|s| s.hostile && s.behaviour == Behaviour::Panic));
        assert!(has(
            &|s| s.hostile && matches!(s.behaviour, Behaviour::Retried { .. })
        ));
        assert!(wave.shutdown.is_some());
        for route in [Route::StreamCpu, Route::StreamChunks, Route::StreamIo] {
            assert!(has(
                &|s| s.route == route && matches!(s.behaviour, Behaviour::Stream(_))
            ));
        }
        assert!(has(
            &|s| matches!(s.behaviour, Behaviour::Stream(plan) if plan.keyed)
        ));
        // Blocked inputs: never in the last wave, only on the synchronous lanes.
        assert!(!has(&|s| matches!(s.behaviour, Behaviour::Blocked(_))));
        let earlier = Wave::draw(1, 20_000, &mut Rng::new(5), false);
        let blocked: Vec<&Spec> = earlier
            .specs
            .iter()
            .filter(|s| matches!(s.behaviour, Behaviour::Blocked(_)))
            .collect();
        assert!(!blocked.is_empty());
        assert!(
            blocked
                .iter()
                .all(|s| s.index % LANES < LANES / 2 && s.cancel == Cancel::Never)
        );
        for spec in &wave.specs[..wave.top_level] {
            if let Behaviour::Nest { child } = spec.behaviour {
                let child = &wave.specs[child];
                assert!(child.index >= wave.top_level && child.manager == spec.manager);
                assert!(!matches!(child.behaviour, Behaviour::Nest { .. }) && child.key.is_none());
            }
            if let Some(key) = spec.key {
                assert_eq!(wave.key_managers[key.slot], spec.manager);
            }
        }
        let lanes: usize = wave.lanes.iter().map(Vec::len).sum();
        assert_eq!(lanes, wave.top_level);
    }
}
