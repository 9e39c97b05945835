//! Streamed maps: `stream_cpu`, `stream_chunks`, `stream_io`, and `stream(options)`
//! for their options and fallible forms (`stream_builder.rs`).

use super::ConcurrencyManager;
use super::StreamBuilder;
use crate::TaskError;
use crate::map::stream::{ItemPolicy, MapStream, StreamOptions};
use crate::route::Route;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

impl ConcurrencyManager {
    /// Maps `f` over `items` on the CPU pool and streams the results in input order,
    /// as they are produced, with backpressure (see [`MapStream`]).
    ///
    /// Unlike [`map_cpu`](Self::map_cpu), memory does not grow with the number of
    /// items: at most the buffer's worth of results (512 per CPU thread by default)
    /// is produced ahead of the consumer. A panicking item answers
    /// `Err(TaskError::Panicked)` in its place and the other items go on. Options and
    /// fallible functions: [`stream`](Self::stream).
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// // A million lines, never all in memory: each is hashed and folded as it comes.
    /// let lines = (0..1_000_000u64).map(|i| format!("record {i}"));
    /// let mut checksum = 0u64;
    /// for hash in mgr.stream_cpu(lines, |line| blake(&line)) {
    ///     checksum ^= hash?;
    /// }
    /// # fn blake(s: &str) -> u64 { s.bytes().fold(0, |h, b| h.rotate_left(5) ^ u64::from(b)) }
    /// # let _ = checksum;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stream_cpu<I, F, O>(&self, items: I, f: F) -> MapStream<O>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        F: Fn(I::Item) -> O + Send + Sync + 'static,
        O: Send + 'static,
    {
        self.stream(StreamOptions::new()).cpu(items, f)
    }

    /// Maps `f` over `items` on the chunk pool and streams the results in input order;
    /// built for millions of small items (see [`stream_cpu`](Self::stream_cpu)).
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let evens = mgr
    ///     .stream_chunks(0..100_000u32, |x| x % 2 == 0)
    ///     .into_iter()
    ///     .filter(|even| matches!(even, Ok(true)))
    ///     .count();
    /// assert_eq!(evens, 50_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stream_chunks<I, F, O>(&self, items: I, f: F) -> MapStream<O>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        F: Fn(I::Item) -> O + Send + Sync + 'static,
        O: Send + 'static,
    {
        self.stream(StreamOptions::new()).chunks(items, f)
    }

    /// Runs `f(item)` as a future for every item on the IO runtime, at most the IO
    /// limit at once, and streams the results in input order as they finish.
    ///
    /// The input is pulled on the runtime: an input that blocks (a channel, a
    /// directory walk) belongs in [`StreamBuilder::io_stream`] as a `Stream`, or in a
    /// CPU stage.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use sluice::ConcurrencyManager;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let sizes = mgr.stream_io(["Cargo.toml", "src/lib.rs"], |path| async move {
    ///     tokio::fs::metadata(path).await.map(|meta| meta.len()).unwrap_or(0)
    /// });
    /// let sizes: Vec<u64> = futures::executor::block_on(sizes.map(|r| r.unwrap()).collect());
    /// assert!(sizes.iter().all(|&len| len > 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stream_io<I, F, Fut, O>(&self, items: I, f: F) -> MapStream<O>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        F: Fn(I::Item) -> Fut + Send + 'static,
        Fut: Future<Output = O> + Send + 'static,
        O: Send + 'static,
    {
        self.stream(StreamOptions::new()).io(items, f)
    }

    /// A streamed map with `options` (order, buffer, fail-fast, progress, priority);
    /// also the way to the fallible forms (`try_cpu`, …) and to a `Stream` input.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, StreamOptions, TaskError};
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let parsed: Vec<_> = mgr
    ///     .stream(StreamOptions::new())
    ///     .try_cpu(["1", "x", "3"], |s: &str| s.parse::<u32>())
    ///     .into_iter()
    ///     .collect();
    /// assert_eq!(parsed[0], Ok(1));
    /// assert!(matches!(parsed[1], Err(TaskError::Failed(_)))); // answered in its place
    /// assert_eq!(parsed[2], Ok(3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stream(&self, options: StreamOptions) -> StreamBuilder<'_> {
        StreamBuilder::new(self, options)
    }

    /// The per-item policies `options` name, or the stream refused: the manager is
    /// shutting down, or a name is unknown.
    pub(super) fn item_policy<O, E>(
        &self,
        route: &Arc<Route>,
        options: &StreamOptions,
    ) -> Result<ItemPolicy, MapStream<O, E>> {
        let refuse = |error: TaskError| {
            route.reject(None, None);
            MapStream::refused(error)
        };
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(refuse(TaskError::ShuttingDown));
        }
        let breaker = match &options.breaker {
            Some(name) => match self.inner.breakers.get(name, None) {
                Some(breaker) => Some((name.clone(), breaker)),
                None => return Err(refuse(TaskError::UnknownBreaker(name.to_string()))),
            },
            None => None,
        };
        let dependency = match &options.limit {
            Some(name) => match self.inner.dependencies.get(name) {
                Some(dependency) => Some(dependency),
                None => return Err(refuse(TaskError::UnknownDependency(name.to_string()))),
            },
            None => None,
        };
        Ok(ItemPolicy::new(route, breaker, dependency))
    }
}
