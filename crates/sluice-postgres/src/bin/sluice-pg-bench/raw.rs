//! The raw side: the queue's own statements (`sluice_postgres::testing::sql`) in a
//! plain loop per claimer on its own connection, no Sluice code: claim a batch, then
//! finish it in one transaction (and promote the next heads of its keys).

use crate::{ENQUEUE_CHUNK, GIVE_UP, Row, key_of};
use sluice_postgres::testing::sql;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_postgres::{Client, NoTls};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Runs `row` on queue `queue`; answers the time from the first enqueue to the last
/// completion.
pub async fn run(url: &str, queue: &str, row: Row) -> Result<Duration, Box<dyn std::error::Error>> {
    let done = Arc::new(AtomicUsize::new(0));
    let mut claimers = Vec::new();
    for n in 0..row.workers {
        let client = connect(url).await.map_err(|e| crate::chain(&*e))?;
        let (done, queue) = (done.clone(), queue.to_owned());
        claimers.push(tokio::spawn(async move {
            claim_loop(client, &queue, &format!("raw-{n}"), row, &done).await
        }));
    }
    let producer = connect(url).await.map_err(|e| crate::chain(&*e))?;
    let began = Instant::now();
    enqueue_all(producer, queue, row)
        .await
        .map_err(|e| crate::chain(&*e))?;
    for claimer in claimers {
        claimer.await?.map_err(|e| crate::chain(&*e))?;
    }
    Ok(began.elapsed())
}

/// A client on its own connection.
async fn connect(url: &str) -> Result<Client, Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// Enqueues the row's tasks in chunks, each in a transaction, as `enqueue_many` does.
async fn enqueue_all(mut client: Client, queue: &str, row: Row) -> Result<(), Error> {
    let mut n = 0;
    while n < row.tasks {
        let chunk: Vec<usize> = (n..row.tasks.min(n + ENQUEUE_CHUNK)).collect();
        n += chunk.len();
        let keys: Vec<Option<String>> = chunk.iter().map(|&i| key_of(i, row.keys)).collect();
        let len = chunk.len();
        let kinds = vec!["noop"; len];
        let payloads = vec![Some(serde_json::Value::Null); len];
        let bytes: Vec<Option<&[u8]>> = vec![None; len];
        let priorities = vec![0i16; len];
        let delays = vec![0i64; len];
        let attempts = vec![25i32; len];
        let timeouts: Vec<Option<i64>> = vec![None; len];
        let uniques: Vec<Option<&str>> = vec![None; len];
        let mut chains: Vec<String> = keys.iter().flatten().cloned().collect();
        chains.sort();
        chains.dedup();
        let queues = vec![queue.to_owned(); chains.len()];
        let tx = client.transaction().await?;
        if !chains.is_empty() {
            tx.execute(sql::LOCK_CHAINS, &[&queues, &chains]).await?;
        }
        tx.execute(
            sql::ENQUEUE,
            &[
                &queue,
                &kinds,
                &keys,
                &keys,
                &payloads,
                &priorities,
                &delays,
                &attempts,
                &timeouts,
                &uniques,
                &bytes,
            ],
        )
        .await?;
        if !chains.is_empty() {
            tx.execute(sql::PROMOTE_HEADS, &[&queues, &chains]).await?;
        }
        tx.execute(sql::NOTIFY, &[&queue]).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Claims and finishes until every task of the row is done.
async fn claim_loop(
    mut client: Client,
    queue: &str,
    owner: &str,
    row: Row,
    done: &AtomicUsize,
) -> Result<(), Error> {
    let kinds = vec!["noop".to_owned()];
    let limit = row.batch as i64;
    let began = Instant::now();
    while done.load(Ordering::Relaxed) < row.tasks {
        if began.elapsed() > GIVE_UP {
            return Err("the raw loop gave up waiting for its tasks".into());
        }
        let rows = client
            .query(sql::CLAIM, &[&owner, &30_000i64, &queue, &kinds, &limit])
            .await?;
        if rows.is_empty() {
            // Nothing ready: the producer or another claimer's heads come soon.
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        let attempts: Vec<i32> = rows.iter().map(|r| r.get(4)).collect();
        let states = vec!["completed"; ids.len()];
        let errors: Vec<Option<serde_json::Value>> = vec![None; ids.len()];
        let tx = client.transaction().await?;
        let finished = tx
            .query(sql::FINISH, &[&ids, &attempts, &states, &errors, &owner])
            .await?;
        let chains: Vec<String> = finished.iter().filter_map(|r| r.get(2)).collect();
        if !chains.is_empty() {
            let queues = vec![queue.to_owned(); chains.len()];
            tx.execute(sql::LOCK_CHAINS, &[&queues, &chains]).await?;
            if tx.execute(sql::PROMOTE_HEADS, &[&queues, &chains]).await? > 0 {
                tx.execute(sql::NOTIFY, &[&queue]).await?;
            }
        }
        tx.commit().await?;
        done.fetch_add(finished.len(), Ordering::Relaxed);
    }
    Ok(())
}
