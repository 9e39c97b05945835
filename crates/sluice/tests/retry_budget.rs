//! The retry budget refuses retries the caller asked for when a name's retries would
//! exceed its share of recent calls; every refusal is visible: counted per name in the
//! snapshot, marked on the task's record, and announced by a (rate-limited) warning.
//! One test only: it installs the process-wide subscriber that pool threads report to.

mod common;

use common::{TestResult, watchdog};
use sluice::retry::{Backoff, BudgetConfig, Retry};
use sluice::{ConcurrencyManager, Outcome, TaskError, TaskRecord};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// Every warning, as `field=value ...` lines.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

/// Writes fields as ` name=value`.
struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

impl<S: Subscriber> Layer<S> for Warnings {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if *event.metadata().level() == Level::WARN {
            let mut fields = Fields(String::new());
            event.record(&mut fields);
            self.0.lock().expect("not poisoned").push(fields.0);
        }
    }
}

#[test]
fn retries_refused_by_the_budget_are_counted_recorded_and_logged() -> TestResult {
    let warnings = Warnings::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(warnings.clone()))?;
    let records = Arc::new(Mutex::new(Vec::<TaskRecord>::new()));
    let sink = records.clone();
    let mgr = ConcurrencyManager::builder()
        .cpu_threads(2)
        .task_records(move |record| sink.lock().expect("not poisoned").push(record.clone()))
        .build()?;
    watchdog("retry budget", move || -> TestResult {
        // Retries may add a tenth to the name's calls: 5 retries for 50 tasks.
        let retry = Retry::builder()
            .max_attempts(4)
            .backoff(Backoff::exponential(Duration::from_millis(1)))
            .budget(BudgetConfig::new().ratio(0.1).min_per_window(0))
            .build()?;
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                mgr.task("fetch-manifest")
                    .retry(retry.clone())
                    .try_run_cpu(|| Err::<(), _>("503"))
            })
            .collect();
        for task in tasks {
            assert_eq!(task.wait(), Err(TaskError::Failed("503")));
        }
        let view = mgr.snapshot();
        let budget = view
            .retry_budget("fetch-manifest")
            .ok_or("the name's budget is listed")?;
        assert!(budget.refused >= 45, "{budget:?}");
        assert!(budget.retries <= 5, "{budget:?}");
        let records = records.lock().expect("not poisoned").clone();
        let refused: Vec<_> = records
            .iter()
            .filter(|r| r.retry_refused_by_budget)
            .collect();
        assert_eq!(
            refused.len() as u64,
            budget.refused,
            "one refusal ends its task"
        );
        assert!(
            refused
                .iter()
                .all(|r| r.outcome == Outcome::Failed && r.attempts < 4)
        );
        let granted: u32 = records.iter().map(|r| r.attempts - 1).sum();
        assert_eq!(u64::from(granted), view.total().retries);
        let warned = warnings
            .0
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|line| line.contains("retry budget") && line.contains("fetch-manifest"))
            .count();
        assert!(warned >= 1, "the refusals are announced");
        assert!(
            (warned as u64) < budget.refused,
            "rate-limited: {warned} warnings for {} refusals",
            budget.refused
        );
        Ok(())
    })
}
