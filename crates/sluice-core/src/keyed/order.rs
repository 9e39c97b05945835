//! The three ordering modes a [`KeyedQueue`](super::KeyedQueue) can keep.

/// How a [`KeyedQueue`](super::KeyedQueue) orders the items submitted to it; chosen once
/// per queue. (Named apart from `std::cmp::Ordering` and the atomic `Ordering`, which
/// code using it often imports too.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum KeyOrder {
    /// One item runs at a time across the whole queue, whatever its key, in global
    /// submission order.
    Strict,
    /// Items of one key run one at a time in submission order; different keys run in
    /// parallel.
    #[default]
    PerKey,
    /// No ordering: every item may run as soon as it is submitted. The queue still
    /// counts running items per key, for [`KeyedQueue::active_keys`](super::KeyedQueue::active_keys).
    Relaxed,
}
