//! The producers' side: filling reserved places, one at a time, a unit at once, or
//! the answers an io stream's driver collected in one poll.

use super::StreamBuffer;

impl<T> StreamBuffer<T> {
    /// Fills the reserved place `seq`. Answers the value back if the buffer was
    /// cancelled, so that the caller drops it outside the lock.
    pub fn push(&self, seq: u64, value: T) -> Option<T> {
        let mut state = self.lock();
        if state.cancelled {
            return Some(value);
        }
        match state.place(seq, value) {
            Ok(true) => {
                self.wake_consumer(state);
                None
            }
            Ok(false) => None,
            Err(value) => Some(value),
        }
    }

    /// Fills the reserved places `first..` with `values` under one lock (a unit's
    /// results at once). Answers the values back if the buffer was cancelled.
    pub fn push_many(&self, first: u64, values: Vec<T>) -> Vec<T> {
        self.push_each((first..).zip(values))
    }

    /// Fills the reserved places named in `values` (any places, in any order) under
    /// one lock and with at most one wake-up of the consumer: the results an io
    /// stream's driver collected in one poll. Answers the values back if the buffer
    /// was cancelled (or a place was not reserved), to be dropped outside the lock.
    pub fn push_each(&self, values: impl IntoIterator<Item = (u64, T)>) -> Vec<T> {
        let mut state = self.lock();
        let mut refused = Vec::new();
        let mut wake = false;
        for (seq, value) in values {
            if state.cancelled {
                refused.push(value);
                continue;
            }
            match state.place(seq, value) {
                Ok(deliverable) => wake |= deliverable,
                Err(value) => refused.push(value),
            }
        }
        if wake {
            self.wake_consumer(state);
        }
        refused
    }
}
