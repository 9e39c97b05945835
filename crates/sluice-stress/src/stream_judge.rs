//! The rules of a streamed map's elements, as its consumer takes them: each item at
//! most once and in input order when ordered, each answer one its item's plan allows,
//! the map's early end only as the last element, every item seen when the stream ends
//! on its own. Pure, so that each rule is tested on its own (below).

use crate::ledger::{Answer, item_value};
use crate::plan::Route;
use crate::stream_plan::{ItemBreaker, ItemDo, StreamPlan};

/// One element a consumer took, stripped down to what the rules look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Element {
    /// A value.
    Ok(u64),
    /// An item's own error, which names the item.
    Failed(u32),
    /// A caught panic, and the item its message names, if it names one.
    Panicked(Option<u32>),
    /// An item past its time limit.
    TimedOut,
    /// An item refused by its breaker.
    Rejected,
    /// The map cut short (aborted, shut down, cancelled).
    Cancelled,
    /// The map refused at submission: the manager is shutting down.
    ShuttingDown,
    /// Anything else, shown as it came.
    Other(String),
}

/// Where an item answer is counted in `sluice::ItemCounts` (ok, failed, panicked, timed
/// out, rejected, other).
fn category(element: &Element) -> usize {
    match element {
        Element::Ok(_) => 0,
        Element::Failed(_) => 1,
        Element::Panicked(_) => 2,
        Element::TimedOut => 3,
        Element::Rejected => 4,
        _ => 5,
    }
}

/// A consumer's reading of one stream so far.
#[derive(Debug)]
pub struct Reading {
    /// The task's index (its values are made of it).
    index: usize,
    /// Its route.
    route: Route,
    /// Its plan.
    plan: StreamPlan,
    /// Items whose answer was seen, one bit each (at most 32 items).
    seen: u32,
    /// Item answers seen, per category.
    pub counts: [u32; 6],
    /// The map-level element taken, if any: the stream's last.
    ended: Option<Element>,
    /// Ordered: the last element was `Cancelled`, an item's place or the map's end.
    pending_end: bool,
    /// Ordered: places answered `Cancelled`. A map cut short answers `Cancelled` in the
    /// place of each item still in flight and keeps every other answer in its own place
    /// (see `tests/stream_ordered_hole.rs`): allowed only when the stream then ends early.
    skipped: u32,
}

/// How a stream's reading ended: the map's answer, whether the consumer saw every
/// item the manager counted, and what was wrong, if anything.
pub type Verdict = (Answer, bool, Option<String>);

impl Reading {
    /// Nothing read yet.
    pub fn new(index: usize, route: Route, plan: StreamPlan) -> Reading {
        Reading {
            index,
            route,
            plan,
            seen: 0,
            counts: [0; 6],
            ended: None,
            skipped: 0,
            pending_end: false,
        }
    }

    /// Elements taken so far.
    pub fn taken(&self) -> u32 {
        self.counts.iter().sum::<u32>() + u32::from(self.ended.is_some())
    }

