//! Per-key ordering for tasks: a task with a key waits for its key's turn before it
//! goes to its route's gate, and passes the turn on when it has really ended.

mod held;
mod here;
mod task_key;

pub(crate) use held::TurnHeld;
pub(crate) use here::{Handed, RunsHere};
pub(crate) use task_key::{ByKeyHash, TaskKey};

use super::limit::{self, DependencyCall};
use crate::lock::lock;
use crate::route::Route;
use sluice_core::{KeyOrder, KeyedQueue, Outcome, Priority, Submitted, Ticket, TokenCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A task that can wait for a key's turn. Implemented for every [`KeyedTask`].
pub(crate) trait Turnable: Send + Sync {
    /// The task got its key's turn: it goes to its gate, holding `turn` until it ends
    /// (or drops it at once if it was settled meanwhile).
    fn take_turn(self: Arc<Self>, turn: Turn);

    /// The task got its key's turn from a task of `route` that ended on a thread of the
    /// route's backend, holding a permit: answers the task, holding the turn, if it may
    /// run on that thread with that permit; otherwise takes its turn as usual.
    fn take_turn_here(
        self: Arc<Self>,
        turn: Turn,
        route: &Arc<Route>,
    ) -> Option<Arc<dyn RunsHere>> {
        let _ = route;
        self.take_turn(turn);
        None
    }

    /// The task was taken out of the key's queue (abort, shutdown, a failure before it):
    /// settles it as cancelled; true if it was still live.
    fn cancel_waiting(&self) -> bool;

    /// The key it was submitted under.
    fn key(&self) -> TaskKey;
}

/// What a task kind (closure or future) offers to key ordering and submission.
pub(crate) trait KeyedTask: Send + Sync + 'static {
    /// Its cancellation, which decides whether it is still live.
    fn token(&self) -> &TokenCell;
    /// Its key state, if it has a key.
    fn key_state(&self) -> Option<&KeyState>;
    /// Its call through a dependency's adaptive limit, if it has one.
    fn dependency(&self) -> Option<&DependencyCall>;
    /// Its place in admission queues.
    fn priority(&self) -> Priority;
    /// Puts it in its route's admission queue.
    fn enqueue(self: Arc<Self>);
    /// Settles it as cancelled without running it.
    fn drop_unstarted(&self);
    /// Whether it runs on `route`'s backend as a job of its own, so that a thread of
    /// that backend may run it with a permit of the route (a closure task of `route`).
    fn runs_on(&self, route: &Arc<Route>) -> bool {
        let _ = route;
        false
    }
    /// Itself, to run on a thread of its route's backend, if it can (when `runs_on`).
    fn here(self: Arc<Self>) -> Option<Arc<dyn RunsHere>> {
        None
    }
}

impl<X: KeyedTask> Turnable for X {
    fn take_turn(self: Arc<Self>, turn: Turn) {
        let live = self.token().is_pending();
        if self.key_state().is_some_and(|keyed| keyed.hold(turn, live)) {
            limit::enqueue(self);
        }
    }

    fn take_turn_here(
        self: Arc<Self>,
        turn: Turn,
        route: &Arc<Route>,
    ) -> Option<Arc<dyn RunsHere>> {
        here::take_turn_here(self, turn, route)
    }

    fn cancel_waiting(&self) -> bool {
        let live = self.token().claim_cancelled();
        if live {
            self.drop_unstarted();
        }
        live
    }

    fn key(&self) -> TaskKey {
        self.key_state()
            .map_or_else(|| TaskKey::new(""), |keyed| keyed.key.clone())
    }
}

/// Starts a submitted task: straight to its gate, or with a key, into `keys` to wait
/// for the key's turn.
pub(crate) fn start<X: KeyedTask>(task: Arc<X>, keys: Option<&Arc<Keys>>) {
    match keys {
        None => limit::enqueue(task),
        Some(keys) => {
            if let (Some(waiting), Some(state)) = (submit(keys, task.clone()), task.key_state()) {
                state.wait_at(waiting);
            }
        }
    }
}

/// What to do with the tasks of a key behind one that finally fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnKeyFailure {
    /// Run them as usual (the default).
    #[default]
    Continue,
    /// Cancel them: each answers [`TaskError::Cancelled`](crate::TaskError::Cancelled)
    /// without running.
    CancelRest,
}

/// The manager's key queue: which task of each key may go to its gate.
pub(crate) struct Keys {
    /// Which queue this is, unique in the process: a turn carries it, so that a
    /// running task's frame knows its queue without a clone of the queue's `Arc`,
    /// whose count is on the line the queue's lock is on.
    id: u64,
    /// The queue.
    queue: KeyedQueue<TaskKey, Arc<dyn Turnable>, ByKeyHash>,
}

impl std::ops::Deref for Keys {
    type Target = KeyedQueue<TaskKey, Arc<dyn Turnable>, ByKeyHash>;

