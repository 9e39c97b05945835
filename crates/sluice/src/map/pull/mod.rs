//! Maps on closure routes: pullers sharing one iterator.
//!
//! The map itself and its pull loop live here; `output.rs` holds where results go,
//! `puller.rs` the pullers' places in the gate queue and on the backend.

mod output;
mod puller;

use crate::lock::lock;
use crate::route::Route;
use crate::task::{
    Control, Reply, Slot, TaskHandle, TaskInfo, drop_quietly, run_as_task, run_polled, take_message,
};
use crate::{Progress, TaskError};
use output::{Output, Placed};
use puller::{Puller, PullerGone};
use sluice_core::{CancelScope, CancelToken, Claim, Lease, Outcome, Priority, SlotVec};
use sluice_exec::BlockSizer;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long one work unit should take: long enough that pulling and bookkeeping are
/// noise, short enough that the last units balance across threads.
const UNIT_TARGET: Duration = Duration::from_micros(300);

/// A unit of work: its position, its items, and its place in the output when known.
type Unit<Item, O> = (usize, Vec<Item>, Option<Claim<O>>);

/// One map call, shared by its pullers and its handle.
struct PullMap<It: Iterator, F, O> {
    /// Cancellation and the claim on starting.
    token: CancelToken,
    /// The iterator and the results so far.
    source: Mutex<Source<It>>,
    /// The function mapped over every item.
    f: F,
    /// Sizes the units.
    sizer: BlockSizer,
    /// Told of each unit done, with the input's length if known.
    progress: Option<(Progress, Option<u64>)>,
    /// When the input's length is known: the output, each unit written in place.
    slots: Mutex<Option<SlotVec<O>>>,
    /// Otherwise: the output, assembled in order as units finish.
    output: Mutex<Output<O>>,
    /// The answer, sent once.
    reply: Reply<Vec<O>, Infallible>,
}

/// What the pullers share under one lock.
struct Source<It> {
    /// The input, pulled lazily.
    iter: It,
    /// The next unit's position in the output.
    next_index: usize,
    /// The iterator has ended.
    exhausted: bool,
    /// Units being mapped now.
    active: usize,
    /// Pullers queued or running; when none is left the map must end.
    outstanding: usize,
    /// The map's body began (counted as started).
    started: bool,
    /// The first panic of `f`, which ends the map.
    panic: Option<String>,
    /// The map is being answered. Set under the lock by the one puller (or canceller)
    /// that ends it: the answer itself is built after the lock is let go, and a second
    /// ender would find the output already taken and answer an empty `Vec`.
    ending: bool,
}

/// Submits a map of `f` over `items` on `route`, its pullers queued at `priority`.
pub(crate) fn submit_pull_map<It, F, O>(
    route: &Arc<Route>,
    scope: &CancelScope,
    priority: Priority,
    items: It,
    f: F,
) -> TaskHandle<Vec<O>>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> O + Send + Sync + 'static,
    O: Send + 'static,
{
    let (completer, completion) = sluice_core::completion();
    route.counters.submitted();
    let map = start_pull_map(
        route,
        scope,
        (priority, None),
        Reply::new(route.clone(), completer, TaskInfo::new(None, None)),
        items,
        f,
    );
    TaskHandle::new(completion, Some(map))
}

/// Starts a map answered through `reply` (to its caller, or to a driver of policies),
/// with up to the route's parallelism of pullers.
pub(crate) fn start_pull_map<It, F, O>(
    route: &Arc<Route>,
    scope: &CancelScope,
    (priority, progress): (Priority, Option<Progress>),
    reply: Reply<Vec<O>, Infallible>,
    items: It,
    f: F,
) -> Arc<dyn Control>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> O + Send + Sync + 'static,
    O: Send + 'static,
{
    let pullers = route.executor.parallelism().min(route.gate.limit()).max(1);
    // A known length lets every unit write its results straight into the output, as
    // rayon's `collect` does; otherwise units are appended in order.
    let total = match items.size_hint() {
        (low, Some(high)) if low == high => u64::try_from(low).ok(),
        _ => None,
    };
    let slots = match items.size_hint() {
        // A length too large to allocate falls back to appending, which fails (if it
        // must) only when the results really arrive.
        (low, Some(high)) if low == high => SlotVec::try_with_len(low),
        _ => None,
    };
    let map = Arc::new(PullMap {
        token: scope.token(),
        source: Mutex::new(Source {
            iter: items,
            next_index: 0,
            exhausted: false,
            active: 0,
            outstanding: pullers,
            started: false,
            panic: None,
            ending: false,
        }),
        slots: Mutex::new(slots),
        output: Mutex::new(Output {
            out: Vec::new(),
            next: 0,
            early: BTreeMap::new(),
        }),
        f,
        sizer: BlockSizer::new(UNIT_TARGET, pullers),
        reply,
        progress: progress.map(|progress| (progress, total)),
    });
    for _ in 0..pullers {
        route
            .gate
            .enqueue_at(Box::new(Puller(map.clone())), priority);
    }
    map
}

