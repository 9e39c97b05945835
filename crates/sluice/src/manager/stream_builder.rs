//! [`StreamBuilder`]: a streamed map's options, then its route and function.

use super::ConcurrencyManager;
use crate::TaskError;
use crate::map::stream::{
    ItemResult, KeyOf, MapStream, PerThread, Pooled, StatePool, StreamOptions, Unkeyed,
    start_io_stream, start_pull_stream,
};
use crate::policy::retry::NoRetry;
use crate::route::Route;
use futures_core::Stream;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

/// A streamed map's options, then its route and function: from
/// [`ConcurrencyManager::stream`].
///
/// `R` says whether its items are retried ([`NoRetry`], or
/// [`Retrying`](crate::retry::Retrying) from [`retry`](Self::retry)); `K` whether they
/// are ordered by key ([`Unkeyed`], or [`Keyed`](crate::Keyed) from
/// [`keyed`](Self::keyed)).
#[derive(Debug)]
#[must_use = "a stream builder does nothing until a map is started with it"]
pub struct StreamBuilder<'m, R = NoRetry, K = Unkeyed> {
    /// The manager.
    pub(super) mgr: &'m ConcurrencyManager,
    /// The options.
    pub(super) options: StreamOptions,
    /// The items' retry policy.
    pub(super) retry: R,
    /// The items' key order.
    pub(super) keys: K,
}

impl<'m> StreamBuilder<'m> {
    pub(super) fn new(mgr: &'m ConcurrencyManager, options: StreamOptions) -> Self {
        StreamBuilder {
            mgr,
            options,
            retry: NoRetry,
            keys: Unkeyed,
        }
    }
}

impl<'m, K> StreamBuilder<'m, NoRetry, K> {
    /// Streams `f` over `items` on the CPU pool ([`ConcurrencyManager::stream_cpu`]).
    pub fn cpu<I, F, O>(self, items: I, f: F) -> MapStream<O>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        F: Fn(I::Item) -> O + Send + Sync + 'static,
        O: Send + 'static,
        K: KeyOf<I::Item>,
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
        K: KeyOf<I::Item>,
    {
        let route = self.mgr.inner.cpu.clone();
        self.pull(&route, items, move |item| {
            f(item).map_err(TaskError::Failed)
        })
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
        K: KeyOf<I::Item>,
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
        K: KeyOf<I::Item>,
    {
        let route = self.mgr.inner.chunk.clone();
        self.pull(&route, items, move |item| {
            f(item).map_err(TaskError::Failed)
        })
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
        K: KeyOf<I::Item>,
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
        K: KeyOf<I::Item>,
    {
        let states = PerThread::new(init);
        self.try_chunks(items, move |item| {
            Ok::<O, Infallible>(states.with(|state| f(state, item)))
        })
    }
}

impl<'m, R, K> StreamBuilder<'m, R, K> {
    /// Starts the map of `f` (which answers each item itself) over `items` on `route`.
    pub(super) fn pull<I, F, O, E>(mut self, route: &Arc<Route>, items: I, f: F) -> MapStream<O, E>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        F: Fn(I::Item) -> ItemResult<O, E> + Send + Sync + 'static,
        O: Send + 'static,
        E: Send + 'static,
        K: KeyOf<I::Item>,
    {
        let mgr = self.mgr;
        match mgr.item_policy(route, &self.options) {
            Ok(mut policy) => start_pull_stream(
                route,
                &mgr.inner.scope,
                {
                    if let Some(counts) = self.options.counts.take() {
                        policy.counts = counts;
                    }
                    (self.options, policy, self.keys.into_order())
                },
                mgr.inner.io_side.pool.handle(),
                items.into_iter(),
                f,
            ),
            Err(refused) => refused,
        }
    }
}

impl<'m, K> StreamBuilder<'m, NoRetry, K> {
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
        K: KeyOf<I::Item>,
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
        K: KeyOf<I::Item>,
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
        K: KeyOf<S::Item>,
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
        K: KeyOf<S::Item>,
    {
        self.io_answering(items, move |item| {
            let future = f(item);
            async move { future.await.map_err(TaskError::Failed) }
        })
    }
}

impl<'m> StreamBuilder<'m> {
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
}

impl<'m, R, K> StreamBuilder<'m, R, K> {
    /// Starts the io map of `f` (whose futures answer each item themselves).
    pub(super) fn io_answering<S, F, Fut, O, E>(mut self, items: S, f: F) -> MapStream<O, E>
    where
        S: Stream + Send + 'static,
        S::Item: Send,
        F: Fn(S::Item) -> Fut + Send + 'static,
        Fut: Future<Output = ItemResult<O, E>> + Send + 'static,
        O: Send + 'static,
        E: Send + 'static,
        K: KeyOf<S::Item>,
    {
        let inner = &self.mgr.inner;
        match self.mgr.item_policy(&inner.io, &self.options) {
            Ok(mut policy) => {
                if let Some(counts) = self.options.counts.take() {
                    policy.counts = counts;
                }
                let keys = self.keys.into_io_order();
                start_io_stream(&inner.io_side, self.options, (policy, keys), items, f)
            }
            Err(refused) => refused,
        }
    }
}
