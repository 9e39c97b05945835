//! Reading one regular file in pieces into chunks: opened without following links or
//! blocking (so a file swapped for a FIFO cannot hang the run), chunked and hashed as
//! it streams, and checked for change: a file whose size or modification time moved
//! while it was read is read once more, then reported.

use crate::chunker::{self, ChunkSizes};
use crate::hash::ChunkHash;
use crate::walk::Stat;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Called with a file's path and attempt (0, then 1) after its contents were read and
/// before the change check: a test changes the file here to prove the check works.
pub type ReadHook = Arc<dyn Fn(&Path, u32) + Send + Sync>;

/// A file read into chunks.
#[derive(Debug)]
pub struct ReadFile {
    /// Its metadata when it was opened for the read that succeeded.
    pub stat: Stat,
    /// Its chunks in order.
    pub chunks: Vec<ChunkHash>,
    /// Time spent waiting for reads.
    pub read_time: Duration,
    /// Time spent chunking and hashing.
    pub chunk_time: Duration,
    /// Attempts made (2 if the file changed during the first).
    pub attempts: u32,
}

/// Why a file was not read; none of these stops the run.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Opening or reading failed.
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
    /// The path is no longer a regular file.
    #[error("no longer a regular file")]
    NotAFile,
    /// It changed during both attempts.
    #[error("changed while read, twice (size or modification time moved)")]
    Changed,
    /// The chunk sink refused a chunk: the run is ending.
    #[error("the store stopped taking chunks")]
    SinkClosed,
}

/// Reads `path` into chunks of `sizes`, giving every chunk (hash and raw bytes) to
/// `sink` as it is cut; `sink` answers `false` when it can take no more. A file that
/// changes while read is read once more; chunks of the first attempt have already gone
/// to `sink`, which is harmless in a content-addressed store.
pub fn read_file(
    path: &Path,
    sizes: ChunkSizes,
    hook: Option<&ReadHook>,
    sink: &mut dyn FnMut(ChunkHash, Vec<u8>) -> bool,
) -> Result<ReadFile, ReadError> {
    read_file_with(path, sizes, hook, &mut Vec::new(), sink)
}

/// [`read_file`] with the chunker's buffer in `scratch`, kept for the next file: a
/// reader thread that reads many files allocates its buffer (up to twice the maximum
/// chunk) once, not once per file.
pub fn read_file_with(
    path: &Path,
    sizes: ChunkSizes,
    hook: Option<&ReadHook>,
    scratch: &mut Vec<u8>,
    sink: &mut dyn FnMut(ChunkHash, Vec<u8>) -> bool,
) -> Result<ReadFile, ReadError> {
    let mut read_time = Duration::ZERO;
    let mut chunk_time = Duration::ZERO;
    for attempt in 0..2 {
        let began = Instant::now();
        let (file, before) = open(path)?;
        let mut reader = PieceReader {
            file: &file,
            bytes: 0,
            busy: Duration::ZERO,
        };
        let mut chunks = Vec::new();
        let mut sink_time = Duration::ZERO;
        let mut cut = chunker::chunks_in(&mut reader, sizes, std::mem::take(scratch));
        let ended = loop {
            let Some(chunk) = cut.next() else {
                break Ok(());
            };
            let data = match chunk {
                Ok(data) => data,
                Err(error) => break Err(ReadError::from(error)),
            };
            let hash = ChunkHash::of(&data);
            let handed = Instant::now();
            if !sink(hash, data) {
                break Err(ReadError::SinkClosed);
            }
            sink_time += handed.elapsed();
            chunks.push(hash);
        };
        *scratch = cut.into_buffer();
        ended?;
        if let Some(hook) = hook {
            hook(path, attempt);
        }
        let after = Stat::of(&file.metadata()?);
        let now_at_path = std::fs::symlink_metadata(path).map(|meta| Stat::of(&meta));
        read_time += reader.busy;
        chunk_time += began.elapsed().saturating_sub(reader.busy + sink_time);
        let same = |other: &Stat| other.size == before.size && other.mtime_ns == before.mtime_ns;
        let unchanged = same(&after)
            && reader.bytes == before.size
            && matches!(&now_at_path, Ok(stat) if same(stat) && stat.inode == before.inode);
        if unchanged {
            return Ok(ReadFile {
                stat: before,
                chunks,
                read_time,
                chunk_time,
                attempts: attempt + 1,
            });
        }
        tracing::debug!(path = %path.display(), attempt, "file changed while read");
    }
    Err(ReadError::Changed)
}

/// Opens a regular file for reading without following a link and without blocking
/// on a FIFO; answers it with its metadata as opened.
fn open(path: &Path) -> Result<(File, Stat), ReadError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotAFile);
    }
    Ok((file, Stat::of(&meta)))
}

/// A file read in the pieces the chunker asks for, counting bytes and time.
struct PieceReader<'a> {
    /// The open file.
    file: &'a File,
    /// Bytes read so far.
    bytes: u64,
    /// Time spent inside `read`.
    busy: Duration,
}

impl Read for PieceReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let began = Instant::now();
        let n = self.file.read(buf)?;
        self.busy += began.elapsed();
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes() -> ChunkSizes {
        ChunkSizes {
            min: 1024,
            avg: 4096,
            max: 16384,
        }
    }

    #[test]
    fn a_file_changed_once_is_read_again_and_twice_is_reported() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("sluice-ingest-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("moving");
        std::fs::write(&path, vec![1u8; 50_000])?;
        let mut seen = Vec::new();
        let once: ReadHook = Arc::new(|path, attempt| {
            if attempt == 0 {
                let _ = std::fs::write(path, vec![2u8; 60_000]);
            }
        });
        let read = read_file(&path, sizes(), Some(&once), &mut |hash, _| {
            seen.push(hash);
            true
        });
        let read = read.map_err(io::Error::other)?;
        assert_eq!((read.attempts, read.stat.size), (2, 60_000));
        let always: ReadHook = Arc::new(|path, attempt| {
            let _ = std::fs::write(path, vec![3u8; 70_000 + attempt as usize]);
        });
        let again = read_file(&path, sizes(), Some(&always), &mut |_, _| true);
        assert!(matches!(again, Err(ReadError::Changed)));
        let missing = read_file(&dir.join("none"), sizes(), None, &mut |_, _| true);
        assert!(matches!(missing, Err(ReadError::Io(_))));
        std::fs::remove_dir_all(&dir)
    }
}
