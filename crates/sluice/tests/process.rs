//! External commands as tasks: input fed, output captured to its limits, the exit
//! status as the outcome, a program that cannot start named in its error.

#![cfg(unix)]

mod common;

use common::{TestResult, watchdog};
use sluice::process::{Command, ProcessError, StreamName};
use sluice::retry::{Backoff, Retry};
use sluice::{ConcurrencyManager, TaskError};
use std::time::Duration;

fn manager() -> ConcurrencyManager {
    ConcurrencyManager::builder()
        .build()
        .expect("the manager builds")
}

#[test]
fn a_prompt_fed_on_stdin_is_answered_on_stdout() -> TestResult {
    watchdog("prompt", || {
        let mgr = manager();
        let answer = mgr
            .run_process(
                Command::new("sh")
                    .args([
                        "-c",
                        "read name; read town; echo \"hello $name from $town\"",
                    ])
                    .stdin("ada\nlondon\n"),
            )
            .wait()?;
        assert_eq!(answer.stdout_lossy(), "hello ada from london\n");
        assert!(answer.status.success());
        assert!(!answer.stdout_truncated && !answer.stderr_truncated);
        Ok(())
    })
}

#[test]
fn a_command_that_does_not_read_its_input_is_not_an_error() -> TestResult {
    watchdog("unread input", || {
        let mgr = manager();
        let big = vec![b'x'; 1 << 20]; // more than a pipe holds
        let output = mgr.run_process(Command::new("true").stdin(big)).wait()?;
        assert!(output.status.success());
        Ok(())
    })
}

#[test]
fn stdout_keeps_its_first_bytes_and_stderr_its_last() -> TestResult {
    watchdog("capture limits", || {
        let mgr = manager();
        let script = "head -c 100000 /dev/zero; i=0; while [ $i -lt 100 ]; do echo line$i >&2; i=$((i+1)); done";
        let output = mgr
            .run_process(
                Command::new("sh")
                    .args(["-c", script])
                    .stdout_limit(1000)
                    .stderr_limit(14),
            )
            .wait()?;
        assert_eq!(output.stdout, vec![0; 1000]);
        assert!(output.stdout_truncated);
        assert_eq!(output.stderr_lossy(), "line98\nline99\n");
        assert!(output.stderr_truncated);

        let within = mgr
            .run_process(Command::new("echo").arg("short").stdout_limit(1000))
            .wait()?;
        assert_eq!(within.stdout, b"short\n");
        assert!(!within.stdout_truncated);
        Ok(())
    })
}

#[test]
fn output_past_its_limit_fails_the_task_when_asked_to() -> TestResult {
    watchdog("truncation fails", || {
        let mgr = manager();
        let answer = mgr
            .run_process(
                Command::new("head")
                    .args(["-c", "5000", "/dev/zero"])
                    .stdout_limit(100)
                    .truncation_fails(true),
            )
            .wait();
        match answer {
            Err(TaskError::Failed(ProcessError::OutputTooLarge {
                program,
                stream,
                limit,
            })) => {
                assert_eq!(
                    (program.as_str(), stream, limit),
                    ("head", StreamName::Stdout, 100)
                );
            }
            other => panic!("expected OutputTooLarge, got {other:?}"),
        }
        Ok(())
    })
}

#[test]
fn a_non_zero_exit_is_the_tasks_failure_naming_program_status_and_stderr() -> TestResult {
    watchdog("exit status", || {
        let mgr = manager();
        let answer = mgr
            .run_process(Command::new("sh").args([
                "-c",
                "echo partial; echo 'warming up' >&2; echo 'disk full' >&2; exit 3",
            ]))
            .wait();
        let Err(TaskError::Failed(error)) = answer else {
            panic!("expected a failure, got {answer:?}");
        };
        assert_eq!(
            error.to_string(),
            "`sh` failed (exit status: 3): warming up\ndisk full"
        );
        let ProcessError::Exited { status, output, .. } = error else {
            panic!("expected Exited, got {error:?}");
        };
        assert_eq!(status.code(), Some(3));
        assert_eq!(output.stdout, b"partial\n");

        let counts = mgr.snapshot().total();
        assert_eq!((counts.submitted, counts.failed), (1, 1));
        Ok(())
    })
}

#[test]
fn a_command_killed_by_a_signal_fails_with_that_signal() -> TestResult {
    watchdog("killed", || {
        use std::os::unix::process::ExitStatusExt;
        let mgr = manager();
        let answer = mgr
            .run_process(Command::new("sh").args(["-c", "kill -KILL $$"]))
            .wait();
        match answer {
            Err(TaskError::Failed(ProcessError::Exited { status, .. })) => {
                assert_eq!(status.signal(), Some(9));
            }
            other => panic!("expected Exited by a signal, got {other:?}"),
        }
        Ok(())
    })
}

#[test]
fn a_program_that_cannot_start_is_named() -> TestResult {
    watchdog("spawn failure", || {
        let mgr = manager();
        let missing = mgr
            .run_process(Command::new("sluice-no-such-program"))
            .wait();
        let Err(TaskError::Failed(error @ ProcessError::Spawn { .. })) = missing else {
            panic!("expected a spawn error, got {missing:?}");
        };
        let message = error.to_string();
        assert!(
            message.starts_with("could not start `sluice-no-such-program`: "),
            "{message}"
        );

        let nowhere = mgr
            .run_process(Command::new("true").current_dir("/sluice/no/such/dir"))
            .wait();
        assert!(
            matches!(nowhere, Err(TaskError::Failed(ProcessError::Spawn { ref program, .. })) if program == "true"),
            "{nowhere:?}"
        );
        Ok(())
    })
}

#[test]
fn environment_and_working_directory_reach_the_command() -> TestResult {
    watchdog("env and cwd", || {
        let mgr = manager();
        let output = mgr
            .run_process(
                Command::new("sh")
                    .args([
                        "-c",
                        "echo \"$SLUICE_GREETING\"; pwd; echo \"${HOME:-unset}\"",
                    ])
                    .env("SLUICE_GREETING", "hi")
                    .env_remove("HOME")
                    .current_dir("/"),
            )
            .wait()?;
        assert_eq!(output.stdout_lossy(), "hi\n/\nunset\n");
        Ok(())
    })
}

#[test]
fn a_retried_command_runs_again_from_the_start() -> TestResult {
    watchdog("retried", || {
        let mgr = manager();
        let marker = std::env::temp_dir().join(format!("sluice-retry-{}", std::process::id()));
        let _ = std::fs::remove_file(&marker);
        // Reads its whole input each time, and fails until the third attempt.
        let script = format!(
            "cat >/dev/null; echo x >> {0}; [ $(wc -l < {0}) -ge 3 ]",
            marker.display()
        );
        let retry = Retry::builder()
            .max_attempts(5)
            .backoff(Backoff::exponential(Duration::from_millis(1)))
            .build()?;
        let output = mgr
            .task("flaky-cli")
            .retry(retry)
            .run_process(Command::new("sh").args(["-c", &script]).stdin("input"))
            .wait()?;
        assert!(output.status.success());
        assert_eq!(std::fs::read_to_string(&marker)?, "x\nx\nx\n");
        std::fs::remove_file(&marker)?;
        Ok(())
    })
}
