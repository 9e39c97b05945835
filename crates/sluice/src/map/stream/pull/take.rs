//! Taking a unit of input: the one puller holding the input reserves room first, then
//! pulls the items; a puller that finds the input taken, or no room, leaves.

use super::*;

impl<It, F, O, E> PullStream<It, F, O, E>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> ItemResult<O, E> + Send + Sync + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    /// The next unit to map, or `None` when this puller should leave (after ending
    /// the map if it was the last one at work).
    pub(super) fn next_unit(&self) -> Option<Unit<It::Item, F>> {
        let inline;
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
                    progress.begin(self.len);
                }
            }
            if self.stopping(&state) || state.pulling {
                // Another puller has the input: it brings pullers back as it pulls.
                return self.leave(state);
            }
            state.pulling = true;
            inline = state.inline;
        }
        let pulled = self.pull_unit(inline);
        let mut state = lock(&self.state);
        state.pulling = false;
        match pulled {
            Pulled::Unit(first, block, f) => {
                state.active += 1;
                // Bring the pullers back up to strength while there is input and room.
                if !state.exhausted && !state.inline && state.pullers + state.parked < self.strength
                {
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
    fn pull_unit(&self, inline: bool) -> Pulled<It::Item, F> {
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
        } else if let (true, Some(remaining)) = (inline, remaining) {
            // Mapped on the consumer's thread anyway: in one unit.
            remaining
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
        // Under the input's lock: the keys' queues are in input order.
        if let Some(keys) = &self.keys {
            keys.register(first, &block);
        }
        drop(input);
        let f = lock(&self.f).clone();
        match f {
            Some(f) if !block.is_empty() => Pulled::Unit(first, block, f),
            _ => Pulled::Nothing {
                exhausted: true,
                failed: None,
            },
        }
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
