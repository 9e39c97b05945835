//! The map calls: `map_cpu`, `map_chunks` and `map_io`, many items through one
//! function with results in input order.

use super::ConcurrencyManager;
use crate::map::{submit_io_map, submit_pull_map};
use crate::route::Route;
use crate::task::TaskHandle;
use sluice_core::Priority;
use std::future::Future;
use std::sync::Arc;

impl ConcurrencyManager {
    /// Maps `f` over `items` on the CPU pool; results in input order.
    ///
    /// The input is pulled lazily, in units sized to the work, with at most a few units
    /// in flight at once; it is never collected up front. The output is the result
    /// `Vec` itself, so its size grows with the number of items. The whole map counts as
    /// one task in the counters.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    /// use std::collections::hash_map::DefaultHasher;
    /// use std::hash::{Hash, Hasher};
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let manifest = std::fs::read_to_string("Cargo.toml")?;
    /// let lines: Vec<String> = manifest.lines().map(String::from).collect();
    /// let count = lines.len();
    /// let hashes = mgr
    ///     .map_cpu(lines, |line| {
    ///         let mut hasher = DefaultHasher::new();
    ///         line.hash(&mut hasher);
    ///         hasher.finish()
    ///     })
    ///     .wait()?;
    /// assert_eq!(hashes.len(), count); // one hash per line, in line order
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_cpu<I, F, O>(&self, items: I, f: F) -> TaskHandle<Vec<O>>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        F: Fn(I::Item) -> O + Send + Sync + 'static,
        O: Send + 'static,
    {
        self.pull_map(&self.inner.cpu, items.into_iter(), f)
    }

    /// Maps `f` over `items` on the chunk pool; results in input order. Built for
    /// millions of small items: units adapt to the cost of an item.
    ///
    /// As with [`map_cpu`](Self::map_cpu), the input is pulled lazily with at most a few
    /// units in flight, the output is the result `Vec` itself, and the map counts as one
    /// task.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// // A lazily generated input: the records are never all in memory at once.
    /// let records = (0..100_000u64).map(|i| format!("{i},{}", i % 7));
    /// let sum_fields = |record: String| -> u64 {
    ///     record.split(',').filter_map(|field| field.parse::<u64>().ok()).sum()
    /// };
    /// let totals = mgr.map_chunks(records, sum_fields).wait()?;
    /// assert_eq!(totals.len(), 100_000);
    /// assert_eq!(totals[10], 10 + 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_chunks<I, F, O>(&self, items: I, f: F) -> TaskHandle<Vec<O>>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        F: Fn(I::Item) -> O + Send + Sync + 'static,
        O: Send + 'static,
    {
        self.pull_map(&self.inner.chunk, items.into_iter(), f)
    }

    /// Runs `f(item)` as a future for every item on the IO runtime, at most the IO
    /// limit at once; results in input order.
    ///
    /// The input is pulled lazily as room frees in that window; the output is the
    /// result `Vec` itself. The whole map counts as one task.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice::ConcurrencyManager;
    ///
    /// let mgr = ConcurrencyManager::builder().build()?;
    /// let sizes = mgr
    ///     .map_io(["Cargo.toml", "src/lib.rs", "missing.txt"], |path| async move {
    ///         tokio::fs::metadata(path).await.map(|meta| meta.len()).ok()
    ///     })
    ///     .wait()?;
    /// assert!(sizes[0].is_some() && sizes[1].is_some());
    /// assert_eq!(sizes[2], None); // results stay in input order
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_io<I, F, Fut, O>(&self, items: I, f: F) -> TaskHandle<Vec<O>>
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: Send,
        F: Fn(I::Item) -> Fut + Send + 'static,
        Fut: Future<Output = O> + Send + 'static,
        O: Send + 'static,
    {
        let inner = &self.inner;
        self.refuse(&inner.io, None, None)
            .unwrap_or_else(|| submit_io_map(&inner.io_side, items.into_iter(), f))
    }

    /// A map of `f` over `items` on a closure route, refused if shutting down.
    fn pull_map<It, F, O>(&self, route: &Arc<Route>, items: It, f: F) -> TaskHandle<Vec<O>>
    where
        It: Iterator + Send + 'static,
        It::Item: Send,
        F: Fn(It::Item) -> O + Send + Sync + 'static,
        O: Send + 'static,
    {
        self.refuse(route, None, None).unwrap_or_else(|| {
            submit_pull_map(route, &self.inner.scope, Priority::Normal, items, f)
        })
    }
}
