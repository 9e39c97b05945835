//! The report of one run: built from the walk, the totals and the manager's counters,
//! printed as text or serialized as JSON.

use crate::analyse;
use crate::pipeline::Totals;
use crate::walk::Walk;
use serde::Serialize;
use sluice::throttle::ThrottleView;
use sluice::{Counts, RouteSnapshot, ShutdownReport, Snapshot};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// Words listed in the report.
const TOP_WORDS: usize = 10;
/// Duplicate groups listed in the report (all are counted).
const LISTED_GROUPS: usize = 5;
/// Paths of a duplicate group listed in the text report (the JSON has them all).
const LISTED_PATHS: usize = 3;
/// Errors listed in the report (all are counted).
const LISTED_ERRORS: usize = 5;

/// Everything a run found out, in the shape of the JSON output.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The directory ingested.
    pub directory: String,
    /// Why this directory.
    pub directory_source: String,
    /// Files read and analysed.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Files that are text (UTF-8 without NUL bytes).
    pub text_files: u64,
    /// Lines of the text files.
    pub lines: u64,
    /// Distinct words over all text lines.
    pub distinct_words: u64,
    /// The most frequent words.
    pub top_words: Vec<WordCount>,
    /// Files with the same contents.
    pub duplicates: DuplicateSummary,
    /// What the walk left out.
    pub skipped: Skipped,
    /// Files that could not be read.
    pub read_errors: u64,
    /// Directories or entries the walk could not inspect.
    pub walk_errors: u64,
    /// The first few errors of either kind.
    pub error_examples: Vec<ErrorExample>,
    /// Seconds from the start of the walk to the last word counted.
    pub wall_seconds: f64,
    /// Bytes read per second, in millions.
    pub mb_per_s: f64,
    /// The manager's counters and its shutdown.
    pub sluice: SluiceSummary,
}

/// One word and how often it occurs.
#[derive(Debug, Serialize)]
pub struct WordCount {
    /// The word, lowercased.
    pub word: String,
    /// Its occurrences.
    pub count: u64,
}

/// Duplicate files.
#[derive(Debug, Serialize)]
pub struct DuplicateSummary {
    /// Groups of two or more files with the same contents.
    pub groups: u64,
    /// Files in those groups.
    pub files: u64,
    /// Bytes all copies but one of each group take.
    pub bytes_wasted: u64,
    /// The groups that waste the most.
    pub largest: Vec<Group>,
}

/// One group of identical files.
#[derive(Debug, Serialize)]
pub struct Group {
    /// Size of each copy.
    pub bytes: u64,
    /// The copies, relative to the directory.
    pub paths: Vec<String>,
}

/// What the walk left out.
#[derive(Debug, Serialize)]
pub struct Skipped {
    /// Files over the size limit.
    pub too_large: u64,
    /// The size limit.
    pub max_file_bytes: u64,
    /// Symbolic links (never followed).
    pub symlinks: u64,
    /// `target` and `.git` directories.
    pub dirs: u64,
}

/// One error, with the path it concerns.
#[derive(Debug, Serialize)]
pub struct ErrorExample {
    /// Relative to the directory.
    pub path: String,
    /// The error.
    pub error: String,
}

/// What Sluice counted.
#[derive(Debug, Serialize)]
pub struct SluiceSummary {
    /// All routes added up.
    pub totals: Counts,
    /// Each route.
    pub routes: Vec<RouteSnapshot>,
    /// The load throttle at the end: its last sample and each route's limit.
    pub throttle: Option<ThrottleView>,
    /// Whether shutdown found all work ended.
    pub shutdown_drained: bool,
    /// How long shutdown took, in milliseconds.
    pub shutdown_ms: u64,
}

