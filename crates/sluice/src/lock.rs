//! Locking that carries on through poisoning.
//!
//! No state of this crate is left half-updated by a panic under one of its locks (user
//! code never runs while they are held), so a poisoned lock is safe to use as it is.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, poisoned or not.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Takes what `slot` holds.
pub(crate) fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    lock(slot).take()
}
