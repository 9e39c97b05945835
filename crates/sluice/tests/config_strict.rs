//! Configuration values are taken only at their own type: no number read as a
//! boolean, no float rounded to a count, no `nan`, no "yes". Each refusal names the key
//! (or the variable) and what it must be. Environment variables are passed explicitly
//! with `Config::load_from`, never set on this process.

use sluice::config::Config;
use std::ffi::OsString;
use std::time::Duration;

/// `toml` read with `vars`, then turned into a builder: the error message, or "ok".
fn outcome(toml: &str, vars: &[(&str, &str)]) -> String {
    let vars = vars.iter().map(|(name, value)| (*name, *value));
    match Config::load_from(Some(toml), vars).and_then(|config| config.builder()) {
        Ok(_) => "ok".to_owned(),
        Err(error) => error.to_string(),
    }
}

fn assert_refused(toml: &str, vars: &[(&str, &str)], expected: &str) {
    let message = outcome(toml, vars);
    assert!(
        message.starts_with(expected),
        "{toml:?} with {vars:?} gave {message:?}, expected {expected:?}"
    );
}

#[test]
fn a_file_value_of_the_wrong_type_is_refused_and_named() {
    let cases = [
        (
            "[cpu]\nworkers = nan",
            "cpu.workers = nan: must be a whole number",
        ),
        (
            "[cpu]\nworkers = 2.9",
            "cpu.workers = 2.9: must be a whole number",
        ),
        (
            "[cpu]\nworkers = true",
            "cpu.workers = true: must be a whole number",
        ),
        (
            "[cpu]\nworkers = -1",
            "cpu.workers = -1: must be a whole number",
        ),
        (
            "[cpu]\nworkers = \"8\"",
            "cpu.workers = \"8\": must be a whole number",
        ),
        (
            "[throttle]\nenabled = -1",
            "throttle.enabled = -1: must be true or false",
        ),
        (
            "[throttle]\nenabled = 1",
            "throttle.enabled = 1: must be true or false",
        ),
        (
            "[throttle]\nenabled = \"yes\"",
            "throttle.enabled = \"yes\": must be true or false",
        ),
        (
            "[breakers.api]\nfailure_window = nan",
            "breakers.api.failure_window = nan: must be a whole number",
        ),
        (
            "[throttle]\ncpu_threshold = nan",
            "throttle.cpu_threshold = nan: must be a finite number",
        ),
        (
            "[throttle]\ndecrease = -inf",
            "throttle.decrease = -inf: must be a finite number",
        ),
        (
            "[throttle]\ninterval = 5",
            "throttle.interval = 5: must be a duration",
        ),
        (
            "[defaults.retry]\nmax_attempts = 5000000000",
            "defaults.retry.max_attempts = 5000000000: must be a whole number from 0 to 4294967295",
        ),
        (
            "[cpu]\nworkers = [1]",
            "cpu.workers = an array: must be a whole number",
        ),
        ("cpu = 3", "cpu = 3: must be a table"),
        ("[breakers]\napi = 3", "breakers.api = 3: must be a table"),
    ];
    for (toml, expected) in cases {
        assert_refused(toml, &[], expected);
    }
}

#[test]
fn a_number_too_large_for_toml_names_its_key() {
    let message = outcome("[cpu]\nworkers = 99999999999999999999", &[]);
    assert!(message.contains("cpu.workers"), "{message}");
    assert!(message.contains("line 2"), "{message}");
}

#[test]
fn thread_counts_and_limits_past_their_maximum_name_the_key() {
    assert_refused(
        "[cpu]\nworkers = 100000",
        &[],
        "cpu.workers = 100000: must be between 1 and 4096",
    );
    assert_refused(
        "[io]\nblocking_threads = 5000",
        &[],
        "io.blocking_threads = 5000: must be between 1 and 4096",
    );
    assert_refused(
        "[cpu]\nlimit = 9223372036854775807",
        &[],
        "cpu.limit = 9223372036854775807: must be between 1 and 2147483647",
    );
}

