//! How big a plain closure task is: a burst of tiny tasks is bound by the pages their
//! allocations touch (issue 20), so the size is held to a bound here.

use super::super::TaskInfo;
use super::super::reply::Reply;
use super::ClosureTask;
use std::convert::Infallible;
use std::mem::size_of;

/// A plain `run_cpu(|| 1u64)` task: what a burst of them allocates, per task, besides
/// the `Arc`'s two counts.
type Plain = ClosureTask<fn() -> Result<u64, Infallible>, u64, Infallible>;

/// 376 bytes before issue 20's h43 (a 400-byte malloc chunk with the `Arc`'s counts).
const PLAIN_BOUND: usize = 336;

#[test]
fn a_plain_closure_task_stays_small() {
    let sizes = [
        ("ClosureTask", size_of::<Plain>()),
        ("Reply", size_of::<Reply<u64, Infallible>>()),
        ("TaskInfo", size_of::<TaskInfo>()),
        (
            "slot",
            size_of::<sluice_core::OneShot<Result<u64, crate::TaskError<Infallible>>>>(),
        ),
    ];
    // The parts' sizes go in the message, so that a failure says where the bytes went.
    assert!(
        size_of::<Plain>() <= PLAIN_BOUND,
        "a plain closure task is {} bytes, over {PLAIN_BOUND} ({sizes:?})",
        size_of::<Plain>()
    );
}
