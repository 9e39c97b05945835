//! The caller's side of a task: await it, or wait for it from synchronous code.

use super::context::waits_behind_this_thread;
use super::{in_task, request_lend};
use crate::TaskError;
use crate::policy::keyed::TurnHeld;
use crate::wait::block_on_slot;
use sluice_core::{Completion, OneShot};
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// What a handle can ask of the task behind it, whatever its work type.
pub(crate) trait Control: Send + Sync {
    /// Cancels the task; true if this call stopped it before it started or asked a
    /// running one to stop.
    fn cancel(&self) -> bool;

    /// Called by a waiter that runs inside a task: runs the work on the calling thread
    /// if it has not started and its route allows inline runs (CPU and chunk work), so
    /// that the work cannot be stuck queued behind the waiter's own admission slot.
    fn help(&self);

    /// Called by a waiter outside any task before it blocks: work small enough that a
    /// pool round trip would cost more than the work (a map of a few items) is run on
    /// the waiting thread, which would only sleep meanwhile. Nothing by default.
    fn help_small(&self) {}

    /// Whether a worker has taken the task up (it runs, or has run): a blocking waiter
    /// spins briefly before it parks only then (`OneShot::wait_for_work`). True by
    /// default: a task that cannot tell is treated as running.
    fn started(&self) -> bool {
        true
    }

    /// Whether an awaiting future's first poll may spin a few µs for the answer, as a
    /// blocking waiter does: only for closures on a pool's threads, which an awake
    /// worker takes up within the spin's pickup time. An io future's worker is woken
    /// through the runtime's driver, too late for that, and a map or a retry driver
    /// cannot tell when its answer comes; each would make the spin a loss. False by
    /// default.
    fn spins_when_awaited(&self) -> bool {
        false
    }

    /// Whether the task still waits for its key's turn behind `held`, a turn that a
    /// running task holds: then it cannot start before that task ends.
    fn waits_behind(&self, _held: &TurnHeld) -> bool {
        false
    }

    /// Gives the task up without an answer to anyone who still wants one: a retried
    /// task's attempt that its driver no longer needs (the task is past its deadline).
    /// Unstarted, it never runs; running, it is asked to stop and its end is counted as
    /// abandoned where the work cannot be stopped from outside.
    fn expire(&self) {
        self.cancel();
    }
}

/// A submitted task: a `Future` of its answer, with [`wait`](Self::wait) for
/// synchronous callers.
///
/// Dropping the handle does not cancel the task (as with tokio's `JoinHandle`); call
/// [`cancel`](Self::cancel) for that. See [`wait`](Self::wait) for what waiting does
/// inside a task, and for the one way a blocking wait can still deadlock.
///
/// Awaited from outside the manager's tasks, the handle of a closure (`run_cpu`,
/// `run_io_blocking`, `run_chunk`) may spin on its first poll for up to 10 µs, while a
/// worker runs the closure, before it returns `Pending`: a short call's answer is then
/// taken without the caller's runtime parking and being woken. A thread whose spins
/// keep missing the answer stops spinning for a while, so long calls cost the caller's
/// runtime little.
#[must_use = "a dropped handle lets the task run on, unobserved"]
pub struct TaskHandle<T, E = Infallible> {
    /// Where the answer arrives, and the task behind it.
    source: Source<T, E>,
    /// Whether it has been polled: only the first poll spins for the answer.
    polled: bool,
    /// Whether the answer has been taken from a closed slot: nothing can arrive after
    /// it, so the drop need not lock the slot to abandon it.
    taken: bool,
}

/// A task that keeps its answer's slot inside itself, so that task and slot are one
/// allocation: its handle reaches the slot through it.
pub(crate) trait Answering<T, E>: Control {
    /// The slot its answer goes to.
    fn answer_slot(&self) -> &OneShot<Result<T, TaskError<E>>>;
}

/// Where a handle's answer arrives.
enum Source<T, E> {
    /// A slot of its own, beside the task (`None` for an answer given at submission).
    Apart {
        /// Where the answer arrives.
        completion: Completion<Result<T, TaskError<E>>>,
        /// The task behind it.
        control: Option<Arc<dyn Control>>,
    },
    /// The slot inside the task.
    Within(Arc<dyn Answering<T, E>>),
}

