//! How a streamed map delivers: order, buffer, what a failed item does to the rest.

use crate::Progress;
use sluice_core::Priority;
use std::sync::Arc;
use std::time::Duration;

/// Options of a streamed map, for [`ConcurrencyManager::stream`](crate::ConcurrencyManager::stream).
///
/// # Examples
///
/// ```
/// use sluice::{ConcurrencyManager, StreamOptions};
///
/// let mgr = ConcurrencyManager::builder().build()?;
/// let options = StreamOptions::new().unordered().buffer(64);
/// let mut lengths: Vec<usize> = mgr
///     .stream(options)
///     .cpu(vec!["a", "bb", "ccc"], |word: &str| word.len())
///     .into_iter()
///     .collect::<Result<_, _>>()?;
/// lengths.sort(); // unordered: results come as they finish
/// assert_eq!(lengths, [1, 2, 3]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct StreamOptions {
    /// Deliver as results finish instead of in input order.
    pub(crate) unordered: bool,
    /// Results produced ahead of the consumer at most; `None`: the route's default.
    pub(crate) buffer: Option<usize>,
    /// The first failed or panicked item stops the pulling of input.
    pub(crate) fail_fast: bool,
    /// Told of items done.
    pub(crate) progress: Option<Progress>,
    /// Queue rank of the map's work at its gate.
    pub(crate) priority: Priority,
    /// Each item answers `TimedOut` past this.
    pub(crate) item_timeout: Option<Duration>,
    /// The breaker asked before each item.
    pub(crate) breaker: Option<Arc<str>>,
    /// The dependency each `io` item calls through.
    pub(crate) limit: Option<Arc<str>>,
    /// The map's item counts, when something made before the map counts into them
    /// too (its retry policy).
    pub(crate) counts: Option<Arc<crate::items::ItemCounters>>,
}

impl StreamOptions {
    /// In input order, the route's default buffer, every item attempted.
    pub fn new() -> Self {
        StreamOptions::default()
    }

    /// Results as they finish, not in input order: a slow item holds back nobody.
    pub fn unordered(mut self) -> Self {
        self.unordered = true;
        self
    }

    /// At most `results` (at least one) results produced ahead of the consumer,
    /// including those being produced. The default is 512 per thread of the route for
    /// `cpu` and `chunks`, twice the io limit for `io`. In input order, a slow item
    /// holds back the ones after it within this window.
    pub fn buffer(mut self, results: usize) -> Self {
        self.buffer = Some(results.max(1));
        self
    }

    /// Stop at the first failure: once an item fails or panics, no more input is
    /// pulled; items already being produced still answer. By default every item is
    /// attempted and answers in its place.
    pub fn fail_fast(mut self) -> Self {
        self.fail_fast = true;
        self
    }

    /// Each item is answered `Err(TaskError::TimedOut)` in its place once it has run
    /// this long; the other items go on. An `io` item's future is dropped at the limit.
    /// A `cpu` or `chunks` item cannot be stopped from outside: it is answered at the
    /// limit, its thread stays with it until it returns, and its late result is
    /// dropped. With a timeout, `cpu` and `chunks` items are mapped one per unit, each
    /// with a timer: give a timeout to items worth a timer (milliseconds, not
    /// nanoseconds).
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, StreamOptions, TaskError};
    /// use std::time::Duration;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let delays = [1u64, 5_000, 1];
    /// let answers: Vec<_> = mgr
    ///     .stream(StreamOptions::new().item_timeout(Duration::from_millis(200)))
    ///     .io(delays, |ms| async move {
    ///         tokio::time::sleep(Duration::from_millis(ms)).await;
    ///         ms
    ///     })
    ///     .into_iter()
    ///     .collect();
    /// assert_eq!(answers, [Ok(1), Err(TaskError::TimedOut), Ok(1)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn item_timeout(mut self, limit: Duration) -> Self {
        self.item_timeout = Some(limit);
        self
    }

    /// Guards every item with the breaker registered as `name`
    /// ([`ManagerBuilder::breaker`](crate::ManagerBuilder::breaker)): it is asked
    /// before each item, so while it is open items answer `Err(TaskError::Rejected)` in
    /// their place and the map goes on (it is not rejected as a whole); each item's
    /// outcome is recorded in it (a value: success; its error, panic or timeout:
    /// failure). An unknown name refuses the map (`TaskError::UnknownBreaker`, its one
    /// element).
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{BreakerConfig, ConcurrencyManager, StreamOptions, TaskError};
    ///
    /// let trip_at_two = BreakerConfig::builder().consecutive_failures(2).build()?;
    /// let mgr = ConcurrencyManager::builder().breaker("geo-api", trip_at_two).build()?;
    /// let answers: Vec<_> = mgr
    ///     .stream(StreamOptions::new().breaker("geo-api").buffer(1))
    ///     .try_cpu(0..5u32, |_| Err::<u32, _>("the service is down"))
    ///     .into_iter()
    ///     .collect();
    /// // Two failures open the breaker; the other items are refused, not run.
    /// assert!(answers[..2].iter().all(|a| matches!(a, Err(TaskError::Failed(_)))));
    /// assert!(answers[2..].iter().all(|a| matches!(a, Err(TaskError::Rejected { .. }))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn breaker(mut self, name: impl AsRef<str>) -> Self {
        self.breaker = Some(Arc::from(name.as_ref()));
        self
    }

    /// Sends every `io` item through the adaptive concurrency limit of the dependency
    /// registered as `name`
    /// ([`ManagerBuilder::dependency`](crate::ManagerBuilder::dependency)): an item
    /// waits for the dependency's permit before its route's, and each item's latency and
    /// outcome move the limit. (`cpu` and `chunks` maps ignore it.) An unknown name
    /// refuses the map (`TaskError::UnknownDependency`).
    pub fn limit(mut self, dependency: impl AsRef<str>) -> Self {
        self.limit = Some(Arc::from(dependency.as_ref()));
        self
    }

    /// The rank of the map's work in its route's queue (see
    /// [`TaskBuilder::priority`](crate::TaskBuilder::priority)).
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Reports progress: items done (failures too, as failed), items per second, and
    /// an ETA when the total is known — from the input's exact length, or the one set
    /// with [`Progress::set_total`].
    pub fn progress(mut self, progress: &Progress) -> Self {
        self.progress = Some(progress.clone());
        self
    }
}
