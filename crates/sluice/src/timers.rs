//! One thread that fires the manager's timers: the deadlines of running work and the
//! ends of retry backoffs.
//!
//! A deadline exists only while a body runs (it is armed when the body starts and
//! cancelled when it ends), and a backoff only while a task waits to retry, so at most
//! a few hundred are live. A slab of them, scanned by one thread that sleeps until the
//! earliest, costs a lock and a push to arm and a lock and a remove to cancel: no task
//! spawned, no runtime woken.

use crate::lock::lock;
use crate::policy::timeout::{Expirable, expire};
use crate::task::quietly;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What fires when a timer passes, or is cut short.
pub(crate) enum Fire {
    /// A closure, boxed.
    Call(Box<dyn FnOnce(Fired) + Send>),
    /// A running body's timeout: the task itself, with its timeout's length and its
    /// name for the log line. Nothing is allocated to arm it.
    Expire(Arc<dyn Expirable>, Duration, Option<Arc<str>>),
}

impl Fire {
    /// A timer that calls `f`.
    pub(crate) fn call(f: impl FnOnce(Fired) + Send + 'static) -> Self {
        Fire::Call(Box::new(f))
    }

    /// Fires it, with why.
    fn fire(self, why: Fired) {
        match self {
            Fire::Call(f) => f(why),
            Fire::Expire(task, after, name) => expire(&*task, after, name.as_deref()),
        }
    }
}

/// What a timer is for: backoffs can be cut short all at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerKind {
    /// A task's timeout.
    Deadline,
    /// A retried task's pause before its next attempt.
    Backoff,
}

/// Why a timer fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fired {
    /// Its time came.
    Due,
    /// `abort_pending()` cut it short.
    Aborted,
    /// Shutdown began and cut it short.
    ShuttingDown,
}

/// The manager's deadline thread; dropping the last handle stops it.
pub(crate) struct Timers {
    /// Shared with the thread.
    shared: Arc<Shared>,
}

/// What the thread and the handles share.
struct Shared {
    /// The armed deadlines.
    slab: Mutex<Slab>,
    /// Wakes the thread when an earlier deadline is armed, or to stop it.
    wake: Condvar,
}

/// Armed deadlines in reusable slots.
#[derive(Default)]
struct Slab {
    /// `None` where free.
    slots: Vec<Option<Entry>>,
    /// Free slot indices.
    free: Vec<usize>,
    /// Counts arms, so a stale handle never cancels a reused slot.
    generation: u64,
    /// Set when the manager is gone.
    stopped: bool,
    /// When the sleeping thread will wake by itself; `None` while it is awake (it scans
    /// again before it sleeps, so nothing armed meanwhile is missed).
    sleeping_until: Option<Instant>,
}

/// One armed timer.
struct Entry {
    /// When it fires.
    at: Instant,
    /// What it does.
    fire: Fire,
    /// The slab's arm count when it was armed.
    generation: u64,
    /// What it is for.
    kind: TimerKind,
}

/// The longest the thread sleeps without a deadline due: arming a deadline later than
/// its wake-up then needs no notification (a futex wake and a context switch), which is
/// the common case of a timeout much longer than the work it bounds.
const MAX_SLEEP: Duration = Duration::from_millis(100);

/// Cancels an armed deadline; returned by [`Timers::arm`].
pub(crate) struct Armed {
    /// The deadline thread.
    shared: Arc<Shared>,
    /// Which timer.
    ticket: Ticket,
}

/// Cancels a timer armed by [`Timers::arm_here`], borrowing the timers rather than
/// holding them: a running body's timeout, armed and cancelled within the body's run
/// while its task holds the timers anyway. Holding them was an increment and a
/// decrement per task of a count every worker shares.
pub(crate) struct ArmedHere<'a> {
    /// The deadline thread.
    shared: &'a Shared,
    /// Which timer.
    ticket: Ticket,
}

/// Which timer an armed handle cancels.
#[derive(Clone, Copy)]
struct Ticket {
    /// Its slot.
    slot: usize,
    /// The slot's generation when armed.
    generation: u64,
}

