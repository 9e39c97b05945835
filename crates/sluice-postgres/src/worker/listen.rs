//! The listener's own connection: LISTEN wakes the claim loop when tasks are
//! enqueued; every maintenance interval it rescues expired leases; and it holds the
//! maintenance leader's advisory lock (leadership ends with the connection), whose
//! holder alone applies the history's TTL.

use super::Shared;
use crate::error::Result;
use crate::queries;
use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::{AsyncMessage, Client, NoTls};

/// Rows rescued or removed per statement.
const MAINTENANCE_BATCH: i64 = 1000;

/// Statements of one kind per maintenance round at most (then the next round).
const MAINTENANCE_ROUNDS: usize = 20;

/// Listens and maintains until the worker is done, reconnecting with backoff.
pub(crate) async fn listen_loop(shared: Arc<Shared>) {
    let mut pause = Duration::from_millis(100);
    while !shared.done.is_cancelled() {
        match session(&shared).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(%error, retry_in = ?pause, "sluice-postgres: listener connection lost");
                // Tasks may have been enqueued unheard: look once.
                shared.wake.notify_one();
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = shared.done.cancelled() => return,
                }
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// One connection's life: LISTEN, then maintenance rounds until done or an error.
async fn session(shared: &Shared) -> Result<()> {
    let (client, mut connection) = shared.queue.config.connect(NoTls).await?;
    let queue = shared.queue.name.to_string();
    let wake = Arc::new(tokio::sync::Notify::new());
    let forward = wake.clone();
    let driver = tokio::spawn(async move {
        while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(note)) if note.payload() == queue => {
                    forward.notify_one();
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::debug!(%error, "sluice-postgres: listener connection ended");
                    break;
                }
            }
        }
    });
    let result = serve(shared, &client, &wake).await;
    drop(client);
    driver.abort();
    result
}

/// LISTENs, passes notifications on, and maintains while this worker leads.
async fn serve(shared: &Shared, client: &Client, wake: &tokio::sync::Notify) -> Result<()> {
    client
        .batch_execute(&format!("LISTEN {}", queries::CHANNEL))
        .await?;
    let mut leader = false;
    let mut ticker = tokio::time::interval(shared.settings.maintenance);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = wake.notified() => {
                shared.wake.notify_one();
                continue;
            }
            _ = ticker.tick() => {}
            () = shared.done.cancelled() => return Ok(()),
        }
        if client.is_closed() {
            return Err(closed(client).await);
        }
        if !leader {
            leader = client
                .query_one(queries::TRY_LEAD, &[&queries::LEADER_LOCK])
                .await?
                .get(0);
            if leader {
                tracing::info!(worker = %shared.id, "sluice-postgres: maintenance leader");
            }
        }
        // Every worker rescues (SKIP LOCKED: rescuers never collide): a leader that is
        // stopped (SIGSTOP) past its leases must not hold up the rescue of its own
        // tasks. Only the history's TTL waits for the leader.
        rescue(shared, client).await?;
        if leader {
            purge(shared, client).await?;
        }
    }
}

/// The error of a closed connection (a statement on it answers why).
async fn closed(client: &Client) -> crate::error::Error {
    match client.batch_execute("SELECT 1").await {
        Err(error) => error.into(),
        Ok(()) => crate::error::Error::Pool("listener connection closed".into()),
    }
}

/// Gives expired leases back to pending, in batches, and wakes the claimers.
async fn rescue(shared: &Shared, client: &Client) -> Result<()> {
    let mut rescued = 0u64;
    for _ in 0..MAINTENANCE_ROUNDS {
        let rows = client.query(queries::RESCUE, &[&MAINTENANCE_BATCH]).await?;
        rescued += rows.len() as u64;
        if (rows.len() as i64) < MAINTENANCE_BATCH {
            break;
        }
    }
    if rescued > 0 {
        tracing::info!(rescued, "sluice-postgres: expired leases rescued");
        shared.wake.notify_one();
        let name: &str = &shared.queue.name;
        client.execute(queries::NOTIFY, &[&name]).await?;
    }
    Ok(())
}

/// The leader's round: removes history past its TTL and forgets silent workers, in
/// batches.
async fn purge(shared: &Shared, client: &Client) -> Result<()> {
    let settings = &shared.settings;
    let mut purged = 0u64;
    for (state, keep) in [
        ("completed", settings.keep_finished),
        ("cancelled", settings.keep_finished),
        ("dead", settings.keep_dead),
    ] {
        let keep_ms = crate::enqueue::millis(keep);
        for _ in 0..MAINTENANCE_ROUNDS {
            let removed = client
                .execute(queries::PURGE_DONE, &[&state, &keep_ms, &MAINTENANCE_BATCH])
                .await?;
            purged += removed;
            if removed < MAINTENANCE_BATCH as u64 {
                break;
            }
        }
    }
    if purged > 0 {
        tracing::debug!(
            purged,
            "sluice-postgres: finished tasks past their TTL removed"
        );
    }
    client.execute(queries::PURGE_WORKERS, &[]).await?;
    Ok(())
}
