//! Streamed maps: `stream_cpu`, `stream_chunks`, `stream_io`, and [`StreamBuilder`]
//! for their options and fallible forms.

use super::ConcurrencyManager;
use crate::TaskError;
use crate::map::stream::{
    ItemPolicy, MapStream, PerThread, Pooled, StatePool, StreamOptions, start_io_stream,
    start_pull_stream,
};
use crate::route::Route;
use futures_core::Stream;
use std::convert::Infallible;
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
        StreamBuilder { mgr: self, options }
    }

    /// The per-item policies `options` name, or the stream refused: the manager is
    /// shutting down, or a name is unknown.
    fn item_policy<O, E>(
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

/// A streamed map's options, then its route and function: from
/// [`ConcurrencyManager::stream`].
#[derive(Debug)]
#[must_use = "a stream builder does nothing until a map is started with it"]
pub struct StreamBuilder<'m> {
    /// The manager.
    mgr: &'m ConcurrencyManager,
    /// The options.
    options: StreamOptions,
}

impl StreamBuilder<'_> {
    /// Streams `f` over `items` on the CPU pool ([`ConcurrencyManager::stream_cpu`]).
    pub fn cpu<I, F, O>(self, items: I, f: F) -> MapStream<O>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        F: Fn(I::Item) -> O + Send + Sync + 'static,
        O: Send + 'static,
    {
        self.try_cpu(items, move |item| Ok::<O, Infallible>(f(item)))
    }

    /// Streams `f` over `items` on the CPU pool; an item whose `f` returns `Err(e)`
    /// answers `Err(TaskError::Failed(e))` in its place.
    pub fn try_cpu<I, F, O, E>(self, items: I, f: F) -> MapStream<O, E>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        F: Fn(I::Item) -> Result<O, E> + Send + Sync + 'static,
        O: Send + 'static,
        E: Send + 'static,
    {
        let route = self.mgr.inner.cpu.clone();
        self.pull(&route, items, f)
    }

    /// Streams `f` over `items` on the chunk pool
    /// ([`ConcurrencyManager::stream_chunks`]).
    pub fn chunks<I, F, O>(self, items: I, f: F) -> MapStream<O>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        F: Fn(I::Item) -> O + Send + Sync + 'static,
        O: Send + 'static,
    {
        self.try_chunks(items, move |item| Ok::<O, Infallible>(f(item)))
    }

    /// Streams the fallible `f` over `items` on the chunk pool (see
    /// [`try_cpu`](Self::try_cpu)).
    pub fn try_chunks<I, F, O, E>(self, items: I, f: F) -> MapStream<O, E>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        F: Fn(I::Item) -> Result<O, E> + Send + Sync + 'static,
        O: Send + 'static,
        E: Send + 'static,
    {
        let route = self.mgr.inner.chunk.clone();
        self.pull(&route, items, f)
    }

    /// Streams the futures `f(item)` over `items` on the IO runtime
    /// ([`ConcurrencyManager::stream_io`]).
    pub fn io<I, F, Fut, O>(self, items: I, f: F) -> MapStream<O>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        F: Fn(I::Item) -> Fut + Send + 'static,
        Fut: Future<Output = O> + Send + 'static,
        O: Send + 'static,
    {
        self.io_stream(futures_util::stream::iter(items), f)
    }

    /// Streams the fallible futures `f(item)` over `items` on the IO runtime.
    pub fn try_io<I, F, Fut, O, E>(self, items: I, f: F) -> MapStream<O, E>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        F: Fn(I::Item) -> Fut + Send + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
        O: Send + 'static,
        E: Send + 'static,
    {
        self.try_io_stream(futures_util::stream::iter(items), f)
    }

    /// Streams the futures `f(item)` over the items of a `Stream` — another stage's
    /// [`MapStream`], a channel, a paginated API — on the IO runtime. The input is
    /// awaited, never blocked on, so stages chain without holding a thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use sluice::{ConcurrencyManager, StreamOptions};
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// // Stage 1 on the CPU pool, stage 2 on the runtime, overlapping.
    /// let squares = mgr.stream_cpu(1..=100u64, |x| x * x);
    /// let written = mgr
    ///     .stream(StreamOptions::new())
    ///     .io_stream(squares, |square| async move { square.map(|s| s % 10) });
    /// let digits: Vec<_> = futures::executor::block_on(written.collect());
    /// assert_eq!(digits.len(), 100);
    /// assert_eq!(digits[1], Ok(Ok(4)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn io_stream<S, F, Fut, O>(self, items: S, f: F) -> MapStream<O>
    where
        S: Stream + Send + 'static,
        S::Item: Send,
        F: Fn(S::Item) -> Fut + Send + 'static,
        Fut: Future<Output = O> + Send + 'static,
        O: Send + 'static,
    {
        self.try_io_stream(items, move |item| {
            let future = f(item);
            async move { Ok::<O, Infallible>(future.await) }
        })
    }

    /// Streams the fallible futures `f(item)` over the items of a `Stream`.
    pub fn try_io_stream<S, F, Fut, O, E>(self, items: S, f: F) -> MapStream<O, E>
    where
        S: Stream + Send + 'static,
        S::Item: Send,
        F: Fn(S::Item) -> Fut + Send + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
        O: Send + 'static,
        E: Send + 'static,
    {
        let inner = &self.mgr.inner;
        match self.mgr.item_policy(&inner.io, &self.options) {
            Ok(policy) => start_io_stream(&inner.io_side, self.options, policy, items, f),
            Err(refused) => refused,
        }
    }

    /// Streams `f` over `items` on the CPU pool with a state per worker thread, as
    /// rayon's `map_init`: `init` runs at most once per thread that maps items of this
    /// map — never per item or per unit — and `f` gets that thread's state. The states
    /// are dropped when the map ends. For a parser, a compressor context, a buffer to
    /// reuse, a database client per worker.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, StreamOptions};
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
    /// let made = Arc::new(AtomicUsize::new(0));
    /// let counter = made.clone();
    /// let lengths = mgr.stream(StreamOptions::new()).cpu_init(
    ///     0..10_000u32,
    ///     move || {
    ///         counter.fetch_add(1, Ordering::Relaxed);
    ///         String::with_capacity(16) // a buffer reused by every item of the thread
    ///     },
    ///     |buffer, x| {
    ///         buffer.clear();
    ///         buffer.push_str(&x.to_string());
    ///         buffer.len()
    ///     },
    /// );
    /// assert_eq!(lengths.into_iter().filter_map(Result::ok).sum::<usize>(), 38_890);
    /// assert!(made.load(Ordering::Relaxed) <= 3); // two pool threads, and perhaps the caller's
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cpu_init<I, S, N, F, O>(self, items: I, init: N, f: F) -> MapStream<O>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        S: Send + 'static,
        N: Fn() -> S + Send + Sync + 'static,
        F: Fn(&mut S, I::Item) -> O + Send + Sync + 'static,
        O: Send + 'static,
    {
        let states = PerThread::new(init);
        self.try_cpu(items, move |item| {
            Ok::<O, Infallible>(states.with(|state| f(state, item)))
        })
    }

    /// Streams `f` over `items` on the chunk pool with a state per worker thread (see
    /// [`cpu_init`](Self::cpu_init)).
    pub fn chunks_init<I, S, N, F, O>(self, items: I, init: N, f: F) -> MapStream<O>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        S: Send + 'static,
        N: Fn() -> S + Send + Sync + 'static,
        F: Fn(&mut S, I::Item) -> O + Send + Sync + 'static,
        O: Send + 'static,
    {
        let states = PerThread::new(init);
        self.try_chunks(items, move |item| {
            Ok::<O, Infallible>(states.with(|state| f(state, item)))
        })
    }

    /// Streams the futures `f(item, state)` over `items` on the IO runtime, each with a
    /// state from a pool the map's futures share: a future takes an idle state (or
    /// `init` makes one) and gives it back when it ends, so there are never more states
    /// than futures that ran at once — a connection per future in flight, not per
    /// item.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, Pooled, StreamOptions};
    ///
    /// let mgr = ConcurrencyManager::builder().io_limit(4).build()?;
    /// let sizes = mgr.stream(StreamOptions::new()).io_init(
    ///     ["Cargo.toml", "src/lib.rs"],
    ///     || Vec::<u8>::with_capacity(1 << 16), // a read buffer per future in flight
    ///     |path, mut buffer: Pooled<Vec<u8>>| async move {
    ///         buffer.clear();
    ///         buffer.extend(tokio::fs::read(path).await.unwrap_or_default());
    ///         buffer.len()
    ///     },
    /// );
    /// assert!(sizes.into_iter().all(|len| len.is_ok_and(|len| len > 0)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn io_init<I, S, N, F, Fut, O>(self, items: I, init: N, f: F) -> MapStream<O>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        S: Send + 'static,
        N: Fn() -> S + Send + Sync + 'static,
        F: Fn(I::Item, Pooled<S>) -> Fut + Send + 'static,
        Fut: Future<Output = O> + Send + 'static,
        O: Send + 'static,
    {
        let states = StatePool::new(init);
        self.io(items, move |item| f(item, states.take()))
    }

    fn pull<I, F, O, E>(self, route: &Arc<Route>, items: I, f: F) -> MapStream<O, E>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        F: Fn(I::Item) -> Result<O, E> + Send + Sync + 'static,
        O: Send + 'static,
        E: Send + 'static,
    {
        let mgr = self.mgr;
        match mgr.item_policy(route, &self.options) {
            Ok(policy) => start_pull_stream(
                route,
                &mgr.inner.scope,
                (self.options, policy),
                mgr.inner.io_side.pool.handle(),
                items.into_iter(),
                f,
            ),
            Err(refused) => refused,
        }
    }
}