    fn deref(&self) -> &Self::Target {
        &self.queue
    }
}

/// The id the next key queue gets.
static NEXT_QUEUE: AtomicU64 = AtomicU64::new(0);

/// Makes a keyed queue for the manager.
pub(crate) fn keys(order: KeyOrder) -> Arc<Keys> {
    Arc::new(Keys {
        id: NEXT_QUEUE.fetch_add(1, Ordering::Relaxed),
        queue: KeyedQueue::with_hasher(order, ByKeyHash::default()),
    })
}

/// A key's turn, held by one task; dropping it hands the turn to the next task of the
/// key (or, in strict order, of the manager).
pub(crate) struct Turn {
    /// The queue the turn belongs to: `None` only once dropping the turn has moved it
    /// into the turn of the task that holds it next (the count of the queue's `Arc` is
    /// on the line its lock is on, which the caller's submits also write: a clone and
    /// a drop per turn handed on were two more writes to it).
    keys: Option<Arc<Keys>>,
    /// The queue's id and whether it keeps strict order, read once when the turn
    /// was first handed out: what a running task's frame is told of its turn.
    queue: (u64, bool),
    /// The key.
    key: TaskKey,
    /// Set when the holder failed and its policy cancels the rest of the key.
    cancel_rest: bool,
}

impl Turn {
    /// The turn of `key` in `keys`, just handed out.
    fn new(keys: Arc<Keys>, key: TaskKey) -> Self {
        Turn {
            queue: (keys.id, keys.ordering() == KeyOrder::Strict),
            keys: Some(keys),
            key,
            cancel_rest: false,
        }
    }

    /// Marks that the holder failed and the tasks behind it must be cancelled.
    pub(crate) fn cancel_rest(&mut self) {
        self.cancel_rest = true;
    }
}

impl Turn {
    /// Hands the turn on: to the next task of the key (in strict order, of the
    /// manager), which goes to its gate — or, given the `route` of a thread that holds
    /// a permit of it, is answered to run on that thread if it may.
    fn hand_on(mut self, here: Option<&Arc<Route>>) -> Option<Arc<dyn RunsHere>> {
        self.pass(here)
    }

    /// Hands the turn on, once: the queue leaves the turn then.
    fn pass(&mut self, here: Option<&Arc<Route>>) -> Option<Arc<dyn RunsHere>> {
        let keys = self.keys.take()?;
        let next = if self.cancel_rest {
            let rest = keys.finish_and_cancel_rest(&self.key);
            for task in rest.cancelled {
                task.cancel_waiting();
            }
            rest.next
        } else {
            keys.finish(&self.key)
        };
        if let Some(next) = next {
            // In strict order the next task may be of another key: the turn is its now.
            // Otherwise it is of this key, which is not read from the task: the task's
            // memory is cold here, and the key's copy at hand is the same.
            let key = if self.queue.1 {
                next.key()
            } else {
                self.key.clone()
            };
            let turn = Turn {
                keys: Some(keys),
                queue: self.queue,
                key,
                cancel_rest: false,
            };
            return match here {
                Some(route) => next.take_turn_here(turn, route),
                None => {
                    next.take_turn(turn);
                    None
                }
            };
        }
        None
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        // Sent to its gate, the next task is never handed back here.
        let _none = self.pass(None);
    }
}

/// Where a task waits for its turn, to take it out again if it is cancelled.
pub(crate) struct Waiting {
    /// The queue it waits in.
    keys: Arc<Keys>,
    /// Its place.
    ticket: Ticket,
}

impl Waiting {
    /// Takes the task out of the queue (it was cancelled while waiting).
    pub(crate) fn leave(self) {
        drop(self.keys.cancel(self.ticket));
    }
}

/// Submits `task` under `key`: it takes its turn now, or waits (and the returned
/// `Waiting` lets it leave if it is cancelled).
fn submit(keys: &Arc<Keys>, task: Arc<dyn Turnable>) -> Option<Waiting> {
    let key = task.key();
    match keys.submit(key.clone(), task) {
        Submitted::Run(task) => {
            task.take_turn(Turn::new(keys.clone(), key));
            None
        }
        Submitted::Queued(ticket) => Some(Waiting {
            keys: keys.clone(),
            ticket,
        }),
    }
}

/// Takes every waiting task out of the queue and cancels it; returns how many were live.
pub(crate) fn drain(keys: &Keys) -> usize {
    keys.drain_all()
        .into_iter()
        .filter(|task| task.cancel_waiting())
        .count()
}

/// A keyed task's side of the ordering: its key, its policy on failure, and the turn or
/// the place in the queue it holds.
pub(crate) struct KeyState {
    /// The key it was submitted under.
    pub(crate) key: TaskKey,
    /// What a final failure does to the tasks behind it.
    on_failure: OnKeyFailure,
    /// Its turn or its place in the queue, and whether it has been released: one lock,
    /// taken once when the turn comes and once when the task ends.
    held: Mutex<Held>,
}

