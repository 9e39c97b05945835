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

use crate::loom::lock;
use crate::loom::sync::{Condvar, Mutex, MutexGuard};
use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

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

/// What the lock guards.
struct State<T> {
    /// Places that may be reserved or filled and not yet taken.
    capacity: usize,
    /// Deliver in sequence order.
    ordered: bool,
    /// Places reserved and not yet filled.
    reserved: usize,
    /// Ordered: filled places by `seq - next_out`; unordered: values in push order
    /// (all `Some`).
    slots: VecDeque<Option<T>>,
    /// Filled values not yet taken.
    filled: usize,
    /// The next sequence number to reserve.
    next_seq: u64,
    /// Ordered: the sequence number of `slots[0]`.
    next_out: u64,
    /// Producers that found no room and went away.
    parked: usize,
    /// No more reservations will come.
    closed: bool,
    /// The consumer is gone: refuse and drop everything.
    cancelled: bool,
    /// The async consumer's waker.
    consumer: Option<Waker>,
    /// An async producer waiting for room.
    producer: Option<Waker>,
    /// Consumer threads blocked on the condition variable.
    sleepers: usize,
}

impl<T> State<T> {
    fn room(&self) -> usize {
        self.capacity.saturating_sub(self.reserved + self.filled)
    }

    /// Room at which parked producers are resumed: half the capacity, so that a
    /// resumed producer gets a unit worth its trip rather than one place at a time.
    fn resume_at(&self) -> usize {
        self.capacity.div_ceil(2).max(1)
    }

    /// The next deliverable value, skipping places that a closed buffer will never
    /// fill.
    fn pop(&mut self) -> Option<T> {
        if !self.ordered {
            let value = self.slots.pop_front().flatten()?;
            self.filled -= 1;
            return Some(value);
        }
        loop {
            match self.slots.front_mut() {
                Some(slot) if slot.is_some() => {
                    let value = slot.take();
                    self.slots.pop_front();
                    self.next_out += 1;
                    self.filled -= 1;
                    return value;
                }
                // A hole: still reserved, unless the buffer is closed with nothing
                // reserved, when it will never be filled.
                Some(_) if self.closed && self.reserved == 0 => {
                    self.slots.pop_front();
                    self.next_out += 1;
                }
                _ => return None,
            }
        }
    }

    fn ended(&self) -> bool {
        self.cancelled || (self.closed && self.reserved == 0 && self.filled == 0)
    }

