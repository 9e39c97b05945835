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
//!
//! Here: the map's state and its start. `take.rs`: taking a unit of input (room first,
//! then items); `map.rs`: mapping a unit item by item (timed or not); `end.rs`: leaving
//! and ending; `puller.rs`: the pullers' places in the gate queue and on the backend,
//! and the stream's hold on the map.

mod end;
mod map;
mod puller;
mod take;

use puller::Puller;

use super::keyed::{Claim, KeyOrder, KeyOrderOf};
use super::{ItemPolicy, ItemResult, MapStream, StreamControl, StreamOptions};
use crate::items::Tally;
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

/// Streams of at most this many items (their length known) are helped by a blocking
/// consumer from anywhere: a pool round trip costs more than mapping them.
const SMALL_STREAM: usize = 64;

/// Results per thread of the route that may wait for the consumer, by default. Results
/// are made on the pool's threads and freed on the consumer's, and glibc gives each
/// thread an arena of its own whose high-water mark stays: a peak RSS of up to about
/// twice what the buffer holds (`cargo xtask bench memory`). At 512 per thread, 10 KB
/// results on two threads peak at ~24 MB (issue 17's bound is 32 MB; 1,024 took ~41);
/// still above one unit of 300 µs of ~1 µs items per thread, with room to spare.
const BUFFER_PER_THREAD: usize = 512;

/// One streamed map, shared by its pullers and its stream.
struct PullStream<It: Iterator, F, O, E> {
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
    /// At most `SMALL_STREAM` items, its length known: a blocking consumer maps them
    /// itself rather than wait for a pool round trip.
    small: bool,
    /// The input's length when it told it exactly at the start, for the progress.
    len: Option<u64>,
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
    /// The per-key order of a keyed map.
    keys: KeyOrderOf<It::Item>,
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
    /// The map is under way: counted submitted, its pullers queued (or its blocking
    /// consumer producing). A small map waits for its consumer's first read.
    kicked: bool,
    /// A small map produced by its blocking consumer: no pullers are brought up, and
    /// its units take all it has.
    inline: bool,
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
    (options, policy, keys): (StreamOptions, ItemPolicy, KeyOrderOf<It::Item>),
    runtime: &tokio::runtime::Handle,
    items: It,
    f: F,
) -> MapStream<O, E>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> ItemResult<O, E> + Send + Sync + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    let (completer, completion) = sluice_core::completion();
    let strength = route.executor.parallelism().min(route.gate.limit()).max(1);
    // Not with item timeouts: a consumer stuck in an item could not hear its timeout.
    let len = match items.size_hint() {
        (low, Some(high)) if low == high => u64::try_from(low).ok(),
        _ => None,
    };
    let small = options.item_timeout.is_none() && len.is_some_and(|len| len <= SMALL_STREAM as u64);
    // A small map starts at its consumer's first read (`StreamControl::start`): a
    // blocking consumer then maps it on its own thread, with no pool round trip, and
    // a map never read is never counted (shutdown has nothing to wait for).
    if !small {
        route.counters.submitted();
    }
    let reply = Reply::new(route.clone(), completer, TaskInfo::new(None, None))
        .with_items(policy.counts.clone());
    let capacity = options
        .buffer
        .unwrap_or(BUFFER_PER_THREAD * route.executor.parallelism().max(1));
    let buffer = Arc::new(super::buffer(capacity, options.unordered));
    let map = Arc::new_cyclic(|this| PullStream {
        token: scope.token(),
        input: Mutex::new(Some(items)),
        f: Mutex::new(Some(Arc::new(f))),
        state: Mutex::new(State {
            pullers: if small { 0 } else { strength },
            kicked: !small,
            ..State::default()
        }),
        buffer: buffer.clone(),
        sizer: BlockSizer::new(UNIT_TARGET, strength),
        strength,
        small,
        len,
        priority: options.priority,
        fail_fast: options.fail_fast,
        progress: options.progress,
        item_timeout: options.item_timeout.map(|limit| ItemTimer {
            limit,
            runtime: runtime.clone(),
        }),
        policy: Arc::new(policy),
        keys,
        reply,
        this: this.clone(),
    });
    if !small {
        for _ in 0..strength {
            map.queue_puller();
        }
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
    F: Fn(It::Item) -> ItemResult<O, E> + Send + Sync + 'static,
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
            let map_unit = || match (&self.keys, &self.item_timeout) {
                (Some(keys), _) => self.map_keyed(first, block, &f, &**keys),
                (None, Some(timer)) => self.map_timed(first, block, &f, timer),
                (None, None) => {
                    let results = self.map_unit(block, &f);
                    let failed = results.iter().any(Result::is_err);
                    let refused = self.buffer.push_many(first, results);
                    drop_quietly(refused, "a streamed map's result");
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

    fn stopping(&self, state: &State) -> bool {
        state.exhausted
            || state.failed_fast
            || self.token.is_cancelled()
            || self.buffer.is_cancelled()
    }
}
