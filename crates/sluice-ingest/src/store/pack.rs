//! Pack files: append-only files of bounded size holding compressed chunks. Each
//! starts with a header; each chunk is preceded by its own header (hash, compression,
//! raw and stored length), so a pack can be checked or scanned without the catalog.

use crate::hash::ChunkHash;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The first bytes of every pack: a magic and the format version.
const PACK_MAGIC: &[u8; 12] = b"SLUICEPK\x01\0\0\0";
/// Bytes of a chunk's header: hash, compression code, raw length, stored length.
pub const BLOB_HEADER: u64 = 32 + 1 + 4 + 4;

/// Where a stored chunk's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Pack number.
    pub pack: u64,
    /// Offset of the stored bytes (after the chunk's header).
    pub offset: u64,
    /// Stored (compressed) length.
    pub length: u32,
}

/// A chunk's header as found in a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobHeader {
    /// The hash the chunk was stored under.
    pub hash: ChunkHash,
    /// Compression code.
    pub compression: u8,
    /// Uncompressed length.
    pub raw_len: u32,
    /// Stored length.
    pub stored_len: u32,
}

/// The path of pack `id` in `dir`.
pub fn pack_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:08}.pack"))
}

/// The highest pack number in `dir`, or 0: a new pack takes the next, so a run never
/// appends to a pack an earlier (maybe interrupted) run wrote.
pub fn last_pack_id(dir: &Path) -> io::Result<u64> {
    let mut last = 0;
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(id) = name
            .strip_suffix(".pack")
            .and_then(|n| n.parse::<u64>().ok())
        {
            last = last.max(id);
        }
    }
    Ok(last)
}

/// One pack being written.
pub struct PackWriter {
    /// Its number.
    id: u64,
    /// The file, buffered.
    out: BufWriter<File>,
    /// Bytes written so far, header included.
    len: u64,
}

impl PackWriter {
    /// Creates pack `id` in `dir`; fails if it already exists.
    pub fn create(dir: &Path, id: u64) -> io::Result<Self> {
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(pack_path(dir, id))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(PACK_MAGIC)?;
        Ok(Self {
            id,
            out,
            len: PACK_MAGIC.len() as u64,
        })
    }

    /// Its number.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Bytes written so far, header included.
    pub fn bytes(&self) -> u64 {
        self.len
    }

    /// Appends a chunk; the bytes are durable only after [`sync`](Self::sync).
    pub fn append(&mut self, header: &BlobHeader, stored: &[u8]) -> io::Result<Location> {
        self.out.write_all(&header.hash.0)?;
        self.out.write_all(&[header.compression])?;
        self.out.write_all(&header.raw_len.to_le_bytes())?;
        self.out.write_all(&header.stored_len.to_le_bytes())?;
        self.out.write_all(stored)?;
        let offset = self.len + BLOB_HEADER;
        self.len = offset + stored.len() as u64;
        Ok(Location {
            pack: self.id,
            offset,
            length: header.stored_len,
        })
    }

    /// Writes out and fsyncs what was appended: after this, it survives a crash.
    pub fn sync(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_data()
    }

    /// Writes out what was appended and answers a second handle on the file, so that
    /// another thread can fsync it while this one goes on appending: what was appended
    /// before this call is durable once that handle's `sync_data` returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_ingest::hash::ChunkHash;
    /// use sluice_ingest::store::pack::{BlobHeader, PackWriter};
    ///
    /// let dir = std::env::temp_dir().join(format!("sluice-pack-sync-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let mut pack = PackWriter::create(&dir, 1)?;
    /// let header = BlobHeader { hash: ChunkHash::of(b"data"), compression: 0, raw_len: 4, stored_len: 4 };
    /// pack.append(&header, b"data")?;
    /// let handle = pack.handle_to_sync()?;
    /// // Another thread may do this while `pack` takes the next chunks.
    /// std::thread::spawn(move || handle.sync_data()).join().expect("the sync thread")?;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn handle_to_sync(&mut self) -> io::Result<File> {
        self.out.flush()?;
        self.out.get_ref().try_clone()
    }
}

/// The largest stored chunk a pack can hold: FastCDC's largest chunk, plus room for
/// what zstd adds to data it cannot shrink. A larger length is damage, not a chunk.
pub const MAX_STORED: u32 = fastcdc::v2020::MAXIMUM_MAX + 64 * 1024;

/// Reads a stored chunk and the header written before it.
pub fn read_blob(dir: &Path, at: Location) -> io::Result<(BlobHeader, Vec<u8>)> {
    if at.length > MAX_STORED {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("recorded length {} is larger than any chunk", at.length),
        ));
    }
    let mut file = File::open(pack_path(dir, at.pack))?;
    let start = at.offset.checked_sub(BLOB_HEADER).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, "offset inside the pack header")
    })?;
    file.seek(SeekFrom::Start(start))?;
    let mut head = [0u8; BLOB_HEADER as usize];
    file.read_exact(&mut head)?;
    let word = |at: usize| u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let header = BlobHeader {
        hash: ChunkHash::from_slice(&head[..32]).unwrap_or(ChunkHash([0; 32])),
        compression: head[32],
        raw_len: word(33),
        stored_len: word(37),
    };
    let mut stored = vec![0u8; at.length as usize];
    file.read_exact(&mut stored)?;
    Ok((header, stored))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_chunks_read_back_with_their_headers() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("sluice-ingest-pack-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        assert_eq!(last_pack_id(&dir)?, 0);
        let mut pack = PackWriter::create(&dir, 1)?;
        let mut at = Vec::new();
        for data in [&b"first"[..], b"second chunk"] {
            let header = BlobHeader {
                hash: ChunkHash::of(data),
                compression: 0,
                raw_len: data.len() as u32,
                stored_len: data.len() as u32,
            };
            at.push((header, pack.append(&header, data)?, data));
        }
        pack.sync()?;
        assert!(PackWriter::create(&dir, 1).is_err());
        assert_eq!(last_pack_id(&dir)?, 1);
        for (header, location, data) in at {
            assert_eq!(read_blob(&dir, location)?, (header, data.to_vec()));
        }
        std::fs::remove_dir_all(&dir)
    }
}
