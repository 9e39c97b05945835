//! Every task's body runs in a `sluice.task` span with its id, name, route, key,
//! attempt and worker thread; retries and timeouts are events; the summary log writes
//! a line per interval.
//! One test only: it installs the process-wide subscriber that pool threads report to.

mod common;

use common::{TestResult, watchdog};
use sluice::{ConcurrencyManager, TaskError};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// Every span opened and event emitted, as `name field=value ...` lines.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

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

impl<S: Subscriber> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        let mut fields = Fields(attrs.metadata().name().to_owned());
        attrs.record(&mut fields);
        self.0.lock().expect("not poisoned").push(fields.0);
    }
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields("event".to_owned());
        event.record(&mut fields);
        self.0.lock().expect("not poisoned").push(fields.0);
    }
}

impl Capture {
    fn lines(&self, containing: &[&str]) -> Vec<String> {
        let lines = self.0.lock().expect("not poisoned");
        lines
            .iter()
            .filter(|line| containing.iter().all(|part| line.contains(part)))
            .cloned()
            .collect()
    }
}

#[test]
fn task_spans_carry_id_name_route_key_attempt_and_thread() -> TestResult {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(
        capture
            .clone()
            .with_filter(tracing_subscriber::filter::LevelFilter::DEBUG),
    );
    tracing::subscriber::set_global_default(subscriber)?;
    watchdog("spans", move || {
        let mgr = ConcurrencyManager::builder().build()?;
        mgr.task("parse").key("file-7").run_cpu(|| 1).wait()?;
        let retry = common::quick_retry(2)?;
        let calls = common::Calls::default();
        let seen = calls.clone();
        let fetched = mgr.task("fetch").retry(retry).try_run_io(move || {
            let call = seen.next();
            async move { if call == 1 { Err("503") } else { Ok(call) } }
        });
        assert_eq!(fetched.wait(), Ok(2));
        // A retried CPU task's first attempt is the task itself: still attempt 1.
        let tries = common::Calls::default();
        let counted = tries.clone();
        let parsed = mgr
            .task("reparse")
            .retry(common::quick_retry(2)?)
            .try_run_cpu(move || {
                if counted.next() == 1 {
                    Err("torn")
                } else {
                    Ok(2)
                }
            });
        assert_eq!(parsed.wait(), Ok(2));
        let stuck = mgr
            .task("stuck")
            .timeout(Duration::from_millis(5))
            .run_io(std::future::pending::<()>());
        assert_eq!(stuck.wait(), Err(TaskError::TimedOut));

        let parse = capture.lines(&["sluice.task", "name=parse", "route=cpu", "key=file-7"]);
        assert_eq!(parse.len(), 1, "{parse:?}");
        assert!(parse[0].contains("thread=sluice-cpu-"), "{parse:?}");
        let attempts = capture.lines(&["sluice.task", "name=fetch", "route=io"]);
        assert_eq!(attempts.len(), 2, "{attempts:?}");
        assert!(attempts[0].contains("attempt=1") && attempts[1].contains("attempt=2"));
        let id = |line: &str| {
            line.split(' ')
                .find(|f| f.starts_with("id="))
                .map(str::to_owned)
        };
        assert_eq!(
            id(&attempts[0]),
            id(&attempts[1]),
            "attempts share the task's id"
        );
        assert_ne!(id(&attempts[0]), id(&parse[0]));
        let cpu_attempts = capture.lines(&["sluice.task", "name=reparse", "route=cpu"]);
        assert_eq!(cpu_attempts.len(), 2, "{cpu_attempts:?}");
        assert!(
            cpu_attempts[0].contains("attempt=1") && cpu_attempts[1].contains("attempt=2"),
            "{cpu_attempts:?}"
        );
        assert_eq!(id(&cpu_attempts[0]), id(&cpu_attempts[1]));
        assert!(!capture.lines(&["event", "stuck", "timed out"]).is_empty());
        assert!(
            !capture.lines(&["event", "retry"]).is_empty(),
            "{:?}",
            capture.lines(&["event"])
        );

        // The summary log: a line per interval once something ran.
        let watched = ConcurrencyManager::builder()
            .summary_interval(Duration::from_millis(20))
            .build()?;
        for i in 0..10 {
            assert_eq!(watched.run_cpu(move || i).wait()?, i);
        }
        // The first line may have come before, or between, the tasks: together the
        // lines count each task once.
        let ended = || -> u64 {
            capture
                .lines(&["event", "sluice: summary"])
                .iter()
                .filter_map(|line| line.split(' ').find_map(|f| f.strip_prefix("ended=")))
                .filter_map(|n| n.parse::<u64>().ok())
                .sum()
        };
        common::eventually("summaries of the ten tasks", || ended() >= 10);
        assert_eq!(ended(), 10);
        let lines = capture.lines(&[
            "event",
            "sluice: summary",
            "success_rate=1.0",
            "p99_run_time_us=",
        ]);
        assert!(
            !lines.is_empty(),
            "{:?}",
            capture.lines(&["sluice: summary"])
        );
        Ok(())
    })
}
