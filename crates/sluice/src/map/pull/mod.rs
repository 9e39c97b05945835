//! Maps on closure routes: pullers sharing one iterator.
//!
//! The map itself and its pull loop live here; `output.rs` holds where results go,
//! `puller.rs` the pullers' places in the gate queue and on the backend.
//!
//! One puller pulls the input at a time (the `pulling` flag, under a short state lock
//! that is never held while user code runs). A puller that finds the input taken
//! leaves instead of waiting, and the one that has it brings the pullers back up to
//! strength once it has pulled: an input that blocks (an iterator over a channel)
//! holds one thread, never the pool, and `cancel` never waits for it. The input and the
//! function are dropped as soon as the map has ended, not when its handle is.

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
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// How long one work unit should take: long enough that pulling and bookkeeping are
/// noise, short enough that the last units balance across threads.
const UNIT_TARGET: Duration = Duration::from_micros(300);

/// Maps of at most this many items (their length known) are helped by a waiter from
/// outside the pools: a pool round trip costs more than mapping them.
const SMALL_MAP: u64 = 64;

/// A unit of work: its position, its items, and its place in the output when known.
type Unit<Item, O, F> = (usize, Vec<Item>, Option<Claim<O>>, Arc<F>);

/// One map call, shared by its pullers and its handle.
struct PullMap<It: Iterator, F, O> {
    /// Cancellation and the claim on starting.
    token: CancelToken,
    /// The input, held by the one puller pulling; dropped when the map ends.
    input: Mutex<Option<It>>,
    /// Who is doing what.
    source: Mutex<Source>,
    /// The function mapped over every item; dropped when the map ends (a unit being
    /// mapped holds its own clone).
    f: Mutex<Option<Arc<F>>>,
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
    /// Pullers to keep at work.
    strength: usize,
    /// The input's length, when it told exactly.
    known_len: Option<u64>,
    /// Queue rank of the pullers it adds.
    priority: Priority,
    /// Itself, for the pullers it adds.
    this: Weak<Self>,
}

