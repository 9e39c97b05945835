//! A vector that several threads fill at once, each in a range it claimed.
//!
//! [`SlotVec::with_len`] allocates `n` uninitialised slots. A thread
//! [claims](SlotVec::claim) the next `len` slots (the ranges come from one atomic
//! cursor, so no two claims overlap), [pushes](Claim::push) values into them in order,
//! and [finishes](Claim::finish) the claim. When every claim has ended,
//! [`into_vec`](SlotVec::into_vec) hands back the filled prefix as an ordinary `Vec`
//! without copying. This is how a parallel map writes each result straight into its
//! place in the output, as rayon's `collect` does, instead of copying every unit.
//!
//! Nothing leaks and nothing is dropped twice: a claim dropped unfinished (its producer
//! panicked) drops what it wrote; a `SlotVec` dropped without `into_vec` drops what the
//! finished claims wrote. Loom checks that claims never touch the same slot
//! (`tests/loom_slots.rs`).
//!
//! # Examples
//!
//! ```
//! use sluice_core::SlotVec;
//! use std::thread;
//!
//! let slots = SlotVec::with_len(6);
//! let (mut first, mut second) = (slots.claim(3).unwrap(), slots.claim(3).unwrap());
//! let worker = thread::spawn(move || {
//!     for x in [30, 40, 50] {
//!         second.push(x).unwrap();
//!     }
//!     second.finish()
//! });
//! for x in [0, 10, 20] {
//!     first.push(x).unwrap();
//! }
//! assert!(first.finish());
//! assert!(worker.join().unwrap());
//! assert_eq!(slots.into_vec().unwrap(), [0, 10, 20, 30, 40, 50]);
//! ```

use crate::loom::cell::UnsafeCell;
use crate::loom::lock;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::{Arc, Mutex};
use std::fmt;
use std::mem::MaybeUninit;

/// `n` slots filled through claims; see the module docs.
pub struct SlotVec<T> {
    /// Shared with the outstanding claims.
    inner: Arc<Inner<T>>,
}

/// What a `SlotVec` and its claims share.
struct Inner<T> {
    /// The slots; slot `i` is initialised once a finished claim covers it.
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    /// The next slot no claim has taken.
    cursor: AtomicUsize,
    /// Ranges `(start, len)` of finished claims: what is initialised.
    finished: Mutex<Vec<(usize, usize)>>,
}

// SAFETY[1]: (a) Slots are only ever written through a `Claim`, and claims cover disjoint
// ranges (each range is taken from `cursor` by a compare-exchange), so no slot is
// written by two threads. (b) Slots are read only by `into_vec` and by `Inner`'s drop,
// which run when no claim is left (`Arc` uniqueness), after every claim's writes: each
// claim publishes its range under the `finished` mutex, and the last `Arc` drop orders
// everything before it. Values cross threads, so `T: Send` is required.
unsafe impl<T: Send> Sync for Inner<T> {}
// SAFETY[2]: as SAFETY[1]; owning the slots is owning `T`s.
unsafe impl<T: Send> Send for Inner<T> {}

/// The right to fill one range of a [`SlotVec`], in order.
#[must_use = "a claim that is dropped unfinished gives back nothing"]
pub struct Claim<T> {
    /// The vector it fills.
    inner: Arc<Inner<T>>,
    /// Its first slot.
    start: usize,
    /// How many slots it covers.
    len: usize,
    /// How many it has filled, from `start`.
    written: usize,
}

impl<T> SlotVec<T> {
    /// `len` empty slots.
    pub fn with_len(len: usize) -> Self {
        let slots = (0..len)
            .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
            .collect();
        SlotVec {
            inner: Arc::new(Inner {
                slots,
                cursor: AtomicUsize::new(0),
                finished: Mutex::new(Vec::new()),
            }),
        }
    }

    /// `len` empty slots, or `None` if they cannot be allocated (a length too large for
    /// memory), instead of aborting.
    pub fn try_with_len(len: usize) -> Option<Self> {
        let mut slots = Vec::new();
        slots.try_reserve_exact(len).ok()?;
        slots.extend((0..len).map(|_| UnsafeCell::new(MaybeUninit::uninit())));
        Some(SlotVec {
            inner: Arc::new(Inner {
                slots: slots.into_boxed_slice(),
                cursor: AtomicUsize::new(0),
                finished: Mutex::new(Vec::new()),
            }),
        })
    }

    /// How many slots there are.
    pub fn len(&self) -> usize {
        self.inner.slots.len()
    }

    /// Whether there are no slots at all.
    pub fn is_empty(&self) -> bool {
        self.inner.slots.is_empty()
    }

    /// Claims the next `len` slots; `None` if fewer than `len` are left.
    pub fn claim(&self, len: usize) -> Option<Claim<T>> {
        let total = self.inner.slots.len();
        let mut start = self.inner.cursor.load(Ordering::Relaxed);
        loop {
            let end = start.checked_add(len).filter(|&end| end <= total)?;
            match self.inner.cursor.compare_exchange_weak(
                start,
                end,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => start = now,
            }
        }
        Some(Claim {
            inner: self.inner.clone(),
            start,
            len,
            written: 0,
        })
    }

