//! The "Memory and overlap" section of `docs/benchmarks.md`: the table of
//! `cargo xtask bench memory`, written between its own markers so that the rest of the
//! page stays as it is.

use crate::bench_memory::{
    COLD_ALL, COLD_READ, Fields, Measured, OVERLAP, Plan, RESULTS_MB, RSS_DRIFT, SCALE, SPARE_ALL,
    SPARE_CPU, cold_overlap, cores, cpu_floor, median, number, overlap, spare_overlap, spread,
};
use crate::page_section::Section;
use std::fmt::Write as _;

/// Where the section begins on the page.
pub const BEGIN: &str = "<!-- memory:begin -->";
/// Where it ends.
pub const END: &str = "<!-- memory:end -->";

/// The checks with their verdicts, as a Markdown table.
pub fn table(m: &Measured) -> String {
    let results_mb = number(&m.results, "vmhwm_kib") * 1024.0 / 1e6;
    let overlaps: Vec<f64> = m.rounds.iter().map(overlap).collect();
    let overlap_median = median(&overlaps);
    let floors: Vec<f64> = m.rounds.iter().map(cpu_floor).collect();
    let spares: Vec<f64> = m.rounds.iter().map(spare_overlap).collect();
    let spare_median = median(&spares);
    let colds: Vec<f64> = m.rounds.iter().map(cold_overlap).collect();
    let cold_median = median(&colds);
    let rss_1x = median(&stage_figures(m, "all", "vmhwm_kib"));
    let rss_10x = number(&m.scaled, "vmhwm_kib");
    let drift = rss_10x / rss_1x;
    let mut out = String::new();
    let _ = writeln!(out, "| check | measured | target | |");
    let _ = writeln!(out, "| --- | ---: | ---: | --- |");
    let _ = writeln!(
        out,
        "| {} k results of 10 KB streamed (`stream_cpu`), peak RSS | {results_mb:.1} MB | ≤ {RESULTS_MB} MB | {} |",
        number(&m.results, "items") / 1000.0,
        verdict(results_mb <= RESULTS_MB as f64),
    );
    let _ = writeln!(
        out,
        "| pipeline wall time over its slowest stage alone (median of {} round{}; spread {}) | {overlap_median:.3} | ≤ {OVERLAP:.2} | {} |",
        overlaps.len(),
        if overlaps.len() == 1 { "" } else { "s" },
        spread(&overlaps),
        verdict(overlap_median <= OVERLAP),
    );
    let _ = writeln!(
        out,
        "| the stages' CPU time alone over {} cores, over the slowest stage alone: where the first row would be if each stage cost the same in the pipeline (pieces just read are hashed in cache, so the pipeline's CPU can be less) | {:.3} | measure | |",
        cores(),
        median(&floors),
    );
    let _ = writeln!(
        out,
        "| the same with the cpu route on 1 thread, a core left to the reads: the pipeline over its cpu stage alone on 1 thread (spread {}) | {spare_median:.3} | ≤ {OVERLAP:.2} | {} |",
        spread(&spares),
        verdict(spare_median <= OVERLAP),
    );
    let _ = writeln!(
        out,
        "| the same on both cores with the files out of the page cache before each run, reads from the disk: the pipeline over its slowest stage alone (spread {}) | {cold_median:.3} | ≤ {OVERLAP:.2} | {} |",
        spread(&colds),
        verdict(cold_median <= OVERLAP),
    );
    let _ = writeln!(
        out,
        "| pipeline peak RSS at {SCALE}× the items over 1× ({:.1} MB / {:.1} MB) | {drift:.3} | {:.2}–{:.2} | {} |",
        rss_10x * 1024.0 / 1e6,
        rss_1x * 1024.0 / 1e6,
        1.0 - RSS_DRIFT,
        1.0 + RSS_DRIFT,
        verdict((drift - 1.0).abs() <= RSS_DRIFT),
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| pipeline run | pieces | GB | time (median) | CPU time (median) | GB/s | peak RSS |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for stage in [
        "read", "cpu", "write", "all", SPARE_CPU, SPARE_ALL, COLD_READ, COLD_ALL,
    ] {
        let runs: Vec<&Fields> = m.rounds.iter().filter_map(|r| r.get(stage)).collect();
        if let Some(first) = runs.first() {
            row(
                &mut out,
                &format!("`{stage}`, 1×"),
                first,
                &stage_figures(m, stage, "seconds"),
                &stage_figures(m, stage, "cpu_seconds"),
                &stage_figures(m, stage, "vmhwm_kib"),
            );
        }
    }
    let scaled = |field| [number(&m.scaled, field)];
    row(
        &mut out,
        &format!("`all`, {SCALE}×"),
        &m.scaled,
        &scaled("seconds"),
        &scaled("cpu_seconds"),
        &scaled("vmhwm_kib"),
    );
    out
}

/// One line of the runs' table.
fn row(out: &mut String, name: &str, run: &Fields, seconds: &[f64], cpu: &[f64], rss_kib: &[f64]) {
    let gb = number(run, "bytes") / 1e9;
    let secs = median(seconds);
    let rate = if secs > 0.0 {
        format!("{:.2}", gb / secs)
    } else {
        "–".to_owned()
    };
    let _ = writeln!(
        out,
        "| {name} | {} | {gb:.2} | {secs:.2} s | {:.2} s | {rate} | {:.1} MB |",
        number(run, "items"),
        median(cpu),
        median(rss_kib) * 1024.0 / 1e6,
    );
}

/// What decides these figures, found by profiling them: the section's end.
const WHY: &str = "\
What decides these figures:

- **glibc's per-thread arenas.** A streamed result is made on a pool thread and freed
  on the consumer's; each thread allocates from an arena of its own, and each arena
  keeps its own high-water mark, so a process's peak is up to about twice what the
  buffers hold. With a single arena (`MALLOC_ARENA_MAX=1`) the 200 k results peaked at
  25 MB under the old default buffer (1,024 results per thread), 41 MB without; the
  default is now 512 per thread (`crates/sluice/src/map/stream/pull.rs`), ~24 MB.
- **Threads that come and go.** Reads on tokio's blocking pool (up to 512 threads,
  each idle for 10 s before it ends) wandered over new threads and so new arenas: the
  pipeline's peak grew with the run's length (47.6 MB at 1×, 80.8 MB at 10×). The
  pipeline runs its io route on a runtime with as many blocking threads as reads in
  flight.
