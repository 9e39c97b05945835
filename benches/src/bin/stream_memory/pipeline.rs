//! The three-stage pipeline of issue 17 — read (io) → hash and compress (cpu) → write a
//! summary — over pieces of real files, streamed end to end; and each stage alone, for
//! the overlap check (the pipeline's wall time against its slowest stage's).
//!
//! The stages are those of `crates/sluice/examples/pipeline.rs`, with a real codec:
//! each piece is hashed (BLAKE3) and compressed (zstd, level 1, one compressor per
//! worker thread through `cpu_init`), and the consumer writes one line per piece.

use crate::pieces::{PIECE_BYTES, Piece, Pieces, Unit};
use sluice::{ConcurrencyManager, ItemResult, StreamOptions};
use std::fs::File;
use std::io::{self, BufWriter, Read as _, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Pieces read ahead of the cpu stage at most, by default: the read stage's buffer, and
/// so (with the pieces being hashed) what the pipeline holds of the files at once. It
/// is also the number of blocking threads that read (see [`run`]).
pub const READ_AHEAD: usize = 4;

/// zstd's level: its fastest ordinary one, as an ingestion program would use.
const ZSTD_LEVEL: i32 = 1;

/// Which part of the pipeline a run times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The read stage alone: every piece read, then dropped.
    Read,
    /// The cpu stage alone, over pieces read into memory before the clock starts.
    Cpu,
    /// The write stage alone: a summary line per piece, from digests made up on the
    /// fly (no reading, no hashing).
    Write,
    /// The three stages chained.
    All,
}

impl Stage {
    /// The stage named `name`.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "read" => Ok(Stage::Read),
            "cpu" => Ok(Stage::Cpu),
            "write" => Ok(Stage::Write),
            "all" => Ok(Stage::All),
            other => Err(format!("unknown stage {other:?} (read, cpu, write or all)")),
        }
    }

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Read => "read",
            Stage::Cpu => "cpu",
            Stage::Write => "write",
            Stage::All => "all",
        }
    }
}

/// What a run did.
pub struct Done {
    /// Pieces that went through.
    pub items: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Pieces that failed (unreadable), counted apart.
    pub failed: u64,
    /// Wall time, from the first stage's start to the summary flushed.
    pub seconds: f64,
    /// CPU time (user and system, all threads) in the same span.
    pub cpu_seconds: f64,
}

/// What the cpu stage makes of a piece.
struct Digest {
    piece: Piece,
    hash: blake3::Hash,
    compressed: usize,
}

/// How to run the pipeline.
pub struct Plan<'a> {
    /// What to time.
    pub stage: Stage,
    /// Passes over the pieces.
    pub scale: usize,
    /// The read stage's buffer.
    pub read_ahead: usize,
    /// The cpu route's threads (the manager's default, one per core, when `None`): one
    /// on a two-core machine leaves a core to the reads, to see the stages overlap.
    pub cpu_threads: Option<usize>,
    /// Where the summary goes.
    pub summary: &'a Path,
}

/// Runs `plan.stage` over `plan.scale` passes of `pieces`.
pub fn run(plan: &Plan<'_>, pieces: &Pieces) -> Result<Done, String> {
    let Plan {
        stage,
        scale,
        read_ahead,
        cpu_threads,
        summary,
    } = *plan;
    // The io route's runtime, with as many blocking threads as reads in flight: tokio's
    // default (512, each idle for 10 s before it ends) lets the reads wander over new
    // threads, and each new thread's allocations come from a glibc arena of its own
    // whose high-water mark stays — a peak RSS that grew with the run's length.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max_blocking_threads(read_ahead.max(1))
        .enable_time()
        .build()
        .map_err(|e| format!("building the io runtime: {e}"))?;
    let mut builder = ConcurrencyManager::builder().io_handle(runtime.handle().clone());
    if let Some(threads) = cpu_threads {
        builder = builder.cpu_threads(threads);
    }
    let mgr = builder
        .build()
        .map_err(|e| format!("building the manager: {e}"))?;
    let mut out = BufWriter::new(
        File::create(summary).map_err(|e| format!("creating {}: {e}", summary.display()))?,
    );
    let mut done = Done {
        items: 0,
        bytes: 0,
        failed: 0,
        seconds: 0.0,
        cpu_seconds: 0.0,
    };
    let (began, cpu_began);
    match stage {
        Stage::Read => {
            (began, cpu_began) = (Instant::now(), crate::cpu_seconds()?);
            for read in read_stage(&mgr, pieces, scale, read_ahead) {
                match read {
                    Ok(read) => read.unit.iter().for_each(|piece| done.count(piece.len)),
                    Err(_) => done.failed += 1,
                }
            }
        }
        Stage::Cpu => {
            if scale != 1 {
                return Err(
                    "the cpu stage alone runs at scale 1 (its input is held in memory)".into(),
                );
            }
            let loaded: Vec<Read> = pieces
                .iter(1)
                .map(|unit| read_unit_now(&unit))
                .collect::<io::Result<_>>()
                .map_err(|e| format!("reading the pieces into memory: {e}"))?;
            (began, cpu_began) = (Instant::now(), crate::cpu_seconds()?);
            let digests = mgr
                .stream(StreamOptions::new().unordered())
                .cpu_init(loaded, compressor, digests);
            for digests in digests {
                match digests {
                    Ok(Ok(digests)) => digests.iter().for_each(|d| done.count(d.piece.len)),
                    _ => done.failed += 1,
                }
            }
        }
        Stage::Write => {
            (began, cpu_began) = (Instant::now(), crate::cpu_seconds()?);
            for piece in pieces.iter(scale).flat_map(|unit| unit.to_vec()) {
                let made_up = Digest {
                    hash: blake3::hash(&piece.offset.to_le_bytes()),
                    compressed: piece.len / 2,
                    piece,
                };
                write_line(&mut out, &made_up)?;
                done.count(made_up.piece.len);
            }
        }
        Stage::All => {
            (began, cpu_began) = (Instant::now(), crate::cpu_seconds()?);
            let read = read_stage(&mgr, pieces, scale, read_ahead);
            let digests = mgr.stream(StreamOptions::new().unordered()).cpu_init(
                read,
                compressor,
                |zstd, read: ItemResult<Read, io::Error>| match read {
                    Ok(read) => digests(zstd, read),
                    Err(error) => Err(io::Error::other(error.to_string())),
                },
            );
            for digests in digests {
                match digests {
                    Ok(Ok(digests)) => {
                        for digest in &digests {
                            write_line(&mut out, digest)?;
                            done.count(digest.piece.len);
                        }
                    }
                    _ => done.failed += 1,
                }
            }
        }
    }
    out.flush()
        .map_err(|e| format!("writing {}: {e}", summary.display()))?;
    done.seconds = began.elapsed().as_secs_f64();
    done.cpu_seconds = crate::cpu_seconds()? - cpu_began;
    mgr.shutdown(Duration::from_secs(5));
    Ok(done)
}

