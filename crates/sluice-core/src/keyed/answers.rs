//! What a [`KeyedQueue`](super::KeyedQueue) answers: a turn to run, a ticket to wait
//! with, or the items a failure cancelled.

/// The answer to [`KeyedQueue::submit`](super::KeyedQueue::submit).
#[must_use = "an item handed back with `Run` holds its key's turn until `finish` is called"]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted<T> {
    /// The caller may start the item now. It holds its key's turn (in `Strict`, the
    /// queue's only turn) until the caller calls `finish` for its key.
    Run(T),
    /// The item waits its turn; the ticket can take it back out with
    /// [`KeyedQueue::cancel`](super::KeyedQueue::cancel).
    Queued(Ticket),
}

/// Names one queued item, to cancel it.
///
/// Tickets of one queue are distinct and increase in submission order. A ticket means
/// something only to the queue that issued it: shown to another queue it may name an
/// unrelated item there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticket {
    /// The item's number in the queue: distinct, in submission order.
    pub(super) seq: u64,
    /// The hash of the item's key, to find the key's lane.
    pub(super) hash: u64,
}

/// The answer to
/// [`KeyedQueue::finish_and_cancel_rest`](super::KeyedQueue::finish_and_cancel_rest).
#[must_use = "`next` holds the queue's turn in `Strict` mode and must be run"]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelledRest<T> {
    /// Every item that was queued behind the finished one under its key, in submission
    /// order, for the caller to answer as cancelled. None of them will run.
    pub cancelled: Vec<T>,
    /// The item that now holds the turn the finished one gave up: in `Strict` mode the
    /// next item in global order (of another key); always `None` in the other modes.
    pub next: Option<T>,
}
