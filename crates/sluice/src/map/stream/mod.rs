//! Streamed maps: results handed to the caller as they are produced, through a
//! bounded buffer that is the map's backpressure.
//!
//! - `pull.rs` (cpu and chunk routes): pullers as in `map/pull/`, but each reserves
//!   room in the buffer before it takes a unit of input; with no room it parks (leaves
//!   its pool thread) and the consumer resumes it as it frees room. Only one puller
//!   pulls the input at a time, and the others never wait for it: an input that blocks
//!   holds one thread, not the pool.
//! - `io.rs` (io route): a driver on the runtime that reserves a place, pulls an item
//!   (from an iterator or a `Stream`), takes its permits and polls the item's future
//!   itself among the others in flight (`io/drive.rs`); each fills its own place
//!   (`io/chain.rs`, where keyed items run in tasks of their own).
//! - `keyed.rs`: per-key order — an item waiting for its key is parked with its place,
//!   and run by whoever finishes the item before it. `retry.rs`: retry per item, in
//!   the item's place.
//!
//! Every item answers in its own place (`Result<O, TaskError<E>>`); the map counts as
//! one task. Dropping the stream cancels the map; the map's input and function are
//! dropped as soon as it has ended.

mod io;
mod keyed;
mod options;
mod policy;
mod pull;
mod retry;
mod state;

pub(crate) use io::start_io_stream;
pub use keyed::{KeyOf, Keyed, Unkeyed};
pub use options::StreamOptions;
pub(crate) use policy::ItemPolicy;
pub(crate) use pull::start_pull_stream;
pub(crate) use retry::ItemRetry;
pub use state::Pooled;
pub(crate) use state::{PerThread, StatePool};

use crate::TaskError;
use crate::task::{TaskHandle, drop_quietly};
use crate::wait::blocking;
use futures_core::Stream;
use sluice_core::{Refill, StreamBuffer};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// One item's answer in a streamed map: its value, or what became of it.
pub type ItemResult<O, E = Infallible> = Result<O, TaskError<E>>;

/// The buffer of a streamed map: in input order, an item cut short (the map ended
/// while it was in flight) answers `Cancelled` in its place, so that later answers keep
/// their positions.
pub(crate) fn buffer<O, E>(capacity: usize, unordered: bool) -> StreamBuffer<ItemResult<O, E>> {
    if unordered {
        StreamBuffer::new(capacity, false)
    } else {
        StreamBuffer::with_fill(capacity, cut_short::<O, E>)
    }
}

/// The answer of an item the map ended before it was answered.
fn cut_short<O, E>() -> ItemResult<O, E> {
    Err(TaskError::Cancelled)
}

/// What the consumer side needs of a running streamed map.
pub(crate) trait StreamControl: Send + Sync {
    /// Room freed: resume `parked` producers that left for want of it.
    fn resume(&self, parked: usize);
    /// The consumer is gone: stop pulling, stop what runs, end the map.
    fn cancel(&self);
    /// A blocking consumer inside a task of the same manager found nothing ready:
    /// produce on this thread if the route allows it. Answers whether it did anything.
    fn help(&self) -> bool;

    /// The map is small enough (a few items, its length known) that a blocking
    /// consumer anywhere should produce on its own thread rather than wait for a pool
    /// round trip.
    fn is_small(&self) -> bool {
        false
    }

    /// The consumer reads for the first time (`blocking`: from a thread it may block).
    /// A map that waits for it starts now.
    fn start(&self, _blocking: bool) {}
}

