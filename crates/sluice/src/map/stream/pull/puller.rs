//! The pullers' places in the route's gate queue and on the backend, and the
//! stream's hold on the map (resume, cancel, help).

use super::*;

impl<It, F, O, E> StreamControl for PullStream<It, F, O, E>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> ItemResult<O, E> + Send + Sync + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    fn resume(&self, parked: usize) {
        let resumed = {
            let mut state = lock(&self.state);
            let resumed = parked.min(state.parked);
            state.parked -= resumed;
            state.pullers += resumed;
            state.owed += parked - resumed;
            resumed
        };
        for _ in 0..resumed {
            self.queue_puller();
        }
    }

    fn start(&self, blocking: bool) {
        if !self.small {
            return;
        }
        let mut state = lock(&self.state);
        if state.kicked {
            return;
        }
        state.kicked = true;
        self.reply.route.counters.submitted();
        if blocking && self.reply.route.inline_ok {
            // The consumer produces it itself (`help`).
            state.inline = true;
            return;
        }
        state.pullers += self.strength;
        drop(state);
        for _ in 0..self.strength {
            self.queue_puller();
        }
    }

    fn cancel(&self) {
        {
            let mut state = lock(&self.state);
            if !state.kicked {
                // Never read: counted now, so that its cancellation has a submission.
                state.kicked = true;
                self.reply.route.counters.submitted();
            }
            // Marked before the token, so that a puller ending the map meanwhile (its
            // input returned `None`) counts it cancelled, as the consumer asked.
            state.consumer_gone = true;
        }
        // Never waits for the input: a puller blocked in it ends the map when it returns.
        let _ = self.token.cancel();
        let mut state = lock(&self.state);
        // Parked pullers will not be resumed by a consumer that is gone.
        state.parked = 0;
        self.end_if_done(state);
    }

    fn is_small(&self) -> bool {
        self.small
    }

    fn help(&self) -> bool {
        if !self.reply.route.inline_ok {
            return false;
        }
        {
            let mut state = lock(&self.state);
            if state.ended || state.pulling {
                return false;
            }
            // Counted as a puller while it helps; its pull loop leaves like any.
            state.pullers += 1;
        }
        self.pull_loop(None) > 0
    }
}

/// One puller's place in the route's gate queue.
pub(super) struct Puller<It: Iterator, F, O, E>(pub(super) Arc<PullStream<It, F, O, E>>);

impl<It, F, O, E> Deferred for Puller<It, F, O, E>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> ItemResult<O, E> + Send + Sync + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    fn admit(self: Box<Self>, permit: Permit) -> Option<Permit> {
        let state = lock(&self.0.state);
        if state.ended {
            self.0.leave(state);
            return Some(permit);
        }
        drop(state);
        let executor = self.0.reply.route.executor.clone();
        let running = Running(self.0, Some(permit));
        let job = Job::new(move || {
            let mut running = running;
            if let Some(permit) = running.1.take() {
                let lease = Lease::new(permit);
                running.0.pull_loop(Some(&lease));
                lease.end();
            }
        });
        execute(&*executor, job);
        None
    }

    fn abort(self: Box<Self>) -> bool {
        let map = self.0;
        let state = lock(&map.state);
        let unstarted = !state.started;
        map.leave(state);
        unstarted && map.reply.is_answered()
    }
}

/// A puller handed to a backend; however it ends (run or dropped), it has left.
struct Running<It, F, O, E>(Arc<PullStream<It, F, O, E>>, Option<Permit>)
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> ItemResult<O, E> + Send + Sync + 'static,
    O: Send + 'static,
    E: Send + 'static;

impl<It, F, O, E> Drop for Running<It, F, O, E>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> ItemResult<O, E> + Send + Sync + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    fn drop(&mut self) {
        // A pull loop that returned has left already through `leave`; one dropped
        // unrun leaves here.
        if self.1.is_some() {
            let state = lock(&self.0.state);
            self.0.leave(state);
        }
    }
}
