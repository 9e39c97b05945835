//! Where a map's results go: written in place into the `SlotVec` when the input's
//! length is known, otherwise appended in input order as units finish.

use super::PullMap;
use crate::lock::lock;
use sluice_core::{Claim, SlotVec};
use std::collections::BTreeMap;
use std::sync::MutexGuard;

/// Where a mapped unit goes.
pub(super) enum Placed<O> {
    /// Written in place; the claim is finished by the puller.
    InPlace(Claim<O>),
    /// A unit to append in order.
    Part(Vec<O>),
}

/// The output side, under its own lock so that appending never holds up pulling.
pub(super) struct Output<O> {
    /// Units appended so far, in input order.
    pub(super) out: Vec<O>,
    /// The position of the next unit to append.
    pub(super) next: usize,
    /// Units that finished ahead of their turn: one per puller while units take alike,
    /// more while one unit is much slower than those after it.
    pub(super) early: BTreeMap<usize, Vec<O>>,
}

impl<It, F, O> PullMap<It, F, O>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> O + Send + Sync + 'static,
    O: Send + 'static,
{
    /// Appends a finished unit, and any that finished early and now follow it. The
    /// copy happens while the unit is still in this thread's cache, spread over the
    /// pullers, instead of in one pass over all results at the end.
    pub(super) fn append(&self, index: usize, part: Vec<O>) {
        let mut output = lock(&self.output);
        if index != output.next {
            output.early.insert(index, part);
            return;
        }
        let mut part = part;
        loop {
            if output.out.capacity() == 0 {
                // Nothing reserved (length unknown): the first unit becomes the output.
                output.out = part;
            } else {
                output.out.append(&mut part);
            }
            output.next += 1;
            let next = output.next;
            match output.early.remove(&next) {
                Some(early) => part = early,
                None => break,
            }
        }
    }

    pub(super) fn slots_lock(&self) -> MutexGuard<'_, Option<SlotVec<O>>> {
        lock(&self.slots)
    }
}