impl Done {
    fn count(&mut self, bytes: usize) {
        self.items += 1;
        self.bytes += bytes as u64;
    }
}

/// Stage one: every unit of pieces read, as an unordered stream with a small buffer.
fn read_stage(
    mgr: &ConcurrencyManager,
    pieces: &Pieces,
    scale: usize,
    read_ahead: usize,
) -> sluice::MapStream<Read, io::Error> {
    mgr.stream(StreamOptions::new().unordered().buffer(read_ahead))
        .try_io(pieces.iter(scale), |unit| async move {
            // File reads block: on tokio's blocking threads, as `tokio::fs` does.
            tokio::task::spawn_blocking(move || read_unit_now(&unit))
                .await
                .map_err(io::Error::other)?
        })
}

/// A unit's pieces, read: their bytes one after the other in one buffer.
struct Read {
    unit: Unit,
    bytes: Vec<u8>,
}

/// The bytes of each piece of `unit`, read on this thread into one buffer.
///
/// Every buffer has the same capacity, a unit's most ([`PIECE_BYTES`]), whatever the
/// unit holds: glibc serves a freed block to the next request of its size, so buffers of
/// one size reuse each other's memory, where buffers of each piece's size (and a
/// compressed copy per piece) left holes that a longer run kept finding new peaks in —
/// peak RSS that grew with the number of items, though no more were held at once.
///
/// Each piece is read into the buffer's spare capacity (`take` + `read_to_end`), never
/// zeroed first: zeroing a megabyte a unit was 6% of the read stage's samples, CPU the
/// cpu stage would otherwise have on a two-core machine.
fn read_unit_now(unit: &Unit) -> io::Result<Read> {
    let mut bytes = Vec::with_capacity(PIECE_BYTES as usize);
    for piece in unit.iter() {
        let mut file = File::open(&piece.path)?;
        if piece.offset != 0 {
            file.seek(SeekFrom::Start(piece.offset))?;
        }
        let want = piece.len as u64;
        let got = file.take(want).read_to_end(&mut bytes)?;
        if got as u64 != want {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{} shrank while read: {got} of {want} bytes at offset {}",
                    piece.path.display(),
                    piece.offset
                ),
            ));
        }
    }
    Ok(Read {
        unit: unit.clone(),
        bytes,
    })
}

/// A worker thread's compressor, and the buffer it compresses into, made once per
/// thread (a compressed copy allocated per piece would be a large block per piece).
struct Zstd {
    compressor: zstd::bulk::Compressor<'static>,
    out: Vec<u8>,
}

/// A worker thread's [`Zstd`].
fn compressor() -> io::Result<Zstd> {
    Ok(Zstd {
        compressor: zstd::bulk::Compressor::new(ZSTD_LEVEL)?,
        out: Vec::with_capacity(zstd::zstd_safe::compress_bound(PIECE_BYTES as usize)),
    })
}

/// Stage two: each piece of a unit hashed and compressed.
fn digests(zstd: &mut io::Result<Zstd>, read: Read) -> io::Result<Vec<Digest>> {
    let zstd = zstd
        .as_mut()
        .map_err(|e| io::Error::new(e.kind(), format!("making a compressor: {e}")))?;
    let mut start = 0;
    read.unit
        .iter()
        .map(|piece| {
            let bytes = &read.bytes[start..start + piece.len];
            start += piece.len;
            zstd.out.clear();
            let compressed = zstd.compressor.compress_to_buffer(bytes, &mut zstd.out)?;
            Ok(Digest {
                hash: blake3::hash(bytes),
                compressed,
                piece: piece.clone(),
            })
        })
        .collect()
}

/// Stage three: one line of the summary.
fn write_line(out: &mut impl Write, digest: &Digest) -> Result<(), String> {
    writeln!(
        out,
        "{} {:>8} {:>8} {}@{}",
        digest.hash,
        digest.piece.len,
        digest.compressed,
        digest.piece.path.display(),
        digest.piece.offset
    )
    .map_err(|e| format!("writing the summary: {e}"))
}
