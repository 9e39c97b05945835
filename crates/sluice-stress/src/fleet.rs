//! The managers under test, one per key order, each with a breaker held open, a
//! breaker that trips and recovers all the time, a dependency with an adaptive limit,
//! and a scripted load sampler that moves its gate limits at random every 2 ms.

use crate::plan::MANAGERS;
use crate::rng::Rng;
use sluice::limit::LimitConfig;
use sluice::throttle::{LoadSample, LoadSampler, ThrottleConfig};
use sluice::{BreakerConfig, ConcurrencyManager, KeyOrder, TaskError, TaskRecord};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// The breaker every `OpenBreaker` task names: tripped at start, recovering in a day.
pub const OPEN: &str = "held-open";
/// The breaker every `Flaky` task names.
pub const FLAKY: &str = "flaky";
/// The name of the tasks whose retries have a tight budget.
pub const BUDGETED: &str = "budgeted";
/// The dependency a `limited` task goes through: its adaptive limit moves with the
/// latency its calls see, from 2 to 8 calls at once.
pub const LIMITED: &str = "limited";

/// One manager and what the harness keeps beside it.
pub struct Member {
    /// The manager.
    pub mgr: ConcurrencyManager,
    /// Its key order.
    pub order: KeyOrder,
    /// Keyed bodies running now, for the strict order's one-at-a-time check.
    pub keyed_running: AtomicU32,
    /// What the task records its sink received add up to.
    pub records: Arc<RecordBooks>,
}

/// What a manager's task records add up to, to hold against its counters.
#[derive(Debug, Default)]
pub struct RecordBooks {
    /// Records received.
    pub tasks: AtomicU64,
    /// Their attempts after the first: the route counters' `retries`.
    pub retries: AtomicU64,
    /// Records that say the retry budget refused a retry: the snapshot's
    /// `retry_budgets` refusals.
    pub budget_refused: AtomicU64,
    /// Records whose times contradict their attempts: a body started (attempts > 0)
    /// without a queue wait or run time, or times without a body.
    pub inconsistent: AtomicU64,
    /// The item counts of streamed maps' records, added up (`ItemCounts`' order).
    pub items: [AtomicU64; 6],
}

impl RecordBooks {
    /// Adds one record.
    fn add(&self, record: &TaskRecord) {
        self.tasks.fetch_add(1, Ordering::Relaxed);
        let retries = u64::from(record.attempts.saturating_sub(1));
        self.retries.fetch_add(retries, Ordering::Relaxed);
        if record.retry_refused_by_budget {
            self.budget_refused.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(items) = &record.items {
            for (sum, n) in self.items.iter().zip(crate::items::array(items)) {
                sum.fetch_add(n, Ordering::Relaxed);
            }
        }
        let started = record.attempts > 0;
        if record.run_time.is_some() != started || record.queue_wait.is_some() != started {
            self.inconsistent.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The fleet.
pub struct Fleet {
    /// One member per key order.
    pub members: Vec<Member>,
}

impl Fleet {
    /// Builds the managers; `rng` scripts their load samplers.
    pub fn new(rng: &mut Rng) -> Result<Fleet, String> {
        let orders = [KeyOrder::PerKey, KeyOrder::Strict, KeyOrder::Relaxed];
        let members = orders
            .into_iter()
            .map(|order| member(order, rng.fork()))
            .collect::<Result<Vec<_>, _>>()?;
        debug_assert_eq!(members.len(), MANAGERS);
        Ok(Fleet { members })
    }
}

fn member(order: KeyOrder, rng: Rng) -> Result<Member, String> {
    let open = BreakerConfig::builder()
        .consecutive_failures(1)
        .recovery(Duration::from_secs(86_400))
        .build()
        .map_err(|e| e.to_string())?;
    let flaky = BreakerConfig::builder()
        .consecutive_failures(3)
        .recovery(Duration::from_millis(1))
        .build()
        .map_err(|e| e.to_string())?;
    let throttle = ThrottleConfig::new()
        .interval(Duration::from_millis(2))
        .build()
        .map_err(|e| e.to_string())?;
    let limited = LimitConfig::new()
        .initial(4)
        .min(2)
        .max(8)
        .build()
        .map_err(|e| e.to_string())?;
    let records = Arc::new(RecordBooks::default());
    let sink = records.clone();
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .chunk_threads(2)
        .io_threads(2)
        .io_blocking_threads(16)
        .key_order(order)
        .breaker(OPEN, open)
        .breaker(FLAKY, flaky)
        .dependency(LIMITED, limited)
        .throttle(throttle)
        .load_sampler(Scripted { rng })
        .task_records(move |record: &TaskRecord| sink.add(record))
        .build()
        .map_err(|e| format!("building the {order:?} manager: {e}"))?;
    // One failure trips the held-open breaker for the whole run.
    let trip = mgr
        .task("trip")
        .breaker(OPEN)
        .try_run_cpu(|| Err::<(), _>("trip"))
        .wait();
    if !matches!(trip, Err(TaskError::Failed(_))) {
        return Err(format!("tripping {OPEN} answered {trip:?}"));
    }
    Ok(Member {
        mgr,
        order,
        keyed_running: AtomicU32::new(0),
        records,
    })
}

/// Load that jumps at random between idle, busy and overloaded machines, so every
/// route's gate limit moves up and down while tasks run.
struct Scripted {
    /// The script.
    rng: Rng,
}

impl LoadSampler for Scripted {
    fn sample(&mut self) -> LoadSample {
        // Foreign CPU (total − own) of 95% shrinks the CPU-side gates, 80% holds them
        // and 30% lets them recover; 95% memory shrinks every gate.
        let own = 0.05;
        let total = match self.rng.below(4) {
            0 => 1.0,
            1 => 0.85,
            _ => 0.35,
        };
        let used = if self.rng.chance(20) { 95 } else { 10 };
        LoadSample::default()
            .with_cpu(total, own)
            .with_memory(used << 20, 100 << 20)
    }
}
