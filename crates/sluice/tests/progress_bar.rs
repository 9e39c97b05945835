//! The `indicatif` bar of a `Progress` (feature `indicatif`) follows a map to its end.

use indicatif::ProgressBar;
use sluice::{ConcurrencyManager, Progress};

#[test]
fn the_bar_follows_an_io_map_to_its_end() -> Result<(), Box<dyn std::error::Error>> {
    let bar = ProgressBar::hidden();
    let progress = Progress::with_bar(bar.clone());
    let reporter = progress.clone();
    let mgr = ConcurrencyManager::builder().build()?;
    let sizes = mgr
        .task("download")
        .progress(&progress)
        .map_io(0..50u64, move |i| {
            let reporter = reporter.clone();
            async move {
                reporter.add_bytes(1_024);
                i
            }
        })
        .wait()?;
    assert_eq!(sizes.len(), 50);
    assert_eq!((bar.position(), bar.length()), (50, Some(50)));
    assert!(bar.is_finished());
    assert_eq!(bar.message(), "50.00 KiB bytes, 0 failed");
    Ok(())
}