/// The results of a streamed map, as they are produced.
///
/// A [`Stream`] for async callers and, through [`IntoIterator`], a blocking iterator
/// for synchronous ones. Each element is one item's answer ([`ItemResult`]): a failed,
/// panicked or timed-out item answers in its place and the others go on. In input order
/// unless the map was made [`unordered`](StreamOptions::unordered).
///
/// At most [`buffer`](StreamOptions::buffer) results are produced ahead of the
/// consumer: when that many wait, the map pulls no more input until the consumer takes
/// some (backpressure). Dropping the stream cancels the rest of the map: no more input
/// is pulled, futures in flight are dropped, CPU work in flight sees
/// [`is_cancelled`](crate::is_cancelled), and the map is counted cancelled.
///
/// A stream is an input like any other, so stages chain: an `io` stage takes another
/// stage's stream as a `Stream` ([`StreamBuilder::io_stream`](crate::StreamBuilder::io_stream))
/// and awaits it; a `cpu` or `chunks` stage takes it as an iterator, and the one puller
/// that pulls it blocks its thread while the stage before has nothing ready. So a
/// `cpu` stage fed by another stage that needs a CPU thread wants a CPU pool of at
/// least two threads (one puller may block, the other runs the stage before); a
/// blocking consumer *inside* a CPU task produces on its own thread instead of
/// blocking when its own map has work.
///
/// An `io` stream polls the futures of its items in one task on the runtime, as
/// `buffer_unordered` does (keyed items excepted: each runs in a task of its own), so
/// that hundreds in flight cost no task and no hand-off each; the price is that CPU
/// work inside those futures runs on one worker thread at a time. Heavy CPU work
/// belongs in a `cpu` stage chained after the `io` one.
///
/// If the map itself ends early for a reason other than its items — `abort_pending`,
/// `shutdown`, or [`cancel`](Self::cancel) — the stream ends with one last element
/// carrying that reason (`Err(TaskError::Cancelled)`). In input order, items that were
/// in flight then answer `Err(TaskError::Cancelled)` in their places first, so every
/// answer before the last element stays at its item's position.
///
/// # Examples
///
/// ```
/// use sluice::ConcurrencyManager;
///
/// let mgr = ConcurrencyManager::builder().build()?;
/// let mut total = 0;
/// for length in mgr.stream_cpu(["alpha", "beta", "gamma"], |word: &str| word.len()) {
///     total += length?;
/// }
/// assert_eq!(total, 14);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a stream does nothing useful unless read; dropping it cancels the map"]
pub struct MapStream<O, E = Infallible> {
    /// Where the results wait.
    buffer: Arc<StreamBuffer<ItemResult<O, E>>>,
    /// The map behind it.
    control: Arc<dyn StreamControl>,
    /// The map's own answer: how it ended as a whole.
    handle: Option<TaskHandle<()>>,
    /// Results taken from the buffer in one go and not yet handed out; still counted
    /// by the buffer until the next refill releases them.
    local: VecDeque<ItemResult<O, E>>,
    /// How many of the last refill's results the buffer still counts.
    held: usize,
    /// Results taken per refill: a quarter of the buffer, at most 64.
    batch: usize,
    /// The stream has given its last element.
    done: bool,
    /// The map has been told of the consumer's first read.
    started: bool,
}

impl<O, E> MapStream<O, E> {
    pub(crate) fn new(
        buffer: Arc<StreamBuffer<ItemResult<O, E>>>,
        control: Arc<dyn StreamControl>,
        handle: TaskHandle<()>,
    ) -> Self {
        MapStream::with(buffer, control, handle)
    }

    fn with(
        buffer: Arc<StreamBuffer<ItemResult<O, E>>>,
        control: Arc<dyn StreamControl>,
        handle: TaskHandle<()>,
    ) -> Self {
        let batch = (buffer.capacity() / 4).clamp(1, 64);
        MapStream {
            buffer,
            control,
            handle: Some(handle),
            local: VecDeque::new(),
            held: 0,
            batch,
            done: false,
            started: false,
        }
    }

    /// A stream refused at submission: its one element is `error`.
    pub(crate) fn refused(error: TaskError) -> Self {
        let buffer = Arc::new(StreamBuffer::new(1, false));
        buffer.close();
        MapStream::with(buffer, Arc::new(Refused), TaskHandle::answered(error))
    }

    /// Cancels the map and ends the stream: what was produced and not yet read is
    /// dropped. Returns false if the map had already ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let mut squares = mgr.stream_chunks(0..u64::MAX, |x| x * x);
    /// assert_eq!(squares.next_blocking().transpose()?, Some(0));
    /// squares.cancel(); // an endless input, stopped
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cancel(&mut self) -> bool {
        let live = self.handle.as_ref().is_some_and(|h| !h.is_finished());
        self.shut();
        live
    }

    /// The next result, blocking the thread until it is there; `None` at the end.
    ///
    /// Inside a task of the same manager on the CPU or chunk route, a consumer that
    /// finds nothing ready produces on its own thread instead of blocking it, so that a
    /// stage pulled from another stage's stream cannot starve a small pool.
    ///
    /// A small `cpu` or `chunks` stream — at most 64 items, its length known, no item
    /// timeout — starts at its consumer's first read, not when it is made: a blocking
    /// consumer then maps it on its own thread, in one unit, with no pool round trip
    /// (which would cost more than the items); an async consumer's first poll sends it
    /// to the pool. It is counted submitted when it starts (or, dropped unread, when
    /// dropped, as cancelled), so a small stream never read holds up no shutdown.
    pub fn next_blocking(&mut self) -> Option<ItemResult<O, E>> {
        if self.done {
            return None;
        }
        if let Some(value) = self.local.pop_front() {
            return Some(value);
        }
        if !self.started {
            self.started = true;
            self.control.start(true);
        }
        let refill = self
            .buffer
            .try_refill(self.held, &mut self.local, self.batch);
        if let Some(next) = self.refilled(refill) {
            return next;
        }
        loop {
            if (crate::task::in_task() || self.control.is_small()) && self.control.help() {
                let refill = self.buffer.try_refill(0, &mut self.local, self.batch);
                if let Some(next) = self.refilled(refill) {
                    return next;
                }
                continue;
            }
            // While it blocks, a task's admission slot is lent to its gate, as in
            // `wait()`, so that the producers it waits for can be admitted.
            let _lent = crate::task::in_task()
                .then(crate::task::lend_current)
                .flatten();
            let (buffer, local, batch) = (&self.buffer, &mut self.local, self.batch);
            let refill = blocking(|| buffer.refill_blocking(0, local, batch));
            if let Some(next) = self.refilled(refill) {
                return next;
            }
        }
    }

