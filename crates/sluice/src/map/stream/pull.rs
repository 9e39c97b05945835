//! Streamed maps on closure routes (cpu, chunk): pullers that reserve room before
//! they pull.
//!
//! A puller, admitted through the route's gate like any task, loops: it takes the
//! input (only one puller pulls at a time; one that finds it taken leaves, and the
//! puller that has it brings pullers back up to strength once it has pulled), reserves
//! room for a unit in the buffer (none: it parks and leaves; the consumer resumes it),
//! pulls the unit, maps it item by item — each item's panic or error answered in its
//! place — and pushes the results. The map ends when its input is exhausted (or it is
//! cancelled, or failed fast) and no unit is being pulled or mapped; then its input and
//! function are dropped, the map is answered, and the buffer closed.

use super::{ItemPolicy, ItemResult, MapStream, StreamControl, StreamOptions};
use crate::lock::lock;
use crate::route::Route;
use crate::task::{
    Reply, Slot, TaskHandle, TaskInfo, drop_quietly, execute, run_as_task, run_polled, take_message,
};
use crate::{Progress, TaskError};
use sluice_core::{
    CancelScope, CancelToken, Deferred, Lease, Outcome, Permit, Priority, Reserve, StreamBuffer,
};
use sluice_exec::{BlockSizer, Job};
use std::convert::Infallible;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How long one unit should take, as for `map/pull/`.
const UNIT_TARGET: Duration = Duration::from_micros(300);

/// Results per thread of the route that may wait for the consumer, by default.
const BUFFER_PER_THREAD: usize = 1024;

/// One streamed map, shared by its pullers and its stream.
struct PullStream<It, F, O, E> {
    /// Cancellation and the claim on starting.
    token: CancelToken,
    /// The input, taken by one puller at a time; dropped when the map ends.
    input: Mutex<Option<It>>,
    /// The function; dropped when the map ends (units in flight hold their own clone).
    f: Mutex<Option<Arc<F>>>,
    /// Who is doing what.
    state: Mutex<State>,
    /// Where results go.
    buffer: Arc<StreamBuffer<ItemResult<O, E>>>,
    /// Sizes the units.
    sizer: BlockSizer,
    /// The pullers to keep at work.
    strength: usize,
    /// Queue rank of the pullers.
    priority: Priority,
    /// Stop pulling after the first failure.
    fail_fast: bool,
    /// Told of each unit done.
    progress: Option<Progress>,
    /// Each item's time limit, and the runtime whose timers enforce it.
    item_timeout: Option<ItemTimer>,
    /// The breaker and counts every item goes through.
    policy: Arc<ItemPolicy>,
    /// The map's own answer, sent once.
    reply: Reply<(), Infallible>,
    /// Itself, for pullers it queues.
    this: Weak<Self>,
}

/// A per-item time limit and where its timers run.
pub(crate) struct ItemTimer {
    /// The limit.
    pub(crate) limit: Duration,
    /// The runtime that sleeps until it.
    pub(crate) runtime: tokio::runtime::Handle,
}

/// What the pullers share under one short lock (never held while pulling or mapping).
#[derive(Default)]
struct State {
    /// Pullers queued at the gate or running.
    pullers: usize,
    /// Pullers that left for want of room, to be resumed by the consumer.
    parked: usize,
    /// A puller holds the input.
    pulling: bool,
    /// Units being mapped.
    active: usize,
    /// The input has ended (or panicked).
    exhausted: bool,
    /// The input panicked: the map's last element says so.
    input_panic: Option<String>,
    /// An item failed under fail-fast: no more input is pulled.
    failed_fast: bool,
    /// The body began.
    started: bool,
    /// The map has been answered (set by its one ender).
    ended: bool,
    /// Resumes the consumer asked for that found no parked puller: a puller that found
    /// the buffer full counts itself parked only after the buffer did, and a consumer
    /// that freed room in between resumed it by the buffer's count. Such a puller finds
    /// this owed and pulls again instead of parking (else nobody would resume it).
    owed: usize,
    /// The consumer dropped or cancelled the stream: the map is counted cancelled even
    /// if its input ends afterwards (a puller blocked in it returns `None`).
    consumer_gone: bool,
}

