//! Walking the tree with `walkdir`: every entry is recorded with its metadata, nothing
//! is filtered (hidden files, `.gitignore`d files and `target` directories included),
//! symbolic links are recorded and never followed, and every entry that cannot be
//! inspected is reported with the reason instead of stopping the walk.

use std::fs::{FileType, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// What kind of entry a path is; only regular files are ever opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A regular file: its contents are chunked.
    File,
    /// A directory.
    Dir,
    /// A symbolic link: its target is recorded, never followed.
    Symlink,
    /// A named pipe: recorded, never opened (opening one could block the run).
    Fifo,
    /// A Unix socket.
    Socket,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
}

impl Kind {
    /// The name stored in the catalog.
    pub fn name(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Dir => "dir",
            Self::Symlink => "symlink",
            Self::Fifo => "fifo",
            Self::Socket => "socket",
            Self::CharDevice => "char-device",
            Self::BlockDevice => "block-device",
        }
    }

    /// The kind a catalog name stands for.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::File,
            Self::Dir,
            Self::Symlink,
            Self::Fifo,
            Self::Socket,
            Self::CharDevice,
            Self::BlockDevice,
        ]
        .into_iter()
        .find(|kind| kind.name() == name)
    }

    fn of(file_type: FileType) -> Self {
        if file_type.is_symlink() {
            Self::Symlink
        } else if file_type.is_dir() {
            Self::Dir
        } else if file_type.is_fifo() {
            Self::Fifo
        } else if file_type.is_socket() {
            Self::Socket
        } else if file_type.is_char_device() {
            Self::CharDevice
        } else if file_type.is_block_device() {
            Self::BlockDevice
        } else {
            Self::File
        }
    }
}

/// The metadata that decides whether a file changed: compared with the previous
/// snapshot (to skip reading) and before and after a read (to catch a file in change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Permission and type bits.
    pub mode: u32,
    /// Inode number.
    pub inode: u64,
}

impl Stat {
    /// The fields of `meta` that matter here.
    pub fn of(meta: &Metadata) -> Self {
        Self {
            size: meta.len(),
            mtime_ns: meta.mtime().saturating_mul(1_000_000_000) + meta.mtime_nsec(),
            mode: meta.mode(),
            inode: meta.ino(),
        }
    }
}

/// One entry found by the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its path relative to the walked root.
    pub path: PathBuf,
    /// What it is.
    pub kind: Kind,
    /// Its metadata when walked (of the link itself for a symbolic link).
    pub stat: Stat,
}

/// What one walk found.
#[derive(Debug, Default)]
pub struct Walk {
    /// Every entry below the root, sorted by path.
    pub entries: Vec<Entry>,
    /// Entries not recorded, with the reason (cannot be listed, vanished, the store).
    pub skipped: Vec<(PathBuf, String)>,
}

impl Walk {
    /// Regular files and their bytes.
    pub fn file_totals(&self) -> (u64, u64) {
        self.entries
            .iter()
            .filter(|entry| entry.kind == Kind::File)
            .fold((0, 0), |(files, bytes), entry| {
                (files + 1, bytes + entry.stat.size)
            })
    }
}

/// Walks `root` without following links. Directories in `exclude` (the store, when it
/// lies inside the tree) are not entered and are reported as skipped. Only a root that
/// is not a readable directory is an error.
pub fn walk(root: &Path, exclude: &[PathBuf]) -> Result<Walk, String> {
    check_root(root)?;
    let mut entries = Vec::new();
    let skipped = walk_with(root, exclude, &mut |entry| {
        entries.push(entry);
        true
    });
    Ok(Walk { entries, skipped })
}

/// Fails unless `root` is a directory that can be listed: the one walk error that
/// stops a run, checked before anything is recorded.
///
/// # Examples
///
/// ```
/// let file = std::env::temp_dir().join(format!("sluice-check-root-doc-{}", std::process::id()));
/// std::fs::write(&file, "not a directory")?;
/// assert!(sluice_ingest::walk::check_root(&file).unwrap_err().contains("is not a directory"));
/// assert!(sluice_ingest::walk::check_root(&std::env::temp_dir()).is_ok());
/// # std::fs::remove_file(&file)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn check_root(root: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(root)
        .map_err(|error| format!("cannot read {}: {error}", root.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", root.display()));
    }
    std::fs::read_dir(root).map_err(|error| format!("cannot list {}: {error}", root.display()))?;
    Ok(())
}

