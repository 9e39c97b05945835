//! A key's turn handed on where the task that held it ended: the next task of the key
//! runs on the same backend thread, with the permit the finished task held.
//!
//! Sent to its gate, the next task of a key was admitted a second time for the one
//! turn: a place in the gate's queue (or a permit and a trip through the backend's
//! queue, waking another thread) while the finished task's permit was given back. A key's
//! chain of tasks holds its turn from one to the next anyway; run where the turn is
//! handed on, it holds one permit too, and costs one admission. The hand-off keeps to
//! what a gate's own hand-off to a queued task ([`Permit::pass_on`]) keeps to: the
//! permit's room must still be the gate's to give (a lowered limit is not overrun), and
//! nobody waiting at the gate is overtaken — with a waiter there (of any priority), the
//! next task of the key goes to the gate behind it, as it always did. A thread runs at
//! most [`KEY_CHAIN`] tasks of one chain in a row before the next of it goes to the
//! gate as usual, so that one key cannot keep a thread from its other work.

use super::{KeyState, KeyedTask, Turn};
use crate::route::Route;
use sluice_core::{Outcome, Permit};
use std::sync::Arc;

/// How many tasks, each handed its key's turn by the one before, one backend thread
/// runs in a row with one permit; the next goes to its gate, behind whoever waits
/// there by then.
pub(crate) const KEY_CHAIN: usize = 16;

/// A task that holds its key's turn and may run on the thread that handed it the turn,
/// with that thread's permit.
pub(crate) trait RunsHere: Send + Sync {
    /// Runs it on this thread with `permit` (settled without running if it was settled
    /// meanwhile): answers the permit back, unless it was lent, and the task its key's
    /// turn then went to, if that may run here too.
    fn run_turn(self: Arc<Self>, permit: Permit) -> Handed;

    /// Sends it to its gate as a task that has just got its turn goes.
    fn to_gate(self: Arc<Self>);
}

/// What a task run on a backend's thread leaves that thread: its permit, unless it was
/// lent, and the task its key's turn went to, if that may run on this thread next.
#[must_use = "a handed task holds its key's turn and must be run or sent to its gate"]
pub(crate) struct Handed {
    /// The permit the task ran with.
    pub(crate) permit: Option<Permit>,
    /// The task that holds the key's turn now, to run here.
    pub(crate) next: Option<Arc<dyn RunsHere>>,
}

impl Handed {
    /// Only a permit: no task of the key to run here.
    pub(crate) fn permit(permit: Option<Permit>) -> Self {
        Handed { permit, next: None }
    }

    /// Runs the handed tasks in turn, each with the permit the one before ended with,
    /// at most [`KEY_CHAIN`] of them; one left over goes to its gate. Answers the
    /// permit left at the end, for the thread to pass on to its gate's queue.
    pub(crate) fn run_chain(mut self) -> Option<Permit> {
        for _ in 0..KEY_CHAIN {
            let Some(next) = self.next.take() else {
                return self.permit;
            };
            match self.permit.take() {
                Some(permit) => self = next.run_turn(permit),
                // Never handed without a permit; sent as usual if it were.
                None => {
                    next.to_gate();
                    return None;
                }
            }
        }
        if let Some(next) = self.next {
            next.to_gate();
        }
        self.permit
    }
}

/// The task whose turn this is, if it may run here: a closure task of `route`, with no
/// dependency to be admitted by first. Otherwise it takes its turn as usual.
pub(super) fn take_turn_here<X: KeyedTask>(
    task: Arc<X>,
    turn: Turn,
    route: &Arc<Route>,
) -> Option<Arc<dyn RunsHere>> {
    // Anyone waiting at the gate (a task of higher priority, or one that came first)
    // is not overtaken: the turn goes to the gate, behind them, as it always did.
    if task.dependency().is_some() || !task.runs_on(route) || route.gate.has_waiters() {
        super::Turnable::take_turn(task, turn);
        return None;
    }
    let live = task.token().is_pending();
    if !task.key_state().is_some_and(|keyed| keyed.hold(turn, live)) {
        return None;
    }
    let here = task.clone().here();
    if here.is_none() {
        // `runs_on` and `here` disagree (never expected): it goes to its gate.
        task.enqueue();
    }
    here
}

impl KeyState {
    /// As [`release`](Self::release), for a task that ended on a thread of `route`'s
    /// backend holding a permit of `route` that is still within the gate's limit:
    /// answers the task its key's turn went to, if that may run on this thread with
    /// the permit, instead of sending it to its gate.
    pub(crate) fn release_here(
        &self,
        outcome: Outcome,
        route: &Arc<Route>,
    ) -> Option<Arc<dyn RunsHere>> {
        let turn = self.release_taking(outcome)?;
        turn.hand_on(Some(route))
    }
}
