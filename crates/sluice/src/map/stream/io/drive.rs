//! The io stream's driver: one task on the runtime that starts items and polls them
//! itself, as `buffer_unordered` polls its `FuturesUnordered`.
//!
//! Why not a task per item: a spawned task per item costs a task cell, a hand-off to a
//! worker and a wake-up per completion, and with hundreds in flight the runtime's
//! workers stay busy enough that the timer is driven late, so every item's sleep ends
//! late too (measured: 1 ms sleeps ended 1.4 ms late in median against 1.15 ms for
//! `buffer_unordered`, and a fifth fewer items were in flight). Polled here, an item's
//! wake-up is a flag in the set, and the answers of one poll go to the buffer under
//! one lock with one wake-up of the consumer (`StreamBuffer::push_each`). The cost: an unkeyed stream's futures share one worker thread, as
//! `buffer_unordered`'s do; CPU-heavy work belongs on the cpu route.
//!
//! Keyed items still run in tasks of their own (`chain.rs`): an item hands its key's
//! turn to the next one, which may have been parked long before.

use super::IoStream;
use super::chain::{Call, Work, pass_turn};
use crate::TaskError;
use crate::map::stream::ItemResult;
use crate::map::stream::keyed::{Claim, KeyOrderOf};
use crate::map::stream::policy::Admitted;
use crate::task::{InFrame, drop_quietly, take_message};
use futures_core::Stream;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use sluice_core::{Outcome, Reserve};
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;

/// How a map's driver ended: its outcome and its answer.
pub(super) type Ended = (Outcome, Result<(), TaskError>);

/// What the starter did with the next item.
enum Step<Fut> {
    /// An unkeyed item, its permits taken: the driver polls it.
    Run {
        seq: u64,
        admitted: Admitted,
        call: Call,
        /// Boxed here, where it is made: the item's future, its frame and the
        /// driver's wrapper around it are hundreds of bytes, which went from the
        /// starter to the set by value, a copy at each of several moves (perf: a
        /// fifth of the driver's time in `memcpy`). One allocation moves it by
        /// pointer.
        framed: Pin<Box<InFrame<Fut>>>,
    },
    /// Answered, parked behind its key, or spawned with its key's chain.
    Handled,
    /// No more items: the input ended, the consumer left, or the map failed.
    End(Ended),
}

/// Everything the starter owns: the input and the function are dropped with it.
struct Starter<S: Stream, F, Fut, O, E> {
    map: Arc<IoStream<O, E>>,
    runtime: tokio::runtime::Handle,
    items: Pin<Box<S>>,
    keys: KeyOrderOf<S::Item, Fut>,
    f: F,
    /// Held by every spawned keyed task; the map answers when all are gone.
    done: tokio::sync::mpsc::Sender<()>,
}

/// Starts items until the input ends, the map stops, or (fail-fast) an item failed,
/// polling the items in flight meanwhile; answers once the last one is answered.
pub(super) async fn drive<S, F, Fut, O, E>(
    map: &Arc<IoStream<O, E>>,
    runtime: &tokio::runtime::Handle,
    (items, keys): (S, KeyOrderOf<S::Item, Fut>),
    f: F,
    done: tokio::sync::mpsc::Sender<()>,
) -> Ended
where
    S: Stream + Send + 'static,
    S::Item: Send,
    F: Fn(S::Item) -> Fut + Send + 'static,
    Fut: Future<Output = ItemResult<O, E>> + Send + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    let starter = Starter {
        map: map.clone(),
        runtime: runtime.clone(),
        items: Box::pin(items),
        keys,
        f,
        done,
    };
    // A stream, so that its step in progress (waiting for room, input or a permit)
    // survives the select below answering an item instead.
    let steps = futures_util::stream::unfold(starter, |mut starter| async move {
        let step = starter.step().await;
        Some((step, starter))
    });
    let mut steps = std::pin::pin!(Some(steps));
    // One wait for the stop, made once: a fresh `cancelled()` per item would register
    // with the token's lock again for every item.
    let stop = map.stop.cancelled();
    tokio::pin!(stop);
    let mut running = FuturesUnordered::new();
    let mut answered = Vec::new();
    let mut ended: Option<Ended> = None;
    loop {
        if let Some(end) = ended.take_if(|_| running.is_empty()) {
            return end;
        }
        tokio::select! {
            biased;
            () = &mut stop => {
                // Items dropped unanswered: the map did not succeed whatever came before.
                if !running.is_empty() {
                    map.cut.store(true, Ordering::Release);
                }
                return (Outcome::Cancelled, Err(TaskError::Cancelled));
            }
            Some(answer) = running.next(), if !running.is_empty() => {
                // Every item answered in this poll goes to the buffer under one lock,
                // with one wake-up of the consumer. (Polling with a no-op waker here
                // loses no wake-up: the set is polled with the task's own before the
                // driver sleeps.)
                answered.push(answer);
                while let Some(Some(answer)) = running.next().now_or_never() {
                    answered.push(answer);
                }
                let refused = map.buffer.push_each(answered.drain(..));
                drop_quietly(refused, "a streamed map's results");
            }
            step = poll_fn(|cx| match steps.as_mut().as_pin_mut() {
                Some(steps) => steps.poll_next(cx),
                None => Poll::Ready(None),
            }), if ended.is_none() => match step {
                Some(Step::Run { seq, admitted, call, framed }) => {
                    running.push(map.counted_item(seq, Some(admitted), call, framed));
                }
                Some(Step::Handled) => {}
                Some(Step::End(end)) => {
                    if end.0 == Outcome::Cancelled {
                        // The consumer is gone: what runs is dropped with the set.
                        return end;
                    }
                    // Drop the input and the function now; the items run on.
                    steps.set(None);
                    ended = Some(end);
                }
                None => ended = Some((Outcome::Succeeded, Ok(()))),
            },
        }
    }
}

