//! Values whose `Drop` panics, as a hostile user's may: the captures of a task that
//! never runs (or of a future dropped halfway), a task's error, a panic's payload. The
//! manager must answer and count every such task as if the drops were quiet, so the
//! judge applies its usual rules to them.

use crate::body::PANIC_PREFIX;

/// Panics when dropped while armed (and not already unwinding, which would abort).
#[derive(Debug, Default)]
pub struct Fuse {
    /// Cleared by `defuse`.
    armed: bool,
}

impl Fuse {
    /// A fuse, armed if `hostile`.
    pub fn new(hostile: bool) -> Fuse {
        Fuse { armed: hostile }
    }

    /// Makes its drop quiet: a body that ran, or a value that reached its caller.
    pub fn defuse(&mut self) {
        self.armed = false;
    }
}

impl Drop for Fuse {
    fn drop(&mut self) {
        if self.armed && !std::thread::panicking() {
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
        assert!(catch_unwind(|| drop(Fuse::new(true))).is_err());
        assert!(catch_unwind(|| drop(Fuse::new(false))).is_ok());
        let mut fuse = Fuse::new(true);
        fuse.defuse();
        assert!(catch_unwind(move || drop(fuse)).is_ok());
        let payload = catch_unwind(|| std::panic::panic_any(Payload));
        assert!(catch_unwind(AssertUnwindSafe(move || drop(payload))).is_err());
    }
}
