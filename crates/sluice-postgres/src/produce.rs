//! Enqueueing: one task or a batch, in a transaction of its own or in the caller's,
//! visible to the workers when that transaction commits and announced with
//! `pg_notify` in it.

use crate::chain::{Batch, Links};
use crate::enqueue::{NewTask, TaskId, millis};
use crate::error::Result;
use crate::payload::Payload;
use crate::queries;
use crate::queue::Queue;
use std::collections::{HashMap, HashSet};
use tokio_postgres::GenericClient;
use tokio_postgres::types::ToSql;

impl Queue {
    /// Enqueues one task; answers its id, or `None` when its unique key is already
    /// live in the queue.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(queue: sluice_postgres::Queue) -> Result<(), sluice_postgres::Error> {
    /// let id = queue.enqueue(sluice_postgres::NewTask::new("ping", &())?).await?;
    /// assert!(id.is_some());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn enqueue(&self, task: NewTask) -> Result<Option<TaskId>> {
        Ok(self.enqueue_many(vec![task]).await?.pop().flatten())
    }

    /// Enqueues a batch in one transaction (one insert statement); answers each task's
    /// id in input order, `None` where its unique key was already live. Tasks of one
    /// key keep their order in the batch.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use sluice_postgres::NewTask;
    ///
    /// # async fn demo(queue: sluice_postgres::Queue) -> Result<(), sluice_postgres::Error> {
    /// let tasks = (0..100)
    ///     .map(|n| Ok(NewTask::new("index", &n)?.key(format!("shard-{}", n % 4))))
    ///     .collect::<Result<Vec<_>, sluice_postgres::Error>>()?;
    /// let ids = queue.enqueue_many(tasks).await?;
    /// assert_eq!(ids.len(), 100);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn enqueue_many(&self, tasks: Vec<NewTask>) -> Result<Vec<Option<TaskId>>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let ids = self.enqueue_many_in(&*tx, tasks).await?;
        tx.commit().await?;
        Ok(ids)
    }

    /// Enqueues a batch in the caller's transaction (or on any client): the tasks
    /// become visible to the workers, and are announced, only when it commits — with
    /// the caller's own writes, or not at all.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use sluice_postgres::NewTask;
    ///
    /// # async fn demo(queue: sluice_postgres::Queue, client: &mut tokio_postgres::Client)
    /// # -> Result<(), Box<dyn std::error::Error>> {
    /// let tx = client.transaction().await?;
    /// tx.execute("INSERT INTO orders (id) VALUES (7)", &[]).await?;
    /// queue.enqueue_many_in(&tx, vec![NewTask::new("ship", &7)?]).await?;
    /// tx.commit().await?; // the order and its task, together
    /// # Ok(())
    /// # }
    /// ```
    pub async fn enqueue_many_in<C: GenericClient + Sync>(
        &self,
        client: &C,
        tasks: Vec<NewTask>,
    ) -> Result<Vec<Option<TaskId>>> {
        for task in &tasks {
            task.check()?;
        }
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let fifo_keys: Vec<Option<String>> = tasks.iter().map(NewTask::fifo_key).collect();
        let batch = Batch::new(&fifo_keys);
        let kinds: Vec<&str> = tasks.iter().map(|t| t.kind()).collect();
        let keys: Vec<Option<&str>> = tasks.iter().map(|t| t.key.as_deref()).collect();
        let (payloads, bytes): (Vec<Option<&serde_json::Value>>, Vec<Option<&[u8]>>) = tasks
            .iter()
            .map(|t| match &t.payload {
                Payload::Json(json) => (Some(json), None),
                Payload::Bytes(bytes) => (None, Some(bytes.as_slice())),
            })
            .unzip();
        let priorities: Vec<i16> = tasks.iter().map(|t| t.priority).collect();
        let delays: Vec<i64> = tasks.iter().map(|t| millis(t.delay)).collect();
        let attempts: Vec<i32> = tasks
            .iter()
            .map(|t| i32::try_from(t.max_attempts).unwrap_or(i32::MAX))
            .collect();
        let timeouts: Vec<Option<i64>> = tasks.iter().map(|t| t.timeout.map(millis)).collect();
        let uniques: Vec<Option<&str>> = tasks.iter().map(|t| t.unique_key.as_deref()).collect();
        let name: &str = &self.name;

        // Chained tasks: lock their chains (reading the tails) and reserve ids, in one
        // round trip, so that each task is inserted already linked.
        let mut reserved = Vec::new();
        let mut tails = HashMap::new();
        let links = if batch.is_empty() {
            Links {
                ids: vec![None; tasks.len()],
                prevs: vec![None; tasks.len()],
                nexts: vec![None; tasks.len()],
            }
        } else {
            let count = i64::try_from(tasks.len()).unwrap_or(i64::MAX);
            let chains = batch.keys();
            let lock_params: [&(dyn ToSql + Sync); 2] = [&name, &chains];
            let reserve_params: [&(dyn ToSql + Sync); 1] = [&count];
            let (locked, ids) = tokio::try_join!(
                client.query(queries::LOCK_CHAINS, &lock_params),
                client.query(queries::RESERVE_IDS, &reserve_params),
            )?;
            tails = locked
                .iter()
                .map(|row| (row.get::<_, String>(0), row.get::<_, Option<i64>>(1)))
                .collect();
            reserved = ids.iter().map(|row| row.get::<_, i64>(0)).collect();
            reserved.sort_unstable();
            batch.link(tasks.len(), &reserved, &tails)
        };
        let rows = client
            .query(
                queries::ENQUEUE,
                &[
                    &name,
                    &kinds,
                    &keys,
                    &fifo_keys,
                    &payloads,
                    &priorities,
                    &delays,
                    &attempts,
                    &timeouts,
                    &uniques,
                    &bytes,
                    &links.ids,
                    &links.prevs,
                    &links.nexts,
                ],
            )
            .await?;
        // Only a chained batch needs the set of inserted ids (a unique key may have
        // skipped some of its tasks); the others read the rows in order below.
        let inserted: HashSet<TaskId> = if batch.is_empty() {
            HashSet::new()
        } else {
            rows.iter().map(|row| row.get::<_, i64>(0)).collect()
        };
        if !batch.is_empty() {
            let ends = batch.ends(&reserved, &inserted, &tails);
            if !ends.relink.0.is_empty() {
                let (ids, prevs, nexts) = &ends.relink;
                client
                    .execute(queries::RELINK, &[ids, prevs, nexts])
                    .await?;
            }
            if !ends.unused.is_empty() {
                client
                    .execute(queries::DROP_EMPTY_CHAINS, &[&name, &ends.unused])
                    .await?;
            }
            client
                .execute(
                    queries::LINK_CHAINS,
                    &[
                        &name,
                        &ends.keys,
                        &ends.old_tails,
                        &ends.firsts,
                        &ends.lasts,
                    ],
                )
                .await?;
        }
        client.execute(queries::NOTIFY, &[&name]).await?;

        if !batch.is_empty() {
            return Ok(links
                .ids
                .iter()
                .map(|id| id.filter(|id| inserted.contains(id)))
                .collect());
        }
        // Inserted rows come back in input order (ids grow); a task is missing only
        // when its unique key was live already or repeated earlier in the batch.
        let mut ids = rows
            .iter()
            .map(|row| row.get::<_, i64>(0))
            .collect::<Vec<_>>();
        ids.sort_unstable();
        if uniques.iter().all(Option::is_none) {
            // No unique key: every task was inserted, without a set of keys to check.
            return Ok(ids.into_iter().map(Some).collect());
        }
        let inserted_uniques: HashSet<String> = rows
            .iter()
            .filter_map(|row| row.get::<_, Option<String>>(1))
            .collect();
        let mut ids = ids.into_iter();
        let mut seen = HashSet::new();
        Ok(uniques
            .iter()
            .map(|unique| match unique {
                None => ids.next(),
                Some(u) if inserted_uniques.contains(*u) && seen.insert(*u) => ids.next(),
                Some(_) => None,
            })
            .collect())
    }
}
