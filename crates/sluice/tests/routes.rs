//! Every route answers sync (`wait`) and async (`.await`) callers alike, runs on the
//! threads it names, turns panics into answers, and refuses bad settings by name.

mod common;

use common::{Discard, TestResult, is_numbered, on_multi_thread, thread_name, watchdog};
use sluice::limit::LimitConfig;
use sluice::{BuildError, ConcurrencyManager, Executor, Job, TaskError};
use sluice_core::Gate;
use std::num::ParseIntError;
use std::panic::resume_unwind;
use std::sync::{Arc, Barrier};
use std::time::Duration;

/// A small manager, as a test on a 2-core machine wants it.
fn manager() -> Result<ConcurrencyManager, BuildError> {
    ConcurrencyManager::builder()
        .cpu_threads(2)
        .chunk_threads(2)
        .io_threads(2)
        .io_blocking_threads(2)
        .build()
}

/// The error `"x".parse::<u32>()` gives, to compare answers with.
fn not_a_number() -> ParseIntError {
    "x".parse::<u32>().expect_err("x is not a number")
}

/// Panics with a formatted (`String`) payload.
fn explode(what: &str) -> u32 {
    panic!("{what} exploded")
}

#[test]
fn cpu_work_answers_sync_and_async_callers() -> TestResult {
    let mgr = manager()?;
    watchdog("cpu, sync", {
        let mgr = mgr.clone();
        move || -> TestResult {
            assert_eq!(mgr.run_cpu(|| 6 * 7).wait()?, 42);
            assert_eq!(mgr.try_run_cpu(|| "42".parse::<u32>()).wait()?, 42);
            assert_eq!(
                mgr.try_run_cpu(|| "x".parse::<u32>()).wait(),
                Err(TaskError::Failed(not_a_number()))
            );
            Ok(())
        }
    })?;
    on_multi_thread("cpu, async", 2, move || async move {
        assert_eq!(mgr.run_cpu(|| 6 * 7).await?, 42);
        assert_eq!(mgr.try_run_cpu(|| "42".parse::<u32>()).await?, 42);
        assert_eq!(
            mgr.try_run_cpu(|| "x".parse::<u32>()).await,
            Err(TaskError::Failed(not_a_number()))
        );
        Ok(())
    })
}

#[test]
fn io_futures_answer_sync_and_async_callers() -> TestResult {
    let mgr = manager()?;
    watchdog("io, sync", {
        let mgr = mgr.clone();
        move || -> TestResult {
            let slow = mgr.run_io(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                6 * 7
            });
            assert_eq!(slow.wait()?, 42);
            assert_eq!(mgr.try_run_io(async { "42".parse::<u32>() }).wait()?, 42);
            assert_eq!(
                mgr.try_run_io(async { "x".parse::<u32>() }).wait(),
                Err(TaskError::Failed(not_a_number()))
            );
            Ok(())
        }
    })?;
    on_multi_thread("io, async", 2, move || async move {
        let slow = mgr.run_io(async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            6 * 7
        });
        assert_eq!(slow.await?, 42);
        assert_eq!(mgr.try_run_io(async { "42".parse::<u32>() }).await?, 42);
        assert_eq!(
            mgr.try_run_io(async { "x".parse::<u32>() }).await,
            Err(TaskError::Failed(not_a_number()))
        );
        Ok(())
    })
}

#[test]
fn blocking_io_answers_sync_and_async_callers() -> TestResult {
    let mgr = manager()?;
    watchdog("io blocking, sync", {
        let mgr = mgr.clone();
        move || -> TestResult {
            let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
            let text = mgr.run_io_blocking(move || std::fs::read_to_string(manifest));
            assert!(text.wait()??.contains("name = \"sluice\""));
            assert_eq!(mgr.try_run_io_blocking(|| "42".parse::<u32>()).wait()?, 42);
            assert_eq!(
                mgr.try_run_io_blocking(|| "x".parse::<u32>()).wait(),
                Err(TaskError::Failed(not_a_number()))
            );
            Ok(())
        }
    })?;
    on_multi_thread("io blocking, async", 2, move || async move {
        assert_eq!(mgr.run_io_blocking(|| 6 * 7).await?, 42);
        assert_eq!(mgr.try_run_io_blocking(|| "42".parse::<u32>()).await?, 42);
        assert_eq!(
            mgr.try_run_io_blocking(|| "x".parse::<u32>()).await,
            Err(TaskError::Failed(not_a_number()))
        );
        Ok(())
    })
}

