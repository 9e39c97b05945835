//! A puller leaving, and the map's end: input and function dropped, answered, buffer
//! closed.

use super::*;

impl<It, F, O, E> PullStream<It, F, O, E>
where
    It: Iterator + Send + 'static,
    It::Item: Send,
    F: Fn(It::Item) -> ItemResult<O, E> + Send + Sync + 'static,
    O: Send + 'static,
    E: Send + 'static,
{
    /// This puller leaves: it is no longer counted (a parked one was counted as parked
    /// already). The map ends if nobody is left at work and nobody will come back.
    pub(super) fn leave(
        &self,
        mut state: std::sync::MutexGuard<'_, State>,
    ) -> Option<Unit<It::Item, F>> {
        state.pullers -= 1;
        self.end_if_done(state);
        None
    }

    /// Ends the map if it must stop (or can go nowhere) and nothing runs.
    pub(super) fn end_if_done(&self, mut state: std::sync::MutexGuard<'_, State>) {
        if state.ended || !state.idle() {
            return;
        }
        let stranded = state.pullers == 0 && state.parked == 0;
        if !self.stopping(&state) && !stranded {
            return;
        }
        state.ended = true;
        let started = state.started;
        let outcome = if !started {
            None
        } else if let Some(message) = state.input_panic.clone() {
            Some((Outcome::Panicked, Err(TaskError::Panicked(message))))
        } else if state.failed_fast {
            Some((Outcome::Failed, Ok(())))
        } else if state.consumer_gone {
            Some((Outcome::Cancelled, Err(TaskError::Cancelled)))
        } else if state.exhausted {
            Some((Outcome::Succeeded, Ok(())))
        } else {
            Some((Outcome::Cancelled, Err(TaskError::Cancelled)))
        };
        drop(state);
        // Input and function go first: a closure holding a channel's sender lets its
        // receiver see the end as soon as the map has ended.
        let input = lock(&self.input).take();
        drop_quietly(input, "a streamed map's input");
        let f = lock(&self.f).take();
        drop_quietly(f, "a streamed map's function");
        if let Some(progress) = &self.progress {
            progress.finish();
        }
        match outcome {
            None => {
                self.reply.cancelled_unstarted();
            }
            Some((outcome, answer)) => {
                self.reply.finished(outcome, answer);
            }
        }
        self.reply.body_ended();
        // After the answer, so the consumer that sees the end finds the map answered.
        self.buffer.close();
    }
}
