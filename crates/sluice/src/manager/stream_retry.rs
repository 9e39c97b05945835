//! [`StreamBuilder`]'s per-item policies that change what the map's function must
//! be: retry (the item is tried again, so it must be cloned or borrowed) and key
//! order (the key is taken from the item).

use super::StreamBuilder;
use crate::TaskError;
use crate::map::stream::{ItemRetry, KeyOf, Keyed, MapStream, Unkeyed};
use crate::policy::retry::{NoRetry, Retry, RetryIf, Retrying, Transient, When};
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

impl<'m, K> StreamBuilder<'m, NoRetry, K> {
    /// Retries each failed item by `retry`: an item whose function answers `Err`
    /// (or, for `io`, whose attempt times out at the
    /// [`item_timeout`](crate::StreamOptions::item_timeout)) is tried again after the
    /// policy's backoff with jitter, up to its attempts and total time, and answers in
    /// its place only after its last attempt. Which failures are retried:
    /// [`Transient`] (errors and timeouts, not panics) unless
    /// [`retry_if`](StreamBuilder::retry_if) says otherwise. The policy's budget is the
    /// map's own: its retries add at most the budget's ratio to its items.
    ///
    /// A retried item keeps its place: it holds one place of the buffer while it
    /// waits, so the ordered window and the backpressure are as for any slow item.
    /// `cpu` and `chunks` items are retried on their thread, which waits out the
    /// backoff (give them short backoffs), and their `item_timeout` bounds the item
    /// with all its attempts (a thread cannot be taken from an attempt). Cancelling
    /// the map stops pending retries: such an item answers `Cancelled`. Retries are
    /// counted in [`ItemCounts::retried`](crate::ItemCounts::retried).
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::retry::{Backoff, Retry};
    /// use sluice::{ConcurrencyManager, StreamOptions};
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::time::Duration;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let retry = Retry::builder()
    ///     .max_attempts(3)
    ///     .backoff(Backoff::exponential(Duration::from_millis(1)))
    ///     .build()?;
    /// let calls = AtomicU32::new(0);
    /// let answers: Vec<_> = mgr
    ///     .stream(StreamOptions::new())
    ///     .retry(retry)
    ///     .try_cpu(vec!["a".to_string(), "b".to_string()], move |name| {
    ///         // The first call fails, as a flaky service would.
    ///         match calls.fetch_add(1, Ordering::Relaxed) {
    ///             0 => Err("try again"),
    ///             _ => Ok(name.len()),
    ///         }
    ///     })
    ///     .into_iter()
    ///     .collect();
    /// assert_eq!(answers, [Ok(1), Ok(1)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn retry(self, retry: Retry) -> StreamBuilder<'m, Retrying<Transient>, K> {
        StreamBuilder {
            mgr: self.mgr,
            options: self.options,
            retry: Retrying {
                retry,
                classify: Transient,
            },
            keys: self.keys,
        }
    }
}

impl<'m, C, K> StreamBuilder<'m, Retrying<C>, K> {
    /// Retries only the failures `predicate` accepts (cancellations never), instead
    /// of [`Transient`]'s: for instance panics too, or only some errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::retry::Retry;
    /// use sluice::{ConcurrencyManager, StreamOptions, TaskError};
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let once = Retry::builder().max_attempts(2).build()?;
    /// let answers: Vec<_> = mgr
    ///     .stream(StreamOptions::new())
    ///     .retry(once)
    ///     .retry_if(|error: &TaskError<String>| !matches!(error, TaskError::Failed(e) if e == "fatal"))
    ///     .try_cpu([1u8], |_| Err::<u8, _>("fatal".to_string()))
    ///     .into_iter()
    ///     .collect();
    /// assert_eq!(answers, [Err(TaskError::Failed("fatal".to_string()))]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn retry_if<E, P>(self, predicate: P) -> StreamBuilder<'m, Retrying<When<E, P>>, K>
    where
        P: Fn(&TaskError<E>) -> bool + Send + Sync + 'static,
    {
        StreamBuilder {
            mgr: self.mgr,
            options: self.options,
            retry: Retrying {
                retry: self.retry.retry,
                classify: When::new(predicate),
            },
            keys: self.keys,
        }
    }

