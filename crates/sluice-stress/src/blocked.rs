//! Maps over an input that blocks: a channel's receiver, fed slowly by a feeder thread
//! of the harness, which then cancels the map (or drops its stream) while the input
//! still waits in `next()`. The answer must come without the input ending — the
//! channel is closed only after it — so a map that waits for its input shows as the
//! watchdog's hang, not as a pass.

use crate::body;
use crate::ledger::Answer;
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
    let answer = match submitted {
        Submitted::Map(handle) => {
            handle.cancel();
            answer_of(ctx, spec, handle.wait(), |_| true)
        }
        Submitted::Stream(stream) => {
            // The drop cancels the map; it must return with the input blocked.
            drop(stream);
            Answer::Cancelled
        }
    };
    // Only now may the input end.
    drop(sender);
    answer
}
