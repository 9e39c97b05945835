//! What a task asks of the manager besides its work: a name and a timeout for now; the
//! retry, breaker, key and priority policies of the open issue will join them here.

use super::Reply;
use sluice_core::CancelToken;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

/// One task's policies, as given to [`TaskBuilder`](crate::TaskBuilder).
#[derive(Debug, Clone, Default)]
pub(crate) struct Policy {
    /// The task's name, for logs.
    pub(crate) name: Option<Arc<str>>,
    /// How long one attempt may run, from the moment its body starts.
    pub(crate) timeout: Option<Duration>,
}

/// A timeout armed on a runtime's timer, for work that cannot be stopped from outside.
#[derive(Debug, Clone)]
pub(crate) struct Deadline {
    /// How long after the body starts.
    pub(crate) after: Duration,
    /// Whose timer fires it.
    pub(crate) runtime: Handle,
    /// The task's name, for the log line.
    pub(crate) name: Option<Arc<str>>,
}

impl Deadline {
    /// Starts the clock for a body that just started: at the deadline the task is
    /// answered `TimedOut` and asked to stop, unless it has been answered by then.
    /// Abort the returned handle when the body ends.
    pub(crate) fn arm<T, E>(&self, reply: Arc<Reply<T, E>>, token: CancelToken) -> AbortHandle
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let (after, name) = (self.after, self.name.clone());
        self.runtime
            .spawn(async move {
                tokio::time::sleep(after).await;
                if reply.timed_out() {
                    token.cancel();
                    tracing::warn!(task = name.as_deref(), ?after, route = %reply.route.kind, "task timed out");
                }
            })
            .abort_handle()
    }
}
