//! The tree `cargo xtask bench ingest` ingests: generated once under
//! `target/bench-tree/` and reused while its manifest is there. It holds copies of
//! source trees found on this machine, large binaries (the toolchain's libraries and
//! this workspace's build artifacts), exact copies of some binaries, and copies of
//! others shifted by three bytes — what backup tools meet and deduplicate.

use crate::run::workspace_root;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

const MB: u64 = 1_000_000;

/// The generated tree and what it holds.
pub struct Tree {
    /// Its root.
    pub root: PathBuf,
    /// Regular files and their bytes.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// One line per part: what it is and how big.
    pub manifest: String,
}

/// How much of each part to copy.
struct Budget {
    sources: u64,
    binaries: u64,
    copies: u64,
    shifted: u64,
}

/// The tree for a full run (about 1.6 GB) or a quick one (about 300 MB), generated if
/// it is not there yet.
pub fn tree(quick: bool) -> Result<Tree, String> {
    let (name, budget) = if quick {
        let b = Budget {
            sources: 100 * MB,
            binaries: 100 * MB,
            copies: 50 * MB,
            shifted: 50 * MB,
        };
        ("quick", b)
    } else {
        let b = Budget {
            sources: 500 * MB,
            binaries: 500 * MB,
            copies: 300 * MB,
            shifted: 300 * MB,
        };
        ("full", b)
    };
    let base = workspace_root()
        .join("target")
        .join("bench-tree")
        .join(name);
    let root = base.join("tree");
    let manifest_path = base.join("manifest.txt");
    if let Ok(manifest) = fs::read_to_string(&manifest_path) {
        let (files, bytes) = count(&root)?;
        eprintln!("xtask: reusing the tree in {}", root.display());
        return Ok(Tree {
            root,
            files,
            bytes,
            manifest,
        });
    }
    eprintln!(
        "xtask: generating the tree in {} (once; reused by later runs)",
        root.display()
    );
    let _ = fs::remove_dir_all(&base);
    let mut manifest = String::new();
    let mut add = |line: String| {
        eprintln!("xtask:   {line}");
        manifest.push_str(&line);
        manifest.push('\n');
    };
    let sources = source_dirs();
    let copied = copy_budget(&sources, &root.join("sources"), budget.sources, |_| true)?;
    add(format!(
        "sources: {} files, {} MB copied from {}",
        copied.0,
        copied.1 / MB,
        names(&sources)
    ));
    // Whatever the sources fall short of their share, the binaries make up.
    let binaries_budget = budget.binaries + budget.sources.saturating_sub(copied.1);
    let binaries = binary_dirs();
    let big = |path: &Path| {
        let name = path.to_string_lossy();
        (name.ends_with(".so") || name.contains(".so.") || name.ends_with(".rlib"))
            && fs::metadata(path).is_ok_and(|meta| meta.len() >= MB)
    };
    let copied = copy_budget(&binaries, &root.join("binaries"), binaries_budget, big)?;
    add(format!(
        "binaries: {} files, {} MB of .so and .rlib files of 1 MB or more from {}",
        copied.0,
        copied.1 / MB,
        names(&binaries)
    ));
    let mut made: Vec<PathBuf> = files_under(&root.join("binaries"))?;
    made.sort();
    let copied = derive(
        &made,
        &root.join("binaries"),
        &root.join("copies"),
        budget.copies,
        b"",
    )?;
    add(format!(
        "copies: {} files, {} MB: exact copies of the first binaries",
        copied.0,
        copied.1 / MB
    ));
    made.reverse();
    let copied = derive(
        &made,
        &root.join("binaries"),
        &root.join("shifted"),
        budget.shifted,
        b"+3b",
    )?;
    add(format!(
        "shifted: {} files, {} MB: copies of the last binaries with 3 bytes prepended",
        copied.0,
        copied.1 / MB
    ));
    let (files, bytes) = count(&root)?;
    let wanted = budget.sources + budget.binaries + budget.copies + budget.shifted;
    if bytes < wanted * 9 / 10 {
        add(format!(
            "note: only {} MB could be gathered on this machine, against {} MB wanted",
            bytes / MB,
            wanted / MB
        ));
    }
    fs::write(&manifest_path, &manifest)
        .map_err(|e| format!("writing {}: {e}", manifest_path.display()))?;
    Ok(Tree {
        root,
        files,
        bytes,
        manifest,
    })
}

