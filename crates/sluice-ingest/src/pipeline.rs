//! The ingestion pipeline on Sluice's routes: read (`map_io`), analyse (`map_cpu`),
//! count words (`map_chunks`), in batches so that memory stays bounded and each stage
//! of one batch overlaps the next stage of the previous one.

use crate::analyse::{self, Duplicates, FileFacts, WordCounts};
use crate::walk::FileEntry;
use sluice::{ConcurrencyManager, RouteKind, TaskError, TaskHandle};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Bytes read per batch: at most two batches are held at once (one being read, one
/// being analysed), plus the text of one being counted.
const BATCH_BYTES: u64 = 64 * 1024 * 1024;
/// Files read per batch, whatever their size.
const BATCH_FILES: usize = 4096;
/// Bytes of text per word-count item, at least: fewer items mean fewer partial counts
/// to merge on the caller.
const MIN_CHUNK_BYTES: usize = 64 * 1024;
/// Bytes of text per word-count item, at most, so that items still balance.
const MAX_CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// Word-count items per chunk thread, for balance.
const CHUNKS_PER_THREAD: usize = 4;

/// What the files of a walk add up to.
#[derive(Debug, Default)]
pub struct Totals {
    /// Files read and analysed.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Files that are text.
    pub text_files: u64,
    /// Lines of the text files.
    pub lines: u64,
    /// Word counts over every line of every text file.
    pub words: WordCounts,
    /// Files grouped by contents.
    pub duplicates: Duplicates,
    /// Files that could not be read, with the error.
    pub read_errors: Vec<(PathBuf, String)>,
    /// Files that had grown past the size limit by the time they were read.
    pub grew_too_large: u64,
}

/// How one file ended.
enum FileOutcome {
    /// Read and analysed.
    Analysed(FileFacts),
    /// Larger than the limit once read.
    TooLarge,
    /// Could not be read.
    ReadError(String),
}

impl Totals {
    /// Adds one file; returns its text, if any, for the word count.
    fn record(&mut self, path: PathBuf, outcome: FileOutcome) -> Option<Arc<String>> {
        match outcome {
            FileOutcome::Analysed(facts) => {
                self.files += 1;
                self.bytes += facts.len;
                if facts.text.is_some() {
                    self.text_files += 1;
                    self.lines += facts.lines;
                }
                self.duplicates.add(path, &facts);
                facts.text
            }
            FileOutcome::TooLarge => {
                self.grew_too_large += 1;
                None
            }
            FileOutcome::ReadError(error) => {
                tracing::debug!(path = %path.display(), %error, "cannot read file");
                self.read_errors.push((path, error));
                None
            }
        }
    }

    /// Adds the word counts of a batch.
    fn merge_words(&mut self, parts: Vec<WordCounts>) {
        for part in parts {
            analyse::merge_into(&mut self.words, part);
        }
    }
}

/// Reads, analyses and word-counts `files`; files over `max_file_bytes` when read are
/// skipped. Fails only if Sluice gives no answer (a panic in the analysis, a shutdown).
pub fn ingest(
    mgr: &ConcurrencyManager,
    files: Vec<FileEntry>,
    max_file_bytes: u64,
) -> Result<Totals, TaskError> {
    let mut totals = Totals::default();
    // The chunk route's admission limit is its thread count unless configured otherwise.
    let chunk_threads = mgr
        .snapshot()
        .route(&RouteKind::Chunk)
        .map_or(1, |route| route.limit.max(1));
    let mut batches = batches(files).into_iter();
    let mut reading = batches.next().map(|batch| read(mgr, batch));
    let mut counting: Option<TaskHandle<Vec<WordCounts>>> = None;
    while let Some(handle) = reading.take() {
        let began = Instant::now();
        let contents = handle.wait()?;
        let read_wait = began.elapsed();
        // The next batch is read while this one is analysed.
        reading = batches.next().map(|batch| read(mgr, batch));
        let analysed = analyse_all(mgr, contents, max_file_bytes).wait()?;
        let analyse_wait = began.elapsed() - read_wait;
        let texts: Vec<Arc<String>> = analysed
            .into_iter()
            .filter_map(|(path, outcome)| totals.record(path, outcome))
            .collect();
        // This batch's words are counted while the previous batch's are merged here.
        let next = count_words(mgr, texts, chunk_threads);
        if let Some(previous) = counting.replace(next) {
            totals.merge_words(previous.wait()?);
        }
        tracing::debug!(
            read_wait_ms = read_wait.as_millis() as u64,
            analyse_wait_ms = analyse_wait.as_millis() as u64,
            total_ms = began.elapsed().as_millis() as u64,
            "batch analysed"
        );
    }
    if let Some(last) = counting {
        let began = Instant::now();
        totals.merge_words(last.wait()?);
        tracing::debug!(
            ms = began.elapsed().as_millis() as u64,
            "last word counts waited for and merged"
        );
    }
    Ok(totals)
}

/// Hashes and analyses every file of a batch on the CPU route.
fn analyse_all(
    mgr: &ConcurrencyManager,
    contents: Vec<(FileEntry, io::Result<Vec<u8>>)>,
    max_file_bytes: u64,
) -> TaskHandle<Vec<(PathBuf, FileOutcome)>> {
    mgr.map_cpu(contents, move |(entry, read)| {
        let outcome = match read {
            Ok(bytes) if bytes.len() as u64 > max_file_bytes => FileOutcome::TooLarge,
            Ok(bytes) => FileOutcome::Analysed(analyse::analyse(bytes)),
            Err(error) => FileOutcome::ReadError(error.to_string()),
        };
        (entry.path, outcome)
    })
}

/// Counts the words of `texts` on the chunk route, in about `CHUNKS_PER_THREAD` items
/// per thread; answers one count per item, to be merged.
fn count_words(
    mgr: &ConcurrencyManager,
    texts: Vec<Arc<String>>,
    chunk_threads: usize,
) -> TaskHandle<Vec<WordCounts>> {
    let text_bytes: usize = texts.iter().map(|text| text.len()).sum();
    let chunk_bytes =
        (text_bytes / (chunk_threads * CHUNKS_PER_THREAD)).clamp(MIN_CHUNK_BYTES, MAX_CHUNK_BYTES);
    let chunks = analyse::line_chunks(texts, chunk_bytes);
    tracing::debug!(text_bytes, chunks = chunks.len(), "counting words");
    mgr.map_chunks(chunks, analyse::count_words)
}

/// Reads every file of a batch on the IO route.
fn read(
    mgr: &ConcurrencyManager,
    batch: Vec<FileEntry>,
) -> TaskHandle<Vec<(FileEntry, io::Result<Vec<u8>>)>> {
    tracing::debug!(files = batch.len(), "reading batch");
    mgr.map_io(batch, |entry: FileEntry| async move {
        let contents = tokio::fs::read(&entry.path).await;
        (entry, contents)
    })
}

/// Cuts `files` into batches of at most `BATCH_BYTES` (or one larger file) and
/// `BATCH_FILES` files.
fn batches(files: Vec<FileEntry>) -> Vec<Vec<FileEntry>> {
    let mut batches = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0u64;
    for file in files {
        let full = bytes.saturating_add(file.len) > BATCH_BYTES || current.len() >= BATCH_FILES;
        if full && !current.is_empty() {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes = bytes.saturating_add(file.len);
        current.push(file);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, len: u64) -> FileEntry {
        FileEntry {
            path: path.into(),
            len,
        }
    }

    #[test]
    fn batches_respect_bytes_and_count() {
        let big = BATCH_BYTES / 2 + 1;
        let files = vec![
            entry("a", big),
            entry("b", big),
            entry("c", 1),
            entry("d", 5 * BATCH_BYTES),
        ];
        let sizes: Vec<usize> = batches(files).iter().map(Vec::len).collect();
        assert_eq!(sizes, [1, 2, 1]);
        let many = (0..BATCH_FILES + 1)
            .map(|i| entry(&i.to_string(), 0))
            .collect();
        let sizes: Vec<usize> = batches(many).iter().map(Vec::len).collect();
        assert_eq!(sizes, [BATCH_FILES, 1]);
        assert!(batches(Vec::new()).is_empty());
    }

    #[test]
    fn ingests_files_and_counts_read_errors() -> Result<(), Box<dyn std::error::Error>> {
        let dir =
            std::env::temp_dir().join(format!("sluice-ingest-pipeline-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let write = |name: &str, contents: &[u8]| -> io::Result<FileEntry> {
            let path = dir.join(name);
            std::fs::write(&path, contents)?;
            Ok(FileEntry {
                path,
                len: contents.len() as u64,
            })
        };
        let files = vec![
            write("a", b"Alpha beta\nbeta\n")?,
            write("b", b"Alpha beta\nbeta\n")?,
            write("c", &[0, 1, 2, 3])?,
            write("d", b"gamma")?,
            write("big", &[b'x'; 64])?,
            entry(&dir.join("missing").to_string_lossy(), 3),
        ];
        let mgr = ConcurrencyManager::builder()
            .cpu_threads(2)
            .chunk_threads(2)
            .io_threads(1)
            .build()?;
        let totals = ingest(&mgr, files, 32)?;
        assert_eq!(totals.files, 4);
        assert_eq!(totals.bytes, 16 + 16 + 4 + 5);
        assert_eq!(totals.text_files, 3);
        assert_eq!(totals.lines, 2 + 2 + 1);
        assert_eq!(totals.grew_too_large, 1);
        assert_eq!(totals.read_errors.len(), 1);
        assert_eq!(totals.words.get("beta"), Some(&4));
        assert_eq!(totals.words.get("alpha"), Some(&2));
        assert_eq!(totals.words.len(), 3);
        let groups = totals.duplicates.groups();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].wasted(), 16);
        assert!(mgr.shutdown(std::time::Duration::from_secs(5)).drained);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
