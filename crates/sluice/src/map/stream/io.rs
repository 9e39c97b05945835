//! Streamed maps on the io route: a driver that starts item futures as room, input
//! and permits allow; each item fills its own place in the buffer.
//!
//! The driver, one task on the runtime (`io/drive.rs`), loops: reserve a place
//! (waiting for the consumer when the buffer is full: backpressure), take the next
//! item from the input stream, wait at the io gate (at most the io limit of items run
//! at once), and add the item's future to the set it polls itself, as
//! `buffer_unordered` does; keyed items run in tasks of their own (`io/chain.rs`). It
//! never collects results; so a slow item holds up only the places after it in an
//! ordered stream, and nothing in an unordered one.

mod chain;
mod drive;

use drive::drive;

use super::keyed::KeyOrderOf;
use super::policy::Admitted;
use super::{ItemPolicy, ItemResult, MapStream, StreamControl, StreamOptions};
use crate::task::{IoSide, Reply, TaskHandle, TaskInfo, drop_quietly};
use crate::{Progress, TaskError};
use futures_core::Stream;
use sluice_core::{CancelToken, Outcome, StreamBuffer};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::sync::CancellationToken;

/// One streamed `io` map, shared by its driver, its items and its stream.
struct IoStream<O, E> {
    /// Cancellation and the claim on starting.
    token: CancelToken,
    /// Fires to stop the driver and every item: the stream's drop or the manager's
    /// shutdown.
    stop: CancellationToken,
    /// Where results go.
    buffer: Arc<StreamBuffer<ItemResult<O, E>>>,
    /// An item failed under fail-fast.
    failed: AtomicBool,
    /// An item was stopped unanswered (the map's stop fired while it ran).
    cut: AtomicBool,
    /// Stop at the first failure.
    fail_fast: bool,
    /// Told of each item done.
    progress: Option<Progress>,
    /// Each item's time limit.
    item_timeout: Option<std::time::Duration>,
    /// The breaker, dependency and counts every item goes through.
    policy: ItemPolicy,
    /// The map's own answer.
    reply: Reply<(), Infallible>,
}

/// Starts a streamed map of `f` over the stream `items` on the io route.
pub(crate) fn start_io_stream<S, F, Fut, O, E>(
    io: &IoSide,
    options: StreamOptions,
    (policy, keys): (ItemPolicy, KeyOrderOf<S::Item, Fut>),
    items: S,
    f: F,
) -> MapStream<O, E>
where
    S: Stream + Send + 'static,
    S::Item: Send,
    F: Fn(S::Item) -> Fut + Send + 'static,
    Fut: Future<Output = ItemResult<O, E>> + Send + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    let (completer, completion) = sluice_core::completion();
    io.route.counters.submitted();
    let reply = Reply::new(io.route.clone(), completer, TaskInfo::new(None, None))
        .with_items(policy.counts.clone());
    let capacity = options
        .buffer
        .unwrap_or_else(|| io.route.gate.limit().saturating_mul(2));
    let buffer = Arc::new(super::buffer(capacity, options.unordered));
    let map = Arc::new(IoStream {
        token: io.scope.token(),
        stop: io.stop.child_token(),
        buffer: buffer.clone(),
        failed: AtomicBool::new(false),
        cut: AtomicBool::new(false),
        fail_fast: options.fail_fast,
        progress: options.progress,
        item_timeout: options.item_timeout,
        policy,
        reply,
    });
    let guard = SettleOnDrop(map.clone());
    let handle = io.pool.handle().clone();
    io.pool.spawn(async move {
        let guard = guard;
        let map = &guard.0;
        if map.token.try_start().is_err() {
            // Cancelled before it began (its stream dropped, abort_pending, shutdown).
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
        let (done, mut all_done) = tokio::sync::mpsc::channel::<()>(1);
        let (outcome, answer) = drive(&guard.0, &handle, (items, keys), f, done).await;
        if outcome == Outcome::Cancelled {
            map.stop.cancel();
        }
        // The input and the function were dropped with `drive`; the items still
        // running end (or stop) before the map answers.
        while all_done.recv().await.is_some() {}
        // Stopped (shutdown) after its input ended but while items ran: those items
        // never answered, so the map did not succeed; its last element says so.
        let (outcome, answer) = if outcome == Outcome::Succeeded && map.cut.load(Ordering::Acquire)
        {
            (Outcome::Cancelled, Err(TaskError::Cancelled))
        } else {
            (outcome, answer)
        };
        guard.settle(outcome, answer);
    });
    MapStream::new(
        buffer,
        Arc::new(Control(map)),
        TaskHandle::new(completion, None),
    )
}

impl<O, E> IoStream<O, E> {
    /// An item's answer goes to its place.
    fn item_done(&self, seq: u64, admitted: Option<Admitted>, result: ItemResult<O, E>) {
        self.item_counted(admitted, &result);
        drop_quietly(self.buffer.push(seq, result), "a streamed map's result");
    }

    /// An item's answer counted (its breaker told, fail-fast, progress) before it goes
    /// to its place.
    fn item_counted(&self, admitted: Option<Admitted>, result: &ItemResult<O, E>) {
        self.policy.answered(admitted, result);
        if self.fail_fast && result.is_err() {
            self.failed.store(true, Ordering::Release);
        }
        if let Some(progress) = &self.progress {
            progress.advance(1);
        }
    }
}

/// The stream's hold on the map.
struct Control<O, E>(Arc<IoStream<O, E>>);

impl<O: Send, E: Send> StreamControl for Control<O, E> {
    /// The driver waits for room itself.
    fn resume(&self, _parked: usize) {}

    fn cancel(&self) {
        let map = &self.0;
        // Items see `is_cancelled()`; the driver and the items stop at `stop`.
        if let sluice_core::CancelOutcome::BeforeStart = map.token.cancel() {
            // Never started: the driver will find the token cancelled and return.
            map.reply.cancelled_unstarted();
        }
        map.stop.cancel();
    }

    /// Items run on the runtime by themselves.
    fn help(&self) -> bool {
        false
    }
}

/// Settles the map however its driver ends: normally, or dropped by a runtime shut
/// down under it.
struct SettleOnDrop<O, E>(Arc<IoStream<O, E>>);

impl<O, E> SettleOnDrop<O, E> {
    fn settle(&self, outcome: Outcome, answer: Result<(), TaskError>) {
        let map = &self.0;
        if let Some(progress) = &map.progress {
            progress.finish();
        }
        map.reply.finished(outcome, answer);
        map.reply.body_ended();
        map.buffer.close();
    }
}

impl<O, E> Drop for SettleOnDrop<O, E> {
    fn drop(&mut self) {
        let map = &self.0;
        if !map.reply.is_answered() {
            if map.token.is_started() {
                self.settle(Outcome::Cancelled, Err(TaskError::Cancelled));
            } else {
                let _ = map.token.claim_cancelled();
                map.reply.cancelled_unstarted();
            }
        }
        // Both say the same thing again harmlessly when `settle` has run.
        map.reply.body_ended();
        map.buffer.close();
    }
}
