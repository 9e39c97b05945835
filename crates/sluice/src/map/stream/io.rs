//! Streamed maps on the io route: a driver that starts item futures as room, input
//! and permits allow; each item fills its own place in the buffer.
//!
//! The driver, one task on the runtime, loops: reserve a place (waiting for the
//! consumer when the buffer is full: backpressure), take the next item from the input
//! stream, wait at the io gate (at most the io limit of items run at once), and spawn
//! the item's future. It never collects results; so a slow item holds up only the
//! places after it in an ordered stream, and nothing in an unordered one.

mod chain;

use chain::{Work, pass_turn};

use super::keyed::{Claim, KeyOrderOf};
use super::policy::Admitted;
use super::{ItemPolicy, ItemResult, MapStream, StreamControl, StreamOptions};
use crate::task::{InFrame, IoSide, Reply, TaskHandle, TaskInfo, drop_quietly, take_message};
use crate::{Progress, TaskError};
use futures_core::Stream;
use futures_util::{FutureExt, StreamExt};
use sluice_core::{CancelToken, Lease, Outcome, Reserve, StreamBuffer};
use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
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

/// Starts items until the input ends, the map stops, or (fail-fast) an item failed.
async fn drive<S, F, Fut, O, E>(
    map: &Arc<IoStream<O, E>>,
    runtime: &tokio::runtime::Handle,
    (items, keys): (S, KeyOrderOf<S::Item, Fut>),
    f: F,
    done: tokio::sync::mpsc::Sender<()>,
) -> (Outcome, Result<(), TaskError>)
where
    S: Stream + Send + 'static,
    S::Item: Send,
    F: Fn(S::Item) -> Fut + Send + 'static,
    Fut: Future<Output = ItemResult<O, E>> + Send + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    let gate = &map.reply.route.gate;
    // One wait for the stop, made once: a fresh `cancelled()` in every select would
    // register with the token's lock again for every item.
    let stop = map.stop.cancelled();
    tokio::pin!(stop);
    let mut items = std::pin::pin!(items);
    let cancelled = (Outcome::Cancelled, Err(TaskError::Cancelled));
    loop {
        if map.failed.load(Ordering::Acquire) {
            return (Outcome::Failed, Ok(()));
        }
        let reserved = tokio::select! {
            biased;
            () = &mut stop => return cancelled,
            reserved = poll_fn(|cx| map.buffer.poll_reserve(cx, 1)) => reserved,
        };
        let Reserve::Granted { first: seq, .. } = reserved else {
            // The consumer is gone.
            return cancelled;
        };
        // The input is user code too: its panic ends the map, said as its last element.
        let next = tokio::select! {
            biased;
            () = &mut stop => return cancelled,
            next = AssertUnwindSafe(items.next()).catch_unwind() => next,
        };
        let item = match next {
            Ok(Some(item)) => item,
            Ok(None) => {
                map.buffer.unreserve(1);
                return (Outcome::Succeeded, Ok(()));
            }
            Err(payload) => {
                map.buffer.unreserve(1);
                let message = format!("the input stream panicked: {}", take_message(payload));
                return (Outcome::Panicked, Err(TaskError::Panicked(message)));
            }
        };
        // Keyed: the future is made now, and awaited in its key's turn, by the task of
        // the item before it if that one is not done.
        let work = match &keys {
            None => Work::Item(item),
            Some(keys) => {
                keys.register(seq, std::slice::from_ref(&item));
                match catch_unwind(AssertUnwindSafe(|| f(item))) {
                    Ok(future) => match keys.claim(seq, future) {
                        Claim::Run(future) => Work::Made(future),
                        Claim::Parked => continue,
                        Claim::Broken(future, message) => {
                            drop_quietly(future, "an item whose key was not taken");
                            map.item_done(seq, None, Err(TaskError::Panicked(message)));
                            continue;
                        }
                    },
                    Err(payload) => {
                        let panicked = Err(TaskError::Panicked(take_message(payload)));
                        map.item_done(seq, None, panicked);
                        pass_turn(map, runtime, keys, seq, &done);
                        continue;
                    }
                }
            }
        };
        // The breaker first: while it is open the item answers `Rejected` unrun.
        let admitted = match map.policy.admit() {
            Ok(admitted) => admitted,
            Err(refused) => {
                drop_quietly(work, "an item refused by its breaker");
                map.item_done(seq, None, Err(refused));
                if let Some(keys) = &keys {
                    pass_turn(map, runtime, keys, seq, &done);
                }
                continue;
            }
        };
        // The dependency's permit before the route's: waiting for a slow service holds
        // no slot of the route.
        let call = match &map.policy.dependency {
            Some(dependency) => tokio::select! {
                biased;
                () = &mut stop => return cancelled,
                permit = dependency.gate.acquire() => Some((dependency.clone(), permit)),
            },
            None => None,
        };
        let permit = tokio::select! {
            biased;
            () = &mut stop => return cancelled,
            permit = gate.acquire() => permit,
        };
        let made = match work {
            Work::Made(future) => Ok(future),
            Work::Item(item) => catch_unwind(AssertUnwindSafe(|| f(item))),
        };
        let future = match made {
            Ok(future) => future,
            Err(payload) => {
                drop((permit, call));
                let panicked = Err(TaskError::Panicked(take_message(payload)));
                map.item_done(seq, Some(admitted), panicked);
                continue;
            }
        };
        // Each item runs in a frame of its own: it sees `is_cancelled()`, and a handle
        // it awaits lends its slot while it is suspended.
        let framed = InFrame::new(future, map.token.clone(), Lease::new(permit));
        let item_map = map.clone();
        let item_done = done.clone();
        let item_keys = keys.clone();
        runtime.spawn(async move {
            if item_map.run_item(seq, Some(admitted), call, framed).await
                && let Some(keys) = item_keys
            {
                item_map.chain(&*keys, keys.done(seq)).await;
            }
            drop(item_done);
        });
    }
}

impl<O, E> IoStream<O, E> {
    /// An item's answer goes to its place.
    fn item_done(&self, seq: u64, admitted: Option<Admitted>, result: ItemResult<O, E>) {
        self.policy.answered(admitted, &result);
        if self.fail_fast && result.is_err() {
            self.failed.store(true, Ordering::Release);
        }
        drop_quietly(self.buffer.push(seq, result), "a streamed map's result");
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
