//! Per-key ordering: items of one key run one at a time, in the order they came.
//!
//! A [`KeyedQueue`] sits before the admission gate and decides *when* an item may start,
//! according to the [`KeyOrder`] chosen for the queue:
//! - `Strict`: one item runs at a time across the whole queue, in global submission order;
//! - `PerKey`: FIFO within a key and at most one running per key; keys run in parallel;
//! - `Relaxed`: no ordering, every item may start at once.
//!
//! [`KeyedQueue::submit`] answers [`Submitted::Run`] (start now; the item holds its key's
//! turn) or [`Submitted::Queued`] with a [`Ticket`]. The turn stays with the item until
//! [`KeyedQueue::finish`] is called for its key, however long it runs and however often
//! it is retried, so order survives retries; `finish` returns the item that holds the
//! turn next. A final failure can take the rest of its key down with it
//! ([`KeyedQueue::finish_and_cancel_rest`], answering a [`CancelledRest`]); a ticket
//! takes one queued item out ([`KeyedQueue::cancel`], O(log n) amortised, the others keep
//! their order); [`KeyedQueue::drain_all`] empties the waiting room at shutdown.
//!
//! Invariants, each checked by the loom models in `tests/loom_keyed.rs` and the tests in
//! `tests/keyed.rs`:
//! - `PerKey`: never two running items of one key; `Strict`: never two running at all;
//! - items of one key start in submission order (in `Strict`, all items do);
//! - every submitted item is handed out exactly once: to run, or back from a cancel, a
//!   cancelled rest or a drain;
//! - a key with nothing running and nothing queued holds no memory.
//!
//! # Examples
//!
//! ```
//! use sluice_core::{KeyedQueue, KeyOrder, Submitted};
//!
//! let queue = KeyedQueue::new(KeyOrder::PerKey);
//! assert_eq!(queue.submit("alice", 1), Submitted::Run(1));
//! let Submitted::Queued(second) = queue.submit("alice", 2) else {
//!     panic!("alice already has a running item");
//! };
//! assert!(matches!(queue.submit("alice", 3), Submitted::Queued(_)));
//! assert_eq!(queue.submit("bob", 10), Submitted::Run(10), "keys run in parallel");
//!
//! assert_eq!(queue.cancel(second), Some(2));
//! assert_eq!(queue.finish(&"alice"), Some(3), "3 now holds alice's turn");
//! assert_eq!(queue.finish(&"alice"), None);
//! assert_eq!(queue.finish(&"bob"), None);
//! assert!(queue.is_empty());
//! assert_eq!(queue.active_keys(), 0);
//! ```
//!
//! A worker that owns a turn keeps it busy: it runs its item, finishes, and runs
//! whatever `finish` hands it next.
//!
//! ```
//! use sluice_core::{KeyedQueue, KeyOrder, Submitted};
//! use std::thread;
//!
//! let queue = KeyedQueue::new(KeyOrder::PerKey);
//! let ran: usize = thread::scope(|scope| {
//!     let workers: Vec<_> = (0..4)
//!         .map(|worker| {
//!             let queue = &queue;
//!             scope.spawn(move || {
//!                 let mut ran = 0;
//!                 for n in 0..10 {
//!                     let key = n % 2;
//!                     let Submitted::Run(mut item) = queue.submit(key, (worker, n)) else {
//!                         continue; // Whoever holds `key`'s turn will run it.
//!                     };
//!                     loop {
//!                         let (_worker, _n) = item; // Run the item here.
//!                         ran += 1;
//!                         match queue.finish(&key) {
//!                             Some(next) => item = next,
//!                             None => break,
//!                         }
//!                     }
//!                 }
//!                 ran
//!             })
//!         })
//!         .collect();
//!     workers.into_iter().map(|w| w.join().unwrap()).sum()
//! });
//! assert_eq!(ran, 40, "every item ran once");
//! assert!(queue.is_empty());
//! ```

mod answers;
mod busy;
mod lane;
mod order;
mod queue;
mod state;

pub use answers::{CancelledRest, Submitted, Ticket};
pub use order::KeyOrder;
pub use queue::KeyedQueue;