    /// Streams the fallible `f` over `items` on the CPU pool, each failed item tried
    /// again with a clone of it (see [`retry`](StreamBuilder::retry)).
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::retry::{Backoff, Retry};
    /// use sluice::{ConcurrencyManager, StreamOptions, TaskError};
    /// use std::time::Duration;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let twice = Retry::builder()
    ///     .max_attempts(2)
    ///     .backoff(Backoff::exponential(Duration::from_millis(1)))
    ///     .build()?;
    /// let parsed: Vec<_> = mgr
    ///     .stream(StreamOptions::new())
    ///     .retry(twice)
    ///     .try_cpu(vec!["7".to_string(), "x".to_string()], |s| s.parse::<u8>())
    ///     .into_iter()
    ///     .collect();
    /// assert_eq!(parsed[0], Ok(7));
    /// assert!(matches!(parsed[1], Err(TaskError::Failed(_)))); // after its two attempts
    /// let retried = mgr.snapshot().route(&sluice::RouteKind::Cpu).map(|r| r.items.retried);
    /// assert_eq!(retried, Some(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_cpu<I, F, O, E>(self, items: I, f: F) -> MapStream<O, E>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send + Clone,
        F: Fn(I::Item) -> Result<O, E> + Send + Sync + 'static,
        O: Send + 'static,
        E: Send + 'static,
        C: RetryIf<E>,
        K: KeyOf<I::Item>,
    {
        let route = self.mgr.inner.cpu.clone();
        self.pull_retried(&route, items, f)
    }

    /// Streams the fallible `f` over `items` on the chunk pool, each failed item tried
    /// again with a clone of it (see [`retry`](StreamBuilder::retry)).
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::retry::{Backoff, Retry};
    /// use sluice::{ConcurrencyManager, StreamOptions};
    /// use std::time::Duration;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let retry = Retry::builder().backoff(Backoff::exponential(Duration::from_millis(1))).build()?;
    /// let sums: Vec<_> = mgr
    ///     .stream(StreamOptions::new().unordered())
    ///     .retry(retry)
    ///     .try_chunks(vec![vec![1u64, 2], vec![3]], |chunk| Ok::<u64, String>(chunk.iter().sum()))
    ///     .into_iter()
    ///     .collect();
    /// assert_eq!(sums.iter().filter_map(|s| s.as_ref().ok()).sum::<u64>(), 6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_chunks<I, F, O, E>(self, items: I, f: F) -> MapStream<O, E>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send + Clone,
        F: Fn(I::Item) -> Result<O, E> + Send + Sync + 'static,
        O: Send + 'static,
        E: Send + 'static,
        C: RetryIf<E>,
        K: KeyOf<I::Item>,
    {
        let route = self.mgr.inner.chunk.clone();
        self.pull_retried(&route, items, f)
    }

    fn pull_retried<I, F, O, E>(
        mut self,
        route: &Arc<crate::route::Route>,
        items: I,
        f: F,
    ) -> MapStream<O, E>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send + Clone,
        F: Fn(I::Item) -> Result<O, E> + Send + Sync + 'static,
        O: Send + 'static,
        E: Send + 'static,
        C: RetryIf<E>,
        K: KeyOf<I::Item>,
    {
        let Retrying { retry, classify } = self.retry;
        // The counts the retries go to are the map's: made with its policy, below.
        let counts = Arc::default();
        let retry = ItemRetry::new(retry, classify, route.clone(), Arc::clone(&counts));
        self.options.counts = Some(counts);
        let builder = StreamBuilder {
            mgr: self.mgr,
            options: self.options,
            retry: NoRetry,
            keys: self.keys,
        };
        builder.pull(route, items, move |item: I::Item| {
            retry.run_blocking(|| f(item.clone()).map_err(TaskError::Failed))
        })
    }
}

