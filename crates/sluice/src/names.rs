//! Names given to `task`, `breaker` and `limit`, shared instead of copied per task.
//!
//! A program submits most of its tasks under a handful of names, usually from a loop
//! on one thread; each `Arc<str>` made afresh is an allocation per task (and a free on
//! a worker's thread, which contends for the allocator's lock). Each thread keeps the
//! few names it used last and hands out a clone when the same name comes again.

use std::cell::RefCell;
use std::sync::Arc;

/// How many names each thread keeps.
const KEPT: usize = 4;

/// One thread's names, and the slot the next new name replaces.
struct Recent {
    /// The names, most recently added anywhere.
    names: [Option<Arc<str>>; KEPT],
    /// Where the next new name goes (round robin).
    next: usize,
}

thread_local! {
    static RECENT: RefCell<Recent> = const {
        RefCell::new(Recent {
            names: [None, None, None, None],
            next: 0,
        })
    };
}

/// `name` as an `Arc<str>`: a clone of this thread's if it used the name lately.
pub(crate) fn shared(name: &str) -> Arc<str> {
    let made = || Arc::<str>::from(name);
    RECENT
        .try_with(|recent| {
            // A name made while the cache is borrowed (never expected) is just made.
            let Ok(mut recent) = recent.try_borrow_mut() else {
                return made();
            };
            if let Some(kept) = recent.names.iter().flatten().find(|kept| ***kept == *name) {
                return kept.clone();
            }
            let name = made();
            let next = recent.next;
            recent.names[next] = Some(name.clone());
            recent.next = (next + 1) % KEPT;
            name
        })
        // The thread is ending and its cache is gone.
        .unwrap_or_else(|_| made())
}

#[cfg(test)]
mod tests {
    use super::shared;
    use std::sync::Arc;

    #[test]
    fn a_name_used_again_is_the_same_allocation() {
        let first = shared("fetch");
        assert!(Arc::ptr_eq(&first, &shared("fetch")));
        assert_eq!(&*shared("parse"), "parse");
    }

    #[test]
    fn a_name_pushed_out_by_newer_ones_is_made_afresh_and_still_right() {
        let first = shared("old");
        for i in 0..super::KEPT {
            let _ = shared(&format!("new-{i}"));
        }
        let again = shared("old");
        assert_eq!(&*again, "old");
        assert!(!Arc::ptr_eq(&first, &again));
    }
}
