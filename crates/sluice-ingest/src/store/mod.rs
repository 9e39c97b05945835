//! The content-addressed store: a directory holding `catalog.sqlite` (what is where)
//! and `packs/` (the chunks). A pack is append-only; the catalog points into packs;
//! what the catalog records is always already durable.

pub mod catalog;
mod committer;
pub mod pack;
mod query;
mod write_stats;
pub mod writer;

use catalog::{Catalog, CatalogError};
use std::io;
use std::path::{Path, PathBuf};

/// A store error, naming what failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file of the store could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it failed.
        source: io::Error,
    },
    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// A store directory.
#[derive(Debug, Clone)]
pub struct Store {
    /// The directory.
    dir: PathBuf,
}

impl Store {
    /// Opens the store in `dir`, creating it if needed.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let store = Self {
            dir: dir.to_path_buf(),
        };
        std::fs::create_dir_all(store.packs()).map_err(|source| StoreError::Io {
            what: "cannot create the store",
            path: store.packs(),
            source,
        })?;
        Ok(store)
    }

    /// Opens an existing store for reading; a missing store is an error, not created.
    pub fn existing(dir: &Path) -> Result<Self, StoreError> {
        let catalog = dir.join("catalog.sqlite");
        if !catalog.is_file() {
            return Err(StoreError::Io {
                what: "no store at",
                path: dir.to_path_buf(),
                source: io::Error::new(io::ErrorKind::NotFound, "catalog.sqlite is missing"),
            });
        }
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of the packs.
    pub fn packs(&self) -> PathBuf {
        self.dir.join("packs")
    }

    /// Takes the store's write lock (an OS lock on `lock`, released when the file is
    /// closed, even by a crash); fails at once if another run holds it.
    pub fn lock(&self) -> Result<std::fs::File, StoreError> {
        self.take_lock(
            std::fs::File::try_lock,
            "another run is writing to this store; its lock is",
        )
    }

    /// Takes the store's lock shared, as each worker of a queue does while it writes
    /// a batch (several may hold it; a single-process run, which takes it exclusive,
    /// is refused meanwhile); fails at once if a single-process run holds it.
    pub fn lock_shared(&self) -> Result<std::fs::File, StoreError> {
        self.take_lock(
            std::fs::File::try_lock_shared,
            "a single-process run is writing to this store; its lock is",
        )
    }

    /// Opens `lock` and takes it with `try_lock`; `held` says who holds it when taken.
    fn take_lock(
        &self,
        try_lock: fn(&std::fs::File) -> Result<(), std::fs::TryLockError>,
        held: &'static str,
    ) -> Result<std::fs::File, StoreError> {
        let path = self.dir.join("lock");
        let io = |what, source| StoreError::Io {
            what,
            path: path.clone(),
            source,
        };
        let file = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| io("cannot open the lock", source))?;
        match try_lock(&file) {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => Err(io(
                held,
                std::io::Error::new(std::io::ErrorKind::WouldBlock, "locked"),
            )),
            Err(std::fs::TryLockError::Error(source)) => Err(io("cannot lock", source)),
        }
    }

    /// Opens the catalog (creating it in a new store).
    pub fn catalog(&self) -> Result<Catalog, StoreError> {
        Ok(Catalog::open(&self.dir.join("catalog.sqlite"))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_until_the_first_is_gone() -> Result<(), StoreError> {
        let dir = std::env::temp_dir().join(format!("sluice-ingest-lock-{}", std::process::id()));
        let store = Store::open(&dir)?;
        let first = store.lock()?;
        let second = store.lock();
        assert!(matches!(&second, Err(error) if error.to_string().contains("another run")));
        drop(first);
        store.lock()?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
