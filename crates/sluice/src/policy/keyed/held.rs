//! What a keyed task's frame knows of the turn it holds, and what a handle asks of the
//! task it waits for: whether that task waits behind the turn, so that a wait which
//! could never end is refused (`TaskError::WaitOnOwnKey`) and an inline run never
//! starts a task whose turn has not come.

use super::{KeyState, Keys, TaskKey};
use crate::lock::lock;
use std::sync::Arc;

/// A turn a running task holds, as the frame of its body carries it: enough to tell
/// whether a task it waits for is queued behind it. It names its queue by id, not by
/// a clone of the queue's `Arc`: made and dropped at every keyed task's run, the clone
/// was two writes to the line the queue's lock is on.
#[derive(Clone)]
pub(crate) struct TurnHeld {
    /// The id of the queue the turn belongs to.
    queue: u64,
    /// Whether that queue keeps strict order.
    strict: bool,
    /// The key.
    key: TaskKey,
}

impl TurnHeld {
    /// Whether a task waiting in `keys` under `key` can get its turn only once this
    /// turn is handed on: the same queue, and the same key — or any key in strict order,
    /// where one task of the manager runs at a time.
    fn blocks(&self, keys: &Arc<Keys>, key: &TaskKey) -> bool {
        self.queue == keys.id && (self.strict || self.key == *key)
    }
}

impl KeyState {
    /// The turn it holds now, if it holds one.
    pub(crate) fn turn_held(&self) -> Option<TurnHeld> {
        let held = lock(&self.held);
        let turn = held.turn.as_ref()?;
        let (queue, strict) = turn.queue;
        Some(TurnHeld {
            queue,
            strict,
            key: turn.key.clone(),
        })
    }

    /// Whether it may run: it holds its turn, or has been released (settled).
    pub(crate) fn may_run(&self) -> bool {
        let held = lock(&self.held);
        held.turn.is_some() || held.released
    }

    /// Whether it still waits for its turn behind `held`: then it cannot start before
    /// the holder ends. (A handle exists only once its task has been submitted, and
    /// by then a task that was queued knows where it waits.)
    pub(crate) fn waits_behind(&self, held: &TurnHeld) -> bool {
        lock(&self.held)
            .waiting
            .as_ref()
            .is_some_and(|waiting| held.blocks(&waiting.keys, &self.key))
    }
}
