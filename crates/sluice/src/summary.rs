//! The periodic summary log: every interval, one `tracing` info event with what the
//! manager did since the last one — tasks ended per second, the share that succeeded,
//! tasks in flight and queued, and the p99 of queue wait and run time.

use crate::route::Route;
use crate::ticker::Ticker;
use sluice_core::HistogramSnapshot;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// What the previous summary saw, to report the interval since.
struct Last {
    /// When.
    at: Instant,
    /// Tasks ended, in any outcome.
    ended: u64,
    /// Tasks that succeeded.
    succeeded: u64,
    /// Queue waits, all routes together.
    queue_wait: HistogramSnapshot,
    /// Run times, all routes together.
    run_time: HistogramSnapshot,
}

impl Last {
    fn empty() -> Self {
        Last {
            at: Instant::now(),
            ended: 0,
            succeeded: 0,
            queue_wait: HistogramSnapshot::empty(),
            run_time: HistogramSnapshot::empty(),
        }
    }
}

/// Starts the summary thread for `routes`, logging every `interval`.
pub(crate) fn start(interval: Duration, routes: Vec<&Arc<Route>>) -> std::io::Result<Ticker> {
    let routes: Vec<Weak<Route>> = routes.into_iter().map(Arc::downgrade).collect();
    // The baseline is the routes' start (nothing has run on them yet), not the first
    // tick: tasks that end before that tick are in the first line, not lost before it.
    let mut last = Last::empty();
    Ticker::start("sluice-summary", interval, move || {
        let Some(now) = read(&routes) else {
            return false;
        };
        log(&last, &now);
        last = now.0;
        true
    })
}

/// The routes' totals now, with tasks in flight and queued; `None` once they are gone.
fn read(routes: &[Weak<Route>]) -> Option<(Last, u64, usize)> {
    let mut now = Last::empty();
    let (mut running, mut queued) = (0, 0);
    for route in routes {
        let route = route.upgrade()?;
        let counts = route.counters.snapshot();
        now.ended += counts.outcomes_total();
        now.succeeded += counts.succeeded;
        running += counts.in_flight;
        queued += route.gate.waiting();
        now.queue_wait = now.queue_wait.merged(&route.queue_wait.snapshot());
        now.run_time = now.run_time.merged(&route.run_time.snapshot());
    }
    Some((now, running, queued))
}

fn log(last: &Last, (now, running, queued): &(Last, u64, usize)) {
    let seconds = now.at.duration_since(last.at).as_secs_f64().max(1e-9);
    let ended = now.ended.saturating_sub(last.ended);
    let succeeded = now.succeeded.saturating_sub(last.succeeded);
    let micros = |h: HistogramSnapshot| h.percentile(0.99) as f64 / 1_000.0;
    tracing::info!(
        tasks_per_s = ended as f64 / seconds,
        ended,
        success_rate = if ended == 0 {
            1.0
        } else {
            succeeded as f64 / ended as f64
        },
        in_flight = running,
        queued,
        p99_queue_wait_us = micros(now.queue_wait.since(&last.queue_wait)),
        p99_run_time_us = micros(now.run_time.since(&last.run_time)),
        "sluice: summary"
    );
}