    /// Acts on a refill: resumes parked producers, and answers the next element (or
    /// the end) if there is one to give, `None` if the caller must wait.
    #[allow(clippy::option_option)]
    fn refilled(&mut self, refill: Refill) -> Option<Option<ItemResult<O, E>>> {
        let (resume, next) = match refill {
            Refill::Got { count, resume } => {
                self.held = count;
                (resume, Some(self.local.pop_front()))
            }
            Refill::End { resume } => {
                self.held = 0;
                (resume, Some(self.end()))
            }
            Refill::Empty { resume } => {
                self.held = 0;
                (resume, None)
            }
        };
        if resume > 0 {
            self.control.resume(resume);
        }
        next
    }

    /// Feeds every result to `sink` on this thread, in the stream's order, and answers
    /// how many there were. The sink form of a map, for results that need no loop of
    /// the caller's: `sink` may stop early by returning `false` (the rest of the map is
    /// cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let mut longest = 0;
    /// let seen = mgr
    ///     .stream_cpu(["a", "bcd", "ef"], |word: &str| word.len())
    ///     .for_each_blocking(|length| {
    ///         longest = longest.max(length.unwrap_or(0));
    ///         true
    ///     });
    /// assert_eq!((seen, longest), (3, 3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_each_blocking(mut self, mut sink: impl FnMut(ItemResult<O, E>) -> bool) -> u64 {
        let mut seen = 0;
        while let Some(result) = self.next_blocking() {
            seen += 1;
            if !sink(result) {
                break;
            }
        }
        seen
    }

    /// The buffer has ended: the map's own early end, if any, is the last element.
    fn end(&mut self) -> Option<ItemResult<O, E>> {
        self.done = true;
        let handle = self.handle.take()?;
        if !handle.is_finished() {
            // Ended by our own cancel, or a map that closed before answering: nothing
            // more to say.
            return None;
        }
        match handle.wait() {
            Ok(()) => None,
            Err(error) => Some(Err(error.widen())),
        }
    }

    /// Cancels the map and drops what waits, outside the buffer's lock.
    fn shut(&mut self) {
        self.done = true;
        if self.handle.take().is_some() {
            self.control.cancel();
        }
        drop_quietly(self.buffer.cancel(), "a streamed map's unread results");
        let local = std::mem::take(&mut self.local);
        drop_quietly(local, "a streamed map's unread results");
    }
}

impl<O, E> Stream for MapStream<O, E> {
    type Item = ItemResult<O, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(value) = this.local.pop_front() {
            return Poll::Ready(Some(value));
        }
        if !this.started {
            this.started = true;
            this.control.start(false);
        }
        let mut released = this.held;
        loop {
            let refill = match this
                .buffer
                .poll_refill(cx, released, &mut this.local, this.batch)
            {
                Poll::Ready(refill) => refill,
                Poll::Pending => {
                    this.held = 0;
                    return Poll::Pending;
                }
            };
            released = 0;
            if let Some(next) = this.refilled(refill) {
                return Poll::Ready(next);
            }
        }
    }
}

impl<O, E> Unpin for MapStream<O, E> {}

impl<O, E> Drop for MapStream<O, E> {
    fn drop(&mut self) {
        self.shut();
    }
}

impl<O, E> fmt::Debug for MapStream<O, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapStream")
            .field("buffer", &self.buffer)
            .field("done", &self.done)
            .finish()
    }
}

/// The blocking iterator over a [`MapStream`]'s results.
#[derive(Debug)]
pub struct MapIter<O, E = Infallible>(MapStream<O, E>);

impl<O, E> Iterator for MapIter<O, E> {
    type Item = ItemResult<O, E>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next_blocking()
    }
}

impl<O, E> IntoIterator for MapStream<O, E> {
    type Item = ItemResult<O, E>;
    type IntoIter = MapIter<O, E>;

    fn into_iter(self) -> MapIter<O, E> {
        MapIter(self)
    }
}

/// The control of a stream refused at submission: nothing runs.
struct Refused;

impl StreamControl for Refused {
    fn resume(&self, _parked: usize) {}
    fn cancel(&self) {}
    fn help(&self) -> bool {
        false
    }
}