impl<S, F, Fut, O, E> Starter<S, F, Fut, O, E>
where
    S: Stream + Send + 'static,
    S::Item: Send,
    F: Fn(S::Item) -> Fut + Send + 'static,
    Fut: Future<Output = ItemResult<O, E>> + Send + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    /// Takes the next item as far as it goes: a place in the buffer (waiting for the
    /// consumer when it is full: backpressure), the item, its key's turn, the breaker,
    /// the dependency's permit and the route's.
    async fn step(&mut self) -> Step<Fut> {
        let map = &self.map;
        if map.failed.load(Ordering::Acquire) {
            return Step::End((Outcome::Failed, Ok(())));
        }
        let cancelled = Step::End((Outcome::Cancelled, Err(TaskError::Cancelled)));
        let Reserve::Granted { first: seq, .. } =
            poll_fn(|cx| map.buffer.poll_reserve(cx, 1)).await
        else {
            // The consumer is gone.
            return cancelled;
        };
        // The input is user code too: its panic ends the map, said as its last element.
        let item = match AssertUnwindSafe(self.items.next()).catch_unwind().await {
            Ok(Some(item)) => item,
            Ok(None) => {
                map.buffer.unreserve(1);
                return Step::End((Outcome::Succeeded, Ok(())));
            }
            Err(payload) => {
                map.buffer.unreserve(1);
                let message = format!("the input stream panicked: {}", take_message(payload));
                return Step::End((Outcome::Panicked, Err(TaskError::Panicked(message))));
            }
        };
        // Keyed: the future is made now, and awaited in its key's turn, by the task of
        // the item before it if that one is not done.
        let work = match &self.keys {
            None => Work::Item(item),
            Some(keys) => {
                keys.register(seq, std::slice::from_ref(&item));
                match catch_unwind(AssertUnwindSafe(|| (self.f)(item))) {
                    Ok(future) => match keys.claim(seq, future) {
                        Claim::Run(future) => Work::Made(future),
                        Claim::Parked => return Step::Handled,
                        Claim::Broken(future, message) => {
                            drop_quietly(future, "an item whose key was not taken");
                            map.item_done(seq, None, Err(TaskError::Panicked(message)));
                            return Step::Handled;
                        }
                    },
                    Err(payload) => {
                        let panicked = Err(TaskError::Panicked(take_message(payload)));
                        map.item_done(seq, None, panicked);
                        pass_turn(map, &self.runtime, keys, seq, &self.done);
                        return Step::Handled;
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
                if let Some(keys) = &self.keys {
                    pass_turn(map, &self.runtime, keys, seq, &self.done);
                }
                return Step::Handled;
            }
        };
        // The dependency's permit before the route's: waiting for a slow service holds
        // no slot of the route.
        let call = match &map.policy.dependency {
            Some(dependency) => Some((dependency.clone(), dependency.gate.acquire().await)),
            None => None,
        };
        let permit = map.reply.route.gate.acquire().await;
        let made = match work {
            Work::Made(future) => Ok(future),
            Work::Item(item) => catch_unwind(AssertUnwindSafe(|| (self.f)(item))),
        };
        let future = match made {
            Ok(future) => future,
            Err(payload) => {
                drop((permit, call));
                let panicked = Err(TaskError::Panicked(take_message(payload)));
                map.item_done(seq, Some(admitted), panicked);
                return Step::Handled;
            }
        };
        // Each item runs in a frame of its own: it sees `is_cancelled()`, and a handle
        // it awaits lends its slot while it is suspended.
        let framed = InFrame::new(future, map.token.clone(), permit);
        let Some(keys) = &self.keys else {
            return Step::Run {
                seq,
                admitted,
                call,
                framed: Box::pin(framed),
            };
        };
        let (item_map, item_keys, item_done) = (map.clone(), keys.clone(), self.done.clone());
        self.runtime.spawn(async move {
            if item_map.run_item(seq, Some(admitted), call, framed).await {
                item_map.chain(&*item_keys, item_keys.done(seq)).await;
            }
            drop(item_done);
        });
        Step::Handled
    }
}
