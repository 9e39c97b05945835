//! Builder extremes: thread counts beyond `ManagerBuilder::MAX_THREADS` are refused
//! with an error naming the setting the caller gave, its value and the allowed range,
//! instead of panicking (`capacity overflow`) or starting threads for minutes.

mod common;

use common::watchdog;
use sluice::{BuildError, ConcurrencyManager, ManagerBuilder};

/// A builder method that sets a thread count.
type Setter = fn(ManagerBuilder, usize) -> ManagerBuilder;

/// What building `builder` says: its error message, or "ok".
fn outcome(what: &str, builder: ManagerBuilder) -> String {
    watchdog(what, move || match builder.build() {
        Ok(_) => "ok".to_owned(),
        Err(error) => error.to_string(),
    })
}

#[test]
fn thread_counts_past_the_maximum_name_the_setting_given() {
    let max = ManagerBuilder::MAX_THREADS;
    let setters: [(&str, Setter); 4] = [
        ("cpu_threads", ManagerBuilder::cpu_threads),
        ("chunk_threads", ManagerBuilder::chunk_threads),
        ("io_threads", ManagerBuilder::io_threads),
        ("io_blocking_threads", ManagerBuilder::io_blocking_threads),
    ];
    for (setting, set) in setters {
        for value in [max + 1, 100_000, usize::MAX] {
            let message = outcome(setting, set(ConcurrencyManager::builder(), value));
            assert_eq!(
                message,
                format!("{setting} = {value}: must be between 1 and {max}"),
            );
        }
    }
}

#[test]
fn the_error_is_a_variant_naming_setting_value_and_range() {
    let err = watchdog("io_threads(usize::MAX)", || {
        ConcurrencyManager::builder()
            .io_threads(usize::MAX)
            .build()
            .map(drop)
    });
    match err {
        Err(BuildError::TooManyThreads {
            setting,
            value,
            max,
        }) => {
            assert_eq!(
                (setting, value, max),
                ("io_threads", usize::MAX, ManagerBuilder::MAX_THREADS)
            );
        }
        other => panic!("expected TooManyThreads, got {other:?}"),
    }
}

#[test]
fn a_limit_is_named_only_when_the_limit_was_given() {
    let huge_limit = outcome(
        "cpu_limit",
        ConcurrencyManager::builder()
            .cpu_threads(1)
            .cpu_limit(usize::MAX),
    );
    assert!(huge_limit.starts_with("cpu_limit = "), "{huge_limit}");
}

#[test]
fn the_maximum_itself_is_accepted_for_blocking_threads() {
    // Blocking threads start lazily, so the largest allowed count costs nothing here.
    let message = outcome(
        "io_blocking_threads(MAX_THREADS)",
        ConcurrencyManager::builder()
            .cpu_threads(1)
            .chunk_threads(1)
            .io_threads(1)
            .io_blocking_threads(ManagerBuilder::MAX_THREADS),
    );
    assert_eq!(message, "ok");
}