impl Report {
    /// The report of a run over `dir`, chosen for the reason `source`.
    pub fn new(
        (dir, source): (&Path, &str),
        walk: &Walk,
        totals: &Totals,
        max_file_bytes: u64,
        elapsed: Duration,
    ) -> Self {
        let relative = |path: &Path| path.strip_prefix(dir).unwrap_or(path).display().to_string();
        let groups = totals.duplicates.groups();
        let seconds = elapsed.as_secs_f64();
        let error_examples = totals
            .read_errors
            .iter()
            .chain(&walk.errors)
            .take(LISTED_ERRORS)
            .map(|(path, error)| ErrorExample {
                path: relative(path),
                error: error.clone(),
            })
            .collect();
        Report {
            directory: dir.display().to_string(),
            directory_source: source.to_owned(),
            files: totals.files,
            bytes: totals.bytes,
            text_files: totals.text_files,
            lines: totals.lines,
            distinct_words: totals.words.len() as u64,
            top_words: analyse::top_words(&totals.words, TOP_WORDS)
                .into_iter()
                .map(|(word, count)| WordCount { word, count })
                .collect(),
            duplicates: DuplicateSummary {
                groups: groups.len() as u64,
                files: groups.iter().map(|g| g.paths.len() as u64).sum(),
                bytes_wasted: groups.iter().map(analyse::DuplicateGroup::wasted).sum(),
                largest: groups
                    .iter()
                    .take(LISTED_GROUPS)
                    .map(|g| Group {
                        bytes: g.len,
                        paths: g.paths.iter().map(|p| relative(p)).collect(),
                    })
                    .collect(),
            },
            skipped: Skipped {
                too_large: walk.too_large + totals.grew_too_large,
                max_file_bytes,
                symlinks: walk.symlinks,
                dirs: walk.skipped_dirs,
            },
            read_errors: totals.read_errors.len() as u64,
            walk_errors: walk.errors.len() as u64,
            error_examples,
            wall_seconds: seconds,
            mb_per_s: if seconds > 0.0 {
                totals.bytes as f64 / 1e6 / seconds
            } else {
                0.0
            },
            sluice: SluiceSummary {
                totals: Counts::default(),
                routes: Vec::new(),
                throttle: None,
                shutdown_drained: false,
                shutdown_ms: 0,
            },
        }
    }

    /// Adds the manager's counters, taken after the work, and how its shutdown went.
    pub fn with_sluice(mut self, snapshot: Snapshot, shutdown: &ShutdownReport) -> Self {
        self.sluice = SluiceSummary {
            totals: snapshot.total(),
            routes: snapshot.routes,
            throttle: snapshot.throttle,
            shutdown_drained: shutdown.drained,
            shutdown_ms: u64::try_from(shutdown.elapsed.as_millis()).unwrap_or(u64::MAX),
        };
        self
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }

