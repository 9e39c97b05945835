//! Which reader sends a chunk on to be compressed and stored: the first of this run
//! to see it, unless the store already holds it.
//!
//! A single-process run knows the store's chunks from its start (one query). A queue
//! worker's batch asks the catalog about each chunk it sees for the first time
//! instead: loading every chunk of a large store for each small batch would cost more
//! than the batch, and other writers add chunks while it runs anyway.

use crate::hash::ChunkHash;
use crate::store::catalog::Catalog;
use std::collections::HashSet;

/// The chunks this run has seen, and where to ask about the others.
pub(crate) struct Claims {
    /// Chunks seen by this run or known to be stored.
    seen: HashSet<ChunkHash>,
    /// The catalog, asked about a chunk not in `seen` (a worker's batch).
    lookup: Option<Catalog>,
}

impl Claims {
    /// Claims over `known`, the store's chunks when the run began.
    pub(crate) fn known(known: HashSet<ChunkHash>) -> Self {
        Self {
            seen: known,
            lookup: None,
        }
    }

    /// Claims that ask `catalog` about each chunk the first time it is seen.
    pub(crate) fn looked_up(catalog: Catalog) -> Self {
        Self {
            seen: HashSet::new(),
            lookup: Some(catalog),
        }
    }

    /// Whether `hash` is the caller's to send on: seen for the first time, and not in
    /// the store. A catalog that cannot answer makes it the caller's: at worst the
    /// chunk is compressed for nothing, and the writer's own lookup (which reports its
    /// errors) stores it once.
    pub(crate) fn claim(&mut self, hash: ChunkHash) -> bool {
        if !self.seen.insert(hash) {
            return false;
        }
        match &self.lookup {
            None => true,
            Some(catalog) => match catalog.has_chunk(&hash) {
                Ok(stored) => !stored,
                Err(error) => {
                    tracing::warn!(%error, "cannot ask the catalog about a chunk; reading it as new");
                    true
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::catalog::ChunkRow;
    use crate::store::pack::Location;

    fn hash(byte: u8) -> ChunkHash {
        ChunkHash([byte; 32])
    }

    #[test]
    fn the_first_sight_of_an_unknown_chunk_is_claimed_once() {
        let mut claims = Claims::known(HashSet::from([hash(1)]));
        assert!(!claims.claim(hash(1)), "known when the run began");
        assert!(claims.claim(hash(2)));
        assert!(!claims.claim(hash(2)), "claimed by an earlier reader");
    }

    #[test]
    fn a_looked_up_chunk_the_store_holds_is_not_claimed() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = std::env::temp_dir().join(format!("sluice-claims-{}", std::process::id()));
        let store = Store::open(&dir)?;
        let mut catalog = store.catalog()?;
        let snapshot = catalog.begin_snapshot(&dir, None, "{}", 0)?;
        let stored = ChunkRow {
            hash: hash(7),
            at: Location {
                pack: 1,
                offset: 0,
                length: 1,
            },
            raw_len: 1,
            compression: 0,
        };
        catalog.commit(snapshot, &[stored], &[])?;

        let mut claims = Claims::looked_up(store.catalog()?);
        assert!(!claims.claim(hash(7)), "another writer stored it");
        assert!(claims.claim(hash(8)));
        assert!(!claims.claim(hash(8)));
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