    /// After a value left: how many parked producers to resume, and the async
    /// producer's waker if it waits.
    fn freed(&mut self) -> (usize, Option<Waker>) {
        if self.room() < self.resume_at() {
            return (0, None);
        }
        (std::mem::take(&mut self.parked), self.producer.take())
    }
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
            }),
            condvar: Condvar::new(),
        }
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

    /// Fills the reserved place `seq`. Answers the value back if the buffer was
    /// cancelled, so that the caller drops it outside the lock.
    pub fn push(&self, seq: u64, value: T) -> Option<T> {
        let mut state = self.lock();
        if state.cancelled {
            return Some(value);
        }
        state.reserved = state.reserved.saturating_sub(1);
        state.filled += 1;
        if state.ordered {
            let Some(at) = seq
                .checked_sub(state.next_out)
                .and_then(|at| usize::try_from(at).ok())
                .filter(|&at| at < state.slots.len())
            else {
                // Not a reserved place: nothing can deliver it.
                state.filled -= 1;
                return Some(value);
            };
            state.slots[at] = Some(value);
            if at != 0 {
                return None;
            }
        } else {
            state.slots.push_back(Some(value));
        }
        self.wake_consumer(state);
        None
    }

    /// Fills the reserved places `first..` with `values` under one lock (a unit's
    /// results at once). Answers the values back if the buffer was cancelled.
    pub fn push_many(&self, first: u64, values: Vec<T>) -> Vec<T> {
        let mut state = self.lock();
        if state.cancelled {
            return values;
        }
        let mut wake = false;
        let mut refused = Vec::new();
        for (seq, value) in (first..).zip(values) {
            state.reserved = state.reserved.saturating_sub(1);
            if state.ordered {
                match seq
                    .checked_sub(state.next_out)
                    .and_then(|at| usize::try_from(at).ok())
                    .filter(|&at| at < state.slots.len())
                {
                    Some(at) => {
                        state.slots[at] = Some(value);
                        state.filled += 1;
                        wake |= at == 0;
                    }
                    None => refused.push(value),
                }
            } else {
                state.slots.push_back(Some(value));
                state.filled += 1;
                wake = true;
            }
        }
        if wake {
            self.wake_consumer(state);
        }
        refused
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

    /// Takes the next value if one is ready.
    pub fn try_take(&self) -> Taken<T> {
        let mut state = self.lock();
        self.take_locked(&mut state)
    }

    /// Takes the next value, or registers `cx`'s waker until one is ready.
    pub fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Taken<T>> {
        let mut state = self.lock();
        match self.take_locked(&mut state) {
            Taken::Empty => {
                state.consumer = Some(cx.waker().clone());
                Poll::Pending
            }
            taken => Poll::Ready(taken),
        }
    }

    /// Takes the next value, blocking the thread until one is ready or the end.
    pub fn take_blocking(&self) -> Taken<T> {
        let mut state = self.lock();
        loop {
            match self.take_locked(&mut state) {
                Taken::Empty => {}
                taken => return taken,
            }
            state.sleepers += 1;
            state = match self.condvar.wait(state) {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            state.sleepers -= 1;
        }
    }

    /// Releases the `released` values of the consumer's last refill (room frees),
    /// then moves up to `max` ready values into `out`; they stay counted as held, so
    /// values in the consumer's own queue count against the capacity too. One lock for
    /// a batch instead of one per value.
    pub fn try_refill(&self, released: usize, out: &mut VecDeque<T>, max: usize) -> Refill {
        let mut state = self.lock();
        self.refill_locked(&mut state, released, out, max)
    }

    /// [`try_refill`](Self::try_refill), or registers `cx`'s waker while nothing is
    /// ready (the release still takes effect).
    pub fn poll_refill(
        &self,
        cx: &mut Context<'_>,
        released: usize,
        out: &mut VecDeque<T>,
        max: usize,
    ) -> Poll<Refill> {
        let mut state = self.lock();
        match self.refill_locked(&mut state, released, out, max) {
            Refill::Empty { resume } => {
                state.consumer = Some(cx.waker().clone());
                if resume > 0 {
                    // The resumed producers must hear of it even though nothing is ready.
                    return Poll::Ready(Refill::Empty { resume });
                }
                Poll::Pending
            }
            refill => Poll::Ready(refill),
        }
    }

    /// [`try_refill`](Self::try_refill), blocking the thread until a value is ready or
    /// the end. Resumes are reported even while it waits (as `Empty`).
    pub fn refill_blocking(&self, released: usize, out: &mut VecDeque<T>, max: usize) -> Refill {
        let mut state = self.lock();
        let mut released = released;
        loop {
            match self.refill_locked(&mut state, released, out, max) {
                Refill::Empty { resume: 0 } => {}
                refill => return refill,
            }
            released = 0;
            state.sleepers += 1;
            state = match self.condvar.wait(state) {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            state.sleepers -= 1;
        }
    }

    fn refill_locked(
        &self,
        state: &mut MutexGuard<'_, State<T>>,
        released: usize,
        out: &mut VecDeque<T>,
        max: usize,
    ) -> Refill {
        state.filled = state.filled.saturating_sub(released);
        if state.cancelled {
            return Refill::End { resume: 0 };
        }
        let mut count = 0;
        while count < max.max(1) {
            let Some(value) = state.pop() else { break };
            // Still held: released by the next refill.
            state.filled += 1;
            out.push_back(value);
            count += 1;
        }
        let (resume, producer) = state.freed();
        if let Some(producer) = producer {
            producer.wake();
        }
        if count > 0 {
            Refill::Got { count, resume }
        } else if state.ended() {
            Refill::End { resume }
        } else {
            Refill::Empty { resume }
        }
    }

    fn take_locked(&self, state: &mut MutexGuard<'_, State<T>>) -> Taken<T> {
        if state.cancelled {
            return Taken::End;
        }
        match state.pop() {
            Some(value) => {
                let (resume, producer) = state.freed();
                if let Some(producer) = producer {
                    producer.wake();
                }
                Taken::Value { value, resume }
            }
            None if state.ended() => Taken::End,
            None => Taken::Empty,
        }
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
