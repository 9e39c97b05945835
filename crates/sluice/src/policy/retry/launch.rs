//! How a retry driver starts its attempts ([`Launch`]), and what the attempts share
//! through the driver ([`Holds`]): a retried closure's work lives in the driver, so
//! neither the launcher nor the work needs an allocation of its own.

use crate::task::{AttemptSink, Control};
use std::sync::Arc;

/// Starts attempt `n` as a task of its route, answering `sink`; `None` if it was
/// answered without a body (a breaker refused it), `sink` already told.
///
/// A generic parameter of the driver rather than a box: one allocation fewer for
/// every retried task and map. What the attempts share (a retried closure's work) is
/// kept in it too, and reached through the driver (`Holds`), so the work needs no
/// allocation of its own either.
pub(crate) trait Launch<T, E>: Send + Sync + 'static {
    /// What every attempt uses, held by the driver for as long as any attempt runs.
    type Shared: Send + Sync + 'static;

    /// The part the attempts share.
    fn shared(&self) -> &Self::Shared;

    /// Starts attempt `attempt`, which reaches the shared part through `shared`.
    fn launch(
        &self,
        sink: Arc<dyn AttemptSink<T, E>>,
        shared: Arc<dyn Holds<Self::Shared>>,
        attempt: u32,
    ) -> Option<Arc<dyn Control>>;
}

/// A closure that starts attempts and shares nothing with them.
impl<T, E, X> Launch<T, E> for X
where
    X: Fn(Arc<dyn AttemptSink<T, E>>, u32) -> Option<Arc<dyn Control>> + Send + Sync + 'static,
{
    type Shared = ();

    fn shared(&self) -> &() {
        &()
    }

    fn launch(
        &self,
        sink: Arc<dyn AttemptSink<T, E>>,
        _shared: Arc<dyn Holds<()>>,
        attempt: u32,
    ) -> Option<Arc<dyn Control>> {
        self(sink, attempt)
    }
}

/// A launch whose attempts share `shared` (a retried closure's work), kept inside the
/// driver: each attempt holds the driver, not a separate allocation.
pub(crate) struct SharedLaunch<S, X> {
    /// What the attempts share.
    pub(crate) shared: S,
    /// Starts an attempt, given the driver as the holder of `shared`.
    pub(crate) launch: X,
}

impl<T, E, S, X> Launch<T, E> for SharedLaunch<S, X>
where
    S: Send + Sync + 'static,
    X: Fn(Arc<dyn AttemptSink<T, E>>, Arc<dyn Holds<S>>, u32) -> Option<Arc<dyn Control>>
        + Send
        + Sync
        + 'static,
{
    type Shared = S;

    fn shared(&self) -> &S {
        &self.shared
    }

    fn launch(
        &self,
        sink: Arc<dyn AttemptSink<T, E>>,
        shared: Arc<dyn Holds<S>>,
        attempt: u32,
    ) -> Option<Arc<dyn Control>> {
        (self.launch)(sink, shared, attempt)
    }
}

/// Something that keeps an `S` alive for whoever holds it: a driver, for its attempts.
pub(crate) trait Holds<S>: Send + Sync {
    /// The `S` it keeps.
    fn held(&self) -> &S;
}