#[test]
fn chunk_work_answers_sync_and_async_callers() -> TestResult {
    let mgr = manager()?;
    watchdog("chunk, sync", {
        let mgr = mgr.clone();
        move || -> TestResult {
            assert_eq!(mgr.run_chunk(|| 6 * 7).wait()?, 42);
            assert_eq!(mgr.try_run_chunk(|| "42".parse::<u32>()).wait()?, 42);
            assert_eq!(
                mgr.try_run_chunk(|| "x".parse::<u32>()).wait(),
                Err(TaskError::Failed(not_a_number()))
            );
            Ok(())
        }
    })?;
    on_multi_thread("chunk, async", 2, move || async move {
        assert_eq!(mgr.run_chunk(|| 6 * 7).await?, 42);
        assert_eq!(mgr.try_run_chunk(|| "42".parse::<u32>()).await?, 42);
        assert_eq!(
            mgr.try_run_chunk(|| "x".parse::<u32>()).await,
            Err(TaskError::Failed(not_a_number()))
        );
        Ok(())
    })
}

#[test]
fn each_route_runs_on_the_threads_it_names() -> TestResult {
    let mgr = manager()?;
    let names = watchdog("thread names, sync", {
        let mgr = mgr.clone();
        move || -> Result<[String; 4], TaskError> {
            Ok([
                mgr.run_cpu(thread_name).wait()?,
                mgr.run_chunk(thread_name).wait()?,
                mgr.run_io(async { thread_name() }).wait()?,
                mgr.run_io_blocking(thread_name).wait()?,
            ])
        }
    })?;
    let from_async = on_multi_thread("thread names, async", 1, move || async move {
        Ok::<_, TaskError>([
            mgr.run_cpu(thread_name).await?,
            mgr.run_chunk(thread_name).await?,
            mgr.run_io(async { thread_name() }).await?,
            mgr.run_io_blocking(thread_name).await?,
        ])
    })?;

    for [cpu, chunk, io, blocking] in [names, from_async] {
        assert!(is_numbered(&cpu, "sluice-cpu"), "cpu work ran on {cpu:?}");
        assert!(
            is_numbered(&chunk, "sluice-chunk"),
            "chunk work ran on {chunk:?}"
        );
        assert!(is_numbered(&io, "sluice-io"), "an io future ran on {io:?}");
        assert!(
            is_numbered(&blocking, "sluice-io-blocking"),
            "a blocking call ran on {blocking:?}"
        );
    }
    Ok(())
}

#[test]
fn panics_answer_with_their_message_on_every_route() -> TestResult {
    let mgr = manager()?;
    watchdog("panics, sync", {
        let mgr = mgr.clone();
        move || {
            let boom = || TaskError::Panicked("boom".to_owned());
            assert_eq!(
                mgr.run_cpu(|| -> u32 { panic!("boom") }).wait(),
                Err(boom())
            );
            assert_eq!(
                mgr.run_chunk(|| -> u32 { panic!("boom") }).wait(),
                Err(boom())
            );
            assert_eq!(
                mgr.run_io_blocking(|| -> u32 { panic!("boom") }).wait(),
                Err(boom())
            );
            assert_eq!(
                mgr.run_io(async { explode("the io future") }).wait(),
                Err(TaskError::Panicked("the io future exploded".to_owned()))
            );
            assert_eq!(
                mgr.try_run_cpu(|| Ok::<_, ()>(explode("item 7"))).wait(),
                Err(TaskError::Panicked("item 7 exploded".to_owned()))
            );
        }
    });
    on_multi_thread("panics, async", 1, move || async move {
        let panicked = |what: &str| Err(TaskError::Panicked(format!("{what} exploded")));
        assert_eq!(mgr.run_cpu(|| explode("cpu")).await, panicked("cpu"));
        assert_eq!(mgr.run_chunk(|| explode("chunk")).await, panicked("chunk"));
        assert_eq!(mgr.run_io(async { explode("io") }).await, panicked("io"));
        assert_eq!(
            mgr.run_io_blocking(|| explode("file")).await,
            panicked("file")
        );
    });
    Ok(())
}

