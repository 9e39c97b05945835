//! Configuration from TOML and the environment: the order defaults < file <
//! environment, every kind of bad input named, and `docs/configuration.md` listing
//! every key with its environment name (and its example file building a manager).
//!
//! Tests that need environment variables run this binary again with them set, on the
//! ignored test `load_in_child`, which prints what it loaded.

mod common;

use common::TestResult;
use sluice::config::Config;
use sluice::{KeyOrder, RouteKind};
use std::path::PathBuf;
use std::process::Command;

/// Set in the child's environment: the TOML file to load, or `none`.
const CHILD: &str = "TEST_SLUICE_CONFIG_CHILD";

fn docs() -> String {
    let page = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
    std::fs::read_to_string(page).expect("docs/configuration.md is readable")
}

/// The example file of docs/configuration.md.
fn example() -> String {
    let page = docs();
    let begin = page
        .find("<!-- example:begin -->")
        .expect("the example's start marker");
    let end = page
        .find("<!-- example:end -->")
        .expect("the example's end marker");
    page[begin..end]
        .lines()
        .filter(|line| !line.starts_with("```") && !line.starts_with("<!--"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_key_is_documented_with_its_environment_name() {
    let page = docs();
    for key in Config::keys() {
        let row = format!("| `{key}` |");
        assert!(
            page.contains(&row),
            "docs/configuration.md has no row for {key}"
        );
        let var = Config::variable(&key);
        assert!(
            page.contains(&format!("`{var}`")),
            "docs/configuration.md does not name {var}"
        );
    }
}

#[test]
fn the_documented_example_builds_a_manager() -> TestResult {
    let config = Config::from_toml_str(&example())?;
    assert_eq!(config.cpu.workers, Some(4));
    assert_eq!(config.defaults.retry.max_attempts, 4);
    assert!(config.breakers["tenant-db"].per_key);
    assert_eq!(
        config.breakers["tenant-db"].consecutive_failures, 0,
        "rate only"
    );
    let mgr = config.builder()?.build()?;
    let snapshot = mgr.snapshot();
    assert_eq!(snapshot.route(&RouteKind::Cpu).map(|r| r.limit), Some(8));
    assert_eq!(snapshot.route(&RouteKind::Io).map(|r| r.limit), Some(512));
    assert_eq!(snapshot.dependency("pdf-api").map(|d| d.limit), Some(8));
    assert!(snapshot.breaker("pdf-api").is_some());
    assert_eq!(snapshot.throttle.map(|t| t.interval_ms), Some(1000));
    assert_eq!(mgr.task("x").breaker("pdf-api").run_cpu(|| 1).wait()?, 1);
    Ok(())
}

#[test]
fn defaults_match_the_builder() -> TestResult {
    let config = Config::from_toml_str("")?;
    assert_eq!(config, Config::default());
    assert!(config.throttle.enabled);
    assert_eq!(config.keys.priority_aging, 64);
    let _ = KeyOrder::PerKey;
    config.builder()?.build()?;
    Ok(())
}

/// `text` read as the file, then built: the error message, or "ok".
fn outcome(text: &str) -> String {
    match Config::from_toml_str(text) {
        Err(error) => error.to_string(),
        Ok(config) => match config.builder() {
            Err(error) => error.to_string(),
            Ok(_) => "ok".to_owned(),
        },
    }
}

#[test]
fn unknown_keys_and_wrong_types_are_named() {
    let cases = [
        ("[cpu]\nwokers = 2", "unknown field `wokers`"),
        ("[cpuu]\nworkers = 2", "unknown field `cpuu`"),
        (
            "[breakers.api]\nrecovry = \"1s\"",
            "unknown field `recovry`",
        ),
        ("[dependencies.api]\nmaximum = 3", "unknown field `maximum`"),
        ("[cpu]\nworkers = \"eight\"", "cpu.workers"),
        ("[throttle]\ninterval = \"5 parsecs\"", "throttle.interval"),
        ("[keys]\norder = \"sideways\"", "sideways"),
        ("[defaults.retry]\njitter = \"lots\"", "lots"),
        ("cpu = [", "TOML"),
    ];
    for (text, expected) in cases {
        let message = outcome(text);
        assert!(
            message.contains(expected),
            "{text:?} gave {message:?}, not naming {expected:?}"
        );
    }
}

#[test]
fn values_out_of_range_name_key_value_and_range() {
    let cases = [
        ("[cpu]\nworkers = 0", "cpu.workers = 0: must be at least 1"),
        ("[io]\nlimit = 0", "io.limit = 0: must be at least 1"),
        (
            "[io]\nblocking_threads = 0",
            "io.blocking_threads = 0: must be at least 1",
        ),
        (
            "[throttle]\ncpu_threshold = 140",
            "throttle.cpu_threshold = 140: must be between 1 and 100",
        ),
        (
            "[throttle]\nmemory_threshold = 0",
            "throttle.memory_threshold = 0: must be between 1 and 100",
        ),
        (
            "[throttle]\ncpu_stall_threshold = 101",
            "throttle.cpu_stall_threshold = 101: must be between 1 and 100",
        ),
        (
            "[throttle]\nhysteresis = 100",
            "throttle.hysteresis = 100: must be at least 0 and less than 100",
        ),
        (
            "[throttle]\ndecrease = 1.5",
            "throttle.decrease = 1.5: must be more than 0 and less than 1",
        ),
        (
            "[throttle]\nrecovery = 0",
            "throttle.recovery = 0: must be more than 0 and at most 1",
        ),
        (
            "[throttle]\ninterval = \"0s\"",
            "throttle.interval = 0ns: must be at least 1ms",
        ),
        (
            "[defaults.retry]\nmax_attempts = 0",
            "defaults.retry.max_attempts = 0: must be at least 1",
        ),
        (
            "[defaults.retry]\nbackoff = \"1m\"\nmax_backoff = \"1s\"",
            "defaults.retry.backoff = 60s: must be at most defaults.retry.max_backoff (1s)",
        ),
        (
            "[defaults.retry]\nbudget_ratio = -1",
            "defaults.retry.budget_ratio = -1",
        ),
        (
            "[breakers.api]\nconsecutive_failures = 0",
            "breakers.api.consecutive_failures = 0: set it above 0, or set failure_rate",
        ),
        (
            "[breakers.api]\nfailure_rate = 2.0",
            "breakers.api.failure_rate = 2",
        ),
        (
            "[dependencies.api]\ninitial = 100\nmax = 10",
            "dependencies.api.initial = 100: must be between dependencies.api.min (1) and dependencies.api.max (10)",
        ),
        (
            "[dependencies.api]\nbackoff = 1.5",
            "dependencies.api.backoff = 1.5: must be more than 0 and less than 1",
        ),
    ];
    for (text, expected) in cases {
        let message = outcome(text);
        assert!(
            message.starts_with(expected),
            "{text:?} gave {message:?}, expected {expected:?}"
        );
    }
}

#[test]
fn a_missing_file_is_named() {
    let err = Config::from_toml_file("/no/such/sluice.toml").map(drop);
    let message = err.map_err(|e| e.to_string()).unwrap_err();
    assert!(message.starts_with("/no/such/sluice.toml: "), "{message}");
}

/// Runs `load_in_child` with `vars` set (and no other `SLUICE_` variable), loading
/// `file` if given; returns what it printed.
fn in_child(file: Option<&str>, vars: &[(&str, &str)]) -> String {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let mut command = Command::new(exe);
    command.args([
        "load_in_child",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("SLUICE_")) {
        command.env_remove(name);
    }
    command
        .env(CHILD, file.unwrap_or("none"))
        .envs(vars.iter().copied());
    let output = command.output().expect("the child runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.lines()
        .filter_map(|line| line.split_once("LOADED ").map(|(_, rest)| rest.to_owned()))
        .next()
        .unwrap_or_else(|| panic!("the child printed no result: {text}"))
}

#[test]
#[ignore = "run by the environment tests in a child process"]
fn load_in_child() {
    let Ok(file) = std::env::var(CHILD) else {
        return;
    };
    let loaded = match file.as_str() {
        "none" => Config::from_env(),
        path => Config::from_toml_file(path),
    };
    let line = match loaded.and_then(|config| config.builder().map(|_| config)) {
        Ok(config) => format!(
            "ok workers={:?} cpu_threshold={} memory_threshold={} interval={:?} api_recovery={:?}",
            config.cpu.workers,
            config.throttle.cpu_threshold,
            config.throttle.memory_threshold,
            config.throttle.interval,
            config.breakers.get("api").map(|b| b.recovery),
        ),
        Err(error) => format!("error {error}"),
    };
    #[allow(clippy::print_stdout)] // the parent reads this line
    {
        println!("LOADED {line}");
    }
}

#[test]
fn the_environment_wins_over_the_file_which_wins_over_the_defaults() -> TestResult {
    let dir = std::env::temp_dir().join(format!("sluice-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("sluice.toml");
    std::fs::write(
        &file,
        "[cpu]\nworkers = 2\n\n[throttle]\ncpu_threshold = 70\ninterval = \"2s\"\n",
    )?;
    let path = file.to_string_lossy().into_owned();

    let file_only = in_child(Some(&path), &[]);
    assert_eq!(
        file_only,
        "ok workers=Some(2) cpu_threshold=70 memory_threshold=80 interval=2s api_recovery=None"
    );
    let both = in_child(
        Some(&path),
        &[
            ("SLUICE_CPU__WORKERS", "3"),
            ("SLUICE_THROTTLE__INTERVAL", "250ms"),
            ("SLUICE_BREAKERS__API__RECOVERY", "5m"),
        ],
    );
    assert_eq!(
        both,
        "ok workers=Some(3) cpu_threshold=70 memory_threshold=80 interval=250ms api_recovery=Some(300s)"
    );
    let env_only = in_child(None, &[("SLUICE_THROTTLE__MEMORY_THRESHOLD", "60")]);
    assert_eq!(
        env_only,
        "ok workers=None cpu_threshold=85 memory_threshold=60 interval=500ms api_recovery=None"
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn a_typo_or_bad_value_in_the_environment_is_named() {
    let typo = in_child(None, &[("SLUICE_CPU__WOKERS", "3")]);
    assert!(
        typo.starts_with("error SLUICE_CPU__WOKERS: no setting cpu.wokers"),
        "{typo}"
    );
    let range = in_child(None, &[("SLUICE_THROTTLE__CPU_THRESHOLD", "140")]);
    assert_eq!(
        range,
        "error throttle.cpu_threshold = 140: must be between 1 and 100"
    );
    let kind = in_child(None, &[("SLUICE_CPU__WORKERS", "many")]);
    assert!(
        kind.starts_with(
            "error SLUICE_CPU__WORKERS = \"many\" (for cpu.workers): must be a whole number"
        ),
        "{kind}"
    );
}
