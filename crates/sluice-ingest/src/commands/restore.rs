//! `restore` and `cat`: a snapshot's files rebuilt from their chunks, every chunk
//! checked against its hash on the way, so the bytes are the original's or an error.

use crate::commands::{CommandError, verify::read_chunk};
use crate::store::Store;
use crate::store::catalog::{Catalog, FileRow};
use crate::walk::Kind;
use serde::Serialize;
use std::fs::{File, FileTimes, Permissions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

/// What `restore` wrote.
#[derive(Debug, Default, Serialize)]
pub struct RestoreReport {
    /// Regular files written.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Directories made.
    pub dirs: u64,
    /// Symbolic links made.
    pub symlinks: u64,
    /// FIFOs, sockets and devices recorded but not recreated (that needs privileges
    /// and unsafe system calls this program does not make).
    pub not_recreated: Vec<PathBuf>,
}

/// Restores what snapshot `id` holds at or under `path` (every entry for `.` or an
/// empty path) into `dest`, each at `dest/<its path in the snapshot>`.
///
/// # Examples
///
/// ```
/// use sluice_ingest::commands::{restore, verify};
/// use sluice_ingest::{IngestOptions, ingest_tree, store::Store};
/// use std::sync::Arc;
/// use std::sync::atomic::AtomicBool;
///
/// let tmp = std::env::temp_dir().join(format!("sluice-restore-doc-{}", std::process::id()));
/// std::fs::create_dir_all(tmp.join("tree/docs"))?;
/// std::fs::write(tmp.join("tree/docs/guide.md"), "# Guide")?;
/// let mgr = sluice::ConcurrencyManager::builder().build()?;
/// let store = Store::open(&tmp.join("store"))?;
/// let run = ingest_tree(&mgr, &tmp.join("tree"), &store, &IngestOptions::default(), &Arc::new(AtomicBool::new(false)))?;
///
/// assert!(verify::verify(&store)?.ok());
/// let report = restore::restore(&store, run.totals.snapshot, "docs".as_ref(), &tmp.join("out"))?;
/// assert_eq!((report.files, report.dirs), (1, 1));
/// assert_eq!(std::fs::read_to_string(tmp.join("out/docs/guide.md"))?, "# Guide");
/// # std::fs::remove_dir_all(&tmp)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn restore(
    store: &Store,
    id: i64,
    path: &Path,
    dest: &Path,
) -> Result<RestoreReport, CommandError> {
    let catalog = store.catalog()?;
    let prefix = clean(path)?;
    let rows = catalog.files(id, &prefix)?;
    if rows.is_empty() {
        return Err(CommandError::NotFound(format!(
            "snapshot {id} holds nothing at {}",
            path.display()
        )));
    }
    let mut report = RestoreReport::default();
    let io = |what: String| move |source| CommandError::Io { what, source };
    std::fs::create_dir_all(dest).map_err(io(format!("cannot create {}", dest.display())))?;
    let mut dirs = Vec::new();
    for row in &rows {
        let target = dest.join(clean(&row.path)?);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io(format!("cannot create {}", parent.display())))?;
        }
        match row.kind {
            Kind::Dir => {
                std::fs::create_dir_all(&target)
                    .map_err(io(format!("cannot create {}", target.display())))?;
                report.dirs += 1;
                dirs.push((target, row));
            }
            Kind::Symlink => {
                let link = row.target.clone().unwrap_or_default();
                std::os::unix::fs::symlink(&link, &target)
                    .map_err(io(format!("cannot make link {}", target.display())))?;
                report.symlinks += 1;
            }
            Kind::File => {
                let mut out = File::create(&target)
                    .map_err(io(format!("cannot create {}", target.display())))?;
                report.bytes += write_contents(store, &catalog, row, &mut out)?;
                set_meta(&out, row)
                    .map_err(io(format!("cannot set metadata of {}", target.display())))?;
                report.files += 1;
            }
            _ => report.not_recreated.push(row.path.clone()),
        }
    }
    // Directories last and deepest first: a read-only directory must not stop its
    // own contents from being written.
    for (target, row) in dirs.into_iter().rev() {
        let dir = File::open(&target).map_err(io(format!("cannot open {}", target.display())))?;
        set_meta(&dir, row).map_err(io(format!("cannot set metadata of {}", target.display())))?;
    }
    Ok(report)
}

/// Writes the contents of file `path` of snapshot `id` to `out` (the `cat` command).
pub fn cat(store: &Store, id: i64, path: &Path, out: &mut dyn Write) -> Result<u64, CommandError> {
    let catalog = store.catalog()?;
    let path = clean(path)?;
    let row = catalog
        .files(id, &path)?
        .into_iter()
        .find(|row| row.path == path)
        .ok_or_else(|| {
            CommandError::NotFound(format!("snapshot {id} has no {}", path.display()))
        })?;
    if row.kind != Kind::File {
        return Err(CommandError::NotFound(format!(
            "{} is a {}, not a regular file",
            path.display(),
            row.kind.name()
        )));
    }
    write_contents(store, &catalog, &row, out)
}

/// Writes a file's chunks in order, each checked; answers the bytes written.
fn write_contents(
    store: &Store,
    catalog: &Catalog,
    row: &FileRow,
    out: &mut dyn Write,
) -> Result<u64, CommandError> {
    let located = catalog.locate(&row.chunks)?;
    let mut written = 0;
    for hash in &row.chunks {
        let chunk = located.get(hash).ok_or_else(|| {
            CommandError::Damaged(format!(
                "{}: chunk {} is not in the catalog",
                row.path.display(),
                hash.short()
            ))
        })?;
        let raw = read_chunk(store, chunk).map_err(|reason| {
            CommandError::Damaged(format!(
                "{}: chunk {}: {reason}",
                row.path.display(),
                hash.short()
            ))
        })?;
        out.write_all(&raw).map_err(|source| CommandError::Io {
            what: format!("cannot write {}", row.path.display()),
            source,
        })?;
        written += raw.len() as u64;
    }
    if written != row.stat.size {
        return Err(CommandError::Damaged(format!(
            "{}: its chunks add up to {written} bytes, not its size {}",
            row.path.display(),
            row.stat.size
        )));
    }
    Ok(written)
}

/// Sets a restored file's or directory's permissions and modification time.
fn set_meta(file: &File, row: &FileRow) -> std::io::Result<()> {
    file.set_permissions(Permissions::from_mode(row.stat.mode & 0o7777))?;
    let mtime = if row.stat.mtime_ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(row.stat.mtime_ns as u64)
    } else {
        UNIX_EPOCH
    };
    file.set_times(FileTimes::new().set_modified(mtime))
}

/// A snapshot path made relative (`.` and a leading `/` dropped), refusing `..`: a
/// damaged or hostile catalog must not write outside the destination.
pub(crate) fn clean(path: &Path) -> Result<PathBuf, CommandError> {
    let mut clean = PathBuf::new();
    for part in path.components() {
        match part {
            Component::Normal(name) => clean.push(name),
            Component::CurDir | Component::RootDir => {}
            _ => {
                return Err(CommandError::Damaged(format!(
                    "path {} leaves the snapshot's root",
                    path.display()
                )));
            }
        }
    }
    Ok(clean)
}
