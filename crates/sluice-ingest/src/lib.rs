//! `sluice-ingest`: ingests a directory tree into a content-addressed, deduplicated
//! store through Sluice — walk, read in pieces, FastCDC chunks, BLAKE3, zstd for new
//! chunks, bounded append-only packs and an SQLite catalog — with incremental runs,
//! `verify`, `restore` and `cat`.
//!
//! # Examples
//!
//! ```
//! use sluice_ingest::{IngestOptions, ingest_tree, store::Store};
//! use std::sync::Arc;
//! use std::sync::atomic::AtomicBool;
//!
//! let tmp = std::env::temp_dir().join(format!("sluice-ingest-doc-{}", std::process::id()));
//! std::fs::create_dir_all(tmp.join("tree"))?;
//! std::fs::write(tmp.join("tree/a.txt"), "same words")?;
//! std::fs::write(tmp.join("tree/b.txt"), "same words")?;
//!
//! let mgr = sluice::ConcurrencyManager::builder().build()?;
//! let store = Store::open(&tmp.join("store"))?;
//! let report = ingest_tree(&mgr, &tmp.join("tree"), &store, &IngestOptions::default(), &Arc::new(AtomicBool::new(false)))?;
//! assert_eq!(report.totals.files_read, 2);
//! assert_eq!(report.totals.write.chunks_stored, 1); // one chunk, stored once
//!
//! assert!(sluice_ingest::commands::verify::verify(&store)?.ok());
//! let mut bytes = Vec::new();
//! sluice_ingest::commands::restore::cat(&store, 1, "b.txt".as_ref(), &mut bytes)?;
//! assert_eq!(bytes, b"same words");
//! # std::fs::remove_dir_all(&tmp)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

pub mod chunker;
mod claims;
pub mod commands;
pub mod compress;
pub mod distributed;
pub mod engines;
pub mod hash;
mod options;
pub mod pipeline;
pub mod read;
pub mod report;
mod run;
pub mod snapshot;
pub mod store;
pub mod walk;

pub use pipeline::{IngestError, IngestOptions};
pub use run::{RunError, ingest_tree, ingest_tree_with};
