//! Walking the directory tree: which files to read, which to skip, and why.

use std::io;
use std::path::{Path, PathBuf};

/// Directories never entered: build output and version control.
const SKIPPED_DIRS: &[&str] = &["target", ".git"];

/// A regular file found by the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Its path (under the walked root).
    pub path: PathBuf,
    /// Its size when walked.
    pub len: u64,
}

/// What one walk found.
#[derive(Debug, Default)]
pub struct Walk {
    /// Files to read, sorted by path.
    pub files: Vec<FileEntry>,
    /// Files skipped for being larger than the limit.
    pub too_large: u64,
    /// Symbolic links skipped (never followed).
    pub symlinks: u64,
    /// `target` and `.git` directories skipped.
    pub skipped_dirs: u64,
    /// Entries that could not be listed or inspected, with the error.
    pub errors: Vec<(PathBuf, String)>,
}

/// Walks `root` recursively without following symbolic links, skipping `target` and
/// `.git` directories and files larger than `max_file_bytes`. Errors on single entries
/// are collected; only an unreadable `root` is an error.
pub fn walk(root: &Path, max_file_bytes: u64) -> io::Result<Walk> {
    let mut walk = Walk::default();
    let mut pending = vec![root.to_path_buf()];
    // The root itself must be listable; everything below it is best effort.
    let mut first = Some(std::fs::read_dir(root)?);
    while let Some(dir) = pending.pop() {
        let entries = match first.take().map_or_else(|| std::fs::read_dir(&dir), Ok) {
            Ok(entries) => entries,
            Err(error) => {
                tracing::debug!(dir = %dir.display(), %error, "cannot list directory");
                walk.errors.push((dir, error.to_string()));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    walk.errors.push((dir.clone(), error.to_string()));
                    continue;
                }
            };
            let path = entry.path();
            // `DirEntry::file_type` does not follow symbolic links.
            let kind = match entry.file_type() {
                Ok(kind) => kind,
                Err(error) => {
                    walk.errors.push((path, error.to_string()));
                    continue;
                }
            };
            if kind.is_symlink() {
                walk.symlinks += 1;
            } else if kind.is_dir() {
                if SKIPPED_DIRS.iter().any(|skip| entry.file_name() == *skip) {
                    walk.skipped_dirs += 1;
                } else {
                    pending.push(path);
                }
            } else if kind.is_file() {
                match entry.metadata() {
                    Ok(meta) if meta.len() > max_file_bytes => walk.too_large += 1,
                    Ok(meta) => walk.files.push(FileEntry {
                        path,
                        len: meta.len(),
                    }),
                    Err(error) => walk.errors.push((path, error.to_string())),
                }
            }
            // Sockets, pipes and devices are not files to ingest.
        }
    }
    walk.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(walk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn skips_target_git_and_large_files() -> io::Result<()> {
        let root = std::env::temp_dir().join(format!("sluice-ingest-walk-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("src/nested"))?;
        fs::create_dir_all(root.join("target/debug"))?;
        fs::create_dir_all(root.join(".git"))?;
        fs::write(root.join("a.txt"), "a")?;
        fs::write(root.join("src/nested/b.txt"), "bb")?;
        fs::write(root.join("big.bin"), vec![0u8; 100])?;
        fs::write(root.join("target/debug/x"), "x")?;
        fs::write(root.join(".git/HEAD"), "ref")?;
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("a.txt"), root.join("link.txt"))?;

        let found = walk(&root, 10)?;
        let names: Vec<_> = found
            .files
            .iter()
            .map(|f| {
                (
                    f.path.strip_prefix(&root).unwrap_or(&f.path).to_path_buf(),
                    f.len,
                )
            })
            .collect();
        assert_eq!(
            names,
            vec![
                (PathBuf::from("a.txt"), 1),
                (PathBuf::from("src/nested/b.txt"), 2)
            ]
        );
        assert_eq!(found.too_large, 1);
        assert_eq!(found.skipped_dirs, 2);
        #[cfg(unix)]
        assert_eq!(found.symlinks, 1);
        assert!(found.errors.is_empty());
        fs::remove_dir_all(&root)
    }

    #[test]
    fn missing_root_is_an_error() {
        assert!(walk(Path::new("/no/such/dir/for/sluice-ingest"), 10).is_err());
    }
}
