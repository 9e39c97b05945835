//! The subcommands other than `ingest`, each a plain function over a store: `verify`,
//! `restore` and `cat`, and the listings (`ls`, `snapshots`, `dups`).

pub mod list;
pub mod restore;
pub mod verify;

use crate::store::StoreError;
use crate::store::catalog::Catalog;

/// A subcommand's error, naming what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The arguments do not name something in the store.
    #[error("{0}")]
    NotFound(String),
    /// The store holds something it should not (a damaged chunk, a path leaving its root).
    #[error("{0}")]
    Damaged(String),
    /// Writing the output failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being written.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

impl From<crate::store::catalog::CatalogError> for CommandError {
    fn from(error: crate::store::catalog::CatalogError) -> Self {
        Self::Store(StoreError::Catalog(error))
    }
}

/// The snapshot `name` stands for: a number, or `latest`.
pub fn resolve_snapshot(catalog: &Catalog, name: &str) -> Result<i64, CommandError> {
    let snapshots = catalog.snapshots()?;
    let found = if name == "latest" {
        snapshots.last()
    } else {
        let id: i64 = name.parse().map_err(|_| {
            CommandError::NotFound(format!("`{name}` is not a snapshot number nor `latest`"))
        })?;
        snapshots.iter().find(|snapshot| snapshot.id == id)
    };
    found.map(|snapshot| snapshot.id).ok_or_else(|| {
        CommandError::NotFound(format!(
            "no snapshot `{name}` in the store (`snapshots` lists them)"
        ))
    })
}
