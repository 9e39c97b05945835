//! A batch task's payload: the snapshot it belongs to, the settings every worker
//! chunks and compresses with (the enqueuer's, so that the result equals a
//! single-process run), and its files. Paths travel as text when they are UTF-8 and
//! as bytes otherwise, so no file name is lost on the way.

use crate::chunker::ChunkSizes;
use crate::compress::Compression;
use crate::options::IngestOptions;
use crate::walk::{Entry, Kind, Stat};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// A path as JSON carries it: text, or the raw bytes of a name that is not UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WirePath {
    /// A UTF-8 path.
    Text(String),
    /// Any other path, byte for byte.
    Bytes(Vec<u8>),
}

impl WirePath {
    /// `path` for the payload.
    pub fn of(path: &Path) -> Self {
        match path.to_str() {
            Some(text) => Self::Text(text.to_owned()),
            None => Self::Bytes(path.as_os_str().as_bytes().to_vec()),
        }
    }

    /// The path again.
    pub fn to_path(&self) -> PathBuf {
        match self {
            Self::Text(text) => PathBuf::from(text),
            Self::Bytes(bytes) => PathBuf::from(OsString::from_vec(bytes.clone())),
        }
    }
}

/// One regular file of a batch, as the walk found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireFile {
    /// Relative to the batch's root.
    pub path: WirePath,
    /// Size when walked.
    pub size: u64,
    /// Modification time when walked, in nanoseconds.
    pub mtime_ns: i64,
    /// Mode bits.
    pub mode: u32,
    /// Inode.
    pub inode: u64,
}

/// How the snapshot's files are chunked, compressed and packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSettings {
    /// Smallest, average and largest chunk.
    pub chunk_min: u32,
    /// Average chunk.
    pub chunk_avg: u32,
    /// Largest chunk.
    pub chunk_max: u32,
    /// zstd level, 0 for none.
    pub zstd_level: i32,
    /// A pack is closed at this many bytes.
    pub max_pack_bytes: u64,
    /// Files read at once by a worker.
    pub window: usize,
}

impl BatchSettings {
    /// The settings of `opts`.
    pub fn of(opts: &IngestOptions) -> Self {
        Self {
            chunk_min: opts.sizes.min,
            chunk_avg: opts.sizes.avg,
            chunk_max: opts.sizes.max,
            zstd_level: match opts.compression {
                Compression::None => 0,
                Compression::Zstd(level) => level,
            },
            max_pack_bytes: opts.max_pack_bytes,
            window: opts.window,
        }
    }

    /// The options a worker runs a batch with; settings no run could have sent are
    /// an error naming them.
    pub fn options(&self) -> Result<IngestOptions, String> {
        let sizes = ChunkSizes {
            min: self.chunk_min,
            avg: self.chunk_avg,
            max: self.chunk_max,
        }
        .validated()?;
        let compression = Compression::parse(&self.zstd_level.to_string())?;
        if self.window == 0 || self.max_pack_bytes == 0 {
            return Err("window and pack size must be at least 1".into());
        }
        Ok(IngestOptions {
            sizes,
            compression,
            max_pack_bytes: self.max_pack_bytes,
            window: self.window,
            ..IngestOptions::default()
        })
    }
}

/// A batch task: files of one snapshot to ingest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// The snapshot the files are recorded in.
    pub snapshot: i64,
    /// The token the enqueuer recorded with the snapshot: a worker whose store does
    /// not hold it is pointed at another store, and refuses the batch.
    pub token: String,
    /// The batch's number in its snapshot (0, 1, ...).
    pub number: u32,
    /// The tree's root, as the enqueuer spelled it (workers see the same tree there).
    pub root: WirePath,
    /// How to chunk, compress and pack.
    pub settings: BatchSettings,
    /// The files.
    pub files: Vec<WireFile>,
}

impl Batch {
    /// The batch's files as walk entries.
    pub fn entries(&self) -> Vec<Entry> {
        self.files
            .iter()
            .map(|file| Entry {
                path: file.path.to_path(),
                kind: Kind::File,
                stat: Stat {
                    size: file.size,
                    mtime_ns: file.mtime_ns,
                    mode: file.mode,
                    inode: file.inode,
                },
            })
            .collect()
    }
}

/// `entry` (a regular file) for a batch.
pub(crate) fn wire_file(entry: &Entry) -> WireFile {
    WireFile {
        path: WirePath::of(&entry.path),
        size: entry.stat.size,
        mtime_ns: entry.stat.mtime_ns,
        mode: entry.stat.mode,
        inode: entry.stat.inode,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_that_is_not_utf8_travels_byte_for_byte() -> Result<(), serde_json::Error> {
        let odd = PathBuf::from(OsString::from_vec(vec![b'a', 0xff, b'/', b'b']));
        for path in [odd, PathBuf::from("dir/ü.txt")] {
            let json = serde_json::to_string(&WirePath::of(&path))?;
            let back: WirePath = serde_json::from_str(&json)?;
            assert_eq!(back.to_path(), path);
        }
        Ok(())
    }

    #[test]
    fn settings_survive_the_trip_and_bad_ones_are_named() {
        let opts = IngestOptions::default();
        let settings = BatchSettings::of(&opts);
        let back = settings.options().map(|o| (o.sizes, o.compression));
        assert_eq!(back, Ok((opts.sizes, opts.compression)));
        let bad = BatchSettings {
            chunk_min: 1,
            ..settings
        };
        assert!(matches!(bad.options(), Err(e) if e.contains("minimum")));
    }
}
