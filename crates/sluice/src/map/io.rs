//! Maps on the io route: a bounded, ordered window of futures.

use crate::policy::limit::Dependency;
use crate::task::{Control, InFrame, IoSide, Quiet, Reply, TaskHandle, TaskInfo, take_message};
use crate::{Progress, TaskError};
use sluice_core::{CancelToken, Outcome};
use sluice_exec::IoPool;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// One `map_io` call, shared by its driver and its handle.
struct IoMap<O> {
    /// Cancellation and the claim on starting.
    token: CancelToken,
    /// Fires to stop the driver: this map's cancel or the manager's shutdown.
    stop: CancellationToken,
    /// The answer, sent once.
    reply: Reply<Vec<O>, Infallible>,
    /// The dependency each item calls through, if any.
    dependency: Option<Arc<Dependency>>,
    /// Told of each item done.
    progress: Option<Progress>,
    /// Set while the driver is inside the input's `next`, where no cancel reaches it.
    pulling: AtomicBool,
    /// Set by `cancel` before it looks at `pulling` (the driver looks the other way).
    cancelling: AtomicBool,
}

impl<O> IoMap<O> {
    /// The next item, or `None` once the input has ended or the map was cancelled
    /// meanwhile (told apart by `cancelling`). A cancel that finds the driver inside a
    /// blocking `next` answers the map at once; the driver's late end is abandoned.
    fn pull<It: Iterator>(&self, items: &mut It) -> std::thread::Result<Option<It::Item>> {
        // SeqCst on both sides (Dekker): either `cancel` sees `pulling`, or the driver
        // sees `cancelling` here and does not pull.
        self.pulling.store(true, Ordering::SeqCst);
        if self.cancelling.load(Ordering::SeqCst) {
            self.pulling.store(false, Ordering::SeqCst);
            return Ok(None);
        }
        let item = catch_unwind(AssertUnwindSafe(|| items.next()));
        self.pulling.store(false, Ordering::SeqCst);
        item
    }
}

/// Submits a map of `f` over `items` on the io route.
pub(crate) fn submit_io_map<It, F, Fut, O>(io: &IoSide, items: It, f: F) -> TaskHandle<Vec<O>>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> Fut + Send + 'static,
    Fut: Future<Output = O> + Send + 'static,
    O: Send + 'static,
{
    let (completer, completion) = sluice_core::completion();
    io.route.counters.submitted();
    let reply = Reply::new(io.route.clone(), completer, TaskInfo::new(None, None));
    let map = start_io_map(io, reply, (None, None), items, f);
    TaskHandle::new(completion, Some(map))
}

/// Starts a map answered through `reply` (to its caller, or to a driver of policies).
pub(crate) fn start_io_map<It, F, Fut, O>(
    io: &IoSide,
    reply: Reply<Vec<O>, Infallible>,
    (dependency, progress): (Option<Arc<Dependency>>, Option<Progress>),
    items: It,
    f: F,
) -> Arc<dyn Control>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> Fut + Send + 'static,
    Fut: Future<Output = O> + Send + 'static,
    O: Send + 'static,
{
    let pool = &io.pool;
    let map = Arc::new(IoMap {
        token: io.scope.token(),
        stop: io.stop.child_token(),
        reply,
        dependency,
        progress,
        pulling: AtomicBool::new(false),
        cancelling: AtomicBool::new(false),
    });
    let guard = SettleOnDrop(map.clone());
    let driver_pool = pool.clone();
    pool.spawn(async move {
        let guard = guard;
        let map = &guard.0;
        if map.token.try_start().is_err() {
            map.reply.cancelled_unstarted();
            return;
        }
        map.reply.started();
        if let Some(progress) = &map.progress {
            let total = match items.size_hint() {
                (low, Some(high)) if low == high => u64::try_from(low).ok(),
                _ => None,
            };
            progress.begin(total);
        }
        let (outcome, answer) = drive(map, &driver_pool, items, f).await;
        // Before the answer, so that a caller that heard sees the progress finished.
        if let Some(progress) = &map.progress {
            progress.finish();
        }
        map.reply.finished(outcome, answer);
    });
    map
}