impl Timers {
    /// Starts the thread (`sluice-timers`).
    pub(crate) fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            slab: Mutex::new(Slab::default()),
            wake: Condvar::new(),
        });
        let thread_shared = shared.clone();
        thread::Builder::new()
            .name("sluice-timers".into())
            .spawn(move || run(&thread_shared))?;
        Ok(Timers { shared })
    }

    /// Calls `fire` at `at` unless the returned handle cancels it first.
    pub(crate) fn arm(&self, at: Instant, kind: TimerKind, fire: Fire) -> Armed {
        Armed {
            shared: self.shared.clone(),
            ticket: self.shared.arm(at, kind, fire),
        }
    }

    /// As [`arm`](Self::arm), with a handle that borrows the timers.
    pub(crate) fn arm_here(&self, at: Instant, kind: TimerKind, fire: Fire) -> ArmedHere<'_> {
        ArmedHere {
            shared: &self.shared,
            ticket: self.shared.arm(at, kind, fire),
        }
    }
}

impl Shared {
    /// Arms a timer that calls `fire` at `at`, waking the thread if it sleeps past it.
    fn arm(&self, at: Instant, kind: TimerKind, fire: Fire) -> Ticket {
        let mut slab = lock(&self.slab);
        slab.generation += 1;
        let generation = slab.generation;
        let wake_early = slab.sleeping_until.is_some_and(|until| at < until);
        let entry = Entry {
            at,
            fire,
            generation,
            kind,
        };
        let slot = match slab.free.pop() {
            Some(slot) => {
                slab.slots[slot] = Some(entry);
                slot
            }
            None => {
                slab.slots.push(Some(entry));
                slab.slots.len() - 1
            }
        };
        drop(slab);
        if wake_early {
            self.wake.notify_one();
        }
        Ticket { slot, generation }
    }

    /// Cancels the timer of `ticket` if it has not fired.
    fn cancel(&self, ticket: Ticket) {
        let removed = {
            let mut slab = lock(&self.slab);
            let live = matches!(&slab.slots[ticket.slot], Some(entry) if entry.generation == ticket.generation);
            if live {
                slab.free.push(ticket.slot);
                slab.slots[ticket.slot].take()
            } else {
                None
            }
        };
        // The closure's captures are dropped outside the lock.
        drop(removed);
    }
}

impl Timers {
    /// Fires every armed timer of `kind` now, on this thread, with `why`; returns how
    /// many.
    pub(crate) fn cut_short(&self, kind: TimerKind, why: Fired) -> usize {
        let taken: Vec<Fire> = {
            let mut slab = lock(&self.shared.slab);
            let Slab { slots, free, .. } = &mut *slab;
            slots
                .iter_mut()
                .enumerate()
                .filter(|(_, slot)| slot.as_ref().is_some_and(|entry| entry.kind == kind))
                .filter_map(|(index, slot)| {
                    free.push(index);
                    slot.take().map(|entry| entry.fire)
                })
                .collect()
        };
        let count = taken.len();
        for fire in taken {
            // One timer's panic must not leave the others unfired.
            quietly(move || fire.fire(why), "a timer cut short");
        }
        count
    }
}

impl Armed {
    /// Cancels the deadline if it has not fired.
    pub(crate) fn cancel(self) {
        self.shared.cancel(self.ticket);
    }
}

impl ArmedHere<'_> {
    /// Cancels the deadline if it has not fired.
    pub(crate) fn cancel(self) {
        self.shared.cancel(self.ticket);
    }
}

impl Slab {
    fn earliest(&self) -> Option<Instant> {
        self.slots.iter().flatten().map(|entry| entry.at).min()
    }

    /// Removes and returns everything due by `now`.
    fn due(&mut self, now: Instant) -> Vec<Fire> {
        let mut due = Vec::new();
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if slot.as_ref().is_some_and(|entry| entry.at <= now)
                && let Some(entry) = slot.take()
            {
                due.push(entry.fire);
                self.free.push(index);
            }
        }
        due
    }
}

