//! The plans of the statements a worker runs per batch stay proportionate whatever the
//! planner's statistics say: a settle finds its tasks by primary key, never through the
//! leases index (whose dead entries nothing prunes in a bitmap scan) and never by
//! reading its arrays again for each task it found.

mod common;

use common::queue;
use sluice_postgres::testing::sql;
use sluice_postgres::{NewTask, Queue};

/// Tasks claimed and settled in one statement, as a busy worker's batch.
const BATCH: usize = 512;

/// A client of its own on `queue`'s database.
async fn client(queue: &Queue) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(queue.url(), tokio_postgres::NoTls)
        .await
        .expect("connecting");
    tokio::spawn(connection);
    client
}

/// Every node of an `EXPLAIN (FORMAT JSON)` plan.
fn nodes(plan: &serde_json::Value, into: &mut Vec<serde_json::Value>) {
    into.push(plan.clone());
    for child in plan["Plans"].as_array().into_iter().flatten() {
        nodes(child, into);
    }
}

#[tokio::test]
async fn a_settle_finds_its_tasks_by_primary_key_whatever_the_statistics() {
    let queue = queue().await.named("plans");
    let tasks = (0..BATCH * 4)
        .map(|_| NewTask::new("noop", &()).expect("task"))
        .collect::<Vec<_>>();
    queue.enqueue_many(tasks).await.expect("enqueue");
    let db = client(&queue).await;
    // Statistics taken while nothing runs: the planner believes few tasks ever do.
    db.batch_execute("ANALYZE sluice_task")
        .await
        .expect("analyze");
    let kinds = vec!["noop".to_owned()];
    let limit = BATCH as i64;
    // Earlier batches leave dead entries in every index a running task was in.
    for _ in 0..2 {
        let rows = db
            .query(
                sql::CLAIM,
                &[&"earlier", &30_000i64, &"plans", &kinds, &limit],
            )
            .await
            .expect("claim");
        let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        let attempts: Vec<i32> = rows.iter().map(|r| r.get(4)).collect();
        let states = vec!["completed"; ids.len()];
        let errors: Vec<Option<serde_json::Value>> = vec![None; ids.len()];
        let (no_ids, no_attempts, no_delays) =
            (Vec::<i64>::new(), Vec::<i32>::new(), Vec::<i64>::new());
        let (no_errors, no_free) = (Vec::<Option<serde_json::Value>>::new(), Vec::<bool>::new());
        let settled = db
            .query(
                sql::SETTLE,
                &[
                    &"earlier",
                    &"plans",
                    &ids,
                    &attempts,
                    &states,
                    &errors,
                    &no_ids,
                    &no_attempts,
                    &no_delays,
                    &no_errors,
                    &no_free,
                ],
            )
            .await
            .expect("settle");
        assert_eq!(settled.len(), ids.len(), "every task of the batch settled");
    }
    let rows = db
        .query(
            sql::CLAIM,
            &[&"worker", &30_000i64, &"plans", &kinds, &limit],
        )
        .await
        .expect("claim");
    assert_eq!(rows.len(), BATCH, "a full batch claimed");
    let ids: Vec<String> = rows
        .iter()
        .map(|r| r.get::<_, i64>(0).to_string())
        .collect();
    let attempts: Vec<String> = rows
        .iter()
        .map(|r| r.get::<_, i32>(4).to_string())
        .collect();
    let array = |items: &[String]| format!("'{{{}}}'", items.join(","));
    let states = array(&vec!["completed".to_owned(); BATCH]);
    let errors = array(&vec!["NULL".to_owned(); BATCH]);

    // A custom plan, as the first executions on each connection get: it knows the
    // arrays' length. Run for real and rolled back.
    db.batch_execute(&format!(
        "SET plan_cache_mode = force_custom_plan;
         PREPARE settle(text, text, int8[], int4[], text[], jsonb[], int8[], int4[], int8[],
                        jsonb[], bool[]) AS {};
         BEGIN",
        sql::SETTLE
    ))
    .await
    .expect("prepare");
    let explained = db
        .simple_query(&format!(
            "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE settle('worker', 'plans', {}, {}, {states},
                 {errors}, '{{}}', '{{}}', '{{}}', '{{}}', '{{}}')",
            array(&ids),
            array(&attempts),
        ))
        .await
        .expect("explain");
    db.batch_execute("ROLLBACK").await.expect("rollback");
    let text = explained
        .iter()
        .find_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .expect("a plan");
    let plan: serde_json::Value = serde_json::from_str(&text).expect("a JSON plan");
    let mut all = Vec::new();
    nodes(&plan[0]["Plan"], &mut all);

    let deleted = all
        .iter()
        .find(|node| node["Node Type"] == "ModifyTable" && node["Operation"] == "Delete")
        .expect("the delete of the settled tasks");
    assert_eq!(
        deleted["Actual Rows"], BATCH,
        "every task of the batch settled"
    );
    for node in &all {
        assert_ne!(
            node["Index Name"], "sluice_task_leases",
            "a settle must not look for its tasks through the leases index: {text}"
        );
        let loops = node["Actual Loops"].as_u64().unwrap_or(0);
        assert!(
            !(node["Node Type"] == "Function Scan" && loops > 1),
            "a settle must not read its arrays again for each task: {text}"
        );
    }
}
