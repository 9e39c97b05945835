//! [`StreamBuilder`]'s `io` maps: futures over an iterator or a `Stream`, with a
//! state pool shared by the futures in flight.

use super::StreamBuilder;
use crate::TaskError;
use crate::map::stream::{ItemResult, KeyOf, MapStream, Pooled, StatePool, start_io_stream};
use crate::policy::retry::NoRetry;
use futures_core::Stream;
use futures_util::FutureExt;
use std::convert::Infallible;
use std::future::Future;

impl<'m, K> StreamBuilder<'m, NoRetry, K> {
    /// Streams the futures `f(item)` over `items` on the IO runtime
    /// ([`ConcurrencyManager::stream_io`](crate::ConcurrencyManager::stream_io)).
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
        // `map`, not an `async` block: a block keeps the future twice in its state
        // (captured, and pinned to be awaited), and copies it from one to the other
        // at its first poll; this state is each item's, and twice the size of a
        // future that sleeps.
        self.try_io_stream(items, move |item| f(item).map(Ok::<O, Infallible>))
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
        // `map`, not an `async` block, as above.
        self.io_answering(items, move |item| {
            f(item).map(|answer| answer.map_err(TaskError::Failed))
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
