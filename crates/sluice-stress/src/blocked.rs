//! Maps over an input that blocks: a channel's receiver, fed slowly by a feeder thread
//! of the harness, which then cancels the map (or drops its stream) while the input
//! still waits in `next()`. The cancel (or drop) must return with the input still
//! blocked — a call that waits for it shows as the watchdog's hang, not as a pass; the
//! channel is closed after it, and the map answers once its puller is back: cancelled,
//! or (a `map_*` whose input ended first) whole. A dropped stream is counted cancelled.

use crate::body;
use crate::ledger::{Answer, item_value};
use crate::plan::{Route, Spec};
use crate::stream_plan::{BlockedPlan, FEED_PAUSE};
use crate::submit::answer_of;
use crate::wave::Ctx;
use sluice::{MapStream, StreamOptions, TaskHandle};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;

/// The feeder of one blocked map; it answers the map's outcome.
pub struct Feeder(thread::JoinHandle<Answer>);

/// What was submitted.
enum Submitted {
    /// `map_cpu` or `map_chunks`.
    Map(TaskHandle<Vec<u64>>),
    /// `stream_cpu`.
    Stream(MapStream<u64>),
}

impl Feeder {
    /// Submits the blocked map `spec` plans and starts its feeder; `None` (with a
    /// violation) if no thread could be started.
    pub fn launch(ctx: &Arc<Ctx>, spec: Spec, plan: BlockedPlan) -> Option<Feeder> {
        let mgr = &ctx.shared.fleet.members[spec.manager].mgr;
        let (sender, input) = mpsc::channel::<u32>();
        let c = ctx.clone();
        let f = move |n| body::item(&c, &spec, n);
        let task = mgr.task("blocked").priority(spec.priority);
        let submitted = match spec.route {
            Route::MapChunks => Submitted::Map(task.map_chunks(input, f)),
            Route::StreamCpu => {
                let options = StreamOptions::new().buffer(2).priority(spec.priority);
                Submitted::Stream(mgr.stream(options).cpu(input, f))
            }
            _ => Submitted::Map(task.map_cpu(input, f)),
        };
        let c = ctx.clone();
        let started = thread::Builder::new()
            .name("stress-feeder".into())
            .spawn(move || feed(&c, &spec, plan, sender, submitted));
        match started {
            Ok(thread) => Some(Feeder(thread)),
            Err(error) => {
                ctx.violation(&spec, format!("its feeder could not start: {error}"));
                None
            }
        }
    }

    /// The map's answer, once its feeder has cancelled it.
    pub fn wait(self, ctx: &Ctx, spec: &Spec) -> Answer {
        self.0.join().unwrap_or_else(|_| {
            ctx.violation(spec, "its feeder panicked".into());
            Answer::Wrong
        })
    }
}

/// Sends `plan.fed` items slowly, then cancels the map with its input still open.
fn feed(
    ctx: &Ctx,
    spec: &Spec,
    plan: BlockedPlan,
    sender: mpsc::Sender<u32>,
    submitted: Submitted,
) -> Answer {
    for n in 0..plan.fed {
        // The map may have been answered already (abort_pending): its input is gone.
        let _ = sender.send(n);
        thread::sleep(FEED_PAUSE);
    }
    match submitted {
        Submitted::Map(handle) => {
            handle.cancel();
            // Only now may the input end.
            drop(sender);
            let own = |values: &Vec<u64>| {
                values.len() == plan.fed as usize
                    && values
                        .iter()
                        .zip(0..)
                        .all(|(v, n)| *v == item_value(spec.index, n))
            };
            answer_of(ctx, spec, handle.wait(), own)
        }
        Submitted::Stream(stream) => {
            drop(stream);
            drop(sender);
            Answer::Cancelled
        }
    }
}
