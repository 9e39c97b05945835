//! What a run shows while it works: a progress bar on a terminal, a plain line every
//! few seconds otherwise (logs, CI), both on stderr.

use indicatif::{ProgressBar, ProgressStyle};
use sluice_ingest::pipeline::ProgressFn;
use sluice_ingest::report::Progress;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often a plain line is printed.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// A progress observer; the bar, if any, is answered to be cleared at the end.
pub fn observer(quiet: bool) -> (Option<ProgressFn>, Option<ProgressBar>) {
    if quiet {
        return (None, None);
    }
    if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(0);
        let style = ProgressStyle::with_template(
            "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        let shown = bar.clone();
        let update = move |p: &Progress| {
            shown.set_length(p.bytes_total);
            shown.set_position(p.bytes_done);
            shown.set_message(format!("{}/{} files", p.files_done, p.files_total));
        };
        return (Some(Arc::new(update)), Some(bar));
    }
    let began = Instant::now();
    let last = Mutex::new(Instant::now());
    let update = move |p: &Progress| {
        let mut last = last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.elapsed() >= LINE_EVERY {
            *last = Instant::now();
            let seconds = began.elapsed().as_secs_f64();
            eprintln!(
                "{:.0} s: {}/{} files, {:.1}/{:.1} MiB, {:.1} MiB/s",
                seconds,
                p.files_done,
                p.files_total,
                p.bytes_done as f64 / 1048576.0,
                p.bytes_total as f64 / 1048576.0,
                p.bytes_done as f64 / 1048576.0 / seconds.max(0.001)
            );
        }
    };
    (Some(Arc::new(update)), None)
}
