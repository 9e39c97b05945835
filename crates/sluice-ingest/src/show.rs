//! How each subcommand's answer is printed: text for a person, or `--json`.

use serde::Serialize;
use sluice_ingest::commands::list::DupGroup;
use sluice_ingest::commands::restore::RestoreReport;
use sluice_ingest::commands::verify::VerifyReport;
use sluice_ingest::report::Report;
use sluice_ingest::store::catalog::{FileRow, SnapshotRow};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

/// Writes `text` to stdout; a closed pipe (`| head`) is not an error.
pub fn line(text: &str) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write the answer: {error}"))
        }
        _ => Ok(()),
    }
}

fn json(value: &impl Serialize) -> Result<(), String> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| format!("cannot write JSON: {e}"))?;
    line(&format!("{text}\n"))
}

/// An ingest run's report.
pub fn report(report: &Report, as_json: bool) -> Result<(), String> {
    if as_json {
        json(report)
    } else {
        line(&report.to_text())
    }
}

/// What verify found.
pub fn verify(report: &VerifyReport, as_json: bool) -> Result<(), String> {
    if as_json {
        return json(report);
    }
    let mut out = format!(
        "checked {} chunks ({:.1} MiB): ",
        report.chunks,
        report.bytes as f64 / 1048576.0
    );
    if report.ok() {
        out.push_str("all intact\n");
    } else {
        let _ = writeln!(
            out,
            "{} damaged, {} missing",
            report.bad.len(),
            report.missing.len()
        );
    }
    for bad in &report.bad {
        let _ = writeln!(
            out,
            "DAMAGED chunk {} (pack {}, offset {}): {}",
            bad.chunk, bad.pack, bad.offset, bad.reason
        );
        for (snapshot, path) in &bad.files {
            let _ = writeln!(out, "  in snapshot {snapshot}: {}", path.display());
        }
    }
    for (snapshot, path, chunk) in &report.missing {
        let _ = writeln!(
            out,
            "MISSING chunk {chunk} of {} in snapshot {snapshot}",
            path.display()
        );
    }
    line(&out)
}

/// What restore wrote.
pub fn restored(report: &RestoreReport, dest: &Path, as_json: bool) -> Result<(), String> {
    if as_json {
        return json(report);
    }
    let mut out = format!(
        "restored {} files ({} bytes), {} directories, {} symlinks into {}\n",
        report.files,
        report.bytes,
        report.dirs,
        report.symlinks,
        dest.display()
    );
    for path in &report.not_recreated {
        let _ = writeln!(out, "not recreated (special file): {}", path.display());
    }
    line(&out)
}

/// A snapshot's entries.
pub fn ls(rows: &[FileRow], as_json: bool) -> Result<(), String> {
    #[derive(Serialize)]
    struct Row<'a> {
        path: &'a Path,
        kind: &'static str,
        size: u64,
        mode: String,
        mtime_ns: i64,
        chunks: usize,
        target: Option<&'a Path>,
    }
    let rows: Vec<Row<'_>> = rows
        .iter()
        .map(|row| Row {
            path: &row.path,
            kind: row.kind.name(),
            size: row.stat.size,
            mode: format!("{:o}", row.stat.mode & 0o7777),
            mtime_ns: row.stat.mtime_ns,
            chunks: row.chunks.len(),
            target: row.target.as_deref(),
        })
        .collect();
    if as_json {
        return json(&rows);
    }
    let mut out = String::new();
    for row in rows {
        let _ = write!(
            out,
            "{:<12} {:>4} {:>12} {}",
            row.kind,
            row.mode,
            row.size,
            row.path.display()
        );
        if let Some(target) = row.target {
            let _ = write!(out, " -> {}", target.display());
        }
        out.push('\n');
    }
    line(&out)
}

/// The snapshots.
pub fn snapshots(rows: &[SnapshotRow], as_json: bool) -> Result<(), String> {
    if as_json {
        return json(&rows);
    }
    let mut out = String::new();
    for row in rows {
        let state = if row.complete { "complete" } else { "partial" };
        let _ = writeln!(
            out,
            "{:>4}  {:<8}  {:>8} entries  started {} ms  {}",
            row.id,
            state,
            row.files,
            row.started_ms,
            row.root.display()
        );
    }
    line(&out)
}

/// Groups of identical files.
pub fn dups(groups: &[DupGroup], as_json: bool) -> Result<(), String> {
    if as_json {
        return json(&groups);
    }
    let mut out = String::new();
    for group in groups {
        let _ = writeln!(out, "{} files of {} bytes:", group.paths.len(), group.size);
        for path in &group.paths {
            let _ = writeln!(out, "  {}", path.display());
        }
    }
    let _ = writeln!(out, "{} groups", groups.len());
    line(&out)
}
