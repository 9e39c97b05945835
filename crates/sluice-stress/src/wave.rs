//! Running one wave: its lanes submit and wait (two on threads of their own with
//! `wait()`, two on the harness's runtime with `.await`; each stream read by a reader
//! of its own), while a controller may call `abort_pending()` or, in the last wave,
//! `shutdown(deadline)`.

use crate::fleet::Fleet;
use crate::ledger::{Answer, Ledger, Violations};
use crate::plan::{Cancel, LANES, Spec, Wave};
use crate::submit::{self, Handle};
use sluice::ShutdownReport;
use sluice::retry::Retry;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;
use tokio::runtime::Runtime;

/// How long shutdown gives queued and running work: short, so that some is still
/// queued at the deadline and cancelled.
const SHUTDOWN_DEADLINE: Duration = Duration::from_millis(1);

/// What lives for the whole run.
pub struct Shared {
    /// The managers.
    pub fleet: Fleet,
    /// Retry policies of 1, 2 and 3 attempts, with millisecond backoffs and no budget
    /// (a budget would turn planned retries into failures at random).
    pub retries: Vec<Retry>,
    /// The same with a tight retry budget, for `Retried { budgeted: true, .. }`
    /// tasks: the budget refuses some retries, each refusal counted and recorded.
    pub budgeted: Vec<Retry>,
    /// Everything found wrong.
    pub violations: Violations,
    /// Answers recorded so far: the watchdog's sign of life.
    pub answered: Arc<AtomicU64>,
    /// The async callers' runtime.
    pub runtime: Runtime,
    /// The wave running now, for the watchdog's report.
    pub current: std::sync::Mutex<Option<Arc<Ctx>>>,
}

/// One wave, as its tasks see it.
pub struct Ctx {
    /// The run.
    pub shared: Arc<Shared>,
    /// The plan.
    pub wave: Wave,
    /// The books.
    pub ledger: Ledger,
}

impl Ctx {
    /// Whether `spec` was submitted: every top-level task, and a child once its
    /// parent submitted it.
    pub fn submitted(&self, spec: &Spec) -> bool {
        spec.index < self.wave.top_level
            || self.ledger.entries[spec.index]
                .submitted
                .load(Ordering::Acquire)
    }

    /// Records a violation about `spec`.
    pub fn violation(&self, spec: &Spec, what: String) {
        self.shared
            .violations
            .push(format!("{}: {what}", self.ledger.id(spec)));
    }

    fn settle(&self, spec: &Spec, handle: Handle) {
        let answer = handle.wait(self, spec);
        self.record(spec, answer);
    }

    fn record(&self, spec: &Spec, answer: Answer) {
        self.ledger.answer(spec, answer);
        self.shared.answered.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the controller did during a wave.
#[derive(Debug, Default)]
pub struct Events {
    /// The manager `abort_pending()` was called on, and how many tasks it cancelled.
    pub aborted: Option<(usize, usize)>,
    /// Tasks pending on each manager just before shutdown, and the reports.
    pub shutdown: Option<(Vec<u64>, Vec<ShutdownReport>)>,
}

/// Runs `wave` to its last answer.
pub fn run(shared: &Arc<Shared>, wave: Wave) -> (Arc<Ctx>, Events) {
    let ctx = Arc::new(Ctx {
        shared: shared.clone(),
        ledger: Ledger::new(&wave),
        wave,
    });
    if let Ok(mut current) = shared.current.lock() {
        *current = Some(ctx.clone());
    }
    let mut events = Events::default();
    thread::scope(|s| {
        for lane in 0..LANES {
            let ctx = ctx.clone();
            if lane < LANES / 2 {
                s.spawn(move || sync_lane(&ctx, lane));
            } else {
                let joined = shared.runtime.spawn(async_lane(ctx, lane));
                s.spawn(move || shared.runtime.block_on(joined));
            }
        }
        let abort = ctx.wave.abort.map(|(manager, after)| {
            let fleet = &shared.fleet;
            s.spawn(move || {
                thread::sleep(after);
                (manager, fleet.members[manager].mgr.abort_pending())
            })
        });
        let shutdown = ctx.wave.shutdown.map(|after| {
            s.spawn(move || {
                thread::sleep(after);
                shut_down(&shared.fleet)
            })
        });
        events.aborted = abort.and_then(|h| h.join().ok());
        events.shutdown = shutdown.and_then(|h| h.join().ok());
    });
    (ctx, events)
}

fn sync_lane(ctx: &Arc<Ctx>, lane: usize) {
    let handles: Lane = ctx.wave.lanes[lane]
        .iter()
        .map(|&index| submit_one(ctx, ctx.wave.specs[index]))
        .collect();
    let (streams, others) = split_streams(handles);
    thread::scope(|s| {
        for (spec, handle) in streams {
            s.spawn(move || ctx.settle(&spec, handle));
        }
        for (spec, handle) in others {
            if spec.cancel == Cancel::BeforeWait {
                handle.cancel();
            }
            ctx.settle(&spec, handle);
        }
    });
}

/// A lane's submitted tasks, in its order.
type Lane = Vec<(Spec, Handle)>;

/// Splits a lane's handles into its streams and the rest. Each stream is read by a
/// reader of its own (a thread, or a task for the async lanes) while the lane waits
/// for the rest: a small buffer hands every few elements from the consumer to the
/// producers and back, each hand-off a wakeup, and read one after the other in the
/// lane's order those would add up to hold up the wave (the harness's speed).
fn split_streams(handles: Lane) -> (Lane, Lane) {
    handles
        .into_iter()
        .partition(|(_, handle)| matches!(handle, Handle::Stream(_)))
}

async fn async_lane(ctx: Arc<Ctx>, lane: usize) {
    let handles: Lane = ctx.wave.lanes[lane]
        .iter()
        .map(|&index| submit_one(&ctx, ctx.wave.specs[index]))
        .collect();
    let (streams, others) = split_streams(handles);
    let readers: Vec<_> = streams
        .into_iter()
        .map(|(spec, mut handle)| {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                let answer = handle.join(&ctx, &spec).await;
                ctx.record(&spec, answer);
            })
        })
        .collect();
    for (spec, mut handle) in others {
        if spec.cancel == Cancel::BeforeWait {
            handle.cancel();
        }
        let answer = handle.join(&ctx, &spec).await;
        ctx.record(&spec, answer);
    }
    for reader in readers {
        if reader.await.is_err() {
            ctx.shared
                .violations
                .push("a stream's reader panicked".into());
        }
    }
}

fn submit_one(ctx: &Arc<Ctx>, spec: Spec) -> (Spec, Handle) {
    let handle = submit::launch(ctx, spec);
    if spec.cancel == Cancel::AtOnce {
        handle.cancel();
    }
    (spec, handle)
}

/// Shuts every manager down at once, each from a thread of its own.
fn shut_down(fleet: &Fleet) -> (Vec<u64>, Vec<ShutdownReport>) {
    let pending = fleet
        .members
        .iter()
        .map(|m| m.mgr.snapshot().total().pending())
        .collect();
    let reports = thread::scope(|s| {
        let handles: Vec<_> = fleet
            .members
            .iter()
            .map(|m| s.spawn(|| m.mgr.shutdown(SHUTDOWN_DEADLINE)))
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    (pending, reports)
}
