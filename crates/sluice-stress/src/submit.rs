//! Submitting a planned task through the public API, and turning its answer into the
//! harness's `Answer`, checking a value against the one its body returns.

use crate::blocked::Feeder;
use crate::body::{self, Fail};
use crate::fleet::{BUDGETED, FLAKY, LIMITED, OPEN};
use crate::hostile::Fuse;
use crate::ledger::{Answer, item_value, value_of};
use crate::plan::{Behaviour, IDLE_TIMEOUT, OVERRUN_TIMEOUT, Route, Spec};
use crate::stream::{self, Items};
use crate::wave::Ctx;
use sluice::retry::{Retrying, Transient};
use sluice::{OnKeyFailure, TaskBuilder, TaskError, TaskHandle};
use std::sync::Arc;

/// A submitted task's handle.
pub enum Handle {
    /// A single task.
    Task(TaskHandle<u64, Fail>),
    /// A map.
    Map(TaskHandle<Vec<u64>>),
    /// A streamed map, read when waited for (taken by the read).
    Stream(Option<Items>),
    /// A map over a blocked input, cancelled by its feeder (`None`: never started).
    Blocked(Option<Feeder>),
}

impl Handle {
    /// Asks the task to stop.
    pub fn cancel(&self) {
        match self {
            Handle::Task(h) => h.cancel(),
            Handle::Map(h) => h.cancel(),
            // Cancelled by their consumer's drop or their feeder.
            Handle::Stream(_) | Handle::Blocked(_) => false,
        };
    }

    /// Blocks for the answer.
    pub fn wait(self, ctx: &Ctx, spec: &Spec) -> Answer {
        match self {
            Handle::Task(h) => task_answer(ctx, spec, h.wait()),
            Handle::Map(h) => map_answer(ctx, spec, h.wait()),
            Handle::Stream(items) => match (spec.behaviour, items) {
                (Behaviour::Stream(plan), Some(items)) => {
                    stream::read_blocking(ctx, spec, plan, items)
                }
                _ => Answer::Wrong,
            },
            Handle::Blocked(feeder) => feeder.map_or(Answer::Wrong, |f| f.wait(ctx, spec)),
        }
    }

    /// Awaits the answer. Takes `&mut self` so that a caller dropped halfway keeps the
    /// handle (see `body::Pending`).
    pub async fn join(&mut self, ctx: &Ctx, spec: &Spec) -> Answer {
        match self {
            Handle::Task(h) => task_answer(ctx, spec, h.await),
            Handle::Map(h) => map_answer(ctx, spec, h.await),
            Handle::Stream(items) => match (spec.behaviour, items.take()) {
                (Behaviour::Stream(plan), Some(items)) => {
                    stream::read_async(ctx, spec, plan, items).await
                }
                _ => Answer::Wrong,
            },
            // Blocked inputs are fed from the synchronous lanes only.
            Handle::Blocked(_) => Answer::Wrong,
        }
    }
}

/// Submits `spec` to its manager, with the policies its plan asks for.
pub fn launch(ctx: &Arc<Ctx>, spec: Spec) -> Handle {
    let mgr = &ctx.shared.fleet.members[spec.manager].mgr;
    let mut task = mgr.task(name_of(spec.behaviour)).priority(spec.priority);
    if spec.limited {
        task = task.limit(LIMITED);
    }
    if spec.idle_timeout {
        task = task.timeout(IDLE_TIMEOUT);
    }
    match spec.behaviour {
        Behaviour::Overrun => task = task.timeout(OVERRUN_TIMEOUT),
        Behaviour::OpenBreaker => task = task.breaker(OPEN),
        Behaviour::Flaky { .. } => task = task.breaker(FLAKY),
        _ => {}
    }
    if let Some(key) = spec.key {
        let policy = if key.cancel_rest {
            OnKeyFailure::CancelRest
        } else {
            OnKeyFailure::Continue
        };
        task = task
            .key(format!("w{}-k{}", ctx.wave.number, key.slot))
            .on_key_failure(policy);
    }
    match spec.behaviour {
        Behaviour::Stream(plan) => Handle::Stream(Some(stream::launch(ctx, spec, plan))),
        Behaviour::Blocked(plan) => Handle::Blocked(Feeder::launch(ctx, spec, plan)),
        Behaviour::Map { items, .. } => Handle::Map(map(task, ctx, spec, items)),
        Behaviour::Retried {
            attempts, budgeted, ..
        } => {
            let policies = if budgeted {
                &ctx.shared.budgeted
            } else {
                &ctx.shared.retries
            };
            let retry = policies[attempts as usize - 1].clone();
            Handle::Task(retried(task.retry(retry), ctx, spec))
        }
        _ => Handle::Task(plain(task, ctx, spec)),
    }
}

/// The task's name: one per behaviour, so per-name figures (retry budgets, key
/// metrics) see each kind apart.
fn name_of(behaviour: Behaviour) -> &'static str {
    match behaviour {
        Behaviour::Succeed => "succeed",
        Behaviour::Fail => "fail",
        Behaviour::Panic => "panic",
        Behaviour::Overrun => "overrun",
        Behaviour::Retried { budgeted: true, .. } => BUDGETED,
        Behaviour::Retried { .. } => "retried",
        Behaviour::OpenBreaker => "open-breaker",
        Behaviour::Flaky { .. } => "flaky",
        Behaviour::Nest { .. } => "nest",
        Behaviour::Map { .. } => "map",
        Behaviour::Stream(_) => "stream",
        Behaviour::Blocked(_) => "blocked",
    }
}

