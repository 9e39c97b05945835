//! Task bodies: each does what its plan says and writes what it did into the ledger
//! (runs, map items, key order), so that its answer can be checked against it.

use crate::hostile::{Fuse, Payload};
use crate::ledger::{item_value, value_of};
use crate::plan::{Behaviour, Spec};
use crate::submit::{self, Handle};
use crate::wave::Ctx;
use sluice::KeyOrder;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A task's own error: its index, and a fuse that makes its drop panic if the task is
/// hostile (defused by the caller that receives it).
#[derive(Debug)]
pub struct Fail {
    /// The task's index.
    pub index: usize,
    /// Armed for a hostile task.
    pub fuse: Fuse,
}

/// The prefix of every planned panic, which the harness's panic hook keeps quiet.
pub const PANIC_PREFIX: &str = "stress: planned panic";

/// How long an overrunning body waits to be told to stop before it gives up.
const OVERRUN_CAP: Duration = Duration::from_secs(10);

/// The body of a task on a closure route (cpu, chunk, blocking io).
pub fn closure(ctx: &Arc<Ctx>, spec: Spec) -> Result<u64, Fail> {
    let (run, _running) = Running::start(ctx, &spec);
    match spec.behaviour {
        Behaviour::Overrun => {
            let until = Instant::now() + OVERRUN_CAP;
            while !sluice::is_cancelled() && Instant::now() < until {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        Behaviour::Nest { child } => {
            let (spec, handle) = launch_child(ctx, child);
            let answer = handle.wait(ctx, &spec);
            ctx.ledger.answer(&spec, answer);
        }
        _ => {}
    }
    finish(ctx, &spec, run)
}

/// The body of an io task. `fuse` stands for the future's captures: armed, it panics
/// if the future is dropped before it ends (cancelled, timed out, shut down).
pub async fn io(ctx: Arc<Ctx>, spec: Spec, mut fuse: Fuse) -> Result<u64, Fail> {
    let (run, _running) = Running::start(&ctx, &spec);
    match spec.behaviour {
        Behaviour::Overrun => tokio::time::sleep(OVERRUN_CAP).await,
        Behaviour::Nest { child } => {
            let (spec, handle) = launch_child(&ctx, child);
            Pending {
                ctx: ctx.clone(),
                spec,
                handle: Some(handle),
            }
            .join()
            .await;
        }
        _ => tokio::task::yield_now().await,
    }
    fuse.defuse();
    finish(&ctx, &spec, run)
}

/// One item of a map.
pub fn item(ctx: &Ctx, spec: &Spec, item: u32) -> u64 {
    ctx.ledger.entries[spec.index]
        .items
        .fetch_add(1, Ordering::AcqRel);
    if let Behaviour::Map {
        panic_at: Some(at), ..
    } = spec.behaviour
        && at == item
    {
        if spec.hostile {
            std::panic::panic_any(Payload);
        }
        panic!("{PANIC_PREFIX}: {} item {item}", ctx.ledger.id(spec));
    }
    item_value(spec.index, item)
}

/// What the body returns on its `run`-th start.
fn finish(ctx: &Ctx, spec: &Spec, run: u32) -> Result<u64, Fail> {
    let fails = match spec.behaviour {
        Behaviour::Fail | Behaviour::Flaky { fails: true } => true,
        Behaviour::Retried { failures, .. } => run <= failures,
        Behaviour::Panic if spec.hostile => std::panic::panic_any(Payload),
        Behaviour::Panic => panic!("{PANIC_PREFIX}: {}", ctx.ledger.id(spec)),
        _ => false,
    };
    if fails {
        Err(Fail {
            index: spec.index,
            fuse: Fuse::armed(spec.hostile),
        })
    } else {
        Ok(value_of(ctx.wave.number, spec.index))
    }
}

fn launch_child(ctx: &Arc<Ctx>, child: usize) -> (Spec, Handle) {
    let spec = ctx.wave.specs[child];
    ctx.ledger.entries[child]
        .submitted
        .store(true, Ordering::Release);
    (spec, submit::launch(ctx, spec))
}

/// A child being awaited from an io body. If the body is dropped halfway (cancelled,
/// shut down), the handle goes to the harness's runtime, which awaits and records the
/// answer, so that no child goes unanswered in the books.
struct Pending {
    /// The wave.
    ctx: Arc<Ctx>,
    /// The child.
    spec: Spec,
    /// Its handle, until answered.
    handle: Option<Handle>,
}

impl Pending {
    async fn join(mut self) {
        if let Some(handle) = self.handle.as_mut() {
            let answer = handle.join(&self.ctx, &self.spec).await;
            self.ctx.ledger.answer(&self.spec, answer);
            self.handle = None;
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut handle) = self.handle.take() {
            let (ctx, spec) = (self.ctx.clone(), self.spec);
            self.ctx.shared.runtime.spawn(async move {
                let answer = handle.join(&ctx, &spec).await;
                ctx.ledger.answer(&spec, answer);
            });
        }
    }
}

/// A body running: counts its start and, for a keyed task under an order, checks that
/// no other body of its key (or, in strict order, no other keyed body) runs and that
/// no later task of its key started first. Dropped when the body ends, unwinds or is
/// dropped.
struct Running {
    /// The wave.
    ctx: Arc<Ctx>,
    /// The task.
    spec: Spec,
    /// Whether the key counters were raised (ordered managers only).
    ordered: bool,
}

impl Running {
    fn start(ctx: &Arc<Ctx>, spec: &Spec) -> (u32, Running) {
        let run = ctx.ledger.entries[spec.index]
            .runs
            .fetch_add(1, Ordering::AcqRel)
            + 1;
        let member = &ctx.shared.fleet.members[spec.manager];
        let ordered = spec.key.is_some() && member.order != KeyOrder::Relaxed;
        if let (Some(key), true) = (spec.key, ordered) {
            let slot = &ctx.ledger.keys[key.slot];
            let others = slot.running.fetch_add(1, Ordering::AcqRel);
            if others != 0 {
                ctx.violation(
                    spec,
                    format!("started while {others} other task(s) of its key ran"),
                );
            }
            let before = slot.last_seq.fetch_max(key.seq, Ordering::AcqRel);
            if before > key.seq || (before == key.seq && run == 1) {
                ctx.violation(
                    spec,
                    format!(
                        "broke its key's order: #{} of its key started after #{before}",
                        key.seq
                    ),
                );
            }
            if member.order == KeyOrder::Strict {
                let keyed = member.keyed_running.fetch_add(1, Ordering::AcqRel);
                if keyed != 0 {
                    ctx.violation(
                        spec,
                        format!("started while {keyed} other keyed task(s) ran under strict order"),
                    );
                }
            }
        }
        let running = Running {
            ctx: ctx.clone(),
            spec: *spec,
            ordered,
        };
        (run, running)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let (Some(key), true) = (self.spec.key, self.ordered) {
            self.ctx.ledger.keys[key.slot]
                .running
                .fetch_sub(1, Ordering::AcqRel);
            let member = &self.ctx.shared.fleet.members[self.spec.manager];
            if member.order == KeyOrder::Strict {
                member.keyed_running.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}