impl<T, E> TaskHandle<T, E> {
    pub(crate) fn new(
        completion: Completion<Result<T, TaskError<E>>>,
        control: Option<Arc<dyn Control>>,
    ) -> Self {
        TaskHandle {
            source: Source::Apart {
                completion,
                control,
            },
            polled: false,
            taken: false,
        }
    }

    /// The handle of a task that holds its answer's slot.
    pub(crate) fn within(task: Arc<dyn Answering<T, E>>) -> Self {
        TaskHandle {
            source: Source::Within(task),
            polled: false,
            taken: false,
        }
    }

    /// The slot the answer arrives in.
    fn slot(&self) -> &OneShot<Result<T, TaskError<E>>> {
        match &self.source {
            Source::Apart { completion, .. } => completion.one_shot(),
            Source::Within(task) => task.answer_slot(),
        }
    }

    /// The task behind the handle, if any.
    fn control(&self) -> Option<&dyn Control> {
        match &self.source {
            Source::Apart { control, .. } => control.as_deref(),
            Source::Within(task) => Some(&**task as &dyn Control),
        }
    }

    /// A handle already answered with `error`, for work refused at submission.
    pub(crate) fn answered(error: TaskError<E>) -> Self {
        let (completer, completion) = sluice_core::completion();
        completer.complete(Err(error));
        TaskHandle::new(completion, None)
    }

    /// Blocks until the task ends and returns its answer.
    ///
    /// What the wait does depends on where it is called:
    ///
    /// - **Inside a task of the same manager, for work nobody has started.** If the
    ///   awaited work is CPU or chunk work (a task or a map) that no worker has started
    ///   yet, the waiting thread runs it inline, on its own thread. Blocking calls
    ///   ([`run_io_blocking`](crate::ConcurrencyManager::run_io_blocking)), futures and
    ///   work for a custom backend ([`run_on`](crate::ConcurrencyManager::run_on)) are
    ///   never run inline.
    /// - **Inside a task, otherwise.** For the length of the wait, the waiting task's
    ///   admission slot is lent to its gate, so that queued work — the awaited task, or
    ///   work that task needs — can be admitted; the slot is taken back when the wait
    ///   ends. (An io future that `.await`s a handle lends its slot the same way while it
    ///   is suspended.)
    /// - **Inside a keyed task, for a task queued behind its own turn** — a later task
    ///   of its key, or under [`KeyOrder::Strict`](crate::KeyOrder::Strict) any later
    ///   keyed task — it answers [`TaskError::WaitOnOwnKey`] at once: that task can only
    ///   start once the waiter has ended. The awaited task keeps its place and runs
    ///   after the waiter. `.await` answers the same. A keyed task nobody has started
    ///   is run inline only once its key's turn has come.
    /// - **On a worker thread of a multi-thread tokio runtime**, it blocks through
    ///   [`block_in_place`](tokio::task::block_in_place), so the worker's other tasks
    ///   move to another thread.
    /// - **On a thread of a current-thread tokio runtime**, it does not block: it answers
    ///   [`TaskError::WaitWouldBlockRuntime`]. `.await` the handle there instead.
    /// - **Anywhere else** (`main`, a thread of your own), it blocks until the answer
    ///   arrives.
    ///
    /// # Deadlock
    ///
    /// One case still deadlocks: when every thread of a pool blocks in `wait()` on work
    /// that itself needs a thread of that same pool, nothing is left to run that work.
    /// For example, each CPU thread waits on an io future that awaits a CPU task: the
    /// lent slots let that CPU task be admitted, but no CPU thread is free to run it (a
    /// blocked waiter does not run other queued jobs). `.await` from async code, or
    /// `wait()` from a thread outside the pool, never has this problem.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let words = mgr.run_cpu(|| "the quick brown fox".split_whitespace().count());
    /// assert_eq!(words.wait()?, 4);
    ///
    /// // Inside a CPU task: a chunk task nobody has started yet may run right here.
    /// let inner = mgr.clone();
    /// let total = mgr.run_cpu(move || {
    ///     let fields = inner.run_chunk(|| "a,b,c".split(',').count());
    ///     fields.wait().map(|n| n * 10)
    /// });
    /// assert_eq!(total.wait()??, 30);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait(mut self) -> Result<T, TaskError<E>> {
        let slot = self.slot();
        if !slot.is_closed() && self.control().is_some_and(waits_behind_this_thread) {
            return Err(TaskError::WaitOnOwnKey);
        }
        let answer = match block_on_slot(slot, self.control()) {
            Ok(Some(answer)) => answer,
            Ok(None) => Err(TaskError::Cancelled),
            Err(error) => return Err(error.widen()),
        };
        // The slot closed and its value is out.
        self.taken = true;
        answer
    }

    /// Cancels the task. Queued work answers [`TaskError::Cancelled`] at once and never
    /// runs; a running future is dropped; running CPU or chunk work is asked to stop
    /// (it sees [`is_cancelled`](crate::is_cancelled)) and answers when it ends.
    /// Returns false if the task had already ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, TaskError};
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// // A scan that only stops when asked to.
    /// let scan = mgr.run_cpu(|| {
    ///     let mut rows = 0u64;
    ///     while !sluice::is_cancelled() {
    ///         rows += 1;
    ///     }
    ///     rows
    /// });
    /// assert!(scan.cancel());
    /// match scan.wait() {
    ///     Ok(_rows) => {}                  // it had started, and stopped early
    ///     Err(TaskError::Cancelled) => {}  // it was cancelled before it started
    ///     Err(other) => return Err(other.into()),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cancel(&self) -> bool {
        self.control().is_some_and(|control| control.cancel())
    }

    /// Whether the answer is there, so that `wait` would not block.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let digest = mgr.run_cpu(|| "some,record".bytes().map(u64::from).sum::<u64>());
    /// while !digest.is_finished() {
    ///     std::thread::yield_now(); // do other work meanwhile
    /// }
    /// assert!(!digest.cancel()); // too late: it has ended
    /// assert_eq!(digest.wait()?, "some,record".bytes().map(u64::from).sum::<u64>());
    ///
    /// // Work refused at submission is answered, hence finished, at once.
    /// assert!(mgr.run_on("no-such-backend", || ()).is_finished());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        self.slot().is_closed()
    }
}

