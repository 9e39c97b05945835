//! Adaptive concurrency limits per dependency: calls to a named service wait at the
//! dependency's own gate before their route's, and the dependency's limit follows the
//! latency its calls see (the Vegas estimate of `vegas.rs`).
//!
//! A task goes through the dependency named by
//! [`TaskBuilder::limit`](crate::TaskBuilder::limit), or else the one named like its
//! [`breaker`](crate::TaskBuilder::breaker), if one is registered. It takes the
//! dependency's permit first and its route's second, so waiting for a slow service
//! never holds a slot of the route; it holds both until its body ends. The calls of a
//! dependency therefore run at most at the smallest of three limits: the route's
//! configured limit, the route's limit as the load throttle has set it, and the
//! dependency's adaptive limit.
//!
//! - `config.rs`: [`LimitConfig`], the bounds and tuning;
//! - `vegas.rs`: the estimate, pure arithmetic;
//! - `dependency.rs`: the registry, the gate, and the call a task holds.

mod config;
mod dependency;
mod vegas;

pub use config::{LimitConfig, LimitConfigError};
pub use dependency::DependencyView;
pub(crate) use dependency::{Dependencies, Dependency, DependencyCall, DuplicateDependency};

use super::keyed::KeyedTask;
use sluice_core::{Deferred, Permit};
use std::sync::Arc;

/// Puts a task in line: at its dependency's gate if it has one, else at its route's.
pub(crate) fn enqueue<X: KeyedTask>(task: Arc<X>) {
    match task.dependency() {
        Some(call) => {
            let gate = call.dependency.gate.clone();
            let priority = task.priority();
            gate.enqueue_at(Box::new(AtDependency(task)), priority);
        }
        None => task.enqueue(),
    }
}

/// A task's place in its dependency's queue.
struct AtDependency<X>(Arc<X>);

impl<X: KeyedTask> Deferred for AtDependency<X> {
    fn admit(self: Box<Self>, permit: Permit) -> Option<Permit> {
        let token = self.0.token();
        if !token.is_pending() {
            return Some(permit);
        }
        // Aborted (or its scope cancelled) while it waited: it will never start, and
        // must not take a place at its route for nothing.
        if token.is_cancelled() {
            if token.claim_cancelled() {
                self.0.drop_unstarted();
            }
            return Some(permit);
        }
        let Some(call) = self.0.dependency() else {
            return Some(permit);
        };
        if let Some(back) = call.hold(permit) {
            return Some(back);
        }
        self.0.enqueue();
        None
    }

    fn abort(self: Box<Self>) -> bool {
        let aborted = self.0.token().claim_cancelled();
        if aborted {
            self.0.drop_unstarted();
        }
        aborted
    }
}