    /// The report as text for a terminal.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_text(&mut out);
        out
    }

    fn write_text(&self, out: &mut String) -> std::fmt::Result {
        writeln!(out, "sluice-ingest report")?;
        writeln!(out, "  directory    {}", self.directory)?;
        writeln!(out, "               ({})", self.directory_source)?;
        writeln!(
            out,
            "  files        {} read, {} ({} bytes)",
            thousands(self.files),
            human_bytes(self.bytes),
            thousands(self.bytes)
        )?;
        writeln!(
            out,
            "  text         {} text files, {} lines",
            thousands(self.text_files),
            thousands(self.lines)
        )?;
        let skipped = &self.skipped;
        writeln!(
            out,
            "  skipped      {} over {}, {} symlinks, {} target/.git dirs",
            thousands(skipped.too_large),
            human_bytes(skipped.max_file_bytes),
            thousands(skipped.symlinks),
            thousands(skipped.dirs)
        )?;
        writeln!(
            out,
            "  errors       {} unreadable files, {} walk errors",
            thousands(self.read_errors),
            thousands(self.walk_errors)
        )?;
        for example in &self.error_examples {
            writeln!(out, "                 {}: {}", example.path, example.error)?;
        }
        writeln!(
            out,
            "  words        {} distinct",
            thousands(self.distinct_words)
        )?;
        for (rank, word) in self.top_words.iter().enumerate() {
            writeln!(
                out,
                "               {:>2}. {:<20} {:>12}",
                rank + 1,
                word.word,
                thousands(word.count)
            )?;
        }
        let dups = &self.duplicates;
        writeln!(
            out,
            "  duplicates   {} groups of {} files, {} wasted",
            thousands(dups.groups),
            thousands(dups.files),
            human_bytes(dups.bytes_wasted)
        )?;
        for group in &dups.largest {
            let shown = group.paths.len().min(LISTED_PATHS);
            write!(
                out,
                "                 {} x{}: {}",
                human_bytes(group.bytes),
                group.paths.len(),
                group.paths[..shown].join(", ")
            )?;
            match group.paths.len() - shown {
                0 => writeln!(out)?,
                more => writeln!(out, " and {more} more")?,
            }
        }
        writeln!(
            out,
            "  time         {:.3} s wall, {:.1} MB/s",
            self.wall_seconds, self.mb_per_s
        )?;
        writeln!(out, "  sluice       {}", counts(&self.sluice.totals))?;
        for route in &self.sluice.routes {
            writeln!(
                out,
                "    {:<11} limit {:>4}: {}",
                route.route.to_string(),
                route.limit,
                counts(&route.counters)
            )?;
        }
        if let Some(throttle) = &self.sluice.throttle {
            writeln!(out, "  throttle     {}", throttle_line(throttle))?;
        }
        writeln!(
            out,
            "  shutdown     {} in {} ms",
            if self.sluice.shutdown_drained {
                "drained"
            } else {
                "NOT drained"
            },
            self.sluice.shutdown_ms
        )
    }
}

/// The throttle in one line: what it last saw, and any route it holds below its limit.
fn throttle_line(throttle: &ThrottleView) -> String {
    let percent =
        |value: Option<f64>| value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.0}%"));
    let held: Vec<String> = throttle
        .routes
        .iter()
        .filter(|r| r.limit < r.configured)
        .map(|r| format!("{} {}/{} ({})", r.route, r.limit, r.configured, r.reason))
        .collect();
    let moves: u64 = throttle.routes.iter().map(|r| r.changes).sum();
    format!(
        "{} samples, other processes' cpu {}, memory {}; {} moves; {}",
        throttle.samples,
        percent(throttle.foreign_cpu),
        percent(throttle.memory),
        moves,
        if held.is_empty() {
            "every route at its limit".to_owned()
        } else {
            format!("held: {}", held.join(", "))
        }
    )
}

/// One line of counters.
fn counts(c: &Counts) -> String {
    format!(
        "submitted {}, succeeded {}, failed {}, panicked {}, cancelled {}, timed out {}, rejected {}, high water {}",
        c.submitted,
        c.succeeded,
        c.failed,
        c.panicked,
        c.cancelled,
        c.timed_out,
        c.rejected,
        c.high_water
    )
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Bytes in binary units, one decimal.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(8 * 1024 * 1024), "8.0 MiB");
    }

    #[test]
    fn text_and_json_agree() -> Result<(), serde_json::Error> {
        let walk = Walk::default();
        let mut totals = Totals {
            files: 2,
            bytes: 2048,
            ..Totals::default()
        };
        totals.words.insert("word".into(), 3);
        let report = Report::new(
            (Path::new("/d"), "given"),
            &walk,
            &totals,
            100,
            Duration::from_millis(2),
        );
        let text = report.to_text();
        assert!(text.contains("2 read, 2.0 KiB (2,048 bytes)"), "{text}");
        assert!(text.contains("word"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&report.to_json()?)?;
        assert_eq!(json["files"], 2);
        assert_eq!(json["top_words"][0]["word"], "word");
        assert_eq!(json["skipped"]["max_file_bytes"], 100);
        Ok(())
    }
}
