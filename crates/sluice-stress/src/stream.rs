//! Streamed maps in the harness: submitting one as planned, its items' bodies, and its
//! consumer (a blocking iterator on the synchronous lanes, a `Stream` on the async
//! ones), which checks every element it takes and writes what it saw into the ledger.

use crate::body::PANIC_PREFIX;
use crate::fleet::{FLAKY, LIMITED, OPEN};
use crate::ledger::{Answer, item_value};
use crate::plan::{Route, Spec};
use crate::stream_judge::{Element, Reading, Verdict};
use crate::stream_plan::StreamPlan;
use crate::stream_plan::{CPU_OVERRUN, Consume, IO_OVERRUN, ITEM_TIMEOUT, ItemBreaker, ItemDo};
use crate::wave::Ctx;
use futures_util::StreamExt;
use sluice::{ItemResult, MapStream, StreamOptions, TaskError};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// An item's own error: the item.
#[derive(Debug)]
pub struct ItemFail(pub u32);

/// A streamed map's results as the harness reads them.
pub type Items = MapStream<u64, ItemFail>;

/// A slow consumer's pause between two takes (sync lanes; async ones yield instead).
const SLOW_TAKE: Duration = Duration::from_micros(20);

/// Submits the stream `spec` plans.
pub fn launch(ctx: &Arc<Ctx>, spec: Spec, plan: StreamPlan) -> Items {
    let mgr = &ctx.shared.fleet.members[spec.manager].mgr;
    let mut options = StreamOptions::new()
        .buffer(plan.buffer as usize)
        .priority(spec.priority);
    if !plan.ordered {
        options = options.unordered();
    }
    if plan.timeout {
        options = options.item_timeout(ITEM_TIMEOUT);
    }
    match plan.breaker {
        Some(ItemBreaker::Flaky) => options = options.breaker(FLAKY),
        Some(ItemBreaker::Open) => options = options.breaker(OPEN),
        None => {}
    }
    if spec.limited && spec.route == Route::StreamIo {
        options = options.limit(LIMITED);
    }
    let builder = mgr.stream(options);
    let c = ctx.clone();
    let cpu = move |n| cpu_item(&c, &spec, plan, n);
    match (spec.route, plan.keyed) {
        (Route::StreamChunks, true) => builder.keyed(key_of).try_chunks(0..plan.items, cpu),
        (Route::StreamChunks, false) => builder.try_chunks(0..plan.items, cpu),
        (Route::StreamIo, true) => {
            let c = ctx.clone();
            let io = move |n| io_item(c.clone(), spec, plan, n);
            builder.keyed(key_of).try_io(0..plan.items, io)
        }
        (Route::StreamIo, false) => {
            let c = ctx.clone();
            builder.try_io(0..plan.items, move |n| io_item(c.clone(), spec, plan, n))
        }
        (_, true) => builder.keyed(key_of).try_cpu(0..plan.items, cpu),
        (_, false) => builder.try_cpu(0..plan.items, cpu),
    }
}

/// The key of a keyed stream's item: three keys, so that items wait for their turn.
fn key_of(n: &u32) -> u32 {
    n % 3
}

/// Item `n` on the CPU or chunk pool.
fn cpu_item(ctx: &Ctx, spec: &Spec, plan: StreamPlan, n: u32) -> Result<u64, ItemFail> {
    let does = started(ctx, spec, plan, n);
    if does == ItemDo::Overrun {
        std::thread::sleep(CPU_OVERRUN);
    }
    ended(ctx, spec, does, n)
}

/// Item `n` on the runtime.
async fn io_item(ctx: Arc<Ctx>, spec: Spec, plan: StreamPlan, n: u32) -> Result<u64, ItemFail> {
    let does = started(&ctx, &spec, plan, n);
    tokio::task::yield_now().await;
    if does == ItemDo::Overrun {
        tokio::time::sleep(IO_OVERRUN).await;
    }
    ended(&ctx, &spec, does, n)
}

