//! The raw side: the queue's own statements (`sluice_postgres::testing::sql`) in a
//! plain loop per claimer on its own connection, no Sluice code: claim a batch, then
//! finish it in one statement (which makes the next task of each key its head), both
//! prepared once per connection as the workers' are.

use crate::{ENQUEUE_CHUNK, GIVE_UP, Row, key_of};
use sluice_postgres::testing::sql;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_postgres::types::ToSql;
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
        let tx = client.transaction().await?;
        // Chained tasks are inserted linked: lock the chains (their tails), reserve ids.
        let (mut ids, mut prevs, mut nexts) = (vec![None; len], vec![None; len], vec![None; len]);
        let mut ends: HashMap<String, (Option<i64>, i64, i64)> = HashMap::new();
        if !chains.is_empty() {
            let count = len as i64;
            let lock_params: [&(dyn ToSql + Sync); 2] = [&queue, &chains];
            let reserve_params: [&(dyn ToSql + Sync); 1] = [&count];
            let (locked, reserved) = tokio::try_join!(
                tx.query(sql::LOCK_CHAINS, &lock_params),
                tx.query(sql::RESERVE_IDS, &reserve_params),
            )?;
            let mut tails: HashMap<String, Option<i64>> =
                locked.iter().map(|r| (r.get(0), r.get(1))).collect();
            let mut reserved: Vec<i64> = reserved.iter().map(|r| r.get(0)).collect();
            reserved.sort_unstable();
            let mut last_of: HashMap<&str, usize> = HashMap::new();
            for (n, key) in keys.iter().enumerate() {
                ids[n] = Some(reserved[n]);
                let Some(key) = key else { continue };
                match last_of.insert(key, n) {
                    Some(before) => {
                        prevs[n] = ids[before];
                        nexts[before] = ids[n];
                    }
                    None => prevs[n] = tails.remove(key).flatten(),
                }
                ends.entry(key.clone())
                    .and_modify(|end| end.2 = reserved[n])
                    .or_insert((prevs[n], reserved[n], reserved[n]));
            }
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
                &ids,
                &prevs,
                &nexts,
            ],
        )
        .await?;
        if !ends.is_empty() {
            let (mut chains, mut old_tails, mut firsts, mut lasts) =
                (vec![], vec![], vec![], vec![]);
            for (key, (old_tail, first, last)) in ends {
                chains.push(key);
                old_tails.push(old_tail);
                firsts.push(first);
                lasts.push(last);
            }
            tx.execute(
                sql::LINK_CHAINS,
                &[&queue, &chains, &old_tails, &firsts, &lasts],
            )
            .await?;
        }
        tx.execute(sql::NOTIFY, &[&queue]).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Claims and finishes until every task of the row is done.
async fn claim_loop(
    client: Client,
    queue: &str,
    owner: &str,
    row: Row,
    done: &AtomicUsize,
) -> Result<(), Error> {
    let kinds = vec!["noop".to_owned()];
    let limit = row.batch as i64;
    let claim = client.prepare(sql::CLAIM).await?;
    let settle = client.prepare(sql::SETTLE).await?;
    let lock = client.prepare(sql::LOCK_LIVE_CHAINS).await?;
    let (no_ids, no_attempts, no_delays) =
        (Vec::<i64>::new(), Vec::<i32>::new(), Vec::<i64>::new());
    let (no_errors, no_free) = (Vec::<Option<serde_json::Value>>::new(), Vec::<bool>::new());
    let began = Instant::now();
    while done.load(Ordering::Relaxed) < row.tasks {
        if began.elapsed() > GIVE_UP {
            return Err("the raw loop gave up waiting for its tasks".into());
        }
        let rows = client
            .query(&claim, &[&owner, &30_000i64, &queue, &kinds, &limit])
            .await?;
        if rows.is_empty() {
            // Nothing ready: the producer or another claimer's heads come soon.
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        let attempts: Vec<i32> = rows.iter().map(|r| r.get(4)).collect();
        let mut chains: Vec<String> = rows.iter().filter_map(|r| r.get(10)).collect();
        chains.sort_unstable();
        chains.dedup();
        let states = vec!["completed"; ids.len()];
        let errors: Vec<Option<serde_json::Value>> = vec![None; ids.len()];
        let params: [&(dyn ToSql + Sync); 11] = [
            &owner,
            &queue,
            &ids,
            &attempts,
            &states,
            &errors,
            &no_ids,
            &no_attempts,
            &no_delays,
            &no_errors,
            &no_free,
        ];
        let finished = if chains.is_empty() {
            client.query(&settle, &params).await?
        } else {
            // Chains locked first, then SETTLE, in one transaction sent at once.
            let lock_params: [&(dyn ToSql + Sync); 2] = [&queue, &chains];
            let ((), _, rows, ()) = tokio::try_join!(
                biased;
                client.batch_execute("BEGIN"),
                client.query(&lock, &lock_params),
                client.query(&settle, &params),
                client.batch_execute("COMMIT"),
            )?;
            rows
        };
        let finished: Vec<i64> = finished.iter().filter_map(|r| r.get(0)).collect();
        done.fetch_add(finished.len(), Ordering::Relaxed);
    }
    Ok(())
}
