//! Chunk identity: the BLAKE3 hash of a chunk's raw bytes, and how it is printed.

use std::fmt;

/// The BLAKE3 hash of a chunk's uncompressed bytes: its name in the store.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkHash(pub [u8; 32]);

impl ChunkHash {
    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// Reads a hash stored as 32 bytes; `None` if `bytes` is not 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// The first 12 hex digits: enough to name a chunk to a person.
    pub fn short(&self) -> String {
        self.to_string()[..12].to_owned()
    }
}

impl fmt::Display for ChunkHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ChunkHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChunkHash({})", self.short())
    }
}

/// A file's chunk list as stored in the catalog: the hashes, 32 bytes each, in order.
pub fn encode_list(hashes: &[ChunkHash]) -> Vec<u8> {
    hashes.iter().flat_map(|hash| hash.0).collect()
}

/// Reads a stored chunk list; `None` if its length is not a multiple of 32.
pub fn decode_list(bytes: &[u8]) -> Option<Vec<ChunkHash>> {
    if !bytes.len().is_multiple_of(32) {
        return None;
    }
    bytes.chunks_exact(32).map(ChunkHash::from_slice).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_and_bad_lengths_are_refused() {
        let list = vec![ChunkHash::of(b"a"), ChunkHash::of(b"b")];
        assert_eq!(decode_list(&encode_list(&list)), Some(list));
        assert_eq!(decode_list(&[0; 33]), None);
        assert_eq!(ChunkHash::of(b"").to_string().len(), 64);
    }
}
