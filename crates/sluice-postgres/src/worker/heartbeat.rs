//! The heartbeat: extends the leases of held tasks, passes on cancel requests, and
//! says the worker is alive.

use super::Shared;
use crate::enqueue::TaskId;
use crate::error::Result;
use crate::queries;
use std::collections::HashSet;
use std::sync::Arc;

/// Beats every `heartbeat` interval until the worker is done.
pub(crate) async fn heartbeat_loop(shared: Arc<Shared>) {
    let mut ticker = tokio::time::interval(shared.settings.heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shared.done.cancelled() => return,
        }
        if let Err(error) = beat(&shared).await {
            tracing::warn!(%error, "sluice-postgres: heartbeat failed");
        }
    }
}

/// One beat.
async fn beat(shared: &Shared) -> Result<()> {
    let held: Vec<TaskId> = shared.held().keys().copied().collect();
    let client = shared.queue.client().await?;
    let name: &str = &shared.queue.name;
    let owner: &str = &shared.id;
    client
        .execute(queries::WORKER_ALIVE, &[&owner, &name])
        .await?;
    if held.is_empty() {
        return Ok(());
    }
    let lease_ms = crate::enqueue::millis(shared.settings.lease);
    let rows = client
        .query(queries::HEARTBEAT, &[&held, &owner, &lease_ms])
        .await?;
    let mut kept = HashSet::with_capacity(rows.len());
    let held_now = shared.held();
    for row in &rows {
        let id: TaskId = row.get(0);
        kept.insert(id);
        if row.get::<_, bool>(1)
            && let Some(task) = held_now.get(&id)
        {
            task.cancel.notify_one();
        }
    }
    for id in held.iter().filter(|id| !kept.contains(id)) {
        // Settled meanwhile, or the lease was lost: then its result will be refused.
        if let Some(task) = held_now.get(id) {
            tracing::debug!(
                id,
                attempt = task.attempt,
                "sluice-postgres: lease not extended"
            );
        }
    }
    Ok(())
}
