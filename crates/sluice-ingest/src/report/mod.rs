//! What a run adds up to, the progress it shows while running, and its report as
//! text or JSON.

mod text;

use crate::read::ReadFile;
use crate::store::writer::WriteStats;
use crate::walk::{Entry, Kind, Walk};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// Where a run is, for the progress bar or the periodic lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Regular files dealt with (read, reused or failed).
    pub files_done: u64,
    /// Regular files found by the walk.
    pub files_total: u64,
    /// Their bytes dealt with.
    pub bytes_done: u64,
    /// Their bytes as walked.
    pub bytes_total: u64,
}

/// What one ingest run did.
#[derive(Debug, Default, Serialize)]
pub struct Totals {
    /// The snapshot written.
    pub snapshot: i64,
    /// The snapshot it was compared with.
    pub parent: Option<i64>,
    /// Whether the run was stopped before taking every entry.
    pub stopped: bool,
    /// Regular files found by the walk, and their bytes.
    pub walked_files: u64,
    /// Bytes of those files, as walked.
    pub walked_bytes: u64,
    /// Files read (contents chunked).
    pub files_read: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Files read twice because they changed during the first read.
    pub files_reread: u64,
    /// Files unchanged since the parent snapshot: not read, chunk list reused.
    pub files_unchanged: u64,
    /// Their bytes.
    pub bytes_unchanged: u64,
    /// Directories recorded.
    pub dirs: u64,
    /// Symbolic links recorded (not followed).
    pub symlinks: u64,
    /// FIFOs, sockets and devices recorded (never opened).
    pub special_files: u64,
    /// Chunks of the files read.
    pub chunks: u64,
    /// Distinct chunks among them.
    pub unique_chunks: u64,
    /// Entries not taken because the run was stopped.
    pub not_taken: u64,
    /// Entries the walk could not record, with the reason.
    #[serde(serialize_with = "lossy_list")]
    pub skipped: Vec<(PathBuf, String)>,
    /// Files not recorded, with the reason (unreadable, vanished, changing, ...).
    #[serde(serialize_with = "lossy_list")]
    pub problems: Vec<(PathBuf, String)>,
    /// Busy time reading (summed over threads).
    #[serde(serialize_with = "seconds")]
    pub read_time: Duration,
    /// Busy time chunking and hashing (summed over threads).
    #[serde(serialize_with = "seconds")]
    pub chunk_time: Duration,
    /// Busy time compressing (summed over threads).
    #[serde(serialize_with = "seconds")]
    pub compress_time: Duration,
    /// What the store's writer did.
    pub write: WriteStats,
}

impl Totals {
    /// Empty totals of `snapshot`, with the walk's counts.
    pub fn new(snapshot: i64, parent: Option<i64>, walk: &Walk) -> Self {
        let (walked_files, walked_bytes) = walk.file_totals();
        Self {
            snapshot,
            parent,
            walked_files,
            walked_bytes,
            skipped: walk.skipped.clone(),
            ..Self::default()
        }
    }

    /// Counts an entry the walk found (a run whose totals began before its walk ended).
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_ingest::report::Totals;
    /// use sluice_ingest::walk::{Entry, Kind, Stat};
    ///
    /// let mut totals = Totals::default();
    /// let stat = Stat { size: 10, mtime_ns: 0, mode: 0o644, inode: 1 };
    /// totals.walked(&Entry { path: "a".into(), kind: Kind::File, stat });
    /// totals.walked(&Entry { path: "d".into(), kind: Kind::Dir, stat });
    /// assert_eq!((totals.walked_files, totals.walked_bytes), (1, 10));
    /// ```
    pub fn walked(&mut self, entry: &Entry) {
        if entry.kind == Kind::File {
            self.walked_files += 1;
            self.walked_bytes += entry.stat.size;
        }
    }

    /// Counts a file read.
    pub fn read(&mut self, read: &ReadFile) {
        self.files_read += 1;
        self.bytes_read += read.stat.size;
        self.files_reread += u64::from(read.attempts > 1);
        self.chunks += read.chunks.len() as u64;
        self.read_time += read.read_time;
        self.chunk_time += read.chunk_time;
    }