#[test]
fn a_pool_keeps_all_its_threads_after_fifty_panics() -> TestResult {
    let mgr = manager()?;
    watchdog(
        "two tasks meet at a barrier after 50 panics",
        move || -> TestResult {
            // Unwound without the panic hook: a hundred hooks printing backtraces
            // (`RUST_BACKTRACE=1`, a debug build, a busy machine) outlasted the
            // watchdog, and the pool's threads meet the same unwinding either way.
            let cpu_panics: Vec<_> = (0..50)
                .map(|i| {
                    mgr.run_cpu(move || -> u32 { resume_unwind(Box::new(format!("cpu task {i}"))) })
                })
                .collect();
            let chunk_panics: Vec<_> = (0..50)
                .map(|i| {
                    mgr.run_chunk(move || -> u32 {
                        resume_unwind(Box::new(format!("chunk task {i}")))
                    })
                })
                .collect();
            for (i, handle) in cpu_panics.into_iter().enumerate() {
                assert_eq!(
                    handle.wait(),
                    Err(TaskError::Panicked(format!("cpu task {i}")))
                );
            }
            for (i, handle) in chunk_panics.into_iter().enumerate() {
                assert_eq!(
                    handle.wait(),
                    Err(TaskError::Panicked(format!("chunk task {i}")))
                );
            }

            // Each pair only gets past the barrier if both its tasks run at once, which
            // needs both threads of the pool alive.
            let cpu_barrier = Arc::new(Barrier::new(2));
            let chunk_barrier = Arc::new(Barrier::new(2));
            let meetings: Vec<_> = (0..2)
                .flat_map(|_| {
                    let (cpu, chunk) = (cpu_barrier.clone(), chunk_barrier.clone());
                    [
                        mgr.run_cpu(move || cpu.wait().is_leader()),
                        mgr.run_chunk(move || chunk.wait().is_leader()),
                    ]
                })
                .collect();
            let leaders = meetings
                .into_iter()
                .map(|meeting| meeting.wait())
                .filter(|leader| *leader == Ok(true))
                .count();
            assert_eq!(leaders, 2, "one leader per barrier");
            Ok(())
        },
    )
}

/// A backend that never runs anything, for builder tests that never submit.
struct Nowhere;

impl Executor for Nowhere {
    fn name(&self) -> &str {
        "nowhere"
    }
    fn parallelism(&self) -> usize {
        0
    }
    fn execute(&self, job: Job) {
        drop(job);
    }
}

#[test]
fn every_zero_setting_is_refused_by_name() {
    let builder = ConcurrencyManager::builder;
    let refused = [
        ("cpu_threads", builder().cpu_threads(0).build()),
        ("chunk_threads", builder().chunk_threads(0).build()),
        ("io_threads", builder().io_threads(0).build()),
        (
            "io_blocking_threads",
            builder().io_blocking_threads(0).build(),
        ),
        ("cpu_limit", builder().cpu_threads(1).cpu_limit(0).build()),
        (
            "chunk_limit",
            builder().chunk_threads(1).chunk_limit(0).build(),
        ),
        ("io_limit", builder().io_limit(0).build()),
    ];
    for (setting, built) in refused {
        let error = built.expect_err(setting);
        assert_eq!(
            error.to_string(),
            format!("{setting} = 0: must be at least 1")
        );
        assert!(
            matches!(error, BuildError::Zero { setting: named } if named == setting),
            "{error:?}"
        );
    }
}

