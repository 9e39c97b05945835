//! Every row of the runner, by area, and the sizes each mode gives them.
//!
//! One file per area builds that area's rows. The rows reach their pools through the
//! [`Ctx`], which builds them on first use; the runner builds an area's pools before
//! its first kept row (`Area::prepare`), so that no timed run pays for them and an
//! `--area` or `--only` run builds only what it measures.

mod gate;
mod maps;
mod policy;
mod routes;
mod scenarios;
mod streams;
mod submit;

use crate::confidence::Limits;
use crate::measure::Pair;
use sluice::ConcurrencyManager;
use sluice_benches::Fixture;
use sluice_benches::scenarios::{Flight, Keyed, Scenarios};
use std::cell::OnceCell;
use std::time::Duration;

/// How long the runner may take.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Everything tiny: CI runs it in debug to prove every row still runs.
    Smoke,
    /// Each row a few seconds at most: the whole run in a few minutes.
    Quick,
    /// The sizes the targets are stated for.
    Full,
}

/// The sizes of every row in one mode.
pub struct Sizes {
    /// Interleaved rounds per row, unless a row sets its own.
    pub rounds: usize,
    /// Round trips per measurement.
    pub trips: usize,
    /// Tiny tasks per submit-throughput measurement.
    pub submit: usize,
    /// The same through `run_io_blocking`, whose anchor alone takes microseconds a
    /// task, and the rounds of that row.
    pub submit_blocking: (usize, usize),
    /// Items of ~20 ns per map.
    pub tiny_items: u64,
    /// Items of ~1 µs per map.
    pub micro_items: u64,
    /// Items of ~1 ms per map.
    pub milli_items: u64,
    /// Tasks per policy measurement.
    pub policy_tasks: usize,
    /// Tiny tasks per keyed-admission measurement.
    pub keyed_tasks: usize,
    /// Successful acquire + release pairs per thread per gate measurement.
    pub gate_pairs: usize,
    /// The in-flight scenario.
    pub flight: Flight,
    /// The per-key scenario, and its rounds.
    pub per_key: (Keyed, usize),
    /// The strict scenario, and its rounds.
    pub strict: (Keyed, usize),
    /// Sleeping futures per streamed io map.
    pub stream_io: u64,
    /// Items of ~1 µs per streamed cpu map.
    pub stream_cpu: u64,
    /// Maps of four items per small-map measurement.
    pub small_maps: usize,
    /// How far a row whose verdict is unclear may be extended.
    pub more: Limits,
}

impl Sizes {
    /// The sizes of `mode`.
    pub fn of(mode: Mode) -> Self {
        let ms = Duration::from_millis;
        let keyed = |keys, per_key, sleep| Keyed {
            keys,
            per_key,
            sleep: ms(sleep),
        };
        let flight = |tasks, sleep| Flight {
            tasks,
            sleep: ms(sleep),
        };
        match mode {
            Mode::Smoke => Sizes {
                rounds: 1,
                trips: 20,
                submit: 2_000,
                submit_blocking: (2_000, 1),
                tiny_items: 100_000,
                micro_items: 1_000,
                milli_items: 4,
                policy_tasks: 50,
                keyed_tasks: 200,
                gate_pairs: 1_000,
                flight: flight(100, 1),
                per_key: (keyed(10, 2, 2), 1),
                strict: (keyed(5, 2, 1), 1),
                stream_io: 512,
                stream_cpu: 2_000,
                small_maps: 20,
                more: Limits {
                    factor: 3,
                    cap: Duration::from_secs(5),
                },
            },
            Mode::Quick => Sizes {
                rounds: 11,
                trips: 2_000,
                submit: 200_000,
                submit_blocking: (50_000, 11),
                tiny_items: 10_000_000,
                micro_items: 100_000,
                milli_items: 200,
                policy_tasks: 5_000,
                keyed_tasks: 20_000,
                gate_pairs: 200_000,
                flight: flight(300, 10),
                per_key: (keyed(10, 10, 30), 3),
                strict: (keyed(10, 3, 30), 3),
                stream_io: 20_000,
                stream_cpu: 100_000,
                small_maps: 5_000,
                more: Limits {
                    factor: 3,
                    cap: Duration::from_secs(30),
                },
            },
            Mode::Full => Sizes {
                rounds: 21,
                trips: 5_000,
                submit: 1_000_000,
                submit_blocking: (1_000_000, 7),
                tiny_items: 10_000_000,
                micro_items: 100_000,
                milli_items: 1_000,
                policy_tasks: 5_000,
                keyed_tasks: 20_000,
                gate_pairs: 1_000_000,
                flight: flight(300, 10),
                per_key: (keyed(10, 10, 30), 7),
                strict: (keyed(10, 10, 30), 5),
                stream_io: 100_000,
                stream_cpu: 1_000_000,
                small_maps: 20_000,
                more: Limits {
                    factor: 3,
                    cap: Duration::from_secs(180),
                },
            },
        }
    }
}

/// What the rows run on: the sizes, and pools built on first use and kept for the
/// life of the process (the rows' closures borrow them).
pub struct Ctx {
    /// The mode's sizes.
    pub sizes: Sizes,
    /// Threads on each side.
    pub threads: usize,
    /// The routes' pools.
    fixture: OnceCell<&'static Fixture>,
    /// The scenarios' managers and runtime.
    scenarios: OnceCell<&'static Scenarios>,
    /// The streamed maps' manager.
    streams: OnceCell<&'static ConcurrencyManager>,
}

impl Ctx {
    /// Nothing built yet.
    pub fn new(sizes: Sizes, threads: usize) -> Self {
        Ctx {
            sizes,
            threads,
            fixture: OnceCell::new(),
            scenarios: OnceCell::new(),
            streams: OnceCell::new(),
        }
    }

    /// The routes' pools, built on first use.
    pub fn fx(&self) -> &'static Fixture {
        self.fixture
            .get_or_init(|| Box::leak(Box::new(Fixture::new(self.threads))))
    }

    /// The scenarios' managers, built on first use.
    pub fn sc(&self) -> &'static Scenarios {
        self.scenarios
            .get_or_init(|| Box::leak(Box::new(Scenarios::new(self.threads))))
    }

    /// The streamed maps' manager, built on first use.
    pub fn streams(&self) -> &'static ConcurrencyManager {
        self.streams
            .get_or_init(|| Box::leak(Box::new(sluice_benches::streams::manager(self.threads))))
    }
}

/// One area: a heading and its rows.
pub struct Area {
    /// Its name for `--area`, the same as its criterion bench's.
    pub key: &'static str,
    /// Its heading in the page.
    pub title: &'static str,
    /// One or two sentences under the heading: what the rows compare.
    pub note: &'static str,
    /// Builds the rows; they reach their pools through the context when they run.
    pub rows: fn(&'static Ctx) -> Vec<Pair>,
    /// Builds the pools the rows need.
    pub prepare: fn(&Ctx),
}

/// Every area, in the order of the page.
pub fn areas() -> [Area; 8] {
    [
        routes::AREA,
        routes::LOADED,
        submit::AREA,
        maps::AREA,
        streams::AREA,
        policy::AREA,
        gate::AREA,
        scenarios::AREA,
    ]
}

/// A count as the page shows it: `10 M`, `200 k`, `300`.
pub fn count(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{} M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{} k", n / 1_000),
        n => n.to_string(),
    }
}
