//! Values whose `Drop` panics, as a hostile user's may: the captures of a task that
//! never runs (or of a future dropped halfway), a task's error, a panic's payload. The
//! manager must answer and count every such task as if the drops were quiet, so the
//! judge applies its usual rules to them.
//!
//! A task's captures are armed only once its submission was accepted: work refused at
//! submission (an open breaker, shutdown) is dropped on the caller's own thread, inside
//! the caller's own call, where its panic would be the caller's — which the harness, as
//! a caller, does not want.

use crate::body::PANIC_PREFIX;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// Not armed yet.
const IDLE: u8 = 0;
/// Panics when dropped.
const ARMED: u8 = 1;
/// Quiet for good: the value reached its body or its caller.
const DEFUSED: u8 = 2;

/// Panics when dropped while armed (and not already unwinding, which would abort).
#[derive(Debug, Default)]
pub struct Fuse {
    /// Its state, shared with its `Arming`; `None` for a quiet value.
    state: Option<Arc<AtomicU8>>,
}

/// Arms a fuse from outside, unless it was defused first.
#[derive(Debug)]
pub struct Arming(Option<Arc<AtomicU8>>);

impl Fuse {
    /// A fuse armed from the start if `hostile` (an error).
    pub fn armed(hostile: bool) -> Fuse {
        Fuse {
            state: hostile.then(|| Arc::new(AtomicU8::new(ARMED))),
        }
    }

    /// A fuse armed later, by the returned `Arming`, if `hostile` (captures).
    pub fn later(hostile: bool) -> (Fuse, Arming) {
        let state = hostile.then(|| Arc::new(AtomicU8::new(IDLE)));
        (
            Fuse {
                state: state.clone(),
            },
            Arming(state),
        )
    }

    /// Makes its drop quiet for good: a body that ran, or a value that reached its
    /// caller.
    pub fn defuse(&mut self) {
        if let Some(state) = &self.state {
            state.store(DEFUSED, Ordering::Release);
        }
    }
}

impl Arming {
    /// Arms the fuse, unless it has been defused (its body ran meanwhile).
    pub fn arm(self) {
        if let Some(state) = self.0 {
            let _ = state.compare_exchange(IDLE, ARMED, Ordering::AcqRel, Ordering::Acquire);
        }
    }
}

impl Drop for Fuse {
    fn drop(&mut self) {
        let armed = self
            .state
            .as_ref()
            .is_some_and(|state| state.load(Ordering::Acquire) == ARMED);
        if armed && !std::thread::panicking() {
            panic!("{PANIC_PREFIX}: a value panicked in its drop");
        }
    }
}

/// A panic's payload whose drop panics.
#[derive(Debug)]
pub struct Payload;

impl Drop for Payload {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{PANIC_PREFIX}: a panic's payload panicked in its drop");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{AssertUnwindSafe, catch_unwind};

    #[test]
    fn an_armed_fuse_panics_when_dropped_and_a_defused_one_does_not() {
        assert!(catch_unwind(|| drop(Fuse::armed(true))).is_err());
        assert!(catch_unwind(|| drop(Fuse::armed(false))).is_ok());
        let mut fuse = Fuse::armed(true);
        fuse.defuse();
        assert!(catch_unwind(move || drop(fuse)).is_ok());
        let payload = catch_unwind(|| std::panic::panic_any(Payload));
        assert!(catch_unwind(AssertUnwindSafe(move || drop(payload))).is_err());
    }

    #[test]
    fn a_fuse_armed_later_is_quiet_until_armed_and_after_its_defuse() {
        let (unarmed, _arming) = Fuse::later(true);
        assert!(catch_unwind(move || drop(unarmed)).is_ok());
        let (armed, arming) = Fuse::later(true);
        arming.arm();
        assert!(catch_unwind(move || drop(armed)).is_err());
        let (mut ran, arming) = Fuse::later(true);
        ran.defuse();
        arming.arm();
        assert!(catch_unwind(move || drop(ran)).is_ok());
        let (quiet, arming) = Fuse::later(false);
        arming.arm();
        assert!(catch_unwind(move || drop(quiet)).is_ok());
    }
}
