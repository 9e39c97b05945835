//! Operating on tasks from any process: cancel a queued or running task, re-queue a
//! dead one.

use crate::enqueue::TaskId;
use crate::error::Result;
use crate::queries;
use crate::queue::Queue;

/// What [`Queue::cancel`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// The task was pending: it is now in the history as cancelled.
    Dequeued,
    /// The task is running: its worker was asked to cancel it (at its next heartbeat)
    /// and records it as cancelled when its run ends.
    Requested,
    /// No live task has this id (finished, or never existed).
    NotFound,
}

impl Queue {
    /// Cancels task `id`, pending or running, from any process.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use sluice_postgres::{Cancelled, NewTask};
    ///
    /// # async fn demo(queue: sluice_postgres::Queue) -> Result<(), sluice_postgres::Error> {
    /// let id = queue.enqueue(NewTask::new("report", &2026)?).await?.unwrap_or_default();
    /// assert_eq!(queue.cancel(id).await?, Cancelled::Dequeued);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn cancel(&self, id: TaskId) -> Result<Cancelled> {
        let mut client = self.client().await?;
        // A task moves between pending and running under us; a few tries settle it.
        for _ in 0..3 {
            if !client
                .query(queries::REQUEST_CANCEL, &[&id])
                .await?
                .is_empty()
            {
                return Ok(Cancelled::Requested);
            }
            let tx = client.transaction().await?;
            let Some(row) = tx.query_opt(queries::PENDING_CHAIN, &[&id]).await? else {
                tx.rollback().await?;
                continue;
            };
            let queue: String = row.get(0);
            let chain: Option<String> = row.get(1);
            if let Some(chain) = &chain {
                tx.execute(queries::LOCK_LIVE_CHAINS, &[&queue, &vec![chain]])
                    .await?;
            }
            // Still pending? (It may have been claimed since it was read.)
            let dequeued = tx.query(queries::CANCEL_PENDING, &[&id]).await?.len();
            tx.execute(queries::NOTIFY, &[&queue]).await?;
            tx.commit().await?;
            if dequeued == 1 {
                return Ok(Cancelled::Dequeued);
            }
        }
        Ok(Cancelled::NotFound)
    }

    /// Puts dead task `id` back on its queue as a new pending task (at the end of its
    /// key's order, attempts reset, past errors kept); answers its new id, or `None`
    /// when no dead task has this id.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(queue: sluice_postgres::Queue, dead: i64) -> Result<(), sluice_postgres::Error> {
    /// if let Some(again) = queue.requeue_dead(dead).await? {
    ///     assert_ne!(again, dead);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn requeue_dead(&self, id: TaskId) -> Result<Option<TaskId>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(row) = tx.query_opt(queries::DEAD_CHAIN, &[&id]).await? else {
            return Ok(None);
        };
        let queue: String = row.get(0);
        let chain: Option<String> = row.get(1);
        let mut tail: Option<TaskId> = None;
        if let Some(chain) = &chain {
            let locked = tx
                .query_one(queries::LOCK_CHAINS, &[&queue, &vec![chain]])
                .await?;
            tail = locked.get(1);
        }
        let new_id: Option<TaskId> = tx
            .query_opt(queries::REQUEUE_DEAD, &[&id, &tail])
            .await?
            .map(|row| row.get(0));
        if let (Some(chain), Some(new_id)) = (&chain, new_id) {
            tx.execute(
                queries::LINK_CHAINS,
                &[
                    &queue,
                    &vec![chain],
                    &vec![tail],
                    &vec![new_id],
                    &vec![new_id],
                ],
            )
            .await?;
        }
        tx.execute(queries::NOTIFY, &[&queue]).await?;
        tx.commit().await?;
        Ok(new_id)
    }
}
