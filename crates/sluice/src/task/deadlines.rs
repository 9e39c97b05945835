//! One thread that fires the deadlines of running work.
//!
//! A deadline exists only while a body runs (it is armed when the body starts and
//! cancelled when it ends), so at most as many are live as there are running bodies —
//! a few hundred. A slab of them, scanned by one thread that sleeps until the earliest,
//! costs a lock and a push to arm and a lock and a remove to cancel: no task spawned,
//! no runtime woken.

use crate::lock::lock;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What fires when a deadline passes.
type Fire = Box<dyn FnOnce() + Send>;

/// The manager's deadline thread; dropping the last handle stops it.
pub(crate) struct Deadlines {
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
    /// `(when, what, generation)`; `None` where free.
    slots: Vec<Option<(Instant, Fire, u64)>>,
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

/// The longest the thread sleeps without a deadline due: arming a deadline later than
/// its wake-up then needs no notification (a futex wake and a context switch), which is
/// the common case of a timeout much longer than the work it bounds.
const MAX_SLEEP: Duration = Duration::from_millis(100);

/// Cancels an armed deadline; returned by [`Deadlines::arm`].
pub(crate) struct Armed {
    /// The deadline thread.
    shared: Arc<Shared>,
    /// Its slot.
    slot: usize,
    /// The slot's generation when armed.
    generation: u64,
}

impl Deadlines {
    /// Starts the thread (`sluice-deadlines`).
    pub(crate) fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            slab: Mutex::new(Slab::default()),
            wake: Condvar::new(),
        });
        let thread_shared = shared.clone();
        thread::Builder::new()
            .name("sluice-deadlines".into())
            .spawn(move || run(&thread_shared))?;
        Ok(Deadlines { shared })
    }

    /// Calls `fire` at `at` unless the returned handle cancels it first.
    pub(crate) fn arm(&self, at: Instant, fire: Fire) -> Armed {
        let mut slab = lock(&self.shared.slab);
        slab.generation += 1;
        let generation = slab.generation;
        let wake_early = slab.sleeping_until.is_some_and(|until| at < until);
        let slot = match slab.free.pop() {
            Some(slot) => {
                slab.slots[slot] = Some((at, fire, generation));
                slot
            }
            None => {
                slab.slots.push(Some((at, fire, generation)));
                slab.slots.len() - 1
            }
        };
        drop(slab);
        if wake_early {
            self.shared.wake.notify_one();
        }
        Armed {
            shared: self.shared.clone(),
            slot,
            generation,
        }
    }
}

impl Armed {
    /// Cancels the deadline if it has not fired.
    pub(crate) fn cancel(self) {
        let removed = {
            let mut slab = lock(&self.shared.slab);
            let live = matches!(&slab.slots[self.slot], Some((_, _, g)) if *g == self.generation);
            if live {
                slab.free.push(self.slot);
                slab.slots[self.slot].take()
            } else {
                None
            }
        };
        // The closure's captures are dropped outside the lock.
        drop(removed);
    }
}

impl Slab {
    fn earliest(&self) -> Option<Instant> {
        self.slots.iter().flatten().map(|(at, _, _)| *at).min()
    }

    /// Removes and returns everything due by `now`.
    fn due(&mut self, now: Instant) -> Vec<Fire> {
        let mut due = Vec::new();
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if slot.as_ref().is_some_and(|(at, _, _)| *at <= now)
                && let Some((_, fire, _)) = slot.take()
            {
                due.push(fire);
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
                fire();
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

impl Drop for Deadlines {
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
        let deadlines = Deadlines::start().expect("thread starts");
        let (tx, rx) = mpsc::channel();
        let fire = |name: &'static str| {
            let tx = tx.clone();
            Box::new(move || tx.send(name).expect("receiver alive")) as Fire
        };
        let late = deadlines.arm(in_ms(60), fire("late"));
        let cancelled = deadlines.arm(in_ms(20), fire("cancelled"));
        let early = deadlines.arm(in_ms(10), fire("early"));
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
        let deadlines = Deadlines::start().expect("thread starts");
        let (tx, rx) = mpsc::channel();
        let first_tx = tx.clone();
        let first = deadlines.arm(in_ms(1), Box::new(move || first_tx.send(1).expect("alive")));
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(1));
        // The first fired; its slot is reused by the second.
        let second = deadlines.arm(in_ms(20), Box::new(move || tx.send(2).expect("alive")));
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
        let deadlines = Deadlines::start().expect("thread starts");
        // Let the thread go to sleep with nothing armed.
        thread::sleep(Duration::from_millis(20));
        let (tx, rx) = mpsc::channel();
        let armed = deadlines.arm(in_ms(150), Box::new(move || tx.send(()).expect("alive")));
        assert!(
            rx.recv_timeout(Duration::from_secs(10)).is_ok(),
            "hung: never fired"
        );
        drop(armed);
    }
}
