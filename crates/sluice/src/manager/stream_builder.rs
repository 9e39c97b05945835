//! [`StreamBuilder`]: a streamed map's options, then its route and function.

use super::ConcurrencyManager;
use crate::TaskError;
use crate::map::stream::{
    ItemResult, KeyOf, MapStream, PerThread, StreamOptions, Unkeyed, start_pull_stream,
};
use crate::policy::retry::NoRetry;
use crate::route::Route;
use std::convert::Infallible;
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
