//! The consumer's side: taking one value, or refilling its own queue with a batch.

use super::{Refill, State, StreamBuffer, Taken};
use crate::loom::sync::MutexGuard;
use std::collections::VecDeque;
use std::task::{Context, Poll};

impl<T> StreamBuffer<T> {
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
}
