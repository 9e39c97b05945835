//! A bounded buffer between the workers of a streamed map and its one consumer.
//!
//! Room is *reserved* before work begins: a worker that is about to map a unit of
//! `n` items first reserves `n` places, so results never wait anywhere but here and
//! the buffer's capacity bounds everything produced but not yet consumed. A worker
//! that finds no room is counted as *parked* and goes away (it does not block a pool
//! thread); the consumer learns from [`StreamBuffer::take`] when enough room has freed
//! to resume the parked workers, and resumes them. An async producer can instead
//! wait for room with [`StreamBuffer::poll_reserve`].
//!
//! In ordered mode every reserved place has a sequence number (reservations are made
//! in input order) and values are delivered in that order; in unordered mode they are
//! delivered as they are pushed. Closing says no more reservations will come; places
//! reserved and never filled by then are skipped. Cancelling (the consumer is gone)
//! drops what is buffered and refuses everything after.
//!
//! # Examples
//!
//! ```
//! use sluice_core::{Reserve, StreamBuffer, Taken};
//!
//! let buffer = StreamBuffer::new(4, true);
//! let Reserve::Granted { first, count } = buffer.reserve(3) else { unreachable!() };
//! assert_eq!((first, count), (0, 3));
//! // Results arrive out of order; they leave in order.
//! buffer.push(2, "c");
//! buffer.push(0, "a");
//! buffer.push(1, "b");
//! buffer.close();
//! let mut out = Vec::new();
//! while let Taken::Value { value, .. } = buffer.try_take() {
//!     out.push(value);
//! }
//! assert_eq!(out, ["a", "b", "c"]);
//! assert!(matches!(buffer.try_take(), Taken::End));
//! ```

mod push;
mod state;
mod take;

use crate::loom::lock;
use crate::loom::sync::{Condvar, Mutex, MutexGuard};
use state::State;
use std::collections::VecDeque;
use std::task::{Context, Poll};

/// What [`StreamBuffer::reserve`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Reserve {
    /// `count` places (at least one) starting at sequence number `first`.
    Granted {
        /// The first place's sequence number.
        first: u64,
        /// How many places, `1..=want`.
        count: usize,
    },
    /// No room: the caller is counted as parked and will be reported by a later take.
    Full,
    /// The buffer is closed or cancelled: nothing more is wanted.
    Closed,
}

/// What a take answers.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken<T> {
    /// The next value, and how many parked producers the room it freed should resume.
    Value {
        /// The value.
        value: T,
        /// Parked producers to resume now (zero most of the time).
        resume: usize,
    },
    /// Nothing ready yet (only from [`StreamBuffer::try_take`]).
    Empty,
    /// Closed and drained, or cancelled: no value will come.
    End,
}

/// What a refill answers: values moved to the consumer's own queue, which stay counted
/// as held until the next refill releases them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refill {
    /// `count` values moved out (at least one).
    Got {
        /// How many.
        count: usize,
        /// Parked producers to resume now.
        resume: usize,
    },
    /// Nothing ready yet (only from [`StreamBuffer::try_refill`]).
    Empty {
        /// Parked producers to resume now (the release may have freed room).
        resume: usize,
    },
    /// Closed and drained, or cancelled.
    End {
        /// Parked producers to resume now.
        resume: usize,
    },
}

/// The buffer; shared by reference (`Arc`) between producers and the consumer.
pub struct StreamBuffer<T> {
    /// Everything, under one lock: each operation is a few instructions.
    state: Mutex<State<T>>,
    /// Wakes a consumer blocked in [`take_blocking`](Self::take_blocking).
    condvar: Condvar,
}

impl<T> StreamBuffer<T> {
    /// A buffer for at most `capacity` (at least one) values reserved or waiting,
    /// delivered in sequence order when `ordered`.
    pub fn new(capacity: usize, ordered: bool) -> Self {
        StreamBuffer {
            state: Mutex::new(State {
                capacity: capacity.max(1),
                ordered,
                reserved: 0,
                slots: VecDeque::new(),
                filled: 0,
                next_seq: 0,
                next_out: 0,
                parked: 0,
                closed: false,
                cancelled: false,
                consumer: None,
                producer: None,
                sleepers: 0,
                fill: None,
            }),
            condvar: Condvar::new(),
        }
    }

