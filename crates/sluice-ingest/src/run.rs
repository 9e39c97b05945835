//! One ingest run from a directory's name to its report: the walk (on the IO route),
//! the pipeline, and the manager's snapshot.

use crate::engines::Engine;
use crate::pipeline::{IngestError, IngestOptions};
use crate::report::Report;
use crate::store::Store;
use crate::walk::Walk;
use sluice::{ConcurrencyManager, TaskError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// Why a run failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The tree could not be walked at all (its root).
    #[error("cannot walk {path}: {reason}")]
    Walk {
        /// The root given.
        path: String,
        /// Why.
        reason: String,
    },
    /// The pipeline failed.
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

/// Walks `dir` and ingests it into `store` as a new snapshot; see [`crate::pipeline::ingest`]
/// for `stop`. The store's own directory is never ingested, even inside `dir`.
///
/// # Examples
///
/// ```
/// use sluice_ingest::{IngestOptions, ingest_tree, store::Store};
/// use std::sync::Arc;
/// use std::sync::atomic::AtomicBool;
///
/// let tmp = std::env::temp_dir().join(format!("sluice-ingest-run-doc-{}", std::process::id()));
/// std::fs::create_dir_all(tmp.join("tree"))?;
/// std::fs::write(tmp.join("tree/notes.txt"), "hello")?;
/// let mgr = sluice::ConcurrencyManager::builder().build()?;
/// let store = Store::open(&tmp.join("store"))?;
/// let stop = Arc::new(AtomicBool::new(false));
/// ingest_tree(&mgr, &tmp.join("tree"), &store, &IngestOptions::default(), &stop)?;
/// // Nothing changed: the second run reads no file.
/// let again = ingest_tree(&mgr, &tmp.join("tree"), &store, &IngestOptions::default(), &stop)?;
/// assert_eq!((again.totals.files_read, again.totals.files_unchanged), (0, 1));
/// # std::fs::remove_dir_all(&tmp)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn ingest_tree(
    mgr: &ConcurrencyManager,
    dir: &Path,
    store: &Store,
    opts: &IngestOptions,
    stop: &Arc<AtomicBool>,
) -> Result<Report, RunError> {
    ingest_tree_with(mgr, dir, store, opts, stop, Engine::Sluice)
}

/// [`ingest_tree`] with another composition of the stages than Sluice's pipeline, for
/// measuring against (see [`crate::engines`]); the walk runs on the manager either way.
///
/// # Examples
///
/// ```
/// use sluice_ingest::{IngestOptions, engines::Engine, ingest_tree_with, store::Store};
/// use std::sync::atomic::AtomicBool;
///
/// let tmp = std::env::temp_dir().join(format!("sluice-ingest-with-doc-{}", std::process::id()));
/// std::fs::create_dir_all(tmp.join("tree"))?;
/// std::fs::write(tmp.join("tree/notes.txt"), "hello")?;
/// let mgr = sluice::ConcurrencyManager::builder().build()?;
/// let store = Store::open(&tmp.join("store"))?;
/// let stop = std::sync::Arc::new(AtomicBool::new(false));
/// let report = ingest_tree_with(&mgr, &tmp.join("tree"), &store, &IngestOptions::default(), &stop, Engine::Rayon)?;
/// assert_eq!(report.totals.files_read, 1);
/// # std::fs::remove_dir_all(&tmp)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn ingest_tree_with(
    mgr: &ConcurrencyManager,
    dir: &Path,
    store: &Store,
    opts: &IngestOptions,
    stop: &Arc<AtomicBool>,
    engine: Engine,
) -> Result<Report, RunError> {
    let began = Instant::now();
    let (root, walked, walk_time) = walk_tree(mgr, dir, store)?;
    let totals = engine.ingest(mgr, &root, &walked, store, opts, stop)?;
    let sluice = serde_json::from_str(&mgr.snapshot().to_json()).unwrap_or_default();
    Ok(Report::new(
        root,
        store.dir().to_path_buf(),
        totals,
        walk_time,
        began.elapsed(),
        sluice,
    ))
}

/// Walks `dir` on the manager's IO route, leaving out the store's own directory;
/// answers the canonical root (one spelling per tree, so that the next run finds
/// this one as its parent), the walk and how long it took.
pub(crate) fn walk_tree(
    mgr: &ConcurrencyManager,
    dir: &Path,
    store: &Store,
) -> Result<(PathBuf, Walk, Duration), RunError> {
    let began = Instant::now();
    let walk_error = |reason: String| RunError::Walk {
        path: dir.display().to_string(),
        reason,
    };
    let root = dir
        .canonicalize()
        .map_err(|error| walk_error(error.to_string()))?;
    let exclude = vec![
        store
            .dir()
            .canonicalize()
            .unwrap_or_else(|_| store.dir().to_path_buf()),
    ];
    let walk_root = root.clone();
    let walked = mgr
        .try_run_io_blocking(move || crate::walk::walk(&walk_root, &exclude))
        .wait()
        .map_err(|error| match error {
            TaskError::Failed(reason) => walk_error(reason),
            other => walk_error(other.to_string()),
        })?;
    let walk_time = began.elapsed();
    tracing::info!(
        entries = walked.entries.len(),
        ms = walk_time.as_millis() as u64,
        "walk done"
    );
    Ok((root, walked, walk_time))
}