fn run(shared: &Shared) {
    let mut slab = lock(&shared.slab);
    loop {
        if slab.stopped {
            return;
        }
        let now = Instant::now();
        let due = slab.due(now);
        if !due.is_empty() {
            drop(slab);
            for fire in due {
                // A timer drops user values (a retried attempt's error) and those drops
                // are quiet, but a panic here would kill the thread and with it every
                // timeout and backoff of the manager: caught here as well.
                quietly(move || fire.fire(Fired::Due), "a timer");
            }
            slab = lock(&shared.slab);
            continue;
        }
        let until = slab
            .earliest()
            .map_or(now + MAX_SLEEP, |at| at.min(now + MAX_SLEEP));
        slab.sleeping_until = Some(until);
        slab = match shared
            .wake
            .wait_timeout(slab, until.saturating_duration_since(now))
        {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        };
        slab.sleeping_until = None;
    }
}

impl Drop for Timers {
    fn drop(&mut self) {
        lock(&self.shared.slab).stopped = true;
        self.shared.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn in_ms(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[test]
    fn fires_in_deadline_order_and_not_when_cancelled() {
        let timers = Timers::start().expect("thread starts");
        let (tx, rx) = mpsc::channel();
        let fire = |name: &'static str| {
            let tx = tx.clone();
            Fire::call(move |_| tx.send(name).expect("receiver alive"))
        };
        let late = timers.arm(in_ms(60), TimerKind::Deadline, fire("late"));
        let cancelled = timers.arm(in_ms(20), TimerKind::Deadline, fire("cancelled"));
        let early = timers.arm(in_ms(10), TimerKind::Deadline, fire("early"));
        cancelled.cancel();
        let got: Vec<_> = (0..2)
            .map(|_| {
                rx.recv_timeout(Duration::from_secs(10))
                    .expect("hung: a deadline never fired")
            })
            .collect();
        assert_eq!(got, ["early", "late"]);
        assert!(
            rx.recv_timeout(Duration::from_millis(50)).is_err(),
            "nothing else fires"
        );
        drop((late, early));
    }

    #[test]
    fn a_stale_handle_does_not_cancel_a_reused_slot() {
        let timers = Timers::start().expect("thread starts");
        let (tx, rx) = mpsc::channel();
        let first_tx = tx.clone();
        let first = timers.arm(
            in_ms(1),
            TimerKind::Deadline,
            Fire::call(move |_| first_tx.send(1).expect("alive")),
        );
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(1));
        // The first fired; its slot is reused by the second.
        let second = timers.arm(
            in_ms(20),
            TimerKind::Deadline,
            Fire::call(move |_| tx.send(2).expect("alive")),
        );
        first.cancel();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)),
            Ok(2),
            "the stale cancel hit nothing"
        );
        drop(second);
    }

    #[test]
    fn a_long_deadline_armed_on_a_sleeping_thread_still_fires() {
        let timers = Timers::start().expect("thread starts");
        // Let the thread go to sleep with nothing armed.
        thread::sleep(Duration::from_millis(20));
        let (tx, rx) = mpsc::channel();
        let armed = timers.arm(
            in_ms(150),
            TimerKind::Deadline,
            Fire::call(move |_| tx.send(()).expect("alive")),
        );
        assert!(
            rx.recv_timeout(Duration::from_secs(10)).is_ok(),
            "hung: never fired"
        );
        drop(armed);
    }

    #[test]
    fn cutting_backoffs_short_fires_them_now_and_spares_deadlines() {
        let timers = Timers::start().expect("thread starts");
        let (tx, rx) = mpsc::channel();
        let fire = |name: &'static str| {
            let tx = tx.clone();
            Fire::call(move |why| tx.send((name, why)).expect("receiver alive"))
        };
        let backoff = timers.arm(in_ms(60_000), TimerKind::Backoff, fire("backoff"));
        let deadline = timers.arm(in_ms(60_000), TimerKind::Deadline, fire("deadline"));
        assert_eq!(timers.cut_short(TimerKind::Backoff, Fired::Aborted), 1);
        assert_eq!(rx.try_recv(), Ok(("backoff", Fired::Aborted)));
        assert!(rx.try_recv().is_err(), "the deadline is still armed");
        assert_eq!(timers.cut_short(TimerKind::Backoff, Fired::Aborted), 0);
        backoff.cancel(); // a no-op: it has fired
        deadline.cancel();
    }
}
