//! The "Ingest" section of `docs/benchmarks.md`: medians and spreads of each
//! program's times, peak RSS and dedup ratio; the targets as medians of per-round
//! ratios with a verdict; written between markers so the rest of the page stays.

use crate::bench_ingest::System;
use crate::bench_ingest_stats::{Sample, spread, summary, verdict};
use crate::bench_tree::Tree;
use crate::page_section::Section;
use std::fmt::Write as _;
use std::time::Duration;

/// Where the section begins and ends on the page.
pub const BEGIN: &str = "<!-- ingest:begin -->";
/// See [`BEGIN`].
pub const END: &str = "<!-- ingest:end -->";

/// The section, markers included.
pub fn section(tree: &Tree, rounds: usize, quick: bool, samples: &[(System, Sample)]) -> String {
    let of = |system: System| -> Vec<&Sample> {
        samples
            .iter()
            .filter(|(s, _)| *s == system)
            .map(|(_, sample)| sample)
            .collect()
    };
    let secs = |f: &dyn Fn(&Sample) -> Option<Duration>, system| -> Vec<f64> {
        of(system)
            .into_iter()
            .map(|s| f(s).map_or(f64::NAN, |d| d.as_secs_f64()))
            .collect()
    };
    let first = |s: &Sample| Some(s.first);
    let again = |s: &Sample| s.again.map(|(wall, _)| wall);
    let dedup = |s: &Sample| {
        s.stored
            .map_or(f64::NAN, |stored| tree.bytes as f64 / stored.max(1) as f64)
    };
    let mut out = String::new();
    let _ = writeln!(out, "{BEGIN}\n## Ingest\n");
    let _ = writeln!(
        out,
        "Written by `cargo xtask bench ingest{}` ({}); do not edit by hand. {rounds} rounds, \
         each program once per round, the order reversed every other round. The tree \
         ({} files, {:.2} GB, generated once under `target/bench-tree/`):\n",
        if quick { " --quick" } else { "" },
        crate::bench::stamp(),
        tree.files,
        tree.bytes as f64 / 1e9,
    );
    for line in tree.manifest.lines() {
        let _ = writeln!(out, "- {line}");
    }
    if quick {
        let _ = writeln!(
            out,
            "\nA quick run, on a small tree and few rounds: indicative only."
        );
    }
    let _ = writeln!(
        out,
        "\nTimes are medians with the spread (lowest–highest) over the rounds; peak RSS is \
         the larger of the two runs'; the dedup ratio is the tree's bytes over the chunk \
         bytes stored before compression (restic: the first backup's `data_added`, borg: \
         `info`'s unique size). The floor hashes every file with `b3sum` and compresses the whole \
         tree with `zstd -T2 -3` (duplicates included), one after the other.\n"
    );
    let _ = writeln!(
        out,
        "| program | first ingest | unchanged re-run | peak RSS | dedup ratio |"
    );
    let _ = writeln!(out, "| --- | --- | --- | --- | --- |");
    for system in System::ALL {
        let rss: Vec<f64> = of(system)
            .iter()
            .map(|s| s.peak_rss() as f64 / 1024.0)
            .collect();
        let ratios: Vec<f64> = of(system).iter().map(|s| dedup(s)).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            system.label(),
            spread(&secs(&first, system), " s", 2),
            spread(&secs(&again, system), " s", 2),
            spread(&rss, " MB", 0),
            summary(&ratios).map_or("—".into(), |(median, ..)| format!("{median:.3}")),
        );
    }
    // Per-round ratios: both programs of a ratio ran in the same round.
    let ratio =
        |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(a, b)| a / b).collect() };
    let sluice = System::Sluice("sluice");
    let ours_first = secs(&first, sluice);
    let ours_again = secs(&again, sluice);
    let ours_rss: Vec<f64> = of(sluice).iter().map(|s| s.peak_rss() as f64).collect();
    let restic_rss: Vec<f64> = of(System::Restic)
        .iter()
        .map(|s| s.peak_rss() as f64)
        .collect();
    let dedup_of = |system| -> Vec<f64> { of(system).iter().map(|s| dedup(s)).collect() };
    let rows: [(&str, Vec<f64>, f64, bool); 6] = [
        (
            "first ingest ≤ 0.5× restic's time",
            ratio(&ours_first, &secs(&first, System::Restic)),
            0.5,
            true,
        ),
        (
            "unchanged re-run ≤ 0.5× restic's time",
            ratio(&ours_again, &secs(&again, System::Restic)),
            0.5,
            true,
        ),
        (
            "peak RSS ≤ restic's",
            ratio(&ours_rss, &restic_rss),
            1.0,
            true,
        ),
        (
            "throughput ≥ 1.0× rayon-only's",
            ratio(&secs(&first, System::Sluice("rayon")), &ours_first),
            1.0,
            false,
        ),
        (
            "throughput ≥ 1.8× sequential's",
            ratio(&secs(&first, System::Sluice("sequential")), &ours_first),
            1.8,
            false,
        ),
        (
            "dedup ratio within 2% of restic's (≥ 0.98×)",
            ratio(&dedup_of(sluice), &dedup_of(System::Restic)),
            0.98,
            false,
        ),
    ];
    let _ = writeln!(
        out,
        "\n| target (sluice-ingest on Sluice) | per-round ratio | verdict |"
    );
    let _ = writeln!(out, "| --- | --- | --- |");
    for (name, ratios, target, at_most) in rows {
        let _ = writeln!(
            out,
            "| {name} | {} | {} |",
            spread(&ratios, "", 2),
            verdict(&ratios, target, at_most)
        );
    }
    let floor = ratio(&ours_first, &secs(&first, System::Floor));
    let _ = writeln!(
        out,
        "| first ingest over the floor's time | {} | measure |",
        spread(&floor, "", 2)
    );
    let _ = writeln!(
        out,
        "\nA verdict reads the whole spread of the per-round ratios: **meets** when all of \
         it is within the target, **misses** when all of it is past, **unclear** otherwise. \
         A dedup ratio above restic's meets its target too.\n{END}"
    );
    out
}

/// This section of the page: its markers and its name.
pub const SECTION: Section = Section {
    begin: BEGIN,
    end: END,
    name: "Ingest",
};

/// Writes `section` into the page: in place of the one there, or at its end.
pub fn write(section: &str) -> Result<(), String> {
    SECTION.write(section)
}

/// The section on `page`, markers included, if it has one: kept by `cargo xtask bench`
/// when it rewrites the page.
pub fn existing(page: &str) -> Option<&str> {
    SECTION.existing(page)
}
