//! One task's life: queued at its route's gate, run by a backend (or inline by a
//! waiter), answered once through its handle.
//!
//! - `closure.rs`: work that is a closure (cpu, chunk, io-blocking, custom routes).
//! - `promotion.rs`: where a retried task's first attempt may hand its task over to a
//!   retry driver.
//! - `extras.rs`: the policies a task carries (breaker call, key, dependency), boxed
//!   only when it has one.
//! - `future.rs`: work that is a future (the io route).
//! - `stop.rs`: stopping a running future, by its cancel or the shutdown deadline.
//! - `handle.rs`: [`TaskHandle`], a `Future` with a blocking `wait()`.
//! - `context.rs`: what a running task can ask about itself ([`is_cancelled`]).
//! - `panic.rs`: turning a caught panic into [`TaskError::Panicked`](crate::TaskError), and
//!   dropping user values quietly (a `Drop` that panics must not unwind through a task's
//!   bookkeeping).
//!
//! **Architecture Invariant:** a task's fate has exactly one owner. Its
//! [`CancelToken`](sluice_core::CancelToken) moves once, from pending to started or to
//! cancelled; whoever moves it records the outcome and fills the completion. That is
//! why every submitted task ends in exactly one counted outcome.

mod closure;
mod context;
mod extras;
mod future;
mod handle;
mod info;
mod panic;
mod promotion;
mod reply;
mod stop;

pub(crate) use closure::{ClosureSetup, execute, launch_closure, submit_closure, submit_first};
pub use context::is_cancelled;
pub(crate) use context::{
    Holding, Owner, Owning, Slot, in_task, lend_current, request_lend, run_as_task, run_owned,
    run_polled, run_polled_as,
};
pub(crate) use future::{InFrame, IoSide, launch_future, submit_future};
pub use handle::TaskHandle;
pub(crate) use handle::{Answering, Control};
pub(crate) use info::TaskInfo;
pub(crate) use panic::{CatchUnwind, Quiet, drop_quietly, panic_message, quietly, take_message};
pub(crate) use promotion::{Cancel, Keeps, Promotion};
pub(crate) use reply::{AttemptSink, Reply};