fn started(ctx: &Ctx, spec: &Spec, plan: StreamPlan, n: u32) -> ItemDo {
    ctx.ledger.entries[spec.index]
        .items
        .fetch_add(1, Ordering::AcqRel);
    plan.item(spec.index, n)
}

fn ended(ctx: &Ctx, spec: &Spec, does: ItemDo, n: u32) -> Result<u64, ItemFail> {
    match does {
        ItemDo::Fail => Err(ItemFail(n)),
        ItemDo::Panic => panic!("{PANIC_PREFIX}: {} item {n}", ctx.ledger.id(spec)),
        ItemDo::Succeed | ItemDo::Overrun => Ok(item_value(spec.index, n)),
    }
}

/// Reads the stream on this thread as planned, checking each element.
pub fn read_blocking(ctx: &Ctx, spec: &Spec, plan: StreamPlan, mut stream: Items) -> Answer {
    let mut reading = Reading::new(spec.index, spec.route, plan);
    loop {
        if let Consume::DropAfter(k) = plan.consume
            && reading.taken() >= k
        {
            drop(stream);
            return settle(ctx, spec, &reading.counts.clone(), reading.dropped());
        }
        let Some(result) = stream.next_blocking() else {
            break;
        };
        if let Err(why) = reading.take(element(result)) {
            ctx.violation(spec, format!("its stream ({plan:?}): {why}"));
        }
        if plan.consume == Consume::Slow {
            std::thread::sleep(SLOW_TAKE);
        }
    }
    let counts = reading.counts;
    let (answer, complete, wrong) = reading.end();
    let wrong = wrong.map(|why| format!("{why} (read blocking, {:?}, {plan:?})", spec.route));
    settle(ctx, spec, &counts, (answer, complete, wrong))
}

/// Reads the stream as a `Stream`, as planned, checking each element.
pub async fn read_async(ctx: &Ctx, spec: &Spec, plan: StreamPlan, mut stream: Items) -> Answer {
    let mut reading = Reading::new(spec.index, spec.route, plan);
    loop {
        if let Consume::DropAfter(k) = plan.consume
            && reading.taken() >= k
        {
            drop(stream);
            return settle(ctx, spec, &reading.counts.clone(), reading.dropped());
        }
        let Some(result) = stream.next().await else {
            break;
        };
        if let Err(why) = reading.take(element(result)) {
            ctx.violation(spec, format!("its stream ({plan:?}): {why}"));
        }
        if plan.consume == Consume::Slow {
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
        }
    }
    let counts = reading.counts;
    let (answer, complete, wrong) = reading.end();
    let wrong = wrong.map(|why| format!("{why} (read as a Stream, {:?}, {plan:?})", spec.route));
    settle(ctx, spec, &counts, (answer, complete, wrong))
}

/// Writes what the consumer saw into the ledger; the map's answer.
fn settle(ctx: &Ctx, spec: &Spec, counts: &[u32; 6], (answer, complete, wrong): Verdict) -> Answer {
    let entry = &ctx.ledger.entries[spec.index];
    for (seen, count) in entry.seen.iter().zip(counts) {
        seen.store(*count, Ordering::Release);
    }
    entry.complete.store(complete, Ordering::Release);
    if let Some(wrong) = wrong {
        ctx.violation(spec, wrong);
    }
    answer
}

fn element(result: ItemResult<u64, ItemFail>) -> Element {
    match result {
        Ok(value) => Element::Ok(value),
        Err(TaskError::Failed(ItemFail(n))) => Element::Failed(n),
        Err(TaskError::Panicked(message)) => Element::Panicked(
            message
                .rsplit_once(" item ")
                .and_then(|(_, n)| n.parse().ok()),
        ),
        Err(TaskError::TimedOut) => Element::TimedOut,
        Err(TaskError::Rejected { .. }) => Element::Rejected,
        Err(TaskError::Cancelled) => Element::Cancelled,
        Err(TaskError::ShuttingDown) => Element::ShuttingDown,
        Err(other) => Element::Other(format!("{other:?}")),
    }
}