    /// Checks one element; why it cannot be, if it cannot.
    pub fn take(&mut self, element: Element) -> Result<(), String> {
        if let Some(end) = &self.ended {
            return Err(format!("{element:?} came after the map's end ({end:?})"));
        }
        if element == Element::Cancelled && self.plan.ordered {
            // An ordered stream cut short answers `Cancelled` in the place of each item
            // in flight, then once more as the map's end: which one this is shows only
            // by what follows (anything: a place; nothing: the end).
            self.skipped += 1;
            self.pending_end = true;
            return Ok(());
        }
        self.pending_end = false;
        if matches!(element, Element::Cancelled | Element::ShuttingDown) {
            if element == Element::ShuttingDown && self.taken() > 0 {
                return Err("a map refused at submission had answered items".into());
            }
            self.ended = Some(element);
            return Ok(());
        }
        let items_seen = self.counts.iter().sum::<u32>();
        if items_seen >= self.plan.items {
            return Err(format!("{element:?} came after all {items_seen} items"));
        }
        self.counts[category(&element)] += 1;
        let named = match element {
            Element::Ok(value) => value
                .checked_sub(item_value(self.index, 0))
                .and_then(|item| u32::try_from(item).ok()),
            Element::Failed(item) | Element::Panicked(Some(item)) => Some(item),
            _ => None,
        };
        if matches!(element, Element::Ok(_)) && named.is_none() {
            return Err(format!("{element:?} is the value of no item of its map"));
        }
        let item = if self.plan.ordered {
            // Every place answers: its item's own answer or `Cancelled`, never a hole
            // (an element naming a later item came in an earlier item's place).
            let place = items_seen + self.skipped;
            if named.is_some_and(|named| named != place) {
                return Err(format!(
                    "place {place} of an ordered stream was {element:?}"
                ));
            }
            Some(place)
        } else {
            named
        };
        let Some(item) = item else {
            // An unordered answer that names no item: its kind alone is checked.
            return self.allowed(None, &element);
        };
        if item >= self.plan.items || self.seen & (1 << item) != 0 {
            return Err(format!(
                "item {item} answered again (or unplanned): {element:?}"
            ));
        }
        self.seen |= 1 << item;
        self.allowed(Some(item), &element)
    }

