//! An io item's run (its permits taken, its time limit, its answer in its place) and,
//! in a keyed map, the chain of its key's items parked behind it: run in turn by the
//! task that ran the item before, each taking its own permits (or, for an item the
//! driver answered itself, by a task of its own).

use super::IoStream;
use crate::TaskError;
use crate::map::stream::ItemResult;
use crate::map::stream::keyed::KeyOrder;
use crate::map::stream::policy::Admitted;
use crate::policy::limit::Dependency;
use crate::policy::timeout::within;
use crate::task::{InFrame, drop_quietly};
use sluice_core::Permit;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// An item's call through its dependency's limit: the dependency and its permit.
pub(super) type Call = Option<(Arc<Dependency>, Permit)>;

impl<O, E> IoStream<O, E> {
    /// Runs one item, framed and holding its route permit, under the item timeout;
    /// answers it in its place. False if the map stopped first (the item unanswered).
    pub(super) async fn run_item<Fut>(
        &self,
        seq: u64,
        admitted: Option<Admitted>,
        call: Call,
        framed: InFrame<Fut>,
    ) -> bool
    where
        Fut: Future<Output = ItemResult<O, E>>,
    {
        tokio::select! {
            biased;
            () = self.stop.cancelled() => {
                self.cut.store(true, Ordering::Release);
                false
            }
            () = self.answer_item(seq, admitted, call, framed) => true,
        }
    }

    /// Runs one item under the item timeout and answers it in its place; the caller
    /// stops it at the map's stop.
    pub(super) async fn answer_item<Fut>(
        &self,
        seq: u64,
        admitted: Option<Admitted>,
        call: Call,
        framed: InFrame<Fut>,
    ) where
        Fut: Future<Output = ItemResult<O, E>>,
    {
        let result = self.ran_item(call, framed).await;
        self.item_done(seq, admitted, result);
    }

    /// Runs one item under the item timeout and counts its answer, which the caller
    /// puts in place `seq` (the driver: with the others answered in the same poll).
    pub(super) async fn counted_item<Framed>(
        &self,
        seq: u64,
        admitted: Option<Admitted>,
        call: Call,
        framed: Framed,
    ) -> (u64, ItemResult<O, E>)
    where
        Framed: Future<Output = Result<ItemResult<O, E>, String>>,
    {
        let result = self.ran_item(call, framed).await;
        self.item_counted(admitted, &result);
        (seq, result)
    }

    /// Runs one item under the item timeout, its dependency's call around it.
    /// `framed` is the item's future in its frame ([`InFrame`]), boxed or not, whose
    /// panic comes out as its message.
    async fn ran_item<Framed>(&self, call: Call, framed: Framed) -> ItemResult<O, E>
    where
        Framed: Future<Output = Result<ItemResult<O, E>, String>>,
    {
        let began = call.as_ref().map(|(dependency, _)| dependency.begin_call());
        // The timer boxed, and only for a map with an item timeout: a `Timeout` kept
        // its `Sleep` inline in every item's state, timeout or not.
        let ran = within(self.item_timeout, framed).await;
        if let (Some((dependency, permit)), Some(began)) = (call, began) {
            let dropped = !matches!(ran, Some(Ok(Ok(_))));
            if dependency.end_call(began, Some(dropped)) {
                dependency.sync_limit();
            }
            drop(permit);
        }
        match ran {
            Some(Ok(result)) => result,
            Some(Err(message)) => Err(TaskError::Panicked(message)),
            None => Err(TaskError::TimedOut),
        }
    }

    /// Runs `next` and each item of its key parked behind it, in turn: each asks the
    /// breaker and takes its permits as it comes up. A map that stops (or failed
    /// fast) gives the rest up unrun.
    pub(super) async fn chain<T, Fut>(
        self: &Arc<Self>,
        keys: &dyn KeyOrder<T, Fut>,
        mut next: Option<(u64, Fut)>,
    ) where
        Fut: Future<Output = ItemResult<O, E>>,
    {
        while let Some((seq, future)) = next.take() {
            if self.stop.is_cancelled() || self.failed.load(Ordering::Acquire) {
                drop_quietly(future, "an item of a stopped map");
                next = keys.done(seq);
                continue;
            }
            let admitted = match self.policy.admit() {
                Ok(admitted) => admitted,
                Err(refused) => {
                    drop_quietly(future, "an item refused by its breaker");
                    self.item_done(seq, None, Err(refused));
                    next = keys.done(seq);
                    continue;
                }
            };
            let call = match &self.policy.dependency {
                Some(dependency) => tokio::select! {
                    biased;
                    () = self.stop.cancelled() => return,
                    permit = dependency.gate.acquire() => Some((dependency.clone(), permit)),
                },
                None => None,
            };
            let permit = tokio::select! {
                biased;
                () = self.stop.cancelled() => return,
                permit = self.reply.route.gate.acquire() => permit,
            };
            let framed = InFrame::new(future, self.token.clone(), permit);
            if !self.run_item(seq, Some(admitted), call, framed).await {
                return;
            }
            next = keys.done(seq);
        }
    }
}

/// What the driver starts: an item (its future made once it has its permits), or a
/// keyed item's future, made when it was pulled.
pub(super) enum Work<T, Fut> {
    /// The item.
    Item(T),
    /// Its future.
    Made(Fut),
}

/// A keyed item answered by the driver itself: its key's next item, if parked, runs
/// in a task of its own.
pub(super) fn pass_turn<T, Fut, O, E>(
    map: &Arc<IoStream<O, E>>,
    runtime: &tokio::runtime::Handle,
    keys: &Arc<dyn KeyOrder<T, Fut>>,
    seq: u64,
    done: &tokio::sync::mpsc::Sender<()>,
) where
    T: Send + 'static,
    Fut: Future<Output = ItemResult<O, E>> + Send + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    if let Some(next) = keys.done(seq) {
        let (map, keys, done) = (map.clone(), keys.clone(), done.clone());
        runtime.spawn(async move {
            map.chain(&*keys, Some(next)).await;
            drop(done);
        });
    }
}
