//! A thread's last look-up by task name in a manager's registry (its breakers, its
//! retry budgets), answered again without the registry's lock or a hash of the name.
//!
//! A thread submitting tasks of one name gives the same allocation each time
//! (`names::shared`), so the name is known by its address. The cache keeps the name, so
//! its address is not reused while it is cached, and the registry's number, taken from
//! one counter for all registries, so that it never answers for another manager's.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::LocalKey;

/// Numbers the registries.
static REGISTRIES: AtomicU64 = AtomicU64::new(0);

/// A new registry's number.
pub(crate) fn registry_id() -> u64 {
    REGISTRIES.fetch_add(1, Ordering::Relaxed)
}

/// A thread's cached look-up: the registry's number, the name as the task gave it, and
/// what it found.
pub(crate) type Last<V> = RefCell<Option<(u64, Arc<str>, V)>>;

/// What this thread looked up last under `name`'s allocation in registry `id`, if that
/// was the last look-up. `None` also while the thread's cache is being torn down.
pub(crate) fn cached<V: Clone>(
    last: &'static LocalKey<Last<V>>,
    id: u64,
    name: &Arc<str>,
) -> Option<V> {
    last.try_with(|last| match &*last.try_borrow().ok()? {
        Some((kept_id, kept, value)) if *kept_id == id && Arc::ptr_eq(kept, name) => {
            Some(value.clone())
        }
        _ => None,
    })
    .ok()
    .flatten()
}

/// Remembers `value` as this thread's last look-up of `name` in registry `id`.
pub(crate) fn remember<V>(last: &'static LocalKey<Last<V>>, id: u64, name: &Arc<str>, value: V) {
    let _ = last.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = Some((id, name.clone(), value));
        }
    });
}