    /// Counts a file unchanged since the parent.
    pub fn reused(&mut self, bytes: u64) {
        self.files_unchanged += 1;
        self.bytes_unchanged += bytes;
    }

    /// Counts an entry that is not a regular file.
    pub fn other(&mut self, kind: Kind) {
        match kind {
            Kind::File => {}
            Kind::Dir => self.dirs += 1,
            Kind::Symlink => self.symlinks += 1,
            _ => self.special_files += 1,
        }
    }

    /// Where the run is.
    pub fn progress(&self) -> Progress {
        Progress {
            files_done: self.files_read + self.files_unchanged + self.problems.len() as u64,
            files_total: self.walked_files,
            bytes_done: self.bytes_read + self.bytes_unchanged,
            bytes_total: self.walked_bytes,
        }
    }

    /// Bytes of the files read over the raw bytes of the chunks newly stored: how many
    /// times over deduplication saved writing (1.0: nothing was a duplicate).
    pub fn dedup_ratio(&self) -> f64 {
        ratio(self.bytes_read, self.write.raw_bytes_stored)
    }

    /// Raw bytes of the new chunks over their stored bytes.
    pub fn compression_ratio(&self) -> f64 {
        ratio(self.write.raw_bytes_stored, self.write.bytes_stored)
    }
}

/// Writes a duration as seconds in the JSON report.
pub fn seconds<S: serde::Serializer>(took: &Duration, to: S) -> Result<S::Ok, S::Error> {
    to.serialize_f64(took.as_secs_f64())
}

/// Writes a path as text, replacing what is not UTF-8 (serde refuses such paths).
fn lossy<S: serde::Serializer>(path: &std::path::Path, to: S) -> Result<S::Ok, S::Error> {
    to.serialize_str(&path.to_string_lossy())
}

/// Writes (path, reason) pairs with the paths as text.
fn lossy_list<S: serde::Serializer>(list: &[(PathBuf, String)], to: S) -> Result<S::Ok, S::Error> {
    to.collect_seq(list.iter().map(|(path, why)| (path.to_string_lossy(), why)))
}

fn ratio(over: u64, under: u64) -> f64 {
    if under == 0 {
        1.0
    } else {
        over as f64 / under as f64
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A run's report: its totals, the wall time, and the manager's snapshot.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The tree ingested.
    #[serde(serialize_with = "lossy")]
    pub root: PathBuf,
    /// The store written.
    #[serde(serialize_with = "lossy")]
    pub store: PathBuf,
    /// What the run did.
    pub totals: Totals,
    /// Seconds spent walking.
    pub walk_seconds: f64,
    /// Seconds from start to the final commit.
    pub seconds: f64,
    /// Bytes of files dealt with (read or unchanged) per second, in MiB.
    pub mib_per_second: f64,
    /// Deduplication ratio (see [`Totals::dedup_ratio`]).
    pub dedup_ratio: f64,
    /// Compression ratio (see [`Totals::compression_ratio`]).
    pub compression_ratio: f64,
    /// Sluice's snapshot of the manager after the run.
    pub sluice: serde_json::Value,
}

impl Report {
    /// The report of a run.
    pub fn new(
        root: PathBuf,
        store: PathBuf,
        totals: Totals,
        walk: Duration,
        elapsed: Duration,
        sluice: serde_json::Value,
    ) -> Self {
        let seconds = elapsed.as_secs_f64();
        let done = totals.bytes_read + totals.bytes_unchanged;
        Self {
            root,
            store,
            walk_seconds: walk.as_secs_f64(),
            seconds,
            mib_per_second: if seconds > 0.0 {
                mib(done) / seconds
            } else {
                0.0
            },
            dedup_ratio: totals.dedup_ratio(),
            compression_ratio: totals.compression_ratio(),
            totals,
            sluice,
        }
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }
}
