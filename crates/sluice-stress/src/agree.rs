//! Holding each manager's counters, task records and streamed maps' item counts
//! against the harness's books after every wave.

use crate::items::{ItemBase, ItemBooks};
use crate::plan::MANAGERS;
use crate::tally::Tally;
use crate::wave::Shared;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Holds each manager's counters (and its task records: their number, and their
/// retries against the counters') against the harness's books, giving the counters a
/// moment to catch up with answers already given.
pub fn counters_agree(
    shared: &Shared,
    bases: &Bases<'_>,
    expected: &[Tally; MANAGERS],
    expected_items: &[[ItemBooks; 3]; MANAGERS],
) -> Result<(), String> {
    let (base, base_records) = (bases.counts, bases.records);
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let mut differences = Vec::new();
        for (m, member) in shared.fleet.members.iter().enumerate() {
            differences.extend(bases.items[m].differences(member, &expected_items[m]));
            let counted = Tally::of_counts(&member.mgr.snapshot().total(), &base[m]);
            if counted != expected[m] {
                differences.push(format!(
                    "{:?} manager counted {counted}; the harness saw {}",
                    member.order, expected[m]
                ));
            }
            let records = member.records.tasks.load(Ordering::Relaxed) - base_records[m];
            if records != expected[m].submitted {
                differences.push(format!(
                    "{:?} manager delivered {records} task records for {} tasks",
                    member.order, expected[m].submitted
                ));
            }
            // Retried tasks too: the records' attempts after the first are the
            // counters' retries (one definition: an attempt whose body started).
            let total = member.mgr.snapshot().total();
            let recorded = member.records.retries.load(Ordering::Relaxed);
            if recorded != total.retries - base[m].retries {
                differences.push(format!(
                    "{:?} manager's records count {recorded} retries, its counters {}",
                    member.order,
                    total.retries - base[m].retries
                ));
            }
            // Each retry the budget refused is counted for its name and marked on the
            // task's record (no budget refuses anything before the first wave).
            let refused: u64 = member
                .mgr
                .snapshot()
                .retry_budgets
                .iter()
                .map(|b| b.refused)
                .sum();
            let marked = member.records.budget_refused.load(Ordering::Relaxed);
            if refused != marked {
                differences.push(format!(
                    "{:?} manager's budgets refused {refused} retries; {marked} records say so",
                    member.order
                ));
            }
            let inconsistent = member.records.inconsistent.load(Ordering::Relaxed);
            if inconsistent > 0 {
                differences.push(format!(
                    "{:?} manager delivered {inconsistent} records whose times contradict their attempts",
                    member.order
                ));
            }
        }
        if differences.is_empty() {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(differences.join("; "));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Where each manager's counters stood before the first wave.
pub struct Bases<'a> {
    /// Its task counters.
    pub counts: &'a [sluice::Counts],
    /// Its task records.
    pub records: &'a [u64],
    /// Its streamed maps' item counts.
    pub items: &'a [ItemBase],
}