    /// The filled slots as a `Vec`, without copying, once no claim is left and the
    /// finished claims cover a prefix `0..k` with nothing claimed past it; otherwise
    /// `Err(self)`.
    pub fn into_vec(self) -> Result<Vec<T>, Self> {
        let inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(inner) => return Err(SlotVec { inner }),
        };
        let filled = inner.contiguous_prefix();
        if filled != inner.cursor.load(Ordering::Relaxed) {
            return Err(SlotVec {
                inner: Arc::new(inner),
            });
        }
        Ok(inner.into_prefix(filled))
    }
}

impl<T> Inner<T> {
    /// The end of the prefix `0..k` that finished claims cover without a gap.
    fn contiguous_prefix(&self) -> usize {
        let mut ranges = lock(&self.finished).clone();
        ranges.sort_unstable();
        let mut end = 0;
        for (start, len) in ranges {
            if start != end {
                break;
            }
            end += len;
        }
        end
    }

    #[cfg(not(sluice_loom))]
    fn into_prefix(mut self, filled: usize) -> Vec<T> {
        let slots = std::mem::take(&mut self.slots);
        // The ranges are handed over to the Vec: `Drop` must not drop them again.
        lock(&self.finished).clear();
        let capacity = slots.len();
        let ptr = Box::into_raw(slots).cast::<T>();
        // SAFETY[3]: (a) `UnsafeCell` (the shim is `repr(transparent)`) and `MaybeUninit`
        // are transparent over `T`, so the boxed slice has the layout of `capacity`
        // `T`s, allocated by the global allocator as `Vec` would. (b) The first `filled`
        // slots are initialised: finished claims cover `0..filled` (checked by the
        // caller) and every claim has ended. (c) The rest are left uninitialised, past
        // the Vec's length, which is allowed.
        unsafe { Vec::from_raw_parts(ptr, filled, capacity) }
    }

    /// Under loom the cells are not transparent: read the values out one by one.
    #[cfg(sluice_loom)]
    fn into_prefix(mut self, filled: usize) -> Vec<T> {
        lock(&self.finished).clear();
        let slots = std::mem::take(&mut self.slots);
        let mut out = Vec::with_capacity(filled);
        for slot in slots.iter().take(filled) {
            // SAFETY[4]: initialised, as in SAFETY[3]; read once, then the box is
            // freed without dropping (MaybeUninit never drops its contents).
            out.push(slot.with_mut(|p| unsafe { (*p).assume_init_read() }));
        }
        out
    }
}

impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        let finished = std::mem::take(&mut *lock(&self.finished));
        for (start, len) in finished {
            for slot in &self.slots[start..start + len] {
                // SAFETY[5]: a finished claim initialised every slot of its range, no claim
                // is left, and the range was taken out of `finished`, so it is dropped
                // exactly once.
                slot.with_mut(|p| unsafe { (*p).assume_init_drop() });
            }
        }
    }
}

impl<T> Claim<T> {
    /// Fills the next slot of the range; `Err(value)` if the range is full.
    pub fn push(&mut self, value: T) -> Result<(), T> {
        if self.written == self.len {
            return Err(value);
        }
        let index = self.start + self.written;
        self.inner.slots[index].with_mut(|p| {
            // SAFETY[6]: `index` is inside this claim's range, which no other claim
            // overlaps, and has not been written yet (`written` only grows).
            unsafe { (*p).write(value) };
        });
        self.written += 1;
        Ok(())
    }

    /// The index of the range's first slot in the vector.
    pub fn start(&self) -> usize {
        self.start
    }

    /// How many slots are left to fill.
    pub fn remaining(&self) -> usize {
        self.len - self.written
    }

    /// Publishes the range if it is full and returns true; otherwise drops what was
    /// written and returns false.
    pub fn finish(mut self) -> bool {
        if self.written != self.len {
            return false;
        }
        lock(&self.inner.finished).push((self.start, self.len));
        // Published: the slots now belong to the vector, not to this claim.
        self.written = 0;
        self.len = 0;
        true
    }
}

impl<T> Drop for Claim<T> {
    fn drop(&mut self) {
        for index in self.start..self.start + self.written {
            self.inner.slots[index].with_mut(|p| {
                // SAFETY[7]: written by this claim and never published, so nobody else
                // will read or drop it.
                unsafe { (*p).assume_init_drop() };
            });
        }
    }
}

impl<T> fmt::Debug for SlotVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotVec")
            .field("len", &self.len())
            .field("claimed", &self.inner.cursor.load(Ordering::Relaxed))
            .finish()
    }
}

impl<T> fmt::Debug for Claim<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim")
            .field("start", &self.start)
            .field("len", &self.len)
            .field("written", &self.written)
            .finish()
    }
}
