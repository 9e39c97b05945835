//! A claimed batch's driver, run on the manager's io runtime, and the guard that
//! settles each of its tasks exactly once, even when the driver is dropped midway.

use super::Shared;
use super::run::{Claimed, Started, run};
use super::settle::{Action, Settlement, Why};
use crate::payload::Payload;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::{Notify, OwnedSemaphorePermit};

/// A claimed batch's driver: what its tasks settle through, and the tasks not under
/// way yet. Dropped unpolled (the manager's runtime shut down before it ran), it
/// hands them back.
struct Driver {
    /// What the worker's loops share.
    shared: Arc<Shared>,
    /// Where settlements go.
    settle: UnboundedSender<Settlement>,
    /// Tasks not yet under way.
    waiting: Vec<Started>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        for started in std::mem::take(&mut self.waiting) {
            drop(Unsettled::new(self, started));
        }
    }
}

/// Runs a claimed batch's tasks concurrently in one driver; each sends its settlement
/// as soon as it ends, whatever the others do. However the driver ends, each task is
/// settled once: dropped midway, it hands back the tasks it still holds.
pub(crate) fn run_batch(
    shared: Arc<Shared>,
    batch: Vec<Started>,
    settle: UnboundedSender<Settlement>,
) -> impl Future<Output = ()> + Send + 'static {
    let mut driver = Driver {
        shared,
        settle,
        waiting: batch,
    };
    async move {
        let batch = std::mem::take(&mut driver.waiting);
        let driver = &driver;
        let mut running: FuturesUnordered<_> = batch
            .into_iter()
            .map(|started| run_task(Unsettled::new(driver, started)))
            .collect();
        while running.next().await.is_some() {}
    }
}

/// A held task until its settlement is sent. Dropped before that (its driver dropped
/// with the runtime it ran on), it is handed back, and the worker stops claiming: the
/// manager it runs tasks through is gone, so more would only be handed back too.
pub(super) struct Unsettled<'d> {
    /// Its batch's driver.
    driver: &'d Driver,
    /// The task.
    pub(super) task: Claimed,
    /// Whether its key is counted one by one.
    pub(super) tracked: bool,
    /// Notified when someone asks to cancel it.
    pub(super) cancel: Arc<Notify>,
    /// When its body went to the manager (counted as running since).
    pub(super) began: Option<Instant>,
    /// Its room among the held tasks; `None` once its settlement is sent.
    permit: Option<OwnedSemaphorePermit>,
}

impl<'d> Unsettled<'d> {
    /// What the worker's loops share.
    pub(super) fn shared(&self) -> &'d Shared {
        &self.driver.shared
    }

    /// `started`, settled through `driver`.
    fn new(driver: &'d Driver, started: Started) -> Self {
        Unsettled {
            driver,
            task: started.task,
            tracked: started.tracked,
            cancel: started.cancel,
            began: None,
            permit: Some(started.permit),
        }
    }

    /// Sends the task's settlement (once), forgets the hold and gives its room back.
    /// Its kind, key and chain are moved into the settlement rather than copied.
    fn settle(&mut self, action: Action) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let shared = &*self.driver.shared;
        let info = &mut self.task.info;
        if let Some(began) = self.began.take() {
            let elapsed = began.elapsed();
            shared
                .metrics
                .ended(&info.kind, info.key.as_deref(), self.tracked, elapsed);
        }
        let (id, attempt) = (info.id, info.attempt);
        // A send fails only once the settle loop is gone, which waits for every task.
        let _ = self.driver.settle.send(Settlement {
            id,
            attempt,
            kind: std::mem::take(&mut info.kind),
            key: info.key.take(),
            chain: self.task.chain.take(),
            tracked: self.tracked,
            action,
        });
        shared.release(id, attempt);
        drop(permit);
    }
}

impl Drop for Unsettled<'_> {
    fn drop(&mut self) {
        if self.permit.is_none() {
            return;
        }
        tracing::warn!(
            id = self.task.info.id,
            "sluice-postgres: the manager's runtime ended under a held task; handed back"
        );
        self.driver.shared.stop.cancel();
        self.settle(Action::Release {
            delay: Duration::ZERO,
            error: None,
            why: Why::HandedBack,
        });
    }
}

/// Runs one task and sends its settlement.
async fn run_task(mut task: Unsettled<'_>) {
    // The payload goes to the handler; the rest stays for the settlement.
    let payload = std::mem::replace(
        &mut task.task.payload,
        Payload::Json(serde_json::Value::Null),
    );
    let action = run(&mut task, payload).await;
    task.settle(action);
}
