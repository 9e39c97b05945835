//! The plan of a streamed map and of a map over an input that blocks: how many items,
//! which of them fail, panic or overrun, the stream's options, and how its consumer
//! reads it — all drawn from the wave's seed.

use crate::rng::Rng;
use std::time::Duration;

/// Which breaker guards every item of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemBreaker {
    /// The fleet's breaker that trips and recovers all the time.
    Flaky,
    /// The fleet's breaker held open: every item is refused.
    Open,
}

/// How the consumer reads a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consume {
    /// Takes every element as soon as it can.
    Fast,
    /// Sleeps a little between takes, so that producers wait for room.
    Slow,
    /// Takes this many elements, then drops the stream (cancelling the map).
    DropAfter(u32),
}

/// A streamed map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPlan {
    /// How many items.
    pub items: u32,
    /// Results in input order.
    pub ordered: bool,
    /// The buffer: results produced ahead of the consumer at most.
    pub buffer: u32,
    /// Every item answers `TimedOut` past [`ITEM_TIMEOUT`].
    pub timeout: bool,
    /// The item that overruns the timeout, if any (only with `timeout`).
    pub overrun_at: Option<u32>,
    /// The breaker asked before each item.
    pub breaker: Option<ItemBreaker>,
    /// How the consumer reads it.
    pub consume: Consume,
    /// Items ordered by a key: items of one key one at a time, in input order.
    pub keyed: bool,
}

/// What one item of a stream does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemDo {
    /// Returns its value.
    Succeed,
    /// Returns its own error.
    Fail,
    /// Panics.
    Panic,
    /// Runs past the stream's item timeout.
    Overrun,
}

/// The time limit of each item of a timed stream.
pub const ITEM_TIMEOUT: Duration = Duration::from_millis(2);
/// How long an overrunning CPU item runs (it cannot be stopped from outside): long
/// past its limit, short enough not to hold a pool thread for long.
pub const CPU_OVERRUN: Duration = Duration::from_millis(4);
/// How long an overrunning io item would sleep; its future is dropped at its limit.
pub const IO_OVERRUN: Duration = Duration::from_secs(10);

impl StreamPlan {
    /// A stream drawn from `rng`; `cpu` for the CPU and chunk routes, where an
    /// overrunning item holds a pool thread (and maybe its gate's one slot) until it
    /// returns, so fewer overrun there than on the runtime, whose futures are dropped
    /// at their limit.
    pub fn draw(rng: &mut Rng, cpu: bool) -> StreamPlan {
        let items = 1 + rng.below(16) as u32;
        let buffer = 1 + rng.below(4) as u32;
        let timeout = rng.chance(20);
        let overrun_at = (timeout && rng.chance(if cpu { 4 } else { 15 }))
            .then(|| rng.below(u64::from(items)) as u32);
        let breaker = match rng.below(100) {
            0..10 => Some(ItemBreaker::Flaky),
            10..13 => Some(ItemBreaker::Open),
            _ => None,
        };
        // A drop after k elements leaves the input unfinished (k + buffer < items), so
        // the map is surely cancelled, not ended before the drop reached it; and comes
        // after one element at least, so that a map refused at shutdown (its one
        // element says so) is told from one cancelled.
        let consume = match rng.below(100) {
            0..10 => Consume::Slow,
            10..35 if items > buffer + 2 => {
                Consume::DropAfter(1 + rng.below(u64::from(items - buffer - 2)) as u32)
            }
            _ => Consume::Fast,
        };
        StreamPlan {
            items,
            ordered: rng.chance(70),
            buffer,
            timeout,
            overrun_at,
            breaker,
            consume,
            // From what was drawn, not drawn itself: the seeds' plans stay as they were.
            keyed: (items + buffer).is_multiple_of(3),
        }
    }

    /// What item `item` of the stream of task `index` does.
    pub fn item(&self, index: usize, item: u32) -> ItemDo {
        if self.overrun_at == Some(item) {
            return ItemDo::Overrun;
        }
        let mixed = (index as u64 ^ u64::from(item).rotate_left(40))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            >> 56;
        match mixed % 100 {
            0..6 => ItemDo::Fail,
            6..9 => ItemDo::Panic,
            _ => ItemDo::Succeed,
        }
    }
}

/// A map whose input is a channel the harness feeds slowly, then cancels (or, for a
/// stream, drops) with the sender still alive: the input blocks in its `next()` when
/// the map is cancelled, and the answer must not wait for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockedPlan {
    /// Items sent before the cancel.
    pub fed: u32,
}

/// The pause between two items sent to a blocked input.
pub const FEED_PAUSE: Duration = Duration::from_micros(100);

impl BlockedPlan {
    /// A blocked input drawn from `rng`.
    pub fn draw(rng: &mut Rng) -> BlockedPlan {
        BlockedPlan {
            fed: rng.below(5) as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_stream_never_reaches_its_inputs_end() {
        let mut rng = Rng::new(9);
        for _ in 0..10_000 {
            let cpu = rng.chance(50);
            let plan = StreamPlan::draw(&mut rng, cpu);
            if let Consume::DropAfter(k) = plan.consume {
                assert!(k >= 1 && k + plan.buffer < plan.items, "{plan:?}");
            }
            assert!(plan.overrun_at.is_none() || plan.timeout);
        }
    }

    #[test]
    fn items_fail_and_panic_now_and_then() {
        let plan = StreamPlan::draw(&mut Rng::new(1), true);
        let kinds: Vec<ItemDo> = (0..2_000).map(|i| plan.item(i, 3)).collect();
        for kind in [ItemDo::Succeed, ItemDo::Fail, ItemDo::Panic] {
            assert!(kinds.contains(&kind), "{kind:?} missing");
        }
    }
}
