//! Writing results back: batched (whatever has arrived, one statement) and fenced by
//! (id, attempt, owner), so that a worker that lost a lease never writes over the
//! worker that took the task over.

use super::Shared;
use super::ids::IdSet;
use super::metrics::KindMetrics;
use crate::enqueue::TaskId;
use crate::error::Result;
use crate::queries;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_postgres::types::ToSql;

/// Settlements written in one statement at most.
const MAX_BATCH: usize = 512;

/// Tries of one batch's write before it is given up (its leases then expire and the
/// tasks are rescued: run again, never lost).
const WRITE_TRIES: u32 = 6;

/// How a held task ended here.
#[derive(Debug)]
pub(crate) struct Settlement {
    /// The task.
    pub(crate) id: TaskId,
    /// The attempt that ran (the fence, with the worker's id).
    pub(crate) attempt: i32,
    /// Its kind, for the metrics.
    pub(crate) kind: String,
    /// Its key, for the metrics.
    pub(crate) key: Option<String>,
    /// Its FIFO chain, if any.
    pub(crate) chain: Option<String>,
    /// Whether its key is counted one by one (decided at its claim).
    pub(crate) tracked: bool,
    /// What to write.
    pub(crate) action: Action,
}

/// What to write for a settled task.
#[derive(Debug)]
pub(crate) enum Action {
    /// It leaves the hot table for the history in `state`.
    Finish {
        /// `completed`, `dead` or `cancelled`.
        state: &'static str,
        /// The last attempt's error, appended to the task's errors.
        error: Option<serde_json::Value>,
    },
    /// It goes back to pending.
    Release {
        /// Not claimable for this long.
        delay: Duration,
        /// The attempt's error, appended.
        error: Option<serde_json::Value>,
        /// Why: decides whether the attempt counts, and the metric.
        why: Why,
    },
}

/// Why a task went back to pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Why {
    /// It failed and will be retried (the attempt counts).
    Retried,
    /// Snoozed by its handler or refused by a breaker (the attempt does not count).
    Snoozed,
    /// Handed back at a stop deadline (the attempt does not count).
    HandedBack,
}

/// Receives settlements until every sender is gone, writing whatever has arrived in
/// one statement each time.
pub(crate) async fn settle_loop(shared: Arc<Shared>, mut rx: UnboundedReceiver<Settlement>) {
    while let Some(first) = rx.recv().await {
        // A claimed batch ends in a burst: one turn of the scheduler lets the rest of
        // it arrive, so that it is written together rather than its first task alone.
        tokio::task::yield_now().await;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        write_with_retries(&shared, batch).await;
    }
}

/// Writes `batch`, trying again with backoff while the database is unreachable; in
/// parts where one task appears twice (see [`distinct_parts`]).
async fn write_with_retries(shared: &Shared, batch: Vec<Settlement>) {
    for part in distinct_parts(batch) {
        write_part_with_retries(shared, part).await;
    }
}

/// `batch` in parts in which each task appears once, in order: `SETTLE` finds a task's
/// entries by its id. A task appears twice only when an attempt whose lease was lost
/// settles next to the attempt that took it over, here, so nearly always one part.
fn distinct_parts(batch: Vec<Settlement>) -> Vec<Vec<Settlement>> {
    let mut ids: Vec<TaskId> = batch.iter().map(|settled| settled.id).collect();
    ids.sort_unstable();
    if ids.windows(2).all(|pair| pair[0] != pair[1]) {
        return vec![batch];
    }
    let mut parts: Vec<Vec<Settlement>> = Vec::new();
    let mut seen: Vec<IdSet> = Vec::new();
    for settled in batch {
        // The first part that does not hold this task yet keeps the order per task.
        let at = seen
            .iter()
            .position(|ids| !ids.contains(&settled.id))
            .unwrap_or(seen.len());
        if at == seen.len() {
            seen.push(IdSet::default());
            parts.push(Vec::new());
        }
        seen[at].insert(settled.id);
        parts[at].push(settled);
    }
    parts
}