impl State {
    fn idle(&self) -> bool {
        self.active == 0 && !self.pulling
    }
}

/// Starts a streamed map of `f` over `items` on `route`.
pub(crate) fn start_pull_stream<It, F, O, E>(
    route: &Arc<Route>,
    scope: &CancelScope,
    (options, policy): (StreamOptions, ItemPolicy),
    runtime: &tokio::runtime::Handle,
    items: It,
    f: F,
) -> MapStream<O, E>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> Result<O, E> + Send + Sync + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    let (completer, completion) = sluice_core::completion();
    route.counters.submitted();
    let reply = Reply::new(route.clone(), completer, TaskInfo::new(None, None))
        .with_items(policy.counts.clone());
    let strength = route.executor.parallelism().min(route.gate.limit()).max(1);
    let capacity = options
        .buffer
        .unwrap_or(BUFFER_PER_THREAD * route.executor.parallelism().max(1));
    let buffer = Arc::new(StreamBuffer::new(capacity, !options.unordered));
    let map = Arc::new_cyclic(|this| PullStream {
        token: scope.token(),
        input: Mutex::new(Some(items)),
        f: Mutex::new(Some(Arc::new(f))),
        state: Mutex::new(State {
            pullers: strength,
            ..State::default()
        }),
        buffer: buffer.clone(),
        sizer: BlockSizer::new(UNIT_TARGET, strength),
        strength,
        priority: options.priority,
        fail_fast: options.fail_fast,
        progress: options.progress,
        item_timeout: options.item_timeout.map(|limit| ItemTimer {
            limit,
            runtime: runtime.clone(),
        }),
        policy: Arc::new(policy),
        reply,
        this: this.clone(),
    });
    for _ in 0..strength {
        map.queue_puller();
    }
    let handle = TaskHandle::new(completion, None);
    MapStream::new(buffer, map, handle)
}

/// A unit: its first place in the buffer, its items, the function to map them with.
type Unit<T, F> = (u64, Vec<T>, Arc<F>);