impl<T, E> Future for TaskHandle<T, E> {
    type Output = Result<T, TaskError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if !std::mem::replace(&mut this.polled, true)
            && this.control().is_some_and(Control::spins_when_awaited)
            && !in_task()
        {
            // The first poll of a closure's handle, from outside the manager's tasks,
            // spins a few µs for the answer, as `wait()` does before it parks
            // (`sluice_core::spin`: only while a worker runs the task, and not on a
            // thread whose spins keep missing): a short task's answer is then taken
            // without the caller's runtime parking and a wake-up from the worker (a
            // futex or eventfd round trip each). Not inside a task, whose runtime's
            // other tasks would wait on the spin.
            let control = this.control();
            this.slot()
                .spin_for_work(|| control.is_none_or(Control::started));
        }
        match this.slot().poll_take(cx) {
            Poll::Ready(answer) => {
                this.taken = true;
                Poll::Ready(answer.unwrap_or(Err(TaskError::Cancelled)))
            }
            Poll::Pending => {
                if this.control().is_some_and(waits_behind_this_thread) {
                    return Poll::Ready(Err(TaskError::WaitOnOwnKey));
                }
                // Awaited from inside a task: its slot is lent while it is suspended,
                // so that a full gate cannot deadlock on a task awaiting its subtask.
                request_lend();
                Poll::Pending
            }
        }
    }
}

impl<T, E> Drop for TaskHandle<T, E> {
    fn drop(&mut self) {
        // An answer nobody read is dropped here, by its caller, as a value of its own
        // would be (its drop's panic is the caller's); one that comes later is handed
        // back to the task's thread, which drops it quietly. Once the answer has been
        // taken the slot is closed: nothing is there, and nothing can come.
        if !self.taken
            && let Source::Within(task) = &self.source
        {
            drop(task.answer_slot().abandon());
        }
    }
}

impl<T, E> fmt::Debug for TaskHandle<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