#[test]
fn an_environment_value_of_the_wrong_type_names_the_variable() {
    let cases = [
        (
            "SLUICE_CPU__WORKERS",
            "yes",
            "cpu.workers",
            "must be a whole number",
        ),
        (
            "SLUICE_CPU__WORKERS",
            "2.9",
            "cpu.workers",
            "must be a whole number",
        ),
        (
            "SLUICE_CPU__WORKERS",
            "-1",
            "cpu.workers",
            "must be a whole number",
        ),
        (
            "SLUICE_CPU__WORKERS",
            " 3",
            "cpu.workers",
            "must be a whole number",
        ),
        (
            "SLUICE_CPU__WORKERS",
            "",
            "cpu.workers",
            "must be a whole number",
        ),
        (
            "SLUICE_CPU__WORKERS",
            "99999999999999999999",
            "cpu.workers",
            "must be a whole number from 0 to",
        ),
        (
            "SLUICE_THROTTLE__ENABLED",
            "1",
            "throttle.enabled",
            "must be true or false",
        ),
        (
            "SLUICE_THROTTLE__ENABLED",
            "yes",
            "throttle.enabled",
            "must be true or false",
        ),
        (
            "SLUICE_THROTTLE__CPU_THRESHOLD",
            "nan",
            "throttle.cpu_threshold",
            "must be a finite number",
        ),
        (
            "SLUICE_THROTTLE__INTERVAL",
            "5",
            "throttle.interval",
            "must be a duration",
        ),
        (
            "SLUICE_DEFAULTS__RETRY__JITTER",
            "lots",
            "defaults.retry.jitter",
            "must be one of",
        ),
        (
            "SLUICE_BREAKERS__API__PER_KEY",
            "maybe",
            "breakers.api.per_key",
            "must be true or false",
        ),
    ];
    for (var, value, key, allowed) in cases {
        let message = outcome("", &[(var, value)]);
        let expected = format!("{var} = {value:?} (for {key}): {allowed}");
        assert!(
            message.starts_with(&expected),
            "{var}={value:?} gave {message:?}, expected {expected:?}"
        );
    }
}

#[test]
fn environment_values_of_the_right_type_are_taken() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load_from(
        Some("[cpu]\nworkers = 2\n[throttle]\ncpu_threshold = 70"),
        [
            ("SLUICE_CPU__WORKERS", "3"),
            ("SLUICE_THROTTLE__ENABLED", "false"),
            ("SLUICE_THROTTLE__MEMORY_THRESHOLD", "60.5"),
            ("SLUICE_THROTTLE__INTERVAL", "250ms"),
            ("SLUICE_KEYS__ORDER", "strict"),
            ("SLUICE_DEFAULTS__TIMEOUT", "1m 30s"),
            ("SLUICE_CONFIG", "/not/a/setting.toml"),
            ("PATH", "/usr/bin"),
        ],
    )?;
    assert_eq!(config.cpu.workers, Some(3));
    assert!(!config.throttle.enabled);
    assert_eq!(config.throttle.cpu_threshold, 70.0);
    assert_eq!(config.throttle.memory_threshold, 60.5);
    assert_eq!(config.throttle.interval, Duration::from_millis(250));
    assert_eq!(config.defaults.timeout, Some(Duration::from_secs(90)));
    let _checked = config.builder()?;
    Ok(())
}

#[test]
fn a_variable_names_a_files_breaker_whatever_its_case() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load_from(
        Some("[breakers.PDF-Api]\nconsecutive_failures = 3"),
        [("SLUICE_BREAKERS__PDF-API__RECOVERY", "5s")],
    )?;
    assert_eq!(config.breakers.len(), 1, "{:?}", config.breakers.keys());
    let pdf = &config.breakers["PDF-Api"];
    assert_eq!(pdf.recovery, Duration::from_secs(5));
    assert_eq!(pdf.consecutive_failures, 3);

    let new = Config::load_from(None, [("SLUICE_DEPENDENCIES__SEARCH__MAX", "8")])?;
    assert_eq!(
        new.dependencies["search"].max, 8,
        "no file entry: a new one"
    );
    Ok(())
}

#[test]
fn a_variable_matching_two_names_of_the_file_is_refused() {
    assert_refused(
        "[breakers.api]\n[breakers.API]",
        &[("SLUICE_BREAKERS__API__RECOVERY", "5s")],
        "SLUICE_BREAKERS__API__RECOVERY: matches breakers \"API\" and \"api\" of the file",
    );
}

#[test]
fn one_key_set_by_two_variables_is_refused() {
    assert_refused(
        "",
        &[("SLUICE_CPU__WORKERS", "2"), ("SLUICE_cpu__workers", "3")],
        "SLUICE_CPU__WORKERS and SLUICE_cpu__workers both set cpu.workers",
    );
}

#[cfg(unix)]
#[test]
fn a_variable_that_is_not_unicode_is_refused_and_named() {
    use std::os::unix::ffi::OsStringExt;
    let bad_value = [(
        OsString::from("SLUICE_CPU__WORKERS"),
        OsString::from_vec(vec![b'4', 0xff]),
    )];
    let message = Config::load_from(None, bad_value)
        .map(drop)
        .map_err(|e| e.to_string());
    assert_eq!(
        message,
        Err("SLUICE_CPU__WORKERS: the value is not valid UTF-8".to_owned())
    );
    let bad_name = [(
        OsString::from_vec(b"SLUICE_CPU__WORK\xffERS".to_vec()),
        OsString::from("4"),
    )];
    let message = Config::load_from(None, bad_name)
        .map(drop)
        .map_err(|e| e.to_string());
    assert_eq!(
        message,
        Err("SLUICE_CPU__WORK\u{fffd}ERS: the name is not valid UTF-8".to_owned())
    );
}
