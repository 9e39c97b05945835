//! The claim loop: takes room, claims a batch, starts each task; waits for a
//! notification (or the poll interval) when nothing is ready.

use super::Shared;
use super::driver::run_batch;
use super::run::{Claimed, Started};
use super::settle::Settlement;
use crate::error::Result;
use crate::queries;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio_util::task::TaskTracker;

/// Claims until the worker stops; each task runs on `tracker` and settles to `settle`.
pub(crate) async fn claim_loop(
    shared: Arc<Shared>,
    tracker: &TaskTracker,
    settle: UnboundedSender<Settlement>,
) {
    let mut pause = Duration::from_millis(100);
    loop {
        // Room first: a worker never holds more than `max_in_flight` tasks. It waits
        // for room for half a batch, so that a busy worker claims in batches rather
        // than one task each time one ends.
        let floor = shared
            .settings
            .batch
            .min(shared.settings.max_in_flight)
            .div_ceil(2);
        let room = u32::try_from(floor).unwrap_or(u32::MAX);
        let first = tokio::select! {
            permit = shared.room.clone().acquire_many_owned(room) => permit,
            () = shared.stop.cancelled() => return,
        };
        let Ok(mut first) = first else { return };
        // A manager shutting down would only have a new batch handed back at once,
        // each task claimed and released for nothing: the worker stops instead.
        if shared.mgr.is_shutting_down() {
            shared.stop.cancel();
            return;
        }
        let mut permits = Vec::with_capacity(shared.settings.batch);
        while first.num_permits() > 1 {
            let Some(one) = first.split(1) else { break };
            permits.push(one);
        }
        permits.push(first);
        while permits.len() < shared.settings.batch {
            match shared.room.clone().try_acquire_owned() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }
        let claimed = match claim(&shared, permits.len()).await {
            Ok(claimed) => {
                pause = Duration::from_millis(100);
                claimed
            }
            Err(error) => {
                tracing::warn!(%error, retry_in = ?pause, "sluice-postgres: claiming failed");
                drop(permits);
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = shared.stop.cancelled() => return,
                }
                pause = (pause * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        let full = claimed.len() == permits.len();
        let idle = claimed.is_empty();
        start_all(&shared, tracker, &settle, claimed, permits);
        if full {
            continue;
        }
        if idle {
            tokio::select! {
                () = shared.wake.notified() => {}
                () = tokio::time::sleep(shared.settings.poll) => {}
                () = shared.stop.cancelled() => return,
            }
        }
    }
}

/// Starts each claimed task with one permit (the permits left over are dropped): the
/// batch runs in one driver, tracked by `tracker`, its counts and its holds each taken
/// under one lock, rather than a tokio task, a lock of the counts and one of the holds
/// per task.
fn start_all(
    shared: &Arc<Shared>,
    tracker: &TaskTracker,
    settle: &UnboundedSender<Settlement>,
    mut claimed: Vec<Claimed>,
    mut permits: Vec<OwnedSemaphorePermit>,
) {
    claimed.truncate(permits.len());
    if claimed.is_empty() {
        return;
    }
    let tracked = shared.metrics.claimed_all(
        claimed
            .iter()
            .map(|task| (task.info.kind.as_str(), task.info.key.as_deref())),
    );
    let cancels: Vec<Arc<Notify>> = claimed.iter().map(|_| Arc::new(Notify::new())).collect();
    // Held from now on, so that the next heartbeat extends their leases.
    shared.hold_all(
        claimed
            .iter()
            .zip(&cancels)
            .map(|(task, cancel)| (task.info.id, task.info.attempt, cancel.clone())),
    );
    let batch: Vec<Started> = claimed
        .into_iter()
        .zip(tracked)
        .zip(cancels)
        .filter_map(|((task, tracked), cancel)| {
            Some(Started {
                task,
                tracked,
                cancel,
                permit: permits.pop()?,
            })
        })
        .collect();
    // On the manager's io runtime: each task is submitted from there and its answer
    // wakes the driver there, one hop between runtimes per batch rather than two per
    // task. A runtime shut down under the driver drops it; its tasks are then handed
    // back (`driver.rs`), so every one is still settled once.
    let driver = tracker.track_future(run_batch(shared.clone(), batch, settle.clone()));
    drop(shared.mgr.io_handle().spawn(driver));
}

/// Claims up to `limit` ready tasks of the registered kinds.
async fn claim(shared: &Shared, limit: usize) -> Result<Vec<Claimed>> {
    let client = shared.queue.client().await?;
    let lease_ms = crate::enqueue::millis(shared.settings.lease);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let name: &str = &shared.queue.name;
    let owner: &str = &shared.id;
    let statement = client.prepare_cached(queries::CLAIM).await?;
    let rows = client
        .query(
            &statement,
            &[&owner, &lease_ms, &name, &shared.kinds, &limit],
        )
        .await?;
    Ok(rows.iter().map(Claimed::from_row).collect())
}