/// Runs the window: at most the io limit of item futures in flight, results in order.
async fn drive<It, F, Fut, O>(
    map: &IoMap<O>,
    pool: &IoPool,
    items: It,
    f: F,
) -> (Outcome, Result<Vec<O>, TaskError>)
where
    It: Iterator,
    F: Fn(It::Item) -> Fut,
    Fut: Future<Output = O> + Send + 'static,
    O: Send + 'static,
{
    let gate = &map.reply.route.gate;
    let mut window = Window(VecDeque::new());
    // A hint, not a promise: reserve what it says, up to a sane first allocation.
    // Quiet: a failed map leaves the results so far, user values, to drop on its way out.
    let mut out = Quiet(Vec::with_capacity(items.size_hint().0.min(1 << 16)));
    let mut items = items;
    loop {
        // The input is user code too: a panic in it ends the map like a panic in `f`.
        let item = match map.pull(&mut items) {
            Ok(Some(item)) => item,
            Ok(None) if map.cancelling.load(Ordering::SeqCst) => {
                return (Outcome::Cancelled, Err(TaskError::Cancelled));
            }
            Ok(None) => break,
            Err(payload) => {
                let message = format!("the input iterator panicked: {}", take_message(payload));
                return (Outcome::Panicked, Err(TaskError::Panicked(message)));
            }
        };
        while window.0.len() >= gate.limit().max(1) {
            if let Err(failure) = window.collect_front(&mut out.0, map).await {
                return failure;
            }
        }
        // The dependency's permit first: waiting for a slow service holds no slot of
        // the route.
        let call = match &map.dependency {
            Some(dependency) => tokio::select! {
                biased;
                () = map.stop.cancelled() => return (Outcome::Cancelled, Err(TaskError::Cancelled)),
                permit = dependency.gate.acquire() => Some((dependency.clone(), permit)),
            },
            None => None,
        };
        let permit = tokio::select! {
            biased;
            () = map.stop.cancelled() => return (Outcome::Cancelled, Err(TaskError::Cancelled)),
            permit = gate.acquire() => permit,
        };
        let future = match catch_unwind(AssertUnwindSafe(|| f(item))) {
            Ok(future) => future,
            Err(payload) => {
                let message = take_message(payload);
                return (Outcome::Panicked, Err(TaskError::Panicked(message)));
            }
        };
        // Each item runs in a frame of its own: it sees `is_cancelled()`, and a handle it
        // awaits lends its slot while it is suspended.
        let framed =
            InFrame::new(future, map.token.clone(), permit).holding(map.reply.driver_turn());
        let measured = async move {
            let began = call.as_ref().map(|(dependency, _)| dependency.begin_call());
            let output = framed.await;
            if let (Some((dependency, permit)), Some(began)) = (call, began) {
                if dependency.end_call(began, Some(output.is_err())) {
                    dependency.sync_limit();
                }
                drop(permit);
            }
            output
        };
        window.0.push_back(pool.handle().spawn(measured));
    }
    while !window.0.is_empty() {
        if let Err(failure) = window.collect_front(&mut out.0, map).await {
            return failure;
        }
    }
    (Outcome::Succeeded, Ok(std::mem::take(&mut out.0)))
}

/// The futures in flight, oldest first; aborted if the map ends early.
struct Window<O>(VecDeque<JoinHandle<Result<O, String>>>);

impl<O> Window<O> {
    /// Awaits the oldest future and appends its output (told to `map`'s progress).
    async fn collect_front<P>(
        &mut self,
        out: &mut Vec<O>,
        map: &IoMap<P>,
    ) -> Result<(), (Outcome, Result<Vec<O>, TaskError>)> {
        let stop = &map.stop;
        let Some(front) = self.0.front_mut() else {
            return Ok(());
        };
        let joined = tokio::select! {
            biased;
            () = stop.cancelled() => return Err((Outcome::Cancelled, Err(TaskError::Cancelled))),
            joined = front => joined,
        };
        self.0.pop_front();
        match joined {
            Ok(Ok(value)) => {
                out.push(value);
                if let Some(progress) = &map.progress {
                    progress.advance(1);
                }
                Ok(())
            }
            Ok(Err(message)) => Err((Outcome::Panicked, Err(TaskError::Panicked(message)))),
            Err(_) => Err((Outcome::Cancelled, Err(TaskError::Cancelled))),
        }
    }
}

impl<O> Drop for Window<O> {
    fn drop(&mut self) {
        for handle in &self.0 {
            handle.abort();
        }
    }
}

/// Settles the map if the runtime drops its driver (a runtime shut down under it).
struct SettleOnDrop<O>(Arc<IoMap<O>>);

impl<O> Drop for SettleOnDrop<O> {
    fn drop(&mut self) {
        let map = &self.0;
        if map.token.claim_cancelled() {
            map.reply.cancelled_unstarted();
        } else if map.token.is_started() {
            map.reply
                .finished(Outcome::Cancelled, Err(TaskError::Cancelled));
        }
        if let Some(progress) = &map.progress {
            progress.finish();
        }
        // However the driver ended, no item runs any more.
        map.reply.body_ended();
    }
}

impl<O: Send> Control for IoMap<O> {
    fn cancel(&self) -> bool {
        self.reply.cancel_with(
            &self.token,
            || {
                let cancelled = self.reply.cancelled_unstarted();
                self.reply.body_ended();
                cancelled
            },
            || {
                self.cancelling.store(true, Ordering::SeqCst);
                self.stop.cancel();
                // The driver is stuck in the input and will not hear the stop until
                // the input returns: the caller hears now.
                if self.pulling.load(Ordering::SeqCst) {
                    self.reply.cancelled_early();
                }
            },
        )
    }

    /// The window runs on the runtime by itself.
    fn help(&self) {}
}
