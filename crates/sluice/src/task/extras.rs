//! What a task carries only when it asked for a policy that travels with it: its
//! timeout's deadline, its breaker's admitted call, its key, its call through a
//! dependency's limit.
//!
//! A task submitted by the caller keeps them in one box that a plain task never
//! allocates ([`Extras`]), so a task with no policy pays one pointer for them.
//! Submitting many small tasks is bound by how much memory each one touches (a million
//! of them in flight is a gigabyte at 1 KiB each), and these were more than half of a
//! closure task's size. An attempt of a retried task keeps them inline
//! ([`InlineExtras`]): attempts are few at a time (one per retried task), nearly all of
//! them carry a timeout or a breaker's call, and the box was an allocation of its own
//! for every attempt. A task whose only such policy is its key keeps its key state
//! inline too ([`KeyOnly`]): a keyed task is as often as not a tiny one, and the box
//! was a third of its allocations.

use crate::TaskError;
use crate::lock::take;
use crate::policy::breaker;
use crate::policy::breaker::Guarded;
use crate::policy::keyed::KeyState;
use crate::policy::limit::DependencyCall;
use crate::policy::timeout::{Deadline, Expirable};
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// A task's travelling policies; empty (no allocation) when it has none.
pub(crate) struct Extras(Option<Box<Riders>>);

/// The policies themselves.
pub(crate) struct Riders {
    /// When the body must answer by, if it has a timeout; with the task itself, which
    /// the deadline's timer holds while it is armed.
    deadline: Option<(Deadline, Weak<dyn Expirable>)>,
    /// Its circuit breaker's call, taken when the body starts.
    guard: Mutex<Option<Guarded>>,
    /// Its key, if it is ordered by one.
    keyed: Option<KeyState>,
    /// Its call through a dependency's adaptive limit.
    dependency: Option<DependencyCall>,
}

impl Riders {
    /// Whichever policies are present.
    fn of(
        deadline: Option<(Deadline, Weak<dyn Expirable>)>,
        guard: Option<Guarded>,
        keyed: Option<KeyState>,
        dependency: Option<DependencyCall>,
    ) -> Self {
        Riders {
            deadline,
            guard: Mutex::new(guard),
            keyed,
            dependency,
        }
    }
}

/// A task's travelling policies, kept inline: an attempt's, never boxed.
pub(crate) struct InlineExtras(Riders);

/// A task's key state, inline, when its key is its only travelling policy.
pub(crate) struct KeyOnly(Option<KeyState>);

impl KeyOnly {
    /// Whether a task with these policies keeps them all as a [`KeyOnly`]: nothing
    /// but a key.
    pub(crate) fn fits(
        deadline: Option<&Deadline>,
        guard: Option<&Guarded>,
        keyed: Option<&KeyState>,
        dependency: bool,
    ) -> bool {
        deadline.is_none() && guard.is_none() && keyed.is_some() && !dependency
    }
}

/// Where a task keeps its travelling policies, and what it asks of them.
pub(crate) trait Travelling: Sized + Send + Sync + 'static {
    /// Keeps whichever policies are present.
    fn new(
        deadline: Option<(Deadline, Weak<dyn Expirable>)>,
        guard: Option<Guarded>,
        keyed: Option<KeyState>,
        dependency: Option<DependencyCall>,
    ) -> Self {
        Self::keep(Riders::of(deadline, guard, keyed, dependency))
    }

    /// Keeps `riders` where this kind of task keeps them.
    fn keep(riders: Riders) -> Self;

    /// The policies, if it keeps any.
    fn riders(&self) -> Option<&Riders>;

    /// Its deadline and the task it times out, while the task lives.
    fn deadline(&self) -> Option<(&Deadline, Arc<dyn Expirable>)> {
        let (deadline, task) = self.riders()?.deadline.as_ref()?;
        Some((deadline, task.upgrade()?))
    }

    /// Its key state, if it has a key.
    fn keyed(&self) -> Option<&KeyState> {
        self.riders()?.keyed.as_ref()
    }

    /// Its dependency call, if it has one.
    fn dependency(&self) -> Option<&DependencyCall> {
        self.riders()?.dependency.as_ref()
    }

    /// Asks its breaker again as its body is about to start, keeping the call it goes
    /// on with; the `Rejected` answer if the breaker opened while it waited (see
    /// [`breaker::recheck`]).
    fn recheck_guard<E>(&self, task: Option<&str>) -> Result<(), TaskError<E>> {
        let Some(riders) = self.riders() else {
            return Ok(());
        };
        // Nearly always still current: the call stays where it is.
        if crate::lock::lock(&riders.guard)
            .as_ref()
            .is_none_or(|guard| guard.call.is_current())
        {
            return Ok(());
        }
        let guard = breaker::recheck(take(&riders.guard), task)?;
        *crate::lock::lock(&riders.guard) = guard;
        Ok(())
    }

    /// Takes its breaker's call (once: the body that starts takes it, or the task
    /// settled unstarted gives it back).
    fn take_guard(&self) -> Option<Guarded> {
        take(&self.riders()?.guard)
    }
}

impl Travelling for Extras {
    /// Nothing at all when no policy is present, decided before `Riders` is built: a
    /// plain task would otherwise build one on the stack and copy it around only to
    /// drop it, a few hundred instructions per task.
    fn new(
        deadline: Option<(Deadline, Weak<dyn Expirable>)>,
        guard: Option<Guarded>,
        keyed: Option<KeyState>,
        dependency: Option<DependencyCall>,
    ) -> Self {
        if deadline.is_none() && guard.is_none() && keyed.is_none() && dependency.is_none() {
            return Extras(None);
        }
        Extras(Some(Box::new(Riders::of(
            deadline, guard, keyed, dependency,
        ))))
    }

    /// Boxes whichever policies are present; nothing at all when none is.
    fn keep(mut riders: Riders) -> Self {
        // Owned: the guard is looked at without locking.
        let guard = riders
            .guard
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        let none = riders.deadline.is_none()
            && guard.is_none()
            && riders.keyed.is_none()
            && riders.dependency.is_none();
        Extras((!none).then(|| Box::new(riders)))
    }

    fn riders(&self) -> Option<&Riders> {
        self.0.as_deref()
    }
}

impl Travelling for KeyOnly {
    /// Keeps the key state; chosen only where [`KeyOnly::fits`], so nothing else is
    /// there to keep.
    fn keep(riders: Riders) -> Self {
        debug_assert!(
            riders.deadline.is_none() && riders.dependency.is_none(),
            "a task with more than a key kept as KeyOnly"
        );
        KeyOnly(riders.keyed)
    }

    fn riders(&self) -> Option<&Riders> {
        None
    }

    fn keyed(&self) -> Option<&KeyState> {
        self.0.as_ref()
    }
}

impl Travelling for InlineExtras {
    fn keep(riders: Riders) -> Self {
        InlineExtras(riders)
    }

    fn riders(&self) -> Option<&Riders> {
        Some(&self.0)
    }
}