/// [`walk`] giving each entry to `found` as it is met, in path order, so that a run can
/// begin on the first entries while the walk goes on; `found` answers `false` to end
/// the walk early (its taker is gone). Answers the entries skipped, with the reason;
/// the root is not checked (see [`check_root`]).
///
/// # Examples
///
/// ```
/// use sluice_ingest::walk;
///
/// let root = std::env::temp_dir().join(format!("sluice-walk-with-doc-{}", std::process::id()));
/// std::fs::create_dir_all(root.join("docs"))?;
/// std::fs::write(root.join("docs/a.txt"), "a")?;
/// walk::check_root(&root)?;
/// let mut found = Vec::new();
/// let skipped = walk::walk_with(&root, &[], &mut |entry| {
///     found.push(entry.path.display().to_string());
///     true
/// });
/// assert_eq!((found, skipped.len()), (vec!["docs".to_owned(), "docs/a.txt".to_owned()], 0));
/// # std::fs::remove_dir_all(&root)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn walk_with(
    root: &Path,
    exclude: &[PathBuf],
    found: &mut dyn FnMut(Entry) -> bool,
) -> Vec<(PathBuf, String)> {
    let mut skipped = Vec::new();
    let mut entries = walkdir::WalkDir::new(root)
        .follow_links(false)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter();
    while let Some(next) = entries.next() {
        let entry = match next {
            Ok(entry) => entry,
            Err(error) => {
                let path = error
                    .path()
                    .map_or_else(|| root.to_path_buf(), Path::to_path_buf);
                let reason = error
                    .io_error()
                    .map_or_else(|| error.to_string(), ToString::to_string);
                tracing::debug!(path = %path.display(), %reason, "walk skipped an entry");
                skipped.push((relative(root, &path), reason));
                continue;
            }
        };
        let path = entry.path();
        if entry.file_type().is_dir() && exclude.iter().any(|skip| skip == path) {
            skipped.push((relative(root, path), "the store itself".to_owned()));
            entries.skip_current_dir();
            continue;
        }
        // `DirEntry::metadata` does not follow links when the walk does not.
        match entry.metadata() {
            Ok(meta) => {
                let taken = found(Entry {
                    path: relative(root, path),
                    kind: Kind::of(entry.file_type()),
                    stat: Stat::of(&meta),
                });
                if !taken {
                    break;
                }
            }
            Err(error) => {
                let reason = error
                    .io_error()
                    .map_or_else(|| error.to_string(), ToString::to_string);
                skipped.push((relative(root, path), reason));
            }
        }
    }
    skipped
}

fn relative(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn records_everything_and_follows_no_link() -> Result<(), Box<dyn std::error::Error>> {
        let root = std::env::temp_dir().join(format!("sluice-ingest-walk-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("target/debug"))?;
        fs::create_dir_all(root.join("store"))?;
        fs::write(root.join(".hidden"), "h")?;
        fs::write(root.join("target/debug/x"), "x")?;
        fs::write(root.join("store/pack"), "p")?;
        std::os::unix::fs::symlink(&root, root.join("loop"))?;

        let found = walk(&root, &[root.join("store")])?;
        let listed: Vec<(String, Kind)> = found
            .entries
            .iter()
            .map(|entry| (entry.path.display().to_string(), entry.kind))
            .collect();
        assert_eq!(
            listed,
            [
                (".hidden".to_owned(), Kind::File),
                ("loop".to_owned(), Kind::Symlink),
                ("target".to_owned(), Kind::Dir),
                ("target/debug".to_owned(), Kind::Dir),
                ("target/debug/x".to_owned(), Kind::File),
            ]
        );
        assert_eq!(
            found.skipped,
            [(PathBuf::from("store"), "the store itself".to_owned())]
        );
        assert_eq!(found.file_totals(), (2, 2));
        assert!(walk(&root.join(".hidden"), &[]).is_err());
        fs::remove_dir_all(&root)?;
        Ok(())
    }
}