/// A plain task. A hostile one's closure (or future) captures a fuse, armed once the
/// submission is accepted and defused when the body runs (or, for a future, ends):
/// dropped unrun or halfway (cancelled, aborted, dropped by its pool, timed out, shut
/// down), it panics. (A retried task's closure is an `Fn` that lives as long as its
/// handle, so it carries none: its errors are hostile instead.)
fn plain(task: TaskBuilder<'_>, ctx: &Arc<Ctx>, spec: Spec) -> TaskHandle<u64, Fail> {
    let (mut fuse, arming) = Fuse::later(spec.hostile);
    let c = ctx.clone();
    let work = move || {
        fuse.defuse();
        body::closure(&c, spec)
    };
    let handle = match spec.route {
        Route::Cpu => task.try_run_cpu(work),
        Route::Chunk => task.try_run_chunk(work),
        Route::IoBlocking => task.try_run_io_blocking(work),
        // Maps never reach here (their behaviour is `Map`); the plan's tests hold it.
        Route::Io
        | Route::MapCpu
        | Route::MapChunks
        | Route::MapIo
        | Route::StreamCpu
        | Route::StreamChunks
        | Route::StreamIo => {
            // The future holds the fuse instead (the closure, unused, drops it quietly).
            let (fuse, io_arming) = Fuse::later(spec.hostile);
            let handle = task.try_run_io(body::io(ctx.clone(), spec, fuse));
            io_arming.arm();
            return handle;
        }
    };
    arming.arm();
    handle
}

fn retried(
    task: TaskBuilder<'_, Retrying<Transient>>,
    ctx: &Arc<Ctx>,
    spec: Spec,
) -> TaskHandle<u64, Fail> {
    let c = ctx.clone();
    match spec.route {
        Route::Cpu => task.try_run_cpu(move || body::closure(&c, spec)),
        Route::Chunk => task.try_run_chunk(move || body::closure(&c, spec)),
        Route::IoBlocking => task.try_run_io_blocking(move || body::closure(&c, spec)),
        Route::Io
        | Route::MapCpu
        | Route::MapChunks
        | Route::MapIo
        | Route::StreamCpu
        | Route::StreamChunks
        | Route::StreamIo => task.try_run_io(move || body::io(c.clone(), spec, Fuse::default())),
    }
}

fn map(task: TaskBuilder<'_>, ctx: &Arc<Ctx>, spec: Spec, items: u32) -> TaskHandle<Vec<u64>> {
    let c = ctx.clone();
    match spec.route {
        Route::MapChunks => task.map_chunks(0..items, move |item| body::item(&c, &spec, item)),
        Route::MapIo => task.map_io(0..items, move |item| {
            let c = c.clone();
            async move {
                tokio::task::yield_now().await;
                body::item(&c, &spec, item)
            }
        }),
        _ => task.map_cpu(0..items, move |item| body::item(&c, &spec, item)),
    }
}

fn task_answer(ctx: &Ctx, spec: &Spec, mut result: Result<u64, TaskError<Fail>>) -> Answer {
    // The caller has its error: a hostile one is dropped quietly here.
    if let Err(TaskError::Failed(fail)) = &mut result {
        fail.fuse.defuse();
        if fail.index != spec.index {
            ctx.violation(
                spec,
                format!("was answered the error of task {}", fail.index),
            );
        }
    }
    let own = value_of(ctx.wave.number, spec.index);
    answer_of(ctx, spec, result, |value| *value == own)
}

fn map_answer(ctx: &Ctx, spec: &Spec, result: Result<Vec<u64>, TaskError>) -> Answer {
    let Behaviour::Map { items, .. } = spec.behaviour else {
        return answer_of(ctx, spec, result, |_| false);
    };
    answer_of(ctx, spec, result, |values| {
        values.len() == items as usize
            && values
                .iter()
                .enumerate()
                .all(|(i, v)| *v == item_value(spec.index, i as u32))
    })
}

/// The harness's answer for `result`; `own` says whether a value is the task's own.
pub fn answer_of<T: std::fmt::Debug, E: std::fmt::Debug>(
    ctx: &Ctx,
    spec: &Spec,
    result: Result<T, TaskError<E>>,
    own: impl FnOnce(&T) -> bool,
) -> Answer {
    match result {
        Ok(value) if own(&value) => Answer::Ok,
        Ok(value) => {
            let shown = format!("{value:?}");
            let shown = shown.get(..200).unwrap_or(&shown);
            ctx.violation(
                spec,
                format!("({spec:?}) was answered a value that is not its own: {shown}"),
            );
            Answer::Wrong
        }
        Err(TaskError::Failed(_)) => Answer::Failed,
        Err(TaskError::Panicked(_)) => Answer::Panicked,
        Err(TaskError::Cancelled) => Answer::Cancelled,
        Err(TaskError::TimedOut) => Answer::TimedOut,
        Err(TaskError::Rejected { .. } | TaskError::ShuttingDown) => Answer::Rejected,
        Err(other) => {
            ctx.violation(
                spec,
                format!("was answered {other:?}, which no task here may be"),
            );
            Answer::Wrong
        }
    }
}
