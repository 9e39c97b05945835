//! A future's timeout: the future, and a sleep made only for a future that has one.

use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

/// Runs `work` until it ends (`Some`), or until `after` has passed since the first poll
/// (`None`, and `work` is dropped by the caller); no limit without `after`.
///
/// Unlike `tokio::time::timeout`, the sleep is boxed, so a future with no timeout (most
/// of them) does not carry a `Sleep` in its runtime cell. Must be first polled inside a
/// tokio runtime with its timer enabled when `after` is given.
pub(crate) fn within<F: Future>(after: Option<Duration>, work: F) -> Within<F> {
    Within {
        work,
        after,
        sleep: None,
    }
}

pin_project! {
    /// The future of [`within`].
    pub(crate) struct Within<F> {
        #[pin]
        work: F,
        after: Option<Duration>,
        sleep: Option<Pin<Box<Sleep>>>,
    }
}

impl<F: Future> Future for Within<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The clock starts at the first poll, as the body starts.
        if let Some(after) = this.after.take() {
            *this.sleep = Some(Box::pin(tokio::time::sleep(after)));
        }
        if let Poll::Ready(output) = this.work.poll(cx) {
            return Poll::Ready(Some(output));
        }
        let expired = this
            .sleep
            .as_mut()
            .is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready());
        if expired {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::within;
    use std::future::pending;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn ends_with_the_work_or_at_the_limit() {
        assert_eq!(within(None, async { 7 }).await, Some(7));
        assert_eq!(
            within(Some(Duration::from_secs(1)), async { 7 }).await,
            Some(7)
        );
        let stuck = within(Some(Duration::from_millis(30)), pending::<()>());
        let began = tokio::time::Instant::now();
        assert_eq!(stuck.await, None);
        assert_eq!(began.elapsed(), Duration::from_millis(30));
        let slow = within(Some(Duration::from_millis(30)), async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            1
        });
        assert_eq!(slow.await, Some(1));
    }
}
