//! Per-worker state for streamed maps: a client, a buffer, a compressor context made
//! once per worker instead of once per item.
//!
//! `cpu` and `chunks` maps keep one state per worker thread (`init` runs at most once
//! per thread that maps items); `io` maps keep a pool of states shared by the futures
//! in flight ([`Pooled`]): a future takes one, and gives it back when it ends, so there
//! are never more states than futures that ran at once.

use crate::lock::lock;
use std::cell::RefCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use thread_local::ThreadLocal;

/// One state per thread, made by `init` the first time the thread maps an item.
pub(crate) struct PerThread<S: Send, I> {
    /// The states.
    states: ThreadLocal<RefCell<S>>,
    /// Makes one.
    init: I,
}

impl<S: Send, I: Fn() -> S> PerThread<S, I> {
    pub(crate) fn new(init: I) -> Self {
        PerThread {
            states: ThreadLocal::new(),
            init,
        }
    }

    /// Runs `f` with this thread's state. A nested call on the same thread (an item
    /// that waits for another item of the same map, run inline) gets a state of its
    /// own, made for it.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut S) -> R) -> R {
        let cell = self.states.get_or(|| RefCell::new((self.init)()));
        match cell.try_borrow_mut() {
            Ok(mut state) => f(&mut state),
            Err(_) => f(&mut (self.init)()),
        }
    }
}

/// The states an `io` map's futures share.
struct Pool<S> {
    /// States not in use.
    idle: Mutex<Vec<S>>,
    /// Makes one when none is idle.
    init: Box<dyn Fn() -> S + Send + Sync>,
}

/// Hands out states from one pool.
pub(crate) struct StatePool<S>(Arc<Pool<S>>);

impl<S: Send + 'static> StatePool<S> {
    pub(crate) fn new(init: impl Fn() -> S + Send + Sync + 'static) -> Self {
        StatePool(Arc::new(Pool {
            idle: Mutex::new(Vec::new()),
            init: Box::new(init),
        }))
    }

    /// An idle state, or a new one.
    pub(crate) fn take(&self) -> Pooled<S> {
        let idle = lock(&self.0.idle).pop();
        Pooled {
            state: Some(idle.unwrap_or_else(|| (self.0.init)())),
            pool: self.0.clone(),
        }
    }
}

/// A state of an `io` map's pool, lent to one item's future; it goes back to the pool
/// when dropped. See [`StreamBuilder::io_init`](crate::StreamBuilder::io_init).
pub struct Pooled<S> {
    /// Always `Some` until dropped.
    state: Option<S>,
    /// Where it goes back.
    pool: Arc<Pool<S>>,
}

impl<S> Deref for Pooled<S> {
    type Target = S;

    fn deref(&self) -> &S {
        match &self.state {
            Some(state) => state,
            None => unreachable!("a pooled state is there until it is dropped"),
        }
    }
}

impl<S> DerefMut for Pooled<S> {
    fn deref_mut(&mut self) -> &mut S {
        match &mut self.state {
            Some(state) => state,
            None => unreachable!("a pooled state is there until it is dropped"),
        }
    }
}

impl<S> Drop for Pooled<S> {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            lock(&self.pool.idle).push(state);
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Pooled<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pooled").field(&**self).finish()
    }
}