/// Source trees, in the order they are taken: cargo's downloaded crates, the
/// toolchain's library sources, this workspace's crates.
fn source_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(home) = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
    {
        dirs.push(home.join("registry").join("src"));
    }
    if let Some(sysroot) = sysroot() {
        dirs.push(sysroot.join("lib/rustlib/src"));
    }
    dirs.push(workspace_root().join("crates"));
    dirs.retain(|dir| dir.is_dir());
    dirs
}

/// Large binaries: the toolchain's libraries, then this workspace's build artifacts.
fn binary_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(sysroot) = sysroot() {
        dirs.push(sysroot.join("lib"));
    }
    dirs.push(workspace_root().join("target/debug/deps"));
    dirs.push(workspace_root().join("target/release/deps"));
    dirs.retain(|dir| dir.is_dir());
    dirs
}

fn sysroot() -> Option<PathBuf> {
    let out = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// The directories, with the workspace as `.` and the home directory as `~`, so that
/// the page does not spell out this machine's paths.
fn names(dirs: &[PathBuf]) -> String {
    let root = workspace_root();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    dirs.iter()
        .map(|dir| {
            if let Ok(inside) = dir.strip_prefix(&root) {
                return Path::new(".").join(inside).display().to_string();
            }
            match home.as_deref().and_then(|home| dir.strip_prefix(home).ok()) {
                Some(inside) => Path::new("~").join(inside).display().to_string(),
                None => dir.display().to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Copies regular files that `keep` accepts from `dirs` (in sorted order, each under
/// its own numbered directory) into `dest`, up to `budget` bytes.
fn copy_budget(
    dirs: &[PathBuf],
    dest: &Path,
    budget: u64,
    keep: impl Fn(&Path) -> bool,
) -> Result<(u64, u64), String> {
    let (mut files, mut bytes) = (0, 0u64);
    for (number, dir) in dirs.iter().enumerate() {
        let mut found = files_under(dir)?;
        found.sort();
        for file in found {
            if bytes >= budget {
                return Ok((files, bytes));
            }
            let from = dir.join(&file);
            // A file that would overshoot the budget is passed over for smaller ones,
            // so that no single library makes up a part.
            let size = fs::metadata(&from).map_or(u64::MAX, |meta| meta.len());
            if !keep(&from) || bytes.saturating_add(size) > budget {
                continue;
            }
            let to = dest.join(number.to_string()).join(&file);
            bytes += copy_with(&from, &to, b"")?;
            files += 1;
        }
    }
    Ok((files, bytes))
}

/// Copies `files` (relative to `from`) into `dest`, each after `prefix`, until
/// `budget` bytes are written, passing over files that would overshoot it.
fn derive(
    files: &[PathBuf],
    from: &Path,
    dest: &Path,
    budget: u64,
    prefix: &[u8],
) -> Result<(u64, u64), String> {
    let (mut count, mut bytes) = (0, 0u64);
    for file in files {
        let size = fs::metadata(from.join(file)).map_or(u64::MAX, |meta| meta.len());
        if bytes.saturating_add(size) > budget {
            continue;
        }
        bytes += copy_with(&from.join(file), &dest.join(file), prefix)?;
        count += 1;
    }
    Ok((count, bytes))
}

/// Writes `prefix` then the bytes of `from` to `to`; answers the bytes written.
fn copy_with(from: &Path, to: &Path, prefix: &[u8]) -> Result<u64, String> {
    let fail = |e: std::io::Error| format!("copying {} to {}: {e}", from.display(), to.display());
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(fail)?;
    }
    if prefix.is_empty() {
        return fs::copy(from, to).map_err(fail);
    }
    let mut out = fs::File::create(to).map_err(fail)?;
    out.write_all(prefix).map_err(fail)?;
    let mut input = fs::File::open(from).map_err(fail)?;
    let copied = std::io::copy(&mut input, &mut out).map_err(fail)?;
    Ok(copied + prefix.len() as u64)
}

/// The regular files under `dir`, relative to it; links are not followed and
/// unreadable directories are passed over (the tree only needs enough bytes).
fn files_under(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let Ok(entries) = fs::read_dir(dir.join(&relative)) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = relative.join(entry.file_name());
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                found.push(path);
            }
        }
    }
    Ok(found)
}

/// Regular files under `root` and their bytes.
fn count(root: &Path) -> Result<(u64, u64), String> {
    let files = files_under(root)?;
    let bytes = files
        .iter()
        .map(|file| fs::metadata(root.join(file)).map_or(0, |meta| meta.len()))
        .sum();
    Ok((files.len() as u64, bytes))
}
