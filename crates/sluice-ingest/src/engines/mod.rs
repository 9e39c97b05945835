//! Other compositions of the same program, for measuring Sluice against: the same
//! walk, reads, chunker, hashing, compression and store writer as
//! [`pipeline`](crate::pipeline), scheduled on one thread ([`sequential`]) or on
//! rayon alone ([`rayon_only`]). `ingest --engine` (a hidden flag) picks one;
//! `cargo xtask bench ingest` runs them all.

pub(crate) mod common;
pub mod rayon_only;
pub mod sequential;

use crate::options::{IngestError, IngestOptions};
use crate::report::Totals;
use crate::store::Store;
use crate::walk::Walk;
use sluice::ConcurrencyManager;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Which composition runs an ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// The program itself: [`crate::pipeline::ingest`], on Sluice.
    #[default]
    Sluice,
    /// One thread, no Sluice: [`sequential::ingest`].
    Sequential,
    /// rayon alone: [`rayon_only::ingest`].
    Rayon,
}

impl Engine {
    /// The name the command line takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sluice => "sluice",
            Self::Sequential => "sequential",
            Self::Rayon => "rayon",
        }
    }

    /// Parses `sluice`, `sequential` or `rayon`; the error names the choices.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_ingest::engines::Engine;
    ///
    /// assert_eq!(Engine::parse("rayon"), Ok(Engine::Rayon));
    /// assert!(Engine::parse("tokio").unwrap_err().contains("sluice, sequential or rayon"));
    /// ```
    pub fn parse(text: &str) -> Result<Self, String> {
        [Self::Sluice, Self::Sequential, Self::Rayon]
            .into_iter()
            .find(|engine| engine.name() == text)
            .ok_or_else(|| format!("the engine must be sluice, sequential or rayon, not `{text}`"))
    }

    /// Runs this engine's `ingest`; every engine has [`crate::pipeline::ingest`]'s
    /// signature and contract.
    ///
    /// # Examples
    ///
    /// ```
    /// use sluice_ingest::{IngestOptions, engines::Engine, store::Store, walk};
    /// use std::sync::atomic::AtomicBool;
    ///
    /// let tmp = std::env::temp_dir().join(format!("sluice-engine-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(tmp.join("tree"))?;
    /// std::fs::write(tmp.join("tree/a.txt"), "words")?;
    /// let root = tmp.join("tree").canonicalize()?;
    /// let walked = walk::walk(&root, &[])?;
    /// let mgr = sluice::ConcurrencyManager::builder().build()?;
    /// let store = Store::open(&tmp.join("store"))?;
    /// let stop = std::sync::Arc::new(AtomicBool::new(false));
    /// let totals = Engine::Sequential.ingest(&mgr, &root, &walked, &store, &IngestOptions::default(), &stop)?;
    /// assert_eq!(totals.files_read, 1);
    /// # std::fs::remove_dir_all(&tmp)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ingest(
        self,
        mgr: &ConcurrencyManager,
        root: &Path,
        walk: &Walk,
        store: &Store,
        opts: &IngestOptions,
        stop: &Arc<AtomicBool>,
    ) -> Result<Totals, IngestError> {
        match self {
            Self::Sluice => crate::pipeline::ingest(mgr, root, walk, store, opts, stop),
            Self::Sequential => sequential::ingest(mgr, root, walk, store, opts, stop),
            Self::Rayon => rayon_only::ingest(mgr, root, walk, store, opts, stop),
        }
    }
}