    /// Whether `element` may be the answer of `item` (`None`: some item).
    fn allowed(&self, item: Option<u32>, element: &Element) -> Result<(), String> {
        let does = item.map(|item| self.plan.item(self.index, item));
        let cpu = self.route != Route::StreamIo;
        let ok = match (element, does) {
            // Held open: nothing runs.
            (_, _) if self.plan.breaker == Some(ItemBreaker::Open) => *element == Element::Rejected,
            (Element::Rejected, _) => self.plan.breaker.is_some(),
            (Element::TimedOut, _) => self.plan.timeout,
            // A CPU item cannot be stopped: one whose timer came late returns its value.
            (Element::Ok(_), Some(ItemDo::Overrun)) => cpu,
            (Element::Ok(_), does) => matches!(does, Some(ItemDo::Succeed) | None),
            (Element::Failed(_), does) => does == Some(ItemDo::Fail),
            (Element::Panicked(_), does) => matches!(does, Some(ItemDo::Panic) | None),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "item {item:?}, planned {does:?}, answered {element:?}"
            ))
        }
    }

    /// An ordered stream's last `Cancelled` was the map's end, not an item's place.
    fn settle_end(&mut self) {
        if std::mem::take(&mut self.pending_end) {
            self.skipped -= 1;
            self.ended = Some(Element::Cancelled);
        }
    }

    /// The stream ended on its own (the consumer took `None`).
    pub fn end(mut self) -> Verdict {
        self.settle_end();
        let items_seen: u32 = self.counts.iter().sum();
        match self.ended {
            Some(Element::ShuttingDown) => (Answer::Rejected, true, None),
            Some(_) => (Answer::Cancelled, false, None),
            None if self.skipped > 0 => (
                Answer::Ok,
                false,
                Some(format!(
                    "its ordered stream skipped {} item(s) and ended with no early end",
                    self.skipped
                )),
            ),
            None if items_seen == self.plan.items => (Answer::Ok, true, None),
            None => (
                Answer::Ok,
                false,
                Some(format!(
                    "its stream ended after {items_seen} of {} items, with no early end",
                    self.plan.items
                )),
            ),
        }
    }

    /// The consumer dropped the stream before its end (its early end, if taken, is its
    /// answer).
    pub fn dropped(mut self) -> Verdict {
        self.settle_end();
        match self.ended {
            Some(_) => self.end(),
            None => (Answer::Cancelled, false, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream_plan::Consume;

    fn plan(ordered: bool) -> StreamPlan {
        StreamPlan {
            items: 3,
            ordered,
            buffer: 1,
            timeout: false,
            overrun_at: None,
            breaker: None,
            consume: Consume::Fast,
            keyed: false,
        }
    }

    /// A task whose first three items all succeed.
    fn index() -> usize {
        (0..)
            .find(|&i| (0..3).all(|n| plan(true).item(i, n) == ItemDo::Succeed))
            .unwrap_or(0)
    }

    #[test]
    fn a_stream_read_in_order_to_its_end_passes() {
        let i = index();
        let mut reading = Reading::new(i, Route::StreamCpu, plan(true));
        for n in 0..3 {
            assert_eq!(reading.take(Element::Ok(item_value(i, n))), Ok(()));
        }
        assert_eq!(reading.end(), (Answer::Ok, true, None));
    }

    #[test]
    fn each_broken_promise_is_caught() {
        let i = index();
        let ok = |n| Element::Ok(item_value(i, n));
        // Out of order: a later item in an earlier item's place (a hole), or one gone
        // back to.
        let mut r = Reading::new(i, Route::StreamCpu, plan(true));
        assert!(r.take(ok(1)).is_err(), "a hole in an ordered stream");
        let mut r = Reading::new(i, Route::StreamCpu, plan(true));
        assert_eq!(r.take(ok(0)), Ok(()));
        assert!(r.take(ok(0)).is_err());
        // A place answered `Cancelled` (only a map cut short may), with no early end.
        let mut r = Reading::new(i, Route::StreamCpu, plan(true));
        assert_eq!(r.take(Element::Cancelled), Ok(()));
        assert_eq!(r.take(ok(1)), Ok(()));
        assert_eq!(r.take(ok(2)), Ok(()));
        assert!(r.end().2.is_some(), "a cancelled place with no early end");
        // Twice, unordered.
        let mut r = Reading::new(i, Route::StreamCpu, plan(false));
        assert_eq!(r.take(ok(2)), Ok(()));
        assert!(r.take(ok(2)).is_err());
        // An item lost: the stream ended early with no early end.
        let mut r = Reading::new(i, Route::StreamIo, plan(true));
        assert_eq!(r.take(ok(0)), Ok(()));
        assert!(r.end().2.is_some());
        // An element after the map's early end.
        let mut r = Reading::new(i, Route::StreamCpu, plan(true));
        assert_eq!(r.take(Element::Cancelled), Ok(()));
        assert!(r.take(ok(0)).is_err());
        // Answers no item of this plan may give.
        for wrong in [Element::TimedOut, Element::Rejected, Element::Failed(0)] {
            let mut r = Reading::new(i, Route::StreamCpu, plan(true));
            assert!(r.take(wrong).is_err());
        }
        // A held-open breaker lets nothing run.
        let mut open = plan(true);
        open.breaker = Some(ItemBreaker::Open);
        let mut r = Reading::new(i, Route::StreamCpu, open);
        assert!(r.take(ok(0)).is_err());
        assert_eq!(r.take(Element::Rejected), Ok(()));
    }

    #[test]
    fn early_ends_and_drops_answer_the_map() {
        let mut r = Reading::new(0, Route::StreamCpu, plan(true));
        assert_eq!(r.take(Element::ShuttingDown), Ok(()));
        assert_eq!(r.end(), (Answer::Rejected, true, None));
        let mut r = Reading::new(index(), Route::StreamCpu, plan(true));
        assert_eq!(r.take(Element::Ok(item_value(index(), 0))), Ok(()));
        assert_eq!(r.dropped(), (Answer::Cancelled, false, None));
    }

    #[test]
    fn an_ordered_stream_cut_short_answers_cancelled_in_place_then_ends() {
        let i = index();
        let ok = |n| Element::Ok(item_value(i, n));
        // Item 1 was in flight: its place answers Cancelled, item 2 keeps its own, and
        // the map's end comes last.
        let mut r = Reading::new(i, Route::StreamCpu, plan(true));
        for element in [ok(0), Element::Cancelled, ok(2), Element::Cancelled] {
            assert_eq!(r.take(element), Ok(()));
        }
        assert_eq!(r.end(), (Answer::Cancelled, false, None));
        // Item 2 may not come back to item 1's place.
        let mut r = Reading::new(i, Route::StreamCpu, plan(true));
        assert_eq!(r.take(Element::Cancelled), Ok(()));
        assert!(r.take(ok(0)).is_err());
    }
}
