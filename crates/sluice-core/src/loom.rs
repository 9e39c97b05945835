//! The one switch between `std` and `loom`.
//!
//! Every atomic, lock, condition variable, `Arc` and thread of this crate is reached
//! through this module, never through `std::sync` directly, so that building with
//! `RUSTFLAGS="--cfg sluice_loom"` puts each of them under loom's model checker.
//! The cfg is named after the crate: a bare `--cfg loom` would also switch on
//! tokio's own loom code in every crate that depends on tokio.

#[cfg(not(sluice_loom))]
pub(crate) use std::thread_local;

/// The `Arc` that callers hand in behind a trait object (`Arc<dyn ..>`), which loom's
/// `Arc` cannot hold: always std's, also under loom, where it only loses leak checks.
pub(crate) use std::sync::Arc as StdArc;

#[cfg(sluice_loom)]
pub(crate) use loom::thread_local;

/// `UnsafeCell` with loom's closure API, so that loom can check every access.
#[cfg(not(sluice_loom))]
pub(crate) mod cell {
    /// `std::cell::UnsafeCell` bent to loom's API (as tokio's shim does). Transparent, so
    /// a slice of these has the layout of a slice of `T`.
    #[repr(transparent)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) fn new(value: T) -> Self {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(sluice_loom)]
pub(crate) mod cell {
    pub(crate) use loom::cell::UnsafeCell;
}

#[cfg(not(sluice_loom))]
pub(crate) mod sync {
    pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};

    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{
            AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering, fence,
        };
    }
}

#[cfg(sluice_loom)]
pub(crate) mod sync {
    pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};

    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{
            AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering, fence,
        };
    }
}

/// Locks `mutex`, carrying on through poisoning.
///
/// Poisoning cannot leave any state of this crate half-updated: no code that runs under
/// one of its locks calls user code or can panic between two related writes.
pub(crate) fn lock<T>(mutex: &sync::Mutex<T>) -> sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