impl<'m, C, K> StreamBuilder<'m, Retrying<C>, K> {
    /// Streams the fallible futures `f(&item)` over `items` on the IO runtime: a
    /// failed item's future is made again from the item (see
    /// [`retry`](StreamBuilder::retry)). The
    /// [`item_timeout`](crate::StreamOptions::item_timeout) bounds each attempt, and a
    /// timed-out attempt is retried like a failed one.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::retry::{Backoff, Retry};
    /// use sluice::{ConcurrencyManager, StreamOptions};
    /// use std::time::Duration;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let retry = Retry::builder().backoff(Backoff::exponential(Duration::from_millis(1))).build()?;
    /// let fetched: Vec<_> = mgr
    ///     .stream(StreamOptions::new())
    ///     .retry(retry)
    ///     .try_io(["https://example.com/a"], |url: &&str| {
    ///         let url = url.to_string(); // the future owns what it needs
    ///         async move { Ok::<usize, std::io::Error>(url.len()) }
    ///     })
    ///     .into_iter()
    ///     .collect();
    /// assert_eq!(fetched[0].as_ref().ok(), Some(&21));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_io<I, F, Fut, O, E>(mut self, items: I, f: F) -> MapStream<O, E>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send + 'static,
        F: Fn(&I::Item) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
        O: Send + 'static,
        E: Send + 'static,
        C: RetryIf<E>,
        K: KeyOf<I::Item>,
    {
        let Retrying { retry, classify } = self.retry;
        let counts = Arc::default();
        let route = self.mgr.inner.io.clone();
        let retry = Arc::new(ItemRetry::new(retry, classify, route, Arc::clone(&counts)));
        self.options.counts = Some(counts);
        // Each attempt under the limit, inside the retries, rather than the item.
        let limit = self.options.item_timeout.take();
        let f = Arc::new(f);
        let builder = StreamBuilder {
            mgr: self.mgr,
            options: self.options,
            retry: NoRetry,
            keys: self.keys,
        };
        builder.io_answering(futures_util::stream::iter(items), move |item| {
            let (retry, f) = (retry.clone(), f.clone());
            async move {
                let attempt = move || {
                    let future = f(&item);
                    async move { future.await.map_err(TaskError::Failed) }
                };
                retry.run(attempt, limit).await
            }
        })
    }
}

impl<'m, R> StreamBuilder<'m, R, Unkeyed> {
    /// Orders the items by a key taken from each: items of one key run one at a time,
    /// in input order, and items of other keys in parallel — in an ordered stream and
    /// an unordered one alike. An item waiting for its key holds its place in the
    /// buffer and no thread: the map goes on pulling other keys' items within the
    /// buffer's bound. For `cpu`, `chunks` and `io` maps (not `io_init`): an `io`
    /// item's future is made as the item is pulled, and awaited in its key's turn,
    /// when it asks the breaker and takes its permits. A key function that panics
    /// answers its item `Panicked`, unrun.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::{ConcurrencyManager, StreamOptions};
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// // Events of one account are applied in order; accounts in parallel.
    /// let events = vec![("alice", 10), ("bob", 5), ("alice", -3), ("bob", 1)];
    /// let applied: Vec<_> = mgr
    ///     .stream(StreamOptions::new().unordered())
    ///     .keyed(|&(account, _): &(&str, i32)| account)
    ///     .cpu(events, |(account, amount)| format!("{account} {amount:+}"))
    ///     .into_iter()
    ///     .collect::<Result<_, _>>()?;
    /// let alice: Vec<_> = applied.iter().filter(|e| e.starts_with("alice")).collect();
    /// assert_eq!(alice, ["alice +10", "alice -3"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn keyed<T, Key, KF>(self, key_of: KF) -> StreamBuilder<'m, R, Keyed<KF, T, Key>>
    where
        KF: Fn(&T) -> Key + Send + Sync + 'static,
        Key: Hash + Eq + Clone + Send + 'static,
        T: Send + 'static,
    {
        StreamBuilder {
            mgr: self.mgr,
            options: self.options,
            retry: self.retry,
            keys: Keyed::new(key_of),
        }
    }
}
