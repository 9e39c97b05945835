//! The files waiting for their chunks: a file is handed to the committer only once
//! every chunk it names is, so that its row never lands before theirs.

use super::{COMMIT_BYTES, COMMIT_FILES, StoreWriter};
use crate::store::StoreError;
use crate::store::catalog::FileRow;
use crate::store::committer::Batch;

impl StoreWriter {
    /// Queues a file to be recorded once all its chunks are durable.
    pub fn add_file(&mut self, file: FileRow) -> Result<(), StoreError> {
        // A shared writer starts knowing no chunk: the ones its readers found already
        // stored (by anyone) are durable, and the catalog says which.
        if let Some(lookup) = &self.lookup {
            for hash in &file.chunks {
                if !self.sent.contains(hash)
                    && !self.appended_set.contains(hash)
                    && lookup.has_chunk(hash)?
                {
                    self.sent.insert(*hash);
                }
            }
        }
        self.waiting.push(file);
        let waited = self.waiting.len() >= self.commit_at && !self.appended.is_empty();
        if self.appended_bytes >= COMMIT_BYTES || waited {
            self.hand_over(false)?;
        } else if self.waiting.len() >= self.check_at {
            // Files naming only chunks already handed over need no fsync of their own.
            let ready = self.take_ready(false);
            self.check_at = self.waiting.len() + COMMIT_FILES;
            if !ready.is_empty() {
                self.committer.send(Batch {
                    sync: None,
                    chunks: Vec::new(),
                    files: ready,
                })?;
            }
        }
        Ok(())
    }

    /// Takes the waiting files whose chunks are all handed over (or, with `appended`,
    /// about to be, in the open pack).
    pub(super) fn take_ready(&mut self, appended: bool) -> Vec<FileRow> {
        let (sent, open) = (&self.sent, &self.appended_set);
        let (ready, still): (Vec<FileRow>, Vec<FileRow>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|file| {
                file.chunks
                    .iter()
                    .all(|hash| sent.contains(hash) || (appended && open.contains(hash)))
            });
        self.waiting = still;
        ready
    }
}
