//! The writer's second thread: it fsyncs packs and commits catalog transactions (each
//! an fsync of the WAL) in the order they are handed to it, so that the thread taking
//! chunks and files never waits on the disk while the readers and compressors fill up.

use crate::store::StoreError;
use crate::store::catalog::{Catalog, ChunkRow, FileRow};
use std::fs::File;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Batches handed over and not yet committed, beyond the one being committed: enough
/// to cover one fsync, few enough that the rows waiting stay small.
const QUEUED: usize = 2;

/// One transaction: the pack handle to fsync first (when the chunks lie in a pack not
/// yet synced), then the chunk rows and the file rows, recorded together.
pub(crate) struct Batch {
    /// A handle on the pack holding `chunks`, and its path for an error.
    pub sync: Option<(File, PathBuf)>,
    /// Chunks appended, durable once `sync` is done.
    pub chunks: Vec<ChunkRow>,
    /// Files whose chunks are all in this batch or an earlier one.
    pub files: Vec<FileRow>,
}

/// What the committer did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Committed {
    /// Files recorded.
    pub files: u64,
    /// Time in fsyncs of packs.
    pub sync_time: Duration,
    /// Time in catalog transactions.
    pub catalog_time: Duration,
    /// Chunks another writer had recorded first.
    pub dead_chunks: u64,
    /// Their stored bytes.
    pub dead_bytes: u64,
}

enum Job {
    Batch(Batch),
    /// Answered once every batch sent before it is committed.
    Barrier(SyncSender<()>),
}

/// The handle on the committer thread.
pub(crate) struct Committer {
    jobs: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<Result<(Catalog, Committed), StoreError>>>,
}

impl Committer {
    /// Starts a committer recording into `snapshot` of `catalog`.
    pub fn start(catalog: Catalog, snapshot: i64) -> Result<Self, StoreError> {
        let (jobs, queue) = sync_channel(QUEUED);
        let thread = std::thread::Builder::new()
            .name("sluice-ingest-commit".to_owned())
            .spawn(move || commit_all(catalog, snapshot, queue))
            .map_err(|source| StoreError::Io {
                what: "cannot start the catalog writer for",
                path: PathBuf::from("catalog.sqlite"),
                source,
            })?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Hands `batch` over; waits only when `QUEUED` batches are already waiting. A
    /// committer that failed answers its error here.
    pub fn send(&mut self, batch: Batch) -> Result<(), StoreError> {
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(Job::Batch(batch)).is_ok());
        if sent {
            Ok(())
        } else {
            self.stop().map(|_| ())
        }
    }

    /// Waits until every batch handed over is committed.
    pub fn wait(&mut self) -> Result<(), StoreError> {
        let (done, answer) = sync_channel(1);
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(Job::Barrier(done)).is_ok());
        if sent && answer.recv().is_ok() {
            Ok(())
        } else {
            self.stop().map(|_| ())
        }
    }

    /// Commits what was handed over, ends the thread and answers the catalog back with
    /// what was done.
    pub fn stop(&mut self) -> Result<(Catalog, Committed), StoreError> {
        drop(self.jobs.take());
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(lost("the catalog writer panicked")),
            None => Err(lost("the catalog writer has already stopped")),
        }
    }
}

impl Drop for Committer {
    /// A writer dropped on an error path still lets its committer finish before the
    /// store's lock is let go.
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.stop();
        }
    }
}

fn lost(reason: &str) -> StoreError {
    StoreError::Io {
        what: "cannot record into",
        path: PathBuf::from("catalog.sqlite"),
        source: std::io::Error::other(reason.to_owned()),
    }
}

/// The thread's body: batches in order, each fsync before its transaction.
fn commit_all(
    mut catalog: Catalog,
    snapshot: i64,
    queue: Receiver<Job>,
) -> Result<(Catalog, Committed), StoreError> {
    let mut done = Committed::default();
    for job in queue {
        let batch = match job {
            Job::Batch(batch) => batch,
            Job::Barrier(answer) => {
                let _ = answer.send(());
                continue;
            }
        };
        if let Some((file, path)) = batch.sync {
            let began = Instant::now();
            file.sync_data().map_err(|source| StoreError::Io {
                what: "cannot fsync pack",
                path,
                source,
            })?;
            done.sync_time += began.elapsed();
        }
        let began = Instant::now();
        let dead = catalog.commit(snapshot, &batch.chunks, &batch.files)?;
        done.catalog_time += began.elapsed();
        done.dead_chunks += dead.chunks;
        done.dead_bytes += dead.bytes;
        done.files += batch.files.len() as u64;
    }
    Ok((catalog, done))
}