impl KeyState {
    pub(crate) fn new(key: TaskKey, on_failure: OnKeyFailure) -> Self {
        KeyState {
            key,
            on_failure,
            held: Mutex::new(Held::default()),
        }
    }

    /// Remembers where the task waits — unless its turn has come meanwhile (the place
    /// is stale), or it was released meanwhile (it leaves the queue now).
    pub(crate) fn wait_at(&self, waiting: Waiting) {
        let mut held = lock(&self.held);
        if held.released {
            drop(held);
            waiting.leave();
        } else if held.turn.is_none() {
            held.waiting = Some(waiting);
        }
    }

    /// Keeps the turn while the task is live (true: send it to its gate); hands it on
    /// at once otherwise. A task settled (and released) between the caller's liveness
    /// check and this call hands the turn on too: kept, it would wait for the task's
    /// last reference to go, and a caller holding that reference while it waits for a
    /// later task of the key would wait for ever.
    pub(crate) fn hold(&self, turn: Turn, live: bool) -> bool {
        let mut held = lock(&self.held);
        let waited = held.waiting.take();
        if live && !held.released {
            held.turn = Some(turn);
            return true;
        }
        drop(held);
        drop(waited);
        // Dropped outside the lock: handing the turn on starts the next task.
        drop(turn);
        false
    }

    /// The task ended, or was settled without running: leaves the queue if it still
    /// waits, and hands the turn on — cancelling the rest of the key first if it failed
    /// and its policy says so.
    pub(crate) fn release(&self, outcome: Outcome) {
        // Dropped outside the lock: handing the turn on starts the next task.
        drop(self.release_taking(outcome));
    }

    /// As [`release`](Self::release), but answers the turn, marked to cancel the rest
    /// of the key if the task failed and its policy says so, for the caller to hand on.
    fn release_taking(&self, outcome: Outcome) -> Option<Turn> {
        let (waiting, turn) = {
            let mut held = lock(&self.held);
            held.released = true;
            (held.waiting.take(), held.turn.take())
        };
        // Outside the lock: leaving takes the queue's.
        if let Some(waiting) = waiting {
            waiting.leave();
        }
        let mut turn = turn?;
        let failed = matches!(
            outcome,
            Outcome::Failed | Outcome::Panicked | Outcome::TimedOut
        );
        if failed && self.on_failure == OnKeyFailure::CancelRest {
            turn.cancel_rest();
        }
        Some(turn)
    }
}

/// A task's hold on its key's turn.
#[derive(Default)]
struct Held {
    /// The turn, from when it is handed to the task until the task is released.
    turn: Option<Turn>,
    /// Its place in the queue while it waits.
    waiting: Option<Waiting>,
    /// The task has ended or been settled: a turn that reaches it now goes straight on.
    released: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A queued item that is never run: the test drives the turn by hand.
    struct Idle;

    impl Turnable for Idle {
        fn take_turn(self: Arc<Self>, _turn: Turn) {}
        fn cancel_waiting(&self) -> bool {
            false
        }
        fn key(&self) -> TaskKey {
            TaskKey::new("k")
        }
    }

    /// The interleaving `cargo xtask stress` found: the turn reaches a task that was
    /// live when checked, the task is settled and released before it holds the turn,
    /// then `hold` runs. The turn must go straight on, not wait for the task to drop.
    #[test]
    fn a_turn_reaching_a_released_task_is_handed_on() {
        for order in [KeyOrder::PerKey, KeyOrder::Strict] {
            let queue = keys(order);
            let key = TaskKey::new("k");
            assert!(matches!(
                queue.submit(key.clone(), Arc::new(Idle)),
                Submitted::Run(_)
            ));
            assert_eq!(queue.running(), 1);
            let state = KeyState::new(key.clone(), OnKeyFailure::Continue);
            state.release(Outcome::Cancelled);
            let turn = Turn::new(queue.clone(), key);
            assert!(
                !state.hold(turn, true),
                "{order:?}: a released task kept the turn"
            );
            assert_eq!(queue.running(), 0, "{order:?}: the turn was not handed on");
        }
    }

    #[test]
    fn a_live_task_holds_its_turn_until_released() {
        let queue = keys(KeyOrder::Strict);
        let key = TaskKey::new("k");
        assert!(matches!(
            queue.submit(key.clone(), Arc::new(Idle)),
            Submitted::Run(_)
        ));
        let state = KeyState::new(key.clone(), OnKeyFailure::Continue);
        let turn = Turn::new(queue.clone(), key);
        assert!(state.hold(turn, true));
        assert_eq!(queue.running(), 1);
        state.release(Outcome::Succeeded);
        assert_eq!(queue.running(), 0);
    }
}