impl<It, F, O, E> PullStream<It, F, O, E>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> Result<O, E> + Send + Sync + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    fn queue_puller(&self) {
        if let Some(map) = self.this.upgrade() {
            let route = &self.reply.route;
            route.gate.enqueue_at(Box::new(Puller(map)), self.priority);
        }
    }

    /// Takes units and maps them until there is nothing to do for this puller; answers
    /// how many it mapped.
    fn pull_loop(&self, lease: Option<&Lease>) -> usize {
        let mut units = 0;
        while let Some((first, block, f)) = self.next_unit() {
            units += 1;
            let len = block.len();
            let began = Instant::now();
            let map_unit = || match &self.item_timeout {
                Some(timer) => self.map_timed(first, block, &f, timer),
                None => {
                    let results = self.map_unit(block, &f);
                    let failed = results.iter().any(Result::is_err);
                    for (seq, result) in (first..).zip(results) {
                        drop_quietly(self.buffer.push(seq, result), "a streamed map's result");
                    }
                    failed
                }
            };
            let failed = match lease {
                Some(lease) => run_polled(&self.token, lease, None, map_unit).0,
                None => run_as_task(&self.token, Slot::Free, None, map_unit),
            };
            self.sizer.record(len, began.elapsed());
            drop(f);
            let failed = self.fail_fast && failed;
            if let Some(progress) = &self.progress {
                progress.advance(len as u64);
            }
            let mut state = lock(&self.state);
            state.active -= 1;
            state.failed_fast |= failed;
        }
        units
    }

    /// Maps a unit of items under a time limit each (units are of one item then): an
    /// item still running at its limit is answered `TimedOut` by a timer on the
    /// runtime, and its late result is dropped. Answers whether an item failed.
    fn map_timed(&self, first: u64, block: Vec<It::Item>, f: &F, timer: &ItemTimer) -> bool {
        let mut failed = false;
        for (seq, item) in (first..).zip(block) {
            // 0: running, 1: answered by its result, 2: answered by the timer.
            let answered = Arc::new(AtomicU8::new(0));
            let alarm = {
                let (answered, buffer) = (answered.clone(), self.buffer.clone());
                let policy = self.policy.clone();
                let limit = timer.limit;
                timer.runtime.spawn(async move {
                    tokio::time::sleep(limit).await;
                    if answered
                        .compare_exchange(0, 2, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        let timed_out: ItemResult<O, E> = Err(TaskError::TimedOut);
                        policy.answered(None, &timed_out);
                        drop_quietly(buffer.push(seq, timed_out), "a streamed map's result");
                    }
                })
            };
            let result = self.map_unit(vec![item], f).pop();
            alarm.abort();
            let Some(result) = result else {
                continue;
            };
            failed |= result.is_err();
            if answered
                .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                self.policy.answered(None, &result);
                drop_quietly(self.buffer.push(seq, result), "a streamed map's result");
            } else {
                // Answered at its limit already: the late result is dropped.
                failed = true;
                drop_quietly(result, "a timed-out item's late result");
            }
        }
        failed
    }

    /// Maps a unit, each item on its own: asked of the breaker first (refused: it
    /// answers `Rejected`), a panic or an error answered in the item's place, every
    /// answer counted.
    fn map_unit(&self, block: Vec<It::Item>, f: &F) -> Vec<ItemResult<O, E>> {
        let mut results = Vec::with_capacity(block.len());
        for item in block {
            let (admitted, result) = match self.policy.admit() {
                Ok(admitted) => {
                    let result = match catch_unwind(AssertUnwindSafe(|| f(item))) {
                        Ok(Ok(value)) => Ok(value),
                        Ok(Err(error)) => Err(TaskError::Failed(error)),
                        Err(payload) => Err(TaskError::Panicked(take_message(payload))),
                    };
                    (Some(admitted), result)
                }
                Err(refused) => {
                    drop_quietly(item, "an item refused by its breaker");
                    (None, Err(refused))
                }
            };
            // A timed item is counted where it is answered (here or at its limit).
            if self.item_timeout.is_none() {
                self.policy.answered(admitted, &result);
            } else if let Some(admitted) = admitted {
                self.policy.tell_breaker(admitted, &result);
            }
            let stop = self.fail_fast && result.is_err();
            results.push(result);
            if stop || self.token.is_cancelled() {
                break;
            }
        }
        results
    }

    /// The next unit to map, or `None` when this puller should leave (after ending
    /// the map if it was the last one at work).
    fn next_unit(&self) -> Option<Unit<It::Item, F>> {
        {
            let mut state = lock(&self.state);
            if state.ended {
                return self.leave(state);
            }
            if !state.started && !self.stopping(&state) {
                if self.token.try_start().is_err() {
                    return self.leave(state);
                }
                state.started = true;
                self.reply.started();
                if let Some(progress) = &self.progress {
                    progress.begin(self.exact_len());
                }
            }
            if self.stopping(&state) || state.pulling {
                // Another puller has the input: it brings pullers back as it pulls.
                return self.leave(state);
            }
            state.pulling = true;
        }
        let pulled = self.pull_unit();
        let mut state = lock(&self.state);
        state.pulling = false;
        match pulled {
            Pulled::Unit(first, block, f) => {
                state.active += 1;
                // Bring the pullers back up to strength while there is input and room.
                if !state.exhausted && state.pullers + state.parked < self.strength {
                    let missing = self.strength - (state.pullers + state.parked);
                    state.pullers += missing;
                    drop(state);
                    for _ in 0..missing {
                        self.queue_puller();
                    }
                }
                Some((first, block, f))
            }
            Pulled::Full if state.owed > 0 => {
                // Room was freed, and this puller resumed, since it found none.
                state.owed -= 1;
                drop(state);
                self.next_unit()
            }
            Pulled::Full => {
                state.parked += 1;
                self.leave(state)
            }
            Pulled::Nothing { exhausted, failed } => {
                state.exhausted |= exhausted;
                if let Some(message) = failed {
                    state.input_panic.get_or_insert(message);
                }
                self.leave(state)
            }
        }
    }

    /// Pulls one unit: room first, then items. Called by the one puller holding the
    /// input, without the state lock, so an input that blocks holds up nobody else.
    fn pull_unit(&self) -> Pulled<It::Item, F> {
        let mut input = lock(&self.input);
        let Some(iter) = input.as_mut() else {
            return Pulled::Nothing {
                exhausted: true,
                failed: None,
            };
        };
        let remaining = match iter.size_hint() {
            (low, Some(high)) if low == high => Some(low),
            _ => None,
        };
        if remaining == Some(0) {
            return Pulled::Nothing {
                exhausted: true,
                failed: None,
            };
        }
        let want = if self.item_timeout.is_some() {
            1
        } else {
            self.sizer.next(remaining).max(1)
        };
        let (first, count) = match self.buffer.reserve(want) {
            Reserve::Granted { first, count } => (first, count),
            Reserve::Full => return Pulled::Full,
            Reserve::Closed => {
                return Pulled::Nothing {
                    exhausted: false,
                    failed: None,
                };
            }
        };
        // The input is user code too: its panic ends the map's pulling, reported as the
        // last element.
        let pulled = catch_unwind(AssertUnwindSafe(|| {
            iter.by_ref().take(count).collect::<Vec<It::Item>>()
        }));
        drop(input);
        let block = match pulled {
            Ok(block) => block,
            Err(payload) => {
                self.buffer.unreserve(count);
                let message = format!("the input iterator panicked: {}", take_message(payload));
                return Pulled::Nothing {
                    exhausted: true,
                    failed: Some(message),
                };
            }
        };
        if block.len() < count {
            self.buffer.unreserve(count - block.len());
        }
        let f = lock(&self.f).clone();
        match f {
            Some(f) if !block.is_empty() => Pulled::Unit(first, block, f),
            _ => Pulled::Nothing {
                exhausted: true,
                failed: None,
            },
        }
    }

    fn exact_len(&self) -> Option<u64> {
        let input = lock(&self.input);
        match input.as_ref()?.size_hint() {
            (low, Some(high)) if low == high => u64::try_from(low).ok(),
            _ => None,
        }
    }

    fn stopping(&self, state: &State) -> bool {
        state.exhausted
            || state.failed_fast
            || self.token.is_cancelled()
            || self.buffer.is_cancelled()
    }

    /// This puller leaves: it is no longer counted (a parked one was counted as parked
    /// already). The map ends if nobody is left at work and nobody will come back.
    fn leave(&self, mut state: std::sync::MutexGuard<'_, State>) -> Option<Unit<It::Item, F>> {
        state.pullers -= 1;
        self.end_if_done(state);
        None
    }

    /// Ends the map if it must stop (or can go nowhere) and nothing runs.
    fn end_if_done(&self, mut state: std::sync::MutexGuard<'_, State>) {
        if state.ended || !state.idle() {
            return;
        }
        let stranded = state.pullers == 0 && state.parked == 0;
        if !self.stopping(&state) && !stranded {
            return;
        }
        state.ended = true;
        let started = state.started;
        let outcome = if !started {
            None
        } else if let Some(message) = state.input_panic.clone() {
            Some((Outcome::Panicked, Err(TaskError::Panicked(message))))
        } else if state.failed_fast {
            Some((Outcome::Failed, Ok(())))
        } else if state.consumer_gone {
            Some((Outcome::Cancelled, Err(TaskError::Cancelled)))
        } else if state.exhausted {
            Some((Outcome::Succeeded, Ok(())))
        } else {
            Some((Outcome::Cancelled, Err(TaskError::Cancelled)))
        };
        drop(state);
        // Input and function go first: a closure holding a channel's sender lets its
        // receiver see the end as soon as the map has ended.
        let input = lock(&self.input).take();
        drop_quietly(input, "a streamed map's input");
        let f = lock(&self.f).take();
        drop_quietly(f, "a streamed map's function");
        if let Some(progress) = &self.progress {
            progress.finish();
        }
        match outcome {
            None => {
                self.reply.cancelled_unstarted();
            }
            Some((outcome, answer)) => {
                self.reply.finished(outcome, answer);
            }
        }
        self.reply.body_ended();
        // After the answer, so the consumer that sees the end finds the map answered.
        self.buffer.close();
    }
}