/// Writes one part, trying again with backoff while the database is unreachable.
async fn write_part_with_retries(shared: &Shared, batch: Vec<Settlement>) {
    let mut pause = Duration::from_millis(50);
    for attempt in 1..=WRITE_TRIES {
        match write(shared, &batch).await {
            Ok(accepted) => {
                record(shared, &batch, &accepted);
                return;
            }
            Err(error) => {
                tracing::warn!(%error, attempt, tasks = batch.len(), "sluice-postgres: writing results failed");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
    tracing::error!(
        tasks = batch.len(),
        "sluice-postgres: results not written; their leases will expire and the tasks run again"
    );
}

/// Counts each settlement as accepted (by its action) or refused (fenced off), under
/// one lock for the batch.
fn record(shared: &Shared, batch: &[Settlement], accepted: &IdSet) {
    let tasks = batch.iter().map(|settled| {
        let taken = accepted.contains(&settled.id);
        if !taken {
            tracing::debug!(
                id = settled.id,
                attempt = settled.attempt,
                "sluice-postgres: late result refused"
            );
        }
        let how = (&settled.action, taken);
        (
            settled.kind.as_str(),
            settled.key.as_deref(),
            settled.tracked,
            how,
        )
    });
    shared
        .metrics
        .settled_all(tasks, |counts: &mut KindMetrics, how| match *how {
            (_, false) => &mut counts.refused,
            (
                Action::Finish {
                    state: "completed", ..
                },
                true,
            ) => &mut counts.completed,
            (Action::Finish { state: "dead", .. }, true) => &mut counts.dead,
            (Action::Finish { .. }, true) => &mut counts.cancelled,
            (
                Action::Release {
                    why: Why::Retried, ..
                },
                true,
            ) => &mut counts.retried,
            (
                Action::Release {
                    why: Why::Snoozed, ..
                },
                true,
            ) => &mut counts.snoozed,
            (
                Action::Release {
                    why: Why::HandedBack,
                    ..
                },
                true,
            ) => &mut counts.handed_back,
        });
}

/// Writes one batch in one statement; answers the ids whose write was accepted.
async fn write(shared: &Shared, batch: &[Settlement]) -> Result<IdSet> {
    let owner: &str = &shared.id;
    let (mut f_ids, mut f_attempts, mut f_states, mut f_errors) = (vec![], vec![], vec![], vec![]);
    let (mut r_ids, mut r_attempts, mut r_delays, mut r_errors, mut r_free) =
        (vec![], vec![], vec![], vec![], vec![]);
    for settled in batch {
        match &settled.action {
            Action::Finish { state, error } => {
                f_ids.push(settled.id);
                f_attempts.push(settled.attempt);
                f_states.push(*state);
                f_errors.push(error.as_ref());
            }
            Action::Release { delay, error, why } => {
                r_ids.push(settled.id);
                r_attempts.push(settled.attempt);
                r_delays.push(crate::enqueue::millis(*delay));
                r_errors.push(error.as_ref());
                r_free.push(*why != Why::Retried);
            }
        }
    }
    let mut chains: Vec<&str> = batch
        .iter()
        .filter(|settled| matches!(settled.action, Action::Finish { .. }))
        .filter_map(|settled| settled.chain.as_deref())
        .collect();
    chains.sort_unstable();
    chains.dedup();
    let name: &str = &shared.queue.name;
    let client = shared.queue.client().await?;
    // Prepared once per pooled connection.
    let settle = client.prepare_cached(queries::SETTLE).await?;
    let params: [&(dyn ToSql + Sync); 11] = [
        &owner,
        &name,
        &f_ids,
        &f_attempts,
        &f_states,
        &f_errors,
        &r_ids,
        &r_attempts,
        &r_delays,
        &r_errors,
        &r_free,
    ];
    let rows = if chains.is_empty() {
        // One statement is atomic on its own: one round trip.
        client.query(&settle, &params).await?
    } else {
        // The chains are locked by a statement of their own, before SETTLE takes its
        // snapshot (see `queries::SETTLE`); the four are sent together, in this order
        // (`biased`): one round trip still.
        let lock = client.prepare_cached(queries::LOCK_LIVE_CHAINS).await?;
        let lock_params: [&(dyn ToSql + Sync); 2] = [&name, &chains];
        let ((), _, rows, ()) = tokio::try_join!(
            biased;
            client.batch_execute("BEGIN"),
            client.query(&lock, &lock_params),
            client.query(&settle, &params),
            client.batch_execute("COMMIT"),
        )?;
        rows
    };
    let mut accepted = IdSet::with_capacity_and_hasher(rows.len(), Default::default());
    accepted.extend(rows.iter().filter_map(|row| row.get::<_, Option<i64>>(0)));
    Ok(accepted)
}

#[cfg(test)]
mod tests {
    use super::{Action, Settlement, distinct_parts};

    /// A completed attempt `attempt` of task `id`.
    fn done(id: i64, attempt: i32) -> Settlement {
        Settlement {
            id,
            attempt,
            kind: "k".into(),
            key: None,
            chain: None,
            tracked: false,
            action: Action::Finish {
                state: "completed",
                error: None,
            },
        }
    }

    #[test]
    fn a_task_settled_twice_in_one_batch_is_written_in_two_parts() {
        // Task 2's first attempt lost its lease; its second ran here too.
        let parts = distinct_parts(vec![done(1, 1), done(2, 1), done(3, 1), done(2, 2)]);
        let ids: Vec<Vec<(i64, i32)>> = parts
            .iter()
            .map(|part| part.iter().map(|s| (s.id, s.attempt)).collect())
            .collect();
        assert_eq!(ids, vec![vec![(1, 1), (2, 1), (3, 1)], vec![(2, 2)]]);
        assert_eq!(distinct_parts(vec![done(1, 1), done(2, 1)]).len(), 1);
    }
}
