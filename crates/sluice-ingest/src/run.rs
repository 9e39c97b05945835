//! One ingest run from a directory's name to its report: the walk (on the IO route),
//! the pipeline, and the manager's snapshot. On Sluice's pipeline the walk streams its
//! entries into the run, which opens the store and reads the first files meanwhile.

use crate::engines::{Engine, common};
use crate::pipeline::{self, IngestError, IngestOptions};
use crate::report::{Report, Totals};
use crate::store::Store;
use crate::walk::{Entry, Walk};
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
    let (root, totals, walk_time) = if engine == Engine::Sluice {
        ingest_streamed(mgr, dir, store, opts, stop)?
    } else {
        let (root, walked, walk_time) = walk_tree(mgr, dir, store)?;
        let totals = engine.ingest(mgr, &root, &walked, store, opts, stop)?;
        (root, totals, walk_time)
    };
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

/// The canonical root of `dir` (one spelling per tree, so that the next run finds this
/// one as its parent) and the directories the walk leaves out (the store's own).
fn walk_setup(dir: &Path, store: &Store) -> Result<(PathBuf, Vec<PathBuf>), RunError> {
    let root = dir
        .canonicalize()
        .map_err(|error| walk_error(dir, error.to_string()))?;
    let exclude = vec![
        store
            .dir()
            .canonicalize()
            .unwrap_or_else(|_| store.dir().to_path_buf()),
    ];
    Ok((root, exclude))
}

fn walk_error(dir: &Path, reason: String) -> RunError {
    RunError::Walk {
        path: dir.display().to_string(),
        reason,
    }
}

/// Walks `dir` on the manager's IO route, leaving out the store's own directory;
/// answers the canonical root, the walk and how long it took.
pub(crate) fn walk_tree(
    mgr: &ConcurrencyManager,
    dir: &Path,
    store: &Store,
) -> Result<(PathBuf, Walk, Duration), RunError> {
    let began = Instant::now();
    let (root, exclude) = walk_setup(dir, store)?;
    let walk_root = root.clone();
    let walked = mgr
        .try_run_io_blocking(move || crate::walk::walk(&walk_root, &exclude))
        .wait()
        .map_err(|error| match error {
            TaskError::Failed(reason) => walk_error(dir, reason),
            other => walk_error(dir, other.to_string()),
        })?;
    let walk_time = began.elapsed();
    tracing::info!(
        entries = walked.entries.len(),
        ms = walk_time.as_millis() as u64,
        "walk done"
    );
    Ok((root, walked, walk_time))
}

/// Sluice's pipeline over a walk under way: the walk runs on the IO route and hands
/// over its entries as it finds them, while this thread opens the run (the store's
/// lock, the known chunks, the parent) and then compares each entry with the parent
/// as it arrives, so no core waits for the whole walk. Only a root that cannot be
/// walked at all fails the run, before anything is recorded; a walk that ends early
/// (a shutdown) leaves the snapshot partial, for the next run to complete.
fn ingest_streamed(
    mgr: &ConcurrencyManager,
    dir: &Path,
    store: &Store,
    opts: &IngestOptions,
    stop: &Arc<AtomicBool>,
) -> Result<(PathBuf, Totals, Duration), RunError> {
    let began = Instant::now();
    let (root, exclude) = walk_setup(dir, store)?;
    crate::walk::check_root(&root).map_err(|reason| walk_error(dir, reason))?;
    let (found, entries) = futures::channel::mpsc::unbounded::<Entry>();
    let walk_root = root.clone();
    let walking = mgr.try_run_io_blocking(move || {
        // A send fails only once the run has gone (an error): the walk ends with it.
        let skipped = crate::walk::walk_with(&walk_root, &exclude, &mut |entry| {
            found.unbounded_send(entry).is_ok()
        });
        Ok::<_, String>((skipped, began.elapsed()))
    });
    let run = common::begin(&root, &Walk::default(), store, opts)?;
    let mut run = pipeline::run_entries(mgr, &root, entries, run, opts, stop, true)?;
    let walk_time = match walking.wait() {
        Ok((skipped, walk_time)) => {
            run.totals.skipped = skipped;
            walk_time
        }
        Err(error) => {
            tracing::warn!("sluice-ingest: the walk ended early: {error}");
            run.totals.stopped = true;
            run.totals
                .skipped
                .push((PathBuf::from("."), format!("the walk ended early: {error}")));
            began.elapsed()
        }
    };
    tracing::info!(
        files = run.totals.walked_files,
        ms = walk_time.as_millis() as u64,
        "walk done"
    );
    Ok((root, run.finish()?, walk_time))
}