impl<It, F, O> PullMap<It, F, O>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> O + Send + Sync + 'static,
    O: Send + 'static,
{
    fn lock(&self) -> MutexGuard<'_, Source<It>> {
        lock(&self.source)
    }

    /// Takes units and maps them until there are none left or the map must stop. Units
    /// run in a frame holding `lease` (the puller's slot, lent while a unit waits), or
    /// in a free frame for a helping waiter.
    fn pull_loop(&self, lease: Option<&Lease>) {
        // A keyed map's turn, held by its driver: a unit that waits for a task queued
        // behind it is refused (see `task/context.rs`).
        let held = self.reply.driver_turn();
        while let Some((index, block, claim)) = self.next_unit() {
            let len = block.len();
            let began = Instant::now();
            let map_unit = || {
                catch_unwind(AssertUnwindSafe(|| match claim {
                    Some(mut claim) => {
                        for item in block {
                            // Exactly one result per item fills the claim exactly.
                            let _ = claim.push((self.f)(item));
                        }
                        Placed::InPlace(claim)
                    }
                    None => Placed::Part(block.into_iter().map(&self.f).collect::<Vec<O>>()),
                }))
            };
            let mapped = match lease {
                Some(lease) => run_polled(&self.token, lease, held.clone(), map_unit).0,
                None => run_as_task(&self.token, Slot::Free, held.clone(), map_unit),
            };
            self.sizer.record(len, began.elapsed());
            let panic = match mapped {
                Ok(Placed::InPlace(claim)) => {
                    claim.finish();
                    None
                }
                Ok(Placed::Part(part)) => {
                    self.append(index, part);
                    None
                }
                Err(payload) => Some(take_message(payload)),
            };
            if let (None, Some((progress, _))) = (&panic, &self.progress) {
                progress.advance(len as u64);
            }
            let mut source = self.lock();
            source.active -= 1;
            if let Some(message) = panic {
                source.panic.get_or_insert(message);
            }
        }
    }

    /// The next unit with its position, or `None` when this puller should stop (after
    /// ending the map if it was the last one at work).
    fn next_unit(&self) -> Option<Unit<It::Item, O>> {
        let mut source = self.lock();
        if self.reply.is_answered() || source.ending {
            return None;
        }
        let stop = source.exhausted || source.panic.is_some() || self.token.is_cancelled();
        if !stop && !source.started {
            if self.token.try_start().is_ok() {
                source.started = true;
                self.reply.started();
                if let Some((progress, total)) = &self.progress {
                    progress.begin(*total);
                }
            } else {
                return self.end_if_idle(source);
            }
        }
        if stop {
            return self.end_if_idle(source);
        }
        let remaining = match source.iter.size_hint() {
            (low, Some(high)) if low == high => Some(low),
            _ => None,
        };
        let want = self.sizer.next(remaining);
        // The input is user code too: a panic in it ends the map like a panic in `f`.
        let pulled = catch_unwind(AssertUnwindSafe(|| {
            source.iter.by_ref().take(want).collect::<Vec<It::Item>>()
        }));
        let block = match pulled {
            Ok(block) => block,
            Err(payload) => {
                source.exhausted = true;
                source.panic.get_or_insert_with(|| {
                    format!("the input iterator panicked: {}", take_message(payload))
                });
                return self.end_if_idle(source);
            }
        };
        if block.len() < want {
            source.exhausted = true;
        }
        if block.is_empty() {
            return self.end_if_idle(source);
        }
        // Claimed under the source lock, so claims follow the input's order.
        let claim = match self.slots_lock().as_ref() {
            Some(slots) => match slots.claim(block.len()) {
                Some(claim) => Some(claim),
                None => {
                    source.panic.get_or_insert_with(|| {
                        format!(
                            "the input iterator yielded more items than its size_hint promised ({})",
                            slots.len()
                        )
                    });
                    return self.end_if_idle(source);
                }
            },
            None => None,
        };
        source.active += 1;
        let index = source.next_index;
        source.next_index += 1;
        Some((index, block, claim))
    }

    fn end_if_idle(&self, source: MutexGuard<'_, Source<It>>) -> Option<Unit<It::Item, O>> {
        if source.active == 0 {
            self.finish(source);
        }
        None
    }

    /// Answers the map from what it has: called once nobody is mapping a unit, so its
    /// body has ended with the answer.
    fn finish(&self, mut source: MutexGuard<'_, Source<It>>) -> bool {
        if std::mem::replace(&mut source.ending, true) {
            return false;
        }
        let answered = self.answer(source);
        self.reply.body_ended();
        answered
    }

    fn answer(&self, mut source: MutexGuard<'_, Source<It>>) -> bool {
        if !source.started {
            drop(source);
            self.progress_done();
            return self.reply.cancelled_unstarted();
        }
        let ended = if let Some(message) = source.panic.take() {
            Err((Outcome::Panicked, message))
        } else if !source.exhausted {
            Err((Outcome::Cancelled, String::new()))
        } else {
            Ok(())
        };
        // The lock is let go before the observer runs: it may cancel this very map.
        drop(source);
        let (outcome, answer) = match ended {
            Err((Outcome::Panicked, message)) => {
                (Outcome::Panicked, Err(TaskError::Panicked(message)))
            }
            Err(_) => (Outcome::Cancelled, Err(TaskError::Cancelled)),
            Ok(()) => match self.slots_lock().take() {
                Some(slots) => match slots.into_vec() {
                    Ok(out) => (Outcome::Succeeded, Ok(out)),
                    // Every unit has ended (none is active), so every claim has too.
                    Err(_) => {
                        let message = "internal error: a map unit's claim outlived it".to_owned();
                        (Outcome::Panicked, Err(TaskError::Panicked(message)))
                    }
                },
                None => (
                    Outcome::Succeeded,
                    Ok(std::mem::take(&mut lock(&self.output).out)),
                ),
            },
        };
        // Before the answer, so that a caller that heard sees the progress finished.
        self.progress_done();
        let sent = self.reply.finished(outcome, answer);
        // A map that did not succeed leaves what it had mapped: user values, dropped
        // here and quietly, not wherever the map's last reference goes (its caller's
        // `wait`, a puller's job).
        let slots = self.slots_lock().take();
        let parts = {
            let mut output = lock(&self.output);
            (
                std::mem::take(&mut output.out),
                std::mem::take(&mut output.early),
            )
        };
        drop_quietly((slots, parts), "a map's results");
        sent
    }

    /// Tells the progress, if any, that the map has ended.
    fn progress_done(&self) {
        if let Some((progress, _)) = &self.progress {
            progress.finish();
        }
    }

    /// A puller ran out or was dropped unrun. If it was the last and the map has not
    /// ended, end it now; true if that cancelled a map that never started.
    fn puller_gone(&self) -> bool {
        let mut source = self.lock();
        source.outstanding -= 1;
        if source.outstanding > 0 || source.active > 0 || self.reply.is_answered() {
            return false;
        }
        let unstarted = !source.started;
        self.finish(source) && unstarted
    }
}

impl<It, F, O> Control for PullMap<It, F, O>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> O + Send + Sync + 'static,
    O: Send + 'static,
{
    fn cancel(&self) -> bool {
        self.reply.cancel_with(
            &self.token,
            || {
                let cancelled = self.reply.cancelled_unstarted();
                self.reply.body_ended();
                cancelled
            },
            || {
                let source = self.lock();
                if source.active == 0 {
                    self.finish(source);
                }
            },
        )
    }

    fn help(&self) {
        if !self.reply.route.inline_ok {
            return;
        }
        // The helper counts as a puller while it helps: otherwise draining the queued
        // pullers (`abort_pending`) between two of its units would end a running map.
        self.lock().outstanding += 1;
        let _gone = PullerGone(self);
        self.pull_loop(None);
    }
}