- **Blocks of one size.** glibc serves a freed block to the next request of its size.
  When each piece was read into a buffer of its own length and compressed into a new
  buffer of zstd's bound for it, blocks of many sizes came and went, and a run ten times
  as long found new peaks among their holes: the 10× peak came out 6–20% above the 1×
  (41 → 46–48 MB). Each unit is now read into one buffer of a unit's most (1 MiB) and
  each worker compresses into a buffer of its own, made once: the 1× peak fell to
  35.6–36.2 MB and the 10× peak to 36.7–36.9 MB, within 3%.
- **Overlap on two cores.** Reads from the page cache are the kernel copying, on a
  CPU, so the read and cpu stages compete for the same two cores; the row of the
  stages' CPU time says where the pipeline would be if each stage cost in it what it
  costs alone. The cpu stage alone keeps both cores busy, so any CPU the reads take
  adds to the pipeline's time. The pipeline can come under that row, since its pieces
  are hashed and compressed just after they are read, in cache, where the cpu stage
  alone takes them from a gigabyte held in memory, but runs of the same commit have
  given anything from about 1.05 to 1.25. With the cpu route on one thread, so that
  the cpu stage alone leaves a core to the reads, the pipeline's time over that
  stage's is the overlap itself (the row of a core left to the reads). The rows *from
  disk* put the files out of the page cache before the read stage alone and before the
  pipeline (`stream_memory --cold`: `posix_fadvise(DONTNEED)` on each file; pages a
  running `rustc` maps stay): the read stage is then the slowest, but it is not free
  of CPU either — on this virtual machine a cold gigabyte costs 1.6 s of CPU, three
  times a warm one — and a reading thread that wakes from its IO finds both cores
  taken by the cpu stage, so the disk idles between its reads: the pipeline over the
  read stage alone came out between 0.95 and 1.28 by round. Reading one piece per item
  (48 k items of 22 KB on average, most files of a toolchain being small) cost 53 µs of
  CPU per piece, mostly the hand-off to a blocking thread and back (`perf`:
  `finish_task_switch`, spin-unlocks); units of up to 1 MiB (about 1,100 items) cut
  the read stage's CPU from 1.5–2.3 s to 0.5 s, and reading into the unit buffer's
  spare capacity instead of zeroing it first took `memset` (6% of the read stage's
  samples) out. Other builds share this machine, and when they leave this program
  about one core — compare each run's CPU time with its wall time — the pipeline
  takes about the sum of its stages, not the slowest. 16 reads ahead instead of 4 ran
  the pipeline faster on a loaded machine, with twice the peak RSS
  (`stream_memory pipeline --read-ahead N`).
