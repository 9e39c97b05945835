//! Cancellation: one task, every task not yet started, or everything.
//!
//! A [`CancelScope`] is shared by all the tasks of a manager. Each task gets a
//! [`CancelToken`] from it. The token's state is a single atomic that moves once, from
//! pending to started or from pending to cancelled, so exactly one party owns a task's
//! fate: the worker that started it, or the canceller that stopped it first. A task is
//! never both started and counted cancelled (the loom test `tests/loom_cancel.rs`).
//!
//! - [`TokenCell::cancel`] cancels one task; running work sees
//!   [`is_cancelled`](TokenCell::is_cancelled) turn true.
//! - [`CancelScope::abort_pending`] moves the scope's abort epoch: every token created
//!   before it that has not started yet refuses to start.
//! - [`CancelScope::cancel_all`] makes every token of the scope cancelled, started or not
//!   (the end of a graceful shutdown).
//!
//! # Examples
//!
//! ```
//! use sluice_core::{CancelScope, StartError};
//!
//! let scope = CancelScope::new();
//! let early = scope.token();
//! let running = scope.token();
//! running.try_start().expect("nothing cancelled yet");
//! scope.abort_pending();
//! assert_eq!(early.try_start(), Err(StartError::Cancelled));
//! assert!(!running.is_cancelled(), "abort_pending spares started work");
//! scope.cancel_all();
//! assert!(running.is_cancelled());
//! ```

use crate::loom::sync::Arc;
use crate::loom::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering, fence};
use std::fmt;
use std::ops::Deref;

const PENDING: u8 = 0;
const STARTED: u8 = 1;
const CANCELLED: u8 = 2;

/// The cancellation state every task of one manager shares.
#[derive(Clone, Default)]
pub struct CancelScope {
    /// Shared with every token.
    inner: Arc<ScopeInner>,
}

/// What a scope's tokens read.
#[derive(Default)]
struct ScopeInner {
    /// Moves on every `abort_pending`; a token from an older epoch may not start.
    epoch: AtomicU64,
    /// Set by `cancel_all`: everything is cancelled, running or not.
    all: AtomicBool,
}

impl CancelScope {
    /// A scope in which nothing is cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// A token for one new task, pending.
    pub fn token(&self) -> CancelToken {
        CancelToken {
            inner: Arc::new(self.cell()),
        }
    }

    /// The state of a token for one new task, pending, to be kept inside the task
    /// itself: a task that shares itself behind one `Arc` needs no second allocation
    /// for its token.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_core::{CancelOutcome, CancelScope};
    ///
    /// let scope = CancelScope::new();
    /// struct Task { token: sluice_core::TokenCell, work: u32 }
    /// let task = std::sync::Arc::new(Task { token: scope.cell(), work: 7 });
    /// assert_eq!(task.token.cancel(), CancelOutcome::BeforeStart);
    /// assert!(task.token.is_cancelled());
    /// # assert_eq!(task.work, 7);
    /// ```
    pub fn cell(&self) -> TokenCell {
        TokenCell {
            state: AtomicU8::new(PENDING),
            requested: AtomicBool::new(false),
            epoch: self.inner.epoch.load(Ordering::Acquire),
            scope: self.inner.clone(),
        }
    }

    /// Cancels every token of this scope that has not started: each will refuse to
    /// start. Returns the new epoch.
    pub fn abort_pending(&self) -> u64 {
        let epoch = self.inner.epoch.fetch_add(1, Ordering::AcqRel) + 1;
        // Pairs with the fence in `try_start`: an abort and a start that race each write
        // one atomic and then read the other's, and a SeqCst fence on both sides makes at
        // least one of them see the other (a SeqCst access alone would not, and loom
        // models fences, not SeqCst accesses).
        fence(Ordering::SeqCst);
        epoch
    }

    /// How many times [`abort_pending`](Self::abort_pending) has been called: work that
    /// waits outside any token (a retry's pause) compares it before and after it
    /// becomes reachable, to learn whether an abort may have missed it.
    pub fn epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::Acquire)
    }

    /// Cancels every token of this scope, started or not, now and from now on.
    pub fn cancel_all(&self) {
        self.inner.all.store(true, Ordering::Release);
    }

    /// Whether [`cancel_all`](Self::cancel_all) was called.
    pub fn is_all_cancelled(&self) -> bool {
        self.inner.all.load(Ordering::Acquire)
    }
}