/// What pulling a unit gave.
enum Pulled<T, F> {
    /// A unit to map at its places.
    Unit(u64, Vec<T>, Arc<F>),
    /// No room: park.
    Full,
    /// Nothing to map: the input ended (or panicked), or the buffer closed.
    Nothing {
        /// The input is done.
        exhausted: bool,
        /// Why the map stops, if it failed.
        failed: Option<String>,
    },
}

impl<It, F, O, E> StreamControl for PullStream<It, F, O, E>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> Result<O, E> + Send + Sync + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    fn resume(&self, parked: usize) {
        let resumed = {
            let mut state = lock(&self.state);
            let resumed = parked.min(state.parked);
            state.parked -= resumed;
            state.pullers += resumed;
            state.owed += parked - resumed;
            resumed
        };
        for _ in 0..resumed {
            self.queue_puller();
        }
    }

    fn cancel(&self) {
        // Marked before the token, so that a puller ending the map meanwhile (its input
        // returned `None`) counts it cancelled, as the consumer asked.
        lock(&self.state).consumer_gone = true;
        // Never waits for the input: a puller blocked in it ends the map when it returns.
        let _ = self.token.cancel();
        let mut state = lock(&self.state);
        // Parked pullers will not be resumed by a consumer that is gone.
        state.parked = 0;
        self.end_if_done(state);
    }

    fn help(&self) -> bool {
        if !self.reply.route.inline_ok {
            return false;
        }
        {
            let mut state = lock(&self.state);
            if state.ended || state.pulling {
                return false;
            }
            // Counted as a puller while it helps; its pull loop leaves like any.
            state.pullers += 1;
        }
        self.pull_loop(None) > 0
    }
}

