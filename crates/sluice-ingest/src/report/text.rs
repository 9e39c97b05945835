//! The report as text, for a person at a terminal.

use super::{Report, mib};
use std::fmt::Write as _;

impl Report {
    /// The report as text for a person.
    pub fn to_text(&self) -> String {
        let t = &self.totals;
        let mut out = String::new();
        let state = if t.stopped {
            "STOPPED (partial; the next run completes it)"
        } else {
            "complete"
        };
        let parent = t
            .parent
            .map_or_else(|| "none".to_owned(), |id| id.to_string());
        let _ = writeln!(
            out,
            "snapshot {} of {} ({state}; parent {parent})",
            t.snapshot,
            self.root.display()
        );
        let _ = writeln!(out, "store    {}", self.store.display());
        let _ = writeln!(
            out,
            "files    {} walked ({:.1} MiB): {} read ({:.1} MiB, {} re-read after a change), {} unchanged since the parent, {} not recorded",
            t.walked_files,
            mib(t.walked_bytes),
            t.files_read,
            mib(t.bytes_read),
            t.files_reread,
            t.files_unchanged,
            t.problems.len()
        );
        let _ = writeln!(
            out,
            "other    {} directories, {} symlinks (not followed), {} FIFOs/sockets/devices (not opened), {} skipped by the walk, {} not taken (stopped)",
            t.dirs,
            t.symlinks,
            t.special_files,
            t.skipped.len(),
            t.not_taken
        );
        let _ = writeln!(
            out,
            "chunks   {} in files read, {} unique, {} new ({:.1} MiB raw, {:.1} MiB stored in {} packs)",
            t.chunks,
            t.unique_chunks,
            t.write.chunks_stored,
            mib(t.write.raw_bytes_stored),
            mib(t.write.bytes_stored),
            t.write.packs
        );
        if t.write.dead_chunks > 0 {
            let _ = writeln!(
                out,
                "dead     {} chunks ({:.1} MiB) stored by two workers at once: the later copies are unreferenced space in their packs",
                t.write.dead_chunks,
                mib(t.write.dead_bytes)
            );
        }
        let _ = writeln!(
            out,
            "ratios   dedup {:.2}x, compression {:.2}x",
            self.dedup_ratio, self.compression_ratio
        );
        let _ = writeln!(
            out,
            "speed    {:.2} s, {:.1} MiB/s",
            self.seconds, self.mib_per_second
        );
        let _ = writeln!(
            out,
            "stages   walk {:.2} s; busy (summed over threads): read {:.2} s, chunk+hash {:.2} s, compress {:.2} s, pack write {:.2} s, catalog {:.2} s",
            self.walk_seconds,
            t.read_time.as_secs_f64(),
            t.chunk_time.as_secs_f64(),
            t.compress_time.as_secs_f64(),
            t.write.pack_time.as_secs_f64(),
            t.write.catalog_time.as_secs_f64()
        );
        for (title, list) in [
            ("skipped by the walk", &t.skipped),
            ("not recorded", &t.problems),
        ] {
            if !list.is_empty() {
                let _ = writeln!(out, "{title}:");
                for (path, reason) in list.iter().take(20) {
                    let _ = writeln!(out, "  {}: {reason}", path.display());
                }
                if list.len() > 20 {
                    let _ = writeln!(out, "  ... and {} more (--json lists all)", list.len() - 20);
                }
            }
        }
        out
    }
}