/// What the pullers share under one short lock.
struct Source {
    /// A puller is pulling the input.
    pulling: bool,
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
    let map = Arc::new_cyclic(|this| PullMap {
        token: scope.token(),
        input: Mutex::new(Some(items)),
        source: Mutex::new(Source {
            pulling: false,
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
        f: Mutex::new(Some(Arc::new(f))),
        sizer: BlockSizer::new(UNIT_TARGET, pullers),
        reply,
        progress: progress.map(|progress| (progress, total)),
        strength: pullers,
        known_len: total,
        priority,
        this: this.clone(),
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
    fn lock(&self) -> MutexGuard<'_, Source> {
        lock(&self.source)
    }

    /// Takes units and maps them until there are none left or the map must stop. Units
    /// run in a frame holding `lease` (the puller's slot, lent while a unit waits), or
    /// in a free frame for a helping waiter.
    fn pull_loop(&self, lease: Option<&Lease>) {
        // A keyed map's turn, held by its driver: a unit that waits for a task queued
        // behind it is refused (see `task/context.rs`).
        let held = self.reply.driver_turn();
        while let Some((index, block, claim, f)) = self.next_unit() {
            let len = block.len();
            let began = Instant::now();
            let map_unit = || {
                catch_unwind(AssertUnwindSafe(|| match claim {
                    Some(mut claim) => {
                        for item in block {
                            // Exactly one result per item fills the claim exactly.
                            let _ = claim.push(f(item));
                        }
                        Placed::InPlace(claim)
                    }
                    None => Placed::Part(block.into_iter().map(&*f).collect::<Vec<O>>()),
                }))
            };
            let mapped = match lease {
                Some(lease) => run_polled(&self.token, lease, held.clone(), map_unit).0,
                None => run_as_task(&self.token, Slot::Free, held.clone(), map_unit),
            };
            self.sizer.record(len, began.elapsed());
            drop(f);
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
    fn next_unit(&self) -> Option<Unit<It::Item, O, F>> {
        {
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
            if source.pulling {
                // Another puller has the input; it brings pullers back once it pulled.
                return None;
            }
            source.pulling = true;
        }
        let pulled = self.pull_unit();
        let mut source = self.lock();
        source.pulling = false;
        match pulled {
            Ok(Some((block, claim, f))) => {
                if block.is_empty() {
                    source.exhausted = true;
                    return self.end_if_idle(source);
                }
                source.active += 1;
                let index = source.next_index;
                source.next_index += 1;
                // Bring the pullers back up to strength while there is input.
                let missing = self.strength.saturating_sub(source.outstanding);
                if !source.exhausted && missing > 0 {
                    source.outstanding += missing;
                    drop(source);
                    self.add_pullers(missing);
                }
                Some((index, block, claim, f))
            }
            Ok(None) => {
                source.exhausted = true;
                self.end_if_idle(source)
            }
            Err((exhausted, message)) => {
                source.exhausted |= exhausted;
                source.panic.get_or_insert(message);
                self.end_if_idle(source)
            }
        }
    }

    /// Pulls one unit and claims its place in the output, holding the input (but not
    /// the state lock): `Ok(None)` when the input has ended, `Err` when the map must
    /// end with a panic. Sets `exhausted` through the caller when fewer items came.
    #[allow(clippy::type_complexity)]
    fn pull_unit(
        &self,
    ) -> Result<Option<(Vec<It::Item>, Option<Claim<O>>, Arc<F>)>, (bool, String)> {
        let mut input = lock(&self.input);
        let Some(iter) = input.as_mut() else {
            return Ok(None);
        };
        let remaining = match iter.size_hint() {
            (low, Some(high)) if low == high => Some(low),
            _ => None,
        };
        let want = self.sizer.next(remaining);
        // The input is user code too: a panic in it ends the map like a panic in `f`.
        let pulled = catch_unwind(AssertUnwindSafe(|| {
            iter.by_ref().take(want).collect::<Vec<It::Item>>()
        }));
        let block = match pulled {
            Ok(block) => block,
            Err(payload) => {
                let message = format!("the input iterator panicked: {}", take_message(payload));
                return Err((true, message));
            }
        };
        if block.len() < want {
            // Ended: the last (possibly empty) unit; later pulls find nothing.
            let _ended = input.take();
        }
        drop(input);
        if block.is_empty() {
            return Ok(None);
        }
        // Claimed while this puller still holds the `pulling` flag, so claims follow
        // the input's order.
        let claim = match self.slots_lock().as_ref() {
            Some(slots) => match slots.claim(block.len()) {
                Some(claim) => Some(claim),
                None => {
                    let message = format!(
                        "the input iterator yielded more items than its size_hint promised ({})",
                        slots.len()
                    );
                    return Err((true, message));
                }
            },
            None => None,
        };
        match lock(&self.f).clone() {
            Some(f) => Ok(Some((block, claim, f))),
            None => Ok(None),
        }
    }

    /// Queues `count` more pullers at the route's gate (counted outstanding already).
    fn add_pullers(&self, count: usize) {
        let Some(map) = self.this.upgrade() else {
            return;
        };
        for _ in 0..count {
            self.reply
                .route
                .gate
                .enqueue_at(Box::new(Puller(map.clone())), self.priority);
        }
    }

    fn end_if_idle(&self, source: MutexGuard<'_, Source>) -> Option<Unit<It::Item, O, F>> {
        if source.active == 0 && !source.pulling {
            self.finish(source);
        }
        None
    }

    /// Answers the map from what it has: called once nobody is mapping a unit, so its
    /// body has ended with the answer.
    fn finish(&self, mut source: MutexGuard<'_, Source>) -> bool {
        if std::mem::replace(&mut source.ending, true) {
            return false;
        }
        // The input and the function go first: a closure holding a channel's sender
        // lets its receiver see the end as soon as the map has ended. Nobody pulls or
        // maps now (the caller checked), so the input's lock is free.
        let input = lock(&self.input).take();
        let f = lock(&self.f).take();
        drop(source);
        drop_quietly((input, f), "a map's input and function");
        let source = self.lock();
        let answered = self.answer(source);
        self.reply.body_ended();
        answered
    }

    fn answer(&self, mut source: MutexGuard<'_, Source>) -> bool {
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
        if source.outstanding > 0 || source.active > 0 || source.pulling || self.reply.is_answered()
        {
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
                if source.active == 0 && !source.pulling {
                    self.finish(source);
                }
            },
        )
    }

    /// A map of at most `SMALL_MAP` items (its length known) is mapped by its waiter
    /// too: the pool's threads may take units as well, but a map of a few short items
    /// is usually done before a woken thread gets to it.
    fn help_small(&self) {
        let small = self.known_len.is_some_and(|total| total <= SMALL_MAP);
        if small {
            self.help();
        }
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