";

/// The section, markers included.
pub fn section(m: &Measured, plan: &Plan, table: &str) -> String {
    let all = m.rounds.first().and_then(|r| r.get("all"));
    let pass = all.map_or(f64::NAN, |run| number(run, "bytes") / 1e9);
    let read_ahead = all.map_or(f64::NAN, |run| number(run, "read_ahead"));
    let mut out = String::new();
    let _ = writeln!(out, "{BEGIN}\n## Memory and overlap\n");
    let _ = writeln!(
        out,
        "Written by `cargo xtask bench memory{}` ({}); do not edit by hand. Each figure is \
         one run of `stream_memory` (`benches/src/bin/stream_memory/`) in a process of \
         its own, whose peak RSS is the `VmHWM` it reads from `/proc/self/status` at its \
         end. Times on this shared machine are indicative only.\n",
        if plan.quick { " --quick" } else { "" },
        crate::bench::stamp(),
    );
    let _ = writeln!(
        out,
        "- **Streamed results**: `mgr.stream_cpu(0..N, |i| vec![i as u8; 10_240])`, each \
         result checked and dropped as it comes (collected by `map_cpu` into a `Vec`, the \
         same takes about 2 GB). CI runs the same check with 50 k results.\n\
         - **Pipeline**: read (io, `try_io`, {} units read ahead at most) → BLAKE3 + zstd \
         level 1 (cpu, `cpu_init`, a compressor per worker) → one summary line per piece \
         (the consumer), over the toolchain's directory (`{}`) cut into pieces of at most \
         1 MiB, which travel in units of at most 1 MiB (a large file's piece alone, or \
         several small files' together, read in one blocking call): {pass:.2} GB per \
         pass, read from the page cache (a first untimed pass fills it). Each stage alone: `read` reads and drops, `cpu` hashes and compresses \
         pieces read into memory before its clock starts, `write` writes the lines from \
         digests made up on the fly. The {SCALE}× run is {SCALE} passes over the same \
         pieces, its input made lazily, so only the pipeline's buffers could make its \
         memory grow.\n",
        read_ahead,
        home_relative(&m.root),
    );
    if plan.quick {
        let _ = writeln!(
            out,
            "A quick run: {} MiB per pass, one round. Its 1× pipeline lasts about a second, \
             too short for the allocator to reach its steady peak, so its RSS comparison is \
             indicative only.\n",
            plan.mib
        );
    }
    out.push_str(table);
    let _ = writeln!(out, "\n{WHY}");
    let _ = writeln!(out, "{END}");
    out
}

/// This section of the page: its markers and its name.
pub const SECTION: Section = Section {
    begin: BEGIN,
    end: END,
    name: "Memory and overlap",
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

/// `field` of every timed run of `stage`.
fn stage_figures(m: &Measured, stage: &str, field: &str) -> Vec<f64> {
    m.rounds
        .iter()
        .filter_map(|r| r.get(stage))
        .map(|run| number(run, field))
        .collect()
}

/// `path`, with the home directory written `~` (the page is not about whose it was).
fn home_relative(path: &std::path::Path) -> String {
    match std::env::var_os("HOME").map(std::path::PathBuf::from) {
        Some(home) if path.starts_with(&home) => match path.strip_prefix(&home) {
            Ok(rest) => format!("~/{}", rest.display()),
            Err(_) => path.display().to_string(),
        },
        _ => path.display().to_string(),
    }
}

/// A check's word.
fn verdict(met: bool) -> &'static str {
    if met { "meets" } else { "misses" }
}
