//! The harness's own books for one wave: what each task's body did and what its caller
//! was answered, kept apart from the manager's counters so that each checks the other.

use crate::plan::{Behaviour, Spec, Wave};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// What a caller was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Answer {
    /// Not answered (yet).
    None = 0,
    /// Its own value.
    Ok = 1,
    /// Its own error.
    Failed = 2,
    /// A caught panic.
    Panicked = 3,
    /// Cancelled.
    Cancelled = 4,
    /// Timed out.
    TimedOut = 5,
    /// Refused: an open breaker or shutdown.
    Rejected = 6,
    /// Anything else: always a violation, already reported when it was recorded.
    Wrong = 7,
}

impl Answer {
    fn from_u8(value: u8) -> Answer {
        match value {
            1 => Answer::Ok,
            2 => Answer::Failed,
            3 => Answer::Panicked,
            4 => Answer::Cancelled,
            5 => Answer::TimedOut,
            6 => Answer::Rejected,
            7 => Answer::Wrong,
            _ => Answer::None,
        }
    }
}

/// One task's record.
#[derive(Debug, Default)]
pub struct Entry {
    /// Times its body started (attempts, for a retried task).
    pub runs: AtomicU32,
    /// Items its map ran.
    pub items: AtomicU32,
    /// Times its caller was answered.
    pub answers: AtomicU32,
    /// The last answer.
    answer: std::sync::atomic::AtomicU8,
    /// A child: whether its parent submitted it.
    pub submitted: AtomicBool,
    /// A streamed map: the item answers its consumer saw, in the order of
    /// `sluice::ItemCounts` (ok, failed, panicked, timed out, rejected, other).
    pub seen: [AtomicU32; 6],
    /// A streamed map: its consumer saw every item the manager counted (it read the
    /// stream to its end and the map was not cut short), so `seen` is exact.
    pub complete: AtomicBool,
}

impl Entry {
    /// The last answer recorded.
    pub fn answer(&self) -> Answer {
        Answer::from_u8(self.answer.load(Ordering::Acquire))
    }
}

/// One key's order book.
#[derive(Debug, Default)]
pub struct KeySlot {
    /// Bodies of the key running now.
    pub running: AtomicU32,
    /// The highest `seq` whose body started.
    pub last_seq: AtomicU64,
}

/// Violations found, with a cap on how many are kept word for word.
#[derive(Debug, Default)]
pub struct Violations {
    /// Every violation counted.
    pub count: AtomicU64,
    /// The first ones, for the report.
    pub first: Mutex<Vec<String>>,
}

impl Violations {
    /// Records one.
    pub fn push(&self, what: String) {
        let n = self.count.fetch_add(1, Ordering::Relaxed);
        if n < 50
            && let Ok(mut first) = self.first.lock()
        {
            first.push(what);
        }
    }

    /// How many so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// The books of one wave.
#[derive(Debug)]
pub struct Ledger {
    /// The wave's number, for messages.
    pub wave: u64,
    /// One entry per task of the wave.
    pub entries: Vec<Entry>,
    /// One slot per key of the wave.
    pub keys: Vec<KeySlot>,
}

impl Ledger {
    /// Empty books for `wave`.
    pub fn new(wave: &Wave) -> Ledger {
        Ledger {
            wave: wave.number,
            entries: (0..wave.specs.len()).map(|_| Entry::default()).collect(),
            keys: (0..wave.key_managers.len())
                .map(|_| KeySlot::default())
                .collect(),
        }
    }

    /// Records an answer to `spec`'s caller.
    pub fn answer(&self, spec: &Spec, answer: Answer) {
        let entry = &self.entries[spec.index];
        entry.answers.fetch_add(1, Ordering::AcqRel);
        entry.answer.store(answer as u8, Ordering::Release);
    }

    /// A task's id, as the report prints it.
    pub fn id(&self, spec: &Spec) -> String {
        format!("task {}.{}", self.wave, spec.index)
    }
}

/// The value a task's body returns: its id, scrambled, so a value that reached the
/// wrong caller shows.
pub fn value_of(wave: u64, index: usize) -> u64 {
    (wave << 32 | index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The value a map returns for `item`.
pub fn item_value(index: usize, item: u32) -> u64 {
    (index as u64)
        .wrapping_mul(31)
        .wrapping_add(u64::from(item))
}

/// Whether a behaviour may run its body more than once.
pub fn may_rerun(behaviour: Behaviour) -> bool {
    matches!(behaviour, Behaviour::Retried { .. })
}
