//! Delivery of a gate's hand-offs, outside its lock: waking futures and admitting
//! queued work, through a thread-local trampoline so that a chain of releases never
//! recurses.

use super::permit::Permit;
use super::state::{Inner, Work};
use crate::loom::sync::Arc;
use crate::loom::thread_local;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::task::Waker;

/// Wakeups collected under the lock and delivered after it.
#[derive(Default)]
pub(super) struct Handoffs {
    /// Futures to wake.
    pub(super) wakers: Few<Waker>,
    /// Queued work to admit, each with a permit already counted.
    pub(super) deferred: Few<Work>,
}

impl Handoffs {
    fn is_empty(&self) -> bool {
        self.wakers.is_empty() && self.deferred.is_empty()
    }
}

/// A list that holds its first item inline: a release almost always hands off one
/// waiter, and a `Vec` would allocate for it on every queued task's admission.
pub(super) struct Few<T> {
    /// The first item.
    first: Option<T>,
    /// Any after it.
    rest: Vec<T>,
}

impl<T> Default for Few<T> {
    fn default() -> Self {
        Few {
            first: None,
            rest: Vec::new(),
        }
    }
}

impl<T> Few<T> {
    /// Appends `item`.
    pub(super) fn push(&mut self, item: T) {
        if self.first.is_none() && self.rest.is_empty() {
            self.first = Some(item);
        } else {
            self.rest.push(item);
        }
    }

    fn is_empty(&self) -> bool {
        self.first.is_none() && self.rest.is_empty()
    }

    /// Takes every item, in the order pushed, leaving the list empty.
    fn take_all(&mut self) -> impl Iterator<Item = T> + use<T> {
        self.first
            .take()
            .into_iter()
            .chain(std::mem::take(&mut self.rest))
    }
}

/// Hand-offs waiting for this thread's outer delivery loop.
type Waiting = VecDeque<(Arc<Inner>, Handoffs)>;

// loom's `thread_local!` does not take a `const` initializer.
#[allow(clippy::missing_const_for_thread_local)]
mod trampoline {
    use super::{RefCell, Waiting, thread_local};

    thread_local! {
    /// While this thread delivers hand-offs (of any gate), further hand-offs made on it
    /// wait here for the outer delivery loop instead of recursing: admitting work may
    /// release a permit (a backend that drops the job at once), whose hand-off admits
    /// the next work, and so on down the whole queue. `None` when no delivery runs.
    pub(super) static TRAMPOLINE: RefCell<Option<Waiting>> = RefCell::new(None);
    }
}
use trampoline::TRAMPOLINE;

/// Ends a delivery on this thread; after a panic, delivers what was left waiting.
struct TrampolineReset;

impl Drop for TrampolineReset {
    fn drop(&mut self) {
        let left = TRAMPOLINE
            .with(|t| t.borrow_mut().take())
            .unwrap_or_default();
        for (gate, handoffs) in left {
            Inner::deliver(&gate, handoffs);
        }
    }
}

impl Inner {
    /// Delivers what `hand_off` collected, outside the lock. If a delivery already runs
    /// on this thread, queues it for that one, so stack depth stays constant however
    /// many waiters a chain of releases admits.
    pub(super) fn deliver(this: &Arc<Self>, handoffs: Handoffs) {
        if handoffs.is_empty() {
            return;
        }
        let first = TRAMPOLINE.with(|t| {
            let mut t = t.borrow_mut();
            match t.as_mut() {
                Some(waiting) => {
                    waiting.push_back((this.clone(), handoffs));
                    None
                }
                None => {
                    *t = Some(VecDeque::new());
                    Some(handoffs)
                }
            }
        });
        let Some(handoffs) = first else { return };
        let _reset = TrampolineReset;
        Self::deliver_now(this, handoffs);
        while let Some((gate, handoffs)) =
            TRAMPOLINE.with(|t| t.borrow_mut().as_mut().and_then(VecDeque::pop_front))
        {
            Self::deliver_now(&gate, handoffs);
        }
    }

    /// Wakes and admits what `hand_off` collected. Work that hands its permit back
    /// makes room for the next waiter here, in a loop.
    fn deliver_now(this: &Arc<Self>, mut handoffs: Handoffs) {
        loop {
            for waker in handoffs.wakers.take_all() {
                waker.wake();
            }
            let mut returned = 0;
            for work in handoffs.deferred.take_all() {
                if let Some(permit) = work.admit(Permit::new(this.clone())) {
                    permit.disarm();
                    returned += 1;
                }
            }
            if returned == 0 {
                return;
            }
            handoffs = this.hand_back(returned);
        }
    }
}