impl fmt::Debug for CancelScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelScope")
            .field("epoch", &self.inner.epoch.load(Ordering::Relaxed))
            .field("all", &self.is_all_cancelled())
            .finish()
    }
}

/// One task's cancellation state; clones share it. Its methods are
/// [`TokenCell`]'s, reached through `Deref`.
#[derive(Clone)]
pub struct CancelToken {
    /// Shared by the task, its handle and whoever cancels it.
    inner: Arc<TokenCell>,
}

impl Deref for CancelToken {
    type Target = TokenCell;

    fn deref(&self) -> &TokenCell {
        &self.inner
    }
}

/// One task's cancellation state in place: what a [`CancelToken`]'s clones share, or
/// kept inside a task that is itself shared ([`CancelScope::cell`]).
pub struct TokenCell {
    /// PENDING, then STARTED or CANCELLED, once.
    state: AtomicU8,
    /// Someone asked this task to stop.
    requested: AtomicBool,
    /// The scope's epoch when the token was made.
    epoch: u64,
    /// The scope, for `abort_pending` and `cancel_all`.
    scope: Arc<ScopeInner>,
}

/// Why [`TokenCell::try_start`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// The task was cancelled before it started; the caller that got this owns the
    /// cancelled outcome.
    Cancelled,
    /// Someone else already started or cancelled it; the caller owns nothing.
    Claimed,
}

/// What [`TokenCell::cancel`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The task had not started and now never will; the caller owns the cancelled outcome.
    BeforeStart,
    /// The task is running; it was asked to stop and sees `is_cancelled()`.
    Requested,
    /// The task had already been settled as cancelled before it started (by an earlier
    /// call, a queue drain, or its own start seeing the request): this call owns nothing.
    AlreadyCancelled,
}

impl TokenCell {
    /// Claims the task for running. Fails if it was cancelled (this caller then owns
    /// the cancelled outcome) or already claimed by someone else.
    pub fn try_start(&self) -> Result<(), StartError> {
        if self.cancelled_before_start() {
            return match self.claim(CANCELLED) {
                true => Err(StartError::Cancelled),
                false => Err(StartError::Claimed),
            };
        }
        if !self.claim(STARTED) {
            return Err(StartError::Claimed);
        }
        // An abort may have landed between the check above and the claim: look again,
        // after the claim. Whoever aborted saw this token pending, so it must not run.
        fence(Ordering::SeqCst);
        if self.aborted() {
            self.state.store(CANCELLED, Ordering::Release);
            return Err(StartError::Cancelled);
        }
        Ok(())
    }

    /// Cancels this task: before it starts (it never will) or while it runs (it is
    /// asked to stop).
    pub fn cancel(&self) -> CancelOutcome {
        self.requested.store(true, Ordering::Release);
        if self.claim(CANCELLED) {
            return CancelOutcome::BeforeStart;
        }
        match self.state.load(Ordering::Acquire) {
            STARTED => CancelOutcome::Requested,
            _ => CancelOutcome::AlreadyCancelled,
        }
    }

    /// Claims a pending task as cancelled, for whoever removes it from a queue. True if
    /// this call did it and so owns the cancelled outcome.
    pub fn claim_cancelled(&self) -> bool {
        self.claim(CANCELLED)
    }

    /// Whether the task should stop: it was cancelled, its scope cancelled everything,
    /// or it has not started and an `abort_pending` came after it was made.
    pub fn is_cancelled(&self) -> bool {
        self.requested.load(Ordering::Acquire)
            || self.scope.all.load(Ordering::Acquire)
            || match self.state.load(Ordering::Acquire) {
                PENDING => self.aborted(),
                STARTED => false,
                _ => true,
            }
    }

    /// Whether nobody has started or cancelled the task yet.
    pub fn is_pending(&self) -> bool {
        self.state.load(Ordering::Acquire) == PENDING
    }

    /// Whether the task has been claimed for running.
    pub fn is_started(&self) -> bool {
        self.state.load(Ordering::Acquire) == STARTED
    }

    fn aborted(&self) -> bool {
        self.scope.epoch.load(Ordering::Acquire) != self.epoch
    }

    fn cancelled_before_start(&self) -> bool {
        self.requested.load(Ordering::Acquire)
            || self.scope.all.load(Ordering::Acquire)
            || self.aborted()
    }

    fn claim(&self, to: u8) -> bool {
        self.state
            .compare_exchange(PENDING, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

impl fmt::Debug for TokenCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCell")
            .field("started", &self.is_started())
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("started", &self.is_started())
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