#[test]
fn a_limit_past_what_a_gate_holds_is_refused_by_name() {
    let too_many = Gate::MAX_LIMIT + 1;
    let builder = ConcurrencyManager::builder;
    let refused = [
        ("cpu_limit", builder().cpu_limit(too_many).build()),
        ("chunk_limit", builder().chunk_limit(too_many).build()),
        ("io_limit", builder().io_limit(usize::MAX).build()),
    ];
    for (setting, built) in refused {
        let error = built.expect_err(setting);
        assert!(
            error.to_string().starts_with(&format!("{setting} = ")),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .ends_with(&format!(": must be at most {}", Gate::MAX_LIMIT)),
            "{error}"
        );
    }
    let executor = ConcurrencyManager::builder()
        .executor_with_limit("gpu", Arc::new(Discard), too_many)
        .build()
        .expect_err("too large");
    assert_eq!(
        executor.to_string(),
        format!(
            "executor \"gpu\": limit = {too_many}: must be at most {}",
            Gate::MAX_LIMIT
        )
    );
    let dependency = ConcurrencyManager::builder()
        .dependency("svc", LimitConfig::new().max(too_many))
        .build()
        .expect_err("too large");
    assert_eq!(
        dependency.to_string(),
        format!(
            "dependency \"svc\": limit.max = {too_many}: must be at most {}",
            Gate::MAX_LIMIT
        )
    );
    // The largest is fine.
    let most = ConcurrencyManager::builder()
        .io_limit(Gate::MAX_LIMIT)
        .build()
        .expect("the largest limit is allowed");
    assert_eq!(most.run_cpu(|| 3).wait(), Ok(3));
}

#[test]
fn executor_names_must_be_unique() {
    let one = || -> Arc<dyn Executor> { Arc::new(Discard) };
    let twice = ConcurrencyManager::builder()
        .executor("gpu", one())
        .executor("gpu", one())
        .build()
        .expect_err("two executors named gpu");
    assert!(matches!(&twice, BuildError::DuplicateExecutor(name) if name == "gpu"));
    assert_eq!(twice.to_string(), "executor name \"gpu\" is already taken");

    for builtin in ["cpu", "io", "io_blocking", "chunk"] {
        let taken = ConcurrencyManager::builder()
            .executor(builtin, one())
            .build()
            .expect_err(builtin);
        assert!(
            matches!(&taken, BuildError::DuplicateExecutor(name) if name == builtin),
            "{taken:?}"
        );
    }
}

#[test]
fn an_executor_limit_of_zero_names_the_executor() {
    let zero = ConcurrencyManager::builder()
        .executor_with_limit("gpu", Arc::new(Discard), 0)
        .build()
        .expect_err("a limit of zero admits nothing");
    assert_eq!(
        zero.to_string(),
        "executor \"gpu\": limit = 0: must be at least 1"
    );
    let no_threads = ConcurrencyManager::builder()
        .executor("nowhere", Arc::new(Nowhere))
        .build()
        .expect_err("an executor of parallelism zero admits nothing");
    assert!(matches!(&no_threads, BuildError::ZeroExecutorLimit(name) if name == "nowhere"));
}

#[test]
fn io_threads_with_an_attached_runtime_is_refused() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .expect("a runtime");
    let conflict = ConcurrencyManager::builder()
        .io_handle(runtime.handle().clone())
        .io_threads(4)
        .build()
        .expect_err("io_threads means nothing for an attached runtime");
    assert_eq!(
        conflict.to_string(),
        "io_threads cannot be set together with io_handle"
    );
    let attached = ConcurrencyManager::builder()
        .io_handle(runtime.handle().clone())
        .build()
        .expect("attaching alone is fine");
    drop(attached);
}
