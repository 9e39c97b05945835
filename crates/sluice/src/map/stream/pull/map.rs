//! Mapping a unit of items, item by item: the breaker asked, a panic or an error
//! answered in the item's place, every answer counted; under a time limit, one item a
//! unit with a timer on the runtime; in a keyed map, each item in its key's turn.

use super::*;

impl<It, F, O, E> PullStream<It, F, O, E>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> ItemResult<O, E> + Send + Sync + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    /// Maps a unit of items under a time limit each (units are of one item then): an
    /// item still running at its limit is answered `TimedOut` by a timer on the
    /// runtime, and its late result is dropped. Answers whether an item failed.
    pub(super) fn map_timed(
        &self,
        first: u64,
        block: Vec<It::Item>,
        f: &F,
        timer: &ItemTimer,
    ) -> bool {
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
    pub(super) fn map_unit(&self, block: Vec<It::Item>, f: &F) -> Vec<ItemResult<O, E>> {
        let mut results = Vec::with_capacity(block.len());
        let mut tally = Tally::default();
        for item in block {
            let (admitted, result) = match self.policy.admit() {
                Ok(admitted) => {
                    let result = match catch_unwind(AssertUnwindSafe(|| f(item))) {
                        Ok(result) => result,
                        Err(payload) => Err(TaskError::Panicked(take_message(payload))),
                    };
                    (Some(admitted), result)
                }
                Err(refused) => {
                    drop_quietly(item, "an item refused by its breaker");
                    (None, Err(refused))
                }
            };
            if let Some(admitted) = admitted {
                self.policy.tell_breaker(admitted, &result);
            }
            // A timed item is counted where it is answered (here or at its limit).
            if self.item_timeout.is_none() {
                tally.note(&result);
            }
            let stop = self.fail_fast && result.is_err();
            results.push(result);
            if stop || self.token.is_cancelled() {
                break;
            }
        }
        self.policy.answered_unit(&tally);
        results
    }

    /// Maps a unit of a keyed map: each item in its key's turn (see `keyed.rs`). An
    /// item whose key is busy is parked; after each item it ran, this puller runs its
    /// key's next item if that was parked meanwhile. Answers whether an item failed.
    pub(super) fn map_keyed(
        &self,
        first: u64,
        block: Vec<It::Item>,
        f: &F,
        keys: &dyn KeyOrder<It::Item>,
    ) -> bool {
        let mut failed = false;
        let mut stop = false;
        for (seq, item) in (first..).zip(block) {
            if stop {
                drop_quietly(item, "an item of a stopped map");
                give_up(keys, keys.done(seq));
                continue;
            }
            match keys.claim(seq, item) {
                Claim::Parked => {}
                Claim::Broken(item, message) => {
                    drop_quietly(item, "an item whose key was not taken");
                    let result: ItemResult<O, E> = Err(TaskError::Panicked(message));
                    self.policy.answered(None, &result);
                    drop_quietly(self.buffer.push(seq, result), "a streamed map's result");
                    failed = true;
                    stop = self.fail_fast;
                }
                Claim::Run(item) => {
                    let mut next = Some((seq, item));
                    while let Some((seq, item)) = next.take() {
                        failed |= self.map_one(seq, item, f);
                        stop = (self.fail_fast && failed) || self.token.is_cancelled();
                        next = keys.done(seq);
                        if stop {
                            give_up(keys, next.take());
                        }
                    }
                }
            }
        }
        failed
    }

    /// Maps one item at its place (timed if the map is); answers whether it failed.
    fn map_one(&self, seq: u64, item: It::Item, f: &F) -> bool {
        if let Some(timer) = &self.item_timeout {
            return self.map_timed(seq, vec![item], f, timer);
        }
        let Some(result) = self.map_unit(vec![item], f).pop() else {
            return false;
        };
        let failed = result.is_err();
        drop_quietly(self.buffer.push(seq, result), "a streamed map's result");
        failed
    }
}

/// Gives up `next` (the map stops) and every item of its key parked after it.
fn give_up<T>(keys: &dyn KeyOrder<T>, mut next: Option<(u64, T)>) {
    while let Some((seq, item)) = next {
        drop_quietly(item, "an item of a stopped map");
        next = keys.done(seq);
    }
}