    /// An ordered buffer whose places never filled by the time it closes answer
    /// `fill()` in their place (a streamed map answers `Cancelled` there), instead of
    /// being skipped: so a consumer that matches answers to inputs by position stays
    /// aligned when the producer is cut short.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_core::{Reserve, StreamBuffer, Taken};
    ///
    /// let buffer = StreamBuffer::with_fill(4, || -1);
    /// let Reserve::Granted { .. } = buffer.reserve(3) else { unreachable!() };
    /// buffer.push(0, 10);
    /// buffer.push(2, 30); // place 1 is never filled: its producer was cut short
    /// buffer.close();
    /// let out: Vec<i32> = std::iter::from_fn(|| match buffer.try_take() {
    ///     Taken::Value { value, .. } => Some(value),
    ///     _ => None,
    /// })
    /// .collect();
    /// assert_eq!(out, [10, -1, 30]);
    /// ```
    pub fn with_fill(capacity: usize, fill: fn() -> T) -> Self {
        let buffer = StreamBuffer::new(capacity, true);
        buffer.lock().fill = Some(fill);
        buffer
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        lock(&self.state)
    }

    /// Reserves up to `want` places. With no room the caller is counted as parked.
    pub fn reserve(&self, want: usize) -> Reserve {
        let mut state = self.lock();
        if state.closed || state.cancelled {
            return Reserve::Closed;
        }
        let count = want.min(state.room());
        if count == 0 {
            state.parked += 1;
            return Reserve::Full;
        }
        grant(&mut state, count)
    }

    /// Reserves up to `want` places, or registers `cx`'s waker to be woken when room
    /// has freed.
    pub fn poll_reserve(&self, cx: &mut Context<'_>, want: usize) -> Poll<Reserve> {
        let mut state = self.lock();
        if state.closed || state.cancelled {
            return Poll::Ready(Reserve::Closed);
        }
        let count = want.min(state.room());
        if count == 0 {
            state.producer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        Poll::Ready(grant(&mut state, count))
    }

    /// Gives back the last `unused` places of the newest reservation (fewer items
    /// than reserved turned up). Only the holder of the newest reservation may call
    /// this, before anyone reserves again.
    pub fn unreserve(&self, unused: usize) {
        let mut state = self.lock();
        let unused = unused.min(state.reserved);
        state.reserved -= unused;
        if state.cancelled {
            return;
        }
        state.next_seq -= unused as u64;
        if state.ordered {
            let keep = state.slots.len().saturating_sub(unused);
            state.slots.truncate(keep);
        }
    }

    /// No more reservations will come. Places reserved and never filled are skipped
    /// once every reservation is settled (filled or given back).
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.reserved = 0;
        self.wake_consumer(state);
    }

    /// The consumer is gone: every value buffered is handed back to be dropped outside
    /// the lock, and every later push is refused.
    pub fn cancel(&self) -> Vec<T> {
        let (values, producer) = {
            let mut state = self.lock();
            state.cancelled = true;
            state.filled = 0;
            let values = std::mem::take(&mut state.slots)
                .into_iter()
                .flatten()
                .collect();
            (values, state.producer.take())
        };
        if let Some(producer) = producer {
            producer.wake();
        }
        values
    }

    /// The buffer has been cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.lock().cancelled
    }

    /// Wakes the consumer (its future first, then a sleeping thread) and lets go of
    /// the lock before the system call.
    fn wake_consumer(&self, mut state: MutexGuard<'_, State<T>>) {
        let waker = state.consumer.take();
        let sleepers = state.sleepers;
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        if sleepers > 0 {
            self.condvar.notify_all();
        }
    }

    /// The most values reserved or waiting at once.
    pub fn capacity(&self) -> usize {
        self.lock().capacity
    }

    /// Values and reservations held now (for tests and accounting).
    pub fn held(&self) -> usize {
        let state = self.lock();
        state.reserved + state.filled
    }
}

fn grant<T>(state: &mut State<T>, count: usize) -> Reserve {
    let first = state.next_seq;
    state.next_seq += count as u64;
    state.reserved += count;
    if state.ordered {
        state.slots.extend((0..count).map(|_| None));
    }
    Reserve::Granted { first, count }
}

impl<T> std::fmt::Debug for StreamBuffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("StreamBuffer")
            .field("capacity", &state.capacity)
            .field("reserved", &state.reserved)
            .field("filled", &state.filled)
            .field("parked", &state.parked)
            .field("closed", &state.closed)
            .field("cancelled", &state.cancelled)
            .finish()
    }
}
