//! The producer's side: unique keys, refused tasks, and enqueueing in the caller's
//! own transaction.

mod common;

use common::queue;
use sluice_postgres::NewTask;

#[tokio::test]
async fn a_unique_key_enqueues_once_while_live() {
    let queue = queue().await;
    let first = NewTask::new("report", &1)
        .expect("task")
        .unique_key("daily");
    let again = NewTask::new("report", &2)
        .expect("task")
        .unique_key("daily");
    let ids = queue
        .enqueue_many(vec![first, again.clone()])
        .await
        .expect("enqueue");
    assert!(ids[0].is_some());
    assert_eq!(ids[1], None);
    assert_eq!(queue.enqueue(again).await.expect("enqueue"), None);
}

#[tokio::test]
async fn invalid_tasks_are_refused_before_anything_is_written() {
    let queue = queue().await;
    let error = queue
        .enqueue(NewTask::new("x", &0).expect("task").max_attempts(0))
        .await
        .expect_err("zero attempts");
    assert!(error.to_string().contains("max_attempts 0"), "{error}");
    assert_eq!(queue.status().await.expect("status").count("pending"), 0);
}

#[tokio::test]
async fn tasks_enqueued_in_a_transaction_appear_when_it_commits() {
    let queue = queue().await;
    let (mut client, connection) = tokio_postgres::connect(queue.url(), tokio_postgres::NoTls)
        .await
        .expect("a connection of the application's own");
    tokio::spawn(connection);

    let tx = client.transaction().await.expect("begin");
    let ids = queue
        .enqueue_many_in(
            &tx,
            vec![NewTask::new("ship", &7).expect("task").key("order-7")],
        )
        .await
        .expect("enqueue in the transaction");
    assert!(ids[0].is_some());
    assert_eq!(queue.status().await.expect("status").count("pending"), 0);
    tx.commit().await.expect("commit");
    assert_eq!(queue.status().await.expect("status").count("pending"), 1);

    let tx = client.transaction().await.expect("begin");
    queue
        .enqueue_many_in(&tx, vec![NewTask::new("ship", &8).expect("task")])
        .await
        .expect("enqueue in the transaction");
    tx.rollback().await.expect("rollback");
    assert_eq!(queue.status().await.expect("status").count("pending"), 1);
}
