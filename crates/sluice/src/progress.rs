//! [`Progress`]: how far a map has got, shared between the map and whoever watches it.

use crate::lock::lock;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// An update function, called with each new state.
type Observer = Box<dyn Fn(&ProgressSnapshot) + Send + Sync>;

/// How far a map has got: items done (and, as the caller reports them, failed and
/// bytes), of how many, at what rate, and when it should end. Give it to a map with
/// [`TaskBuilder::progress`](crate::TaskBuilder::progress); read it with
/// [`snapshot`](Self::snapshot) from any thread, or be told of every step with
/// [`on_update`](Self::on_update). Cheap to clone: clones share one state.
///
/// The map counts an item done when its result is in (a CPU map counts a unit of
/// items at a time); the observer sees `done` only grow, every item counted exactly
/// once, and a last call with `finished` set when the map ends. A map that ends by
/// itself (all items done, or its function panicked, or it was cancelled) makes that
/// call just before its caller hears; a map answered from outside — at its timeout or
/// deadline — makes it when its units have stopped, which may be just after.
///
/// # Examples
///
/// ```
/// use sluice::{ConcurrencyManager, Progress};
/// use std::sync::{Arc, Mutex};
///
/// let mgr = ConcurrencyManager::builder().build()?;
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let progress = Progress::new().on_update(move |p| log.lock().unwrap().push((p.done, p.finished)));
///
/// let lengths = mgr
///     .task("measure")
///     .progress(&progress)
///     .map_cpu(0..10_000u32, |x| x.to_string().len())
///     .wait()?;
/// assert_eq!(lengths.len(), 10_000);
///
/// let end = progress.snapshot();
/// assert_eq!((end.done, end.total, end.finished), (10_000, Some(10_000), true));
/// assert_eq!(seen.lock().unwrap().last(), Some(&(10_000, true)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Progress {
    /// Shared by the clones.
    inner: Arc<Inner>,
}

/// `Inner::total` when nobody knows it.
const UNKNOWN: u64 = u64::MAX;

impl Default for Progress {
    fn default() -> Self {
        Progress {
            inner: Arc::new(Inner {
                done: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                total: AtomicU64::new(UNKNOWN),
                total_set: AtomicBool::new(false),
                began: OnceLock::new(),
                finished: AtomicBool::new(false),
                observer: Mutex::new(None),
            }),
        }
    }
}

/// What the clones share.
struct Inner {
    /// Items whose result is in.
    done: AtomicU64,
    /// Items the caller reported as failed.
    failed: AtomicU64,
    /// Bytes the caller reported.
    bytes: AtomicU64,
    /// Items in all, when the input told or the caller set it; `UNKNOWN` otherwise.
    total: AtomicU64,
    /// The caller set the total ([`Progress::set_total`]): the input's length does not
    /// replace it.
    total_set: AtomicBool,
    /// When the map began.
    began: OnceLock<Instant>,
    /// Set once the map has ended.
    finished: AtomicBool,
    /// Told of every step, one call at a time (so it sees `done` only grow).
    observer: Mutex<Option<Observer>>,
}

/// [`Progress`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct ProgressSnapshot {
    /// Items whose result is in.
    pub done: u64,
    /// Items the caller reported as failed ([`Progress::fail`]).
    pub failed: u64,
    /// Items in all, when the input's length is known.
    pub total: Option<u64>,
    /// Bytes the caller reported ([`Progress::add_bytes`]).
    pub bytes: u64,
    /// Since the map began.
    pub elapsed: Duration,
    /// `done` per second of `elapsed`.
    pub items_per_s: f64,
    /// At this rate, the time left; `None` without a total or a rate.
    pub eta: Option<Duration>,
    /// The map has ended (its answer follows at once).
    pub finished: bool,
}

impl Progress {
    /// A fresh progress, for one map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same progress, calling `observer` with the new state after every step and
    /// once more when the map ends. Calls come one at a time, from the map's
    /// threads: keep the observer short.
    pub fn on_update(self, observer: impl Fn(&ProgressSnapshot) + Send + Sync + 'static) -> Self {
        *lock(&self.inner.observer) = Some(Box::new(observer));
        self
    }