/// One puller's place in the route's gate queue.
struct Puller<It, F, O, E>(Arc<PullStream<It, F, O, E>>);

impl<It, F, O, E> Deferred for Puller<It, F, O, E>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> Result<O, E> + Send + Sync + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    fn admit(self: Box<Self>, permit: Permit) -> Option<Permit> {
        let state = lock(&self.0.state);
        if state.ended {
            self.0.leave(state);
            return Some(permit);
        }
        drop(state);
        let executor = self.0.reply.route.executor.clone();
        let running = Running(self.0, Some(permit));
        let job = Job::new(move || {
            let mut running = running;
            if let Some(permit) = running.1.take() {
                let lease = Lease::new(permit);
                running.0.pull_loop(Some(&lease));
                lease.end();
            }
        });
        execute(&*executor, job);
        None
    }

    fn abort(self: Box<Self>) -> bool {
        let map = self.0;
        let state = lock(&map.state);
        let unstarted = !state.started;
        map.leave(state);
        unstarted && map.reply.is_answered()
    }
}

/// A puller handed to a backend; however it ends (run or dropped), it has left.
struct Running<It, F, O, E>(Arc<PullStream<It, F, O, E>>, Option<Permit>)
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> Result<O, E> + Send + Sync + 'static,
    O: Send + 'static,
    E: Send + 'static;

impl<It, F, O, E> Drop for Running<It, F, O, E>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> Result<O, E> + Send + Sync + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    fn drop(&mut self) {
        // A pull loop that returned has left already through `leave`; one dropped
        // unrun leaves here.
        if self.1.is_some() {
            let state = lock(&self.0.state);
            self.0.leave(state);
        }
    }
}
