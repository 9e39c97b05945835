//! A map's pullers: their places in the route's gate queue, on the backend once
//! admitted, and the count of those still at work however they end.

use super::PullMap;
use crate::task::execute;
use sluice_core::{Deferred, Lease, Permit};
use sluice_exec::Job;
use std::sync::Arc;

/// Counts a helping waiter out again however its pull loop ends.
pub(super) struct PullerGone<'a, It, F, O>(pub(super) &'a PullMap<It, F, O>)
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> O + Send + Sync + 'static,
    O: Send + 'static;

impl<It, F, O> Drop for PullerGone<'_, It, F, O>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> O + Send + Sync + 'static,
    O: Send + 'static,
{
    fn drop(&mut self) {
        self.0.puller_gone();
    }
}

/// One puller's place in the route's gate queue.
pub(super) struct Puller<It: Iterator, F, O>(pub(super) Arc<PullMap<It, F, O>>);

impl<It, F, O> Deferred for Puller<It, F, O>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> O + Send + Sync + 'static,
    O: Send + 'static,
{
    fn admit(self: Box<Self>, permit: Permit) -> Option<Permit> {
        if self.0.reply.is_answered() {
            self.0.puller_gone();
            return Some(permit);
        }
        let executor = self.0.reply.route.executor.clone();
        let running = RunningPuller {
            map: self.0,
            permit: Some(permit),
        };
        let job = Job::new(move || {
            let mut running = running;
            if let Some(permit) = running.permit.take() {
                let lease = Lease::new(permit);
                running.map.pull_loop(Some(&lease));
                lease.end();
            }
        });
        execute(&*executor, job);
        None
    }

    fn abort(self: Box<Self>) -> bool {
        self.0.puller_gone()
    }
}

/// A puller handed to a backend; however it ends (run or dropped), it is gone.
struct RunningPuller<It, F, O>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> O + Send + Sync + 'static,
    O: Send + 'static,
{
    /// The map it pulls for.
    map: Arc<PullMap<It, F, O>>,
    /// Its admission; a lease while it runs, released with the job if it never runs.
    permit: Option<Permit>,
}

impl<It, F, O> Drop for RunningPuller<It, F, O>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> O + Send + Sync + 'static,
    O: Send + 'static,
{
    fn drop(&mut self) {
        self.map.puller_gone();
    }
}