    /// Sets the number of items in all, for an input that cannot tell (a directory
    /// walk, a stream): items per second and the ETA follow from it. May be called
    /// before the map or while it runs (a walk that has counted its files); it wins over
    /// the length an input tells.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, Progress, StreamOptions};
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let progress = Progress::new();
    /// progress.set_total(500); // the input below does not know its length
    /// let lazy = (0..1_000u32).filter(|x| x % 2 == 0);
    /// let done = mgr
    ///     .stream(StreamOptions::new().progress(&progress))
    ///     .cpu(lazy, |x| x + 1)
    ///     .for_each_blocking(|_| true);
    /// assert_eq!(done, 500);
    /// let end = progress.snapshot();
    /// assert_eq!((end.done, end.total, end.finished), (500, Some(500), true));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_total(&self, total: u64) {
        self.inner.total_set.store(true, Ordering::Release);
        self.inner
            .total
            .store(total.min(UNKNOWN - 1), Ordering::Release);
    }

    /// Reports `items` of those done as failed (from inside the map's function).
    pub fn fail(&self, items: u64) {
        self.inner.failed.fetch_add(items, Ordering::Relaxed);
    }

    /// Reports `bytes` processed (from inside the map's function).
    pub fn add_bytes(&self, bytes: u64) {
        self.inner.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The state now.
    pub fn snapshot(&self) -> ProgressSnapshot {
        let inner = &self.inner;
        let done = inner.done.load(Ordering::Acquire);
        let elapsed = inner.began.get().map_or(Duration::ZERO, Instant::elapsed);
        let seconds = elapsed.as_secs_f64();
        let items_per_s = if seconds > 0.0 {
            done as f64 / seconds
        } else {
            0.0
        };
        let total = Some(inner.total.load(Ordering::Acquire)).filter(|&t| t != UNKNOWN);
        let eta = match total {
            Some(total) if items_per_s > 0.0 => Some(Duration::from_secs_f64(
                total.saturating_sub(done) as f64 / items_per_s,
            )),
            _ => None,
        };
        ProgressSnapshot {
            done,
            failed: inner.failed.load(Ordering::Relaxed),
            total,
            bytes: inner.bytes.load(Ordering::Relaxed),
            elapsed,
            items_per_s,
            eta,
            finished: inner.finished.load(Ordering::Acquire),
        }
    }

    /// The map begins, with `total` items if its input knows.
    pub(crate) fn begin(&self, total: Option<u64>) {
        let _ = self.inner.began.set(Instant::now());
        if let Some(total) = total
            && !self.inner.total_set.load(Ordering::Acquire)
        {
            self.inner
                .total
                .store(total.min(UNKNOWN - 1), Ordering::Release);
        }
    }

    /// `items` more are done.
    pub(crate) fn advance(&self, items: u64) {
        let observer = lock(&self.inner.observer);
        self.inner.done.fetch_add(items, Ordering::AcqRel);
        tell(observer.as_ref(), &self.snapshot());
    }

    /// The map has ended; its caller hears next.
    pub(crate) fn finish(&self) {
        let observer = lock(&self.inner.observer);
        if self.inner.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        tell(observer.as_ref(), &self.snapshot());
    }
}

/// Calls the observer, if any; a panic in it is logged, not let loose in the map.
fn tell(observer: Option<&Observer>, snapshot: &ProgressSnapshot) {
    if let Some(observer) = observer
        && catch_unwind(AssertUnwindSafe(|| observer(snapshot))).is_err()
    {
        tracing::error!("sluice: a progress observer panicked");
    }
}

#[cfg(feature = "indicatif")]
impl Progress {
    /// A progress drawn on `bar` (feature `indicatif`): its length is the map's total
    /// once known, its position the items done, its message the bytes and failures
    /// reported, and it is finished when the map ends.
    ///
    /// # Examples
    ///
    /// ```
    /// use indicatif::{ProgressBar, ProgressStyle};
    /// use sluice::{ConcurrencyManager, Progress};
    ///
    /// let bar = ProgressBar::new(0).with_style(ProgressStyle::default_bar());
    /// # let bar = ProgressBar::hidden();
    /// let progress = Progress::with_bar(bar.clone());
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// mgr.task("hash").progress(&progress).map_cpu(0..1_000u32, |x| x.rotate_left(3)).wait()?;
    /// assert_eq!((bar.position(), bar.length()), (1_000, Some(1_000)));
    /// assert!(bar.is_finished());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_bar(bar: indicatif::ProgressBar) -> Self {
        Progress::new().on_update(move |p| {
            if let Some(total) = p.total {
                bar.set_length(total);
            }
            bar.set_position(p.done);
            if p.bytes > 0 || p.failed > 0 {
                bar.set_message(format!(
                    "{} bytes, {} failed",
                    indicatif::HumanBytes(p.bytes),
                    p.failed
                ));
            }
            if p.finished {
                bar.finish();
            }
        })
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.snapshot().fmt(f)
    }
}
