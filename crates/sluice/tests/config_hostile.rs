//! Thousands of random and hostile configurations — TOML files of known and unknown
//! keys with values of every type (`nan`, `-1`, `2.9`, numbers too large for TOML,
//! `"300000000000y"`, arrays, dates), and `SLUICE_` environments of the same in any
//! case, some not UTF-8 — from a seeded generator, so a failure replays. Reading and
//! checking each never panics, and every refusal names a key or variable it was given
//! (or, for TOML that does not parse, its line).

use sluice::config::{Config, ConfigError};
use std::ffi::OsString;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Configurations generated.
const CASES: u64 = 5000;

/// SplitMix64: small, seedable, good enough to pick from lists.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// Values as written in TOML, between bars: every type, and the edges of each.
const FILE_VALUES: &str = "\
    0|1|2|-1|8|100|4096|4097|2147483648|4294967296|9223372036854775807|\
    -9223372036854775808|99999999999999999999|nan|+inf|-inf|2.9|0.5|1e308|-0.0|\
    1e-300|true|false|\"8\"|\"yes\"|\"\"|\"250ms\"|\"0s\"|\"1ns\"|\"300000000000y\"|\
    \"584542046091y\"|\"5 parsecs\"|\"none\"|\"equal\"|\"strict\"|\"per_key\"|\
    \"sideways\"|[1, 2]|[]|{ a = 1 }|1979-05-27|07:32:00|\"\\u00e9\"|0x10|1_000";

/// Values of `SLUICE_` variables, between bars.
const ENV_VALUES: &str = "\
    0|1|8|-1|+3| 3|3 ||4097|4294967296|9223372036854775808|99999999999999999999|nan|\
    inf|2.9|1e308|0.5|true|false|TRUE|yes|250ms|0s|300000000000y|5 parsecs|none|\
    strict|per_key|sideways|é";

/// Names of breakers and dependencies, some differing only in case.
const NAMES: &[&str] = &["api", "API", "Pdf-Api", "pdf-api", "db", "x.y", "é", " "];

/// Tables and the keys they may hold, with a few that are no key.
const TABLES: &[(&str, &[&str])] = &[
    ("cpu", &["workers", "limit", "wokers"]),
    ("chunk", &["workers", "limit"]),
    ("io", &["workers", "limit", "blocking_threads"]),
    (
        "throttle",
        &[
            "enabled",
            "interval",
            "cpu_threshold",
            "cpu_stall_threshold",
            "memory_threshold",
            "hysteresis",
            "decrease",
            "recovery",
        ],
    ),
    ("defaults", &["timeout", "retry"]),
    (
        "defaults.retry",
        &[
            "max_attempts",
            "backoff",
            "max_backoff",
            "jitter",
            "max_elapsed",
            "budget",
            "budget_ratio",
        ],
    ),
    ("keys", &["order", "priority_aging"]),
    ("metrics", &["summary_interval", "max_keys"]),
    ("shutdown", &["timeout", "grace"]),
    (
        "breakers.<name>",
        &[
            "consecutive_failures",
            "failure_rate",
            "failure_window",
            "failure_min_calls",
            "slow_call",
            "recovery",
            "half_open_probes",
            "per_key",
        ],
    ),
    ("dependencies.<name>", &["initial", "min", "max", "backoff"]),
    ("", &["cpu", "breakers", "nothing"]),
];

/// A generated configuration and what an error may name.
struct Case {
    toml: String,
    vars: Vec<(OsString, OsString)>,
    /// Dotted keys the file sets and variables the environment holds.
    names: Vec<String>,
}

fn generate(rng: &mut Rng) -> Case {
    // Keys of the root table come before the first header, or they would be a table's.
    let mut root = String::new();
    let mut toml = String::new();
    let mut names = Vec::new();
    for _ in 0..rng.below(5) {
        let (table, keys) = *rng.pick(TABLES);
        let name = *rng.pick(NAMES);
        let (header, path) = match table.split_once(".<name>") {
            Some((section, _)) => (format!("{section}.{name:?}"), format!("{section}.{name}")),
            None => (table.to_owned(), table.to_owned()),
        };
        if !header.is_empty() {
            toml.push_str(&format!("[{header}]\n"));
            names.push(path.clone());
        }
        for _ in 0..rng.below(4) {
            let key = *rng.pick(keys);
            let line = format!(
                "{key} = {}\n",
                rng.pick(&FILE_VALUES.split('|').collect::<Vec<_>>())
            );
            if header.is_empty() {
                root.push_str(&line);
            } else {
                toml.push_str(&line);
            }
            names.push(if path.is_empty() {
                key.to_owned()
            } else {
                format!("{path}.{key}")
            });
        }
    }
    let mut toml = root + &toml;
    if rng.chance(3) {
        toml.push_str("[cpu\n");
    }
    let mut vars = Vec::new();
    for _ in 0..rng.below(4) {
        let keys = Config::keys();
        let name = *rng.pick(NAMES);
        let key = rng.pick(&keys).replace("<name>", name);
        let mut var = Config::variable(&key);
        if rng.chance(10) {
            var = var.to_lowercase().replacen("sluice_", "SLUICE_", 1);
        }
        if rng.chance(5) {
            var.push('X');
        }
        let value = OsString::from(*rng.pick(&ENV_VALUES.split('|').collect::<Vec<_>>()));
        // A value out of range is named by the key the variable sets.
        names.push(key_of(&var));
        names.push(var.clone());
        vars.push((OsString::from(var), value));
    }
    if rng.chance(3) {
        vars.push(not_unicode(rng));
        names.push("SLUICE_".to_owned());
    }
    vars.push(("PATH".into(), "/usr/bin".into()));
    Case { toml, vars, names }
}

/// The key a variable sets: the levels of its name, but that a breaker's or
/// dependency's name is everything between the section and the field.
fn key_of(var: &str) -> String {
    let levels: Vec<String> = var
        .trim_start_matches("SLUICE_")
        .split("__")
        .map(str::to_lowercase)
        .collect();
    match levels.as_slice() {
        [section, name @ .., field] if !name.is_empty() => {
            format!("{section}.{}.{field}", name.join("__"))
        }
        _ => levels.join("."),
    }
}

#[cfg(unix)]
fn not_unicode(rng: &mut Rng) -> (OsString, OsString) {
    use std::os::unix::ffi::OsStringExt;
    if rng.chance(50) {
        (
            "SLUICE_CPU__WORKERS".into(),
            OsString::from_vec(vec![b'4', 0xff]),
        )
    } else {
        (OsString::from_vec(b"SLUICE_\xffCPU".to_vec()), "4".into())
    }
}

#[cfg(not(unix))]
fn not_unicode(_: &mut Rng) -> (OsString, OsString) {
    ("SLUICE_CPU__WORKERS".into(), "4".into())
}

/// Builds what `builder` holds (with one thread per pool, whatever the file asked)
/// and runs a task through the configured defaults, then shuts down with the
/// configured timeout.
fn run_a_manager(builder: sluice::ManagerBuilder, config: &Config) {
    let mgr = builder
        .cpu_threads(1)
        .chunk_threads(1)
        .io_threads(1)
        .io_blocking_threads(1)
        .build()
        .expect("a configuration that passed its checks builds");
    let answer = mgr
        .task("probe")
        .key("k")
        .priority(sluice::Priority::Low)
        .run_cpu(|| 7)
        .wait();
    assert!(
        matches!(answer, Ok(7) | Err(sluice::TaskError::TimedOut)),
        "{answer:?}"
    );
    mgr.shutdown(config.shutdown.timeout);
}

#[test]
fn hostile_configurations_never_panic_and_every_error_names_its_key() {
    let mut rng = Rng(0x5eed_c0f1_9000_0016);
    let (mut refused, mut accepted, mut started) = (0, 0, 0);
    for case_number in 0..CASES {
        let case = generate(&mut rng);
        let read = catch_unwind(AssertUnwindSafe(|| {
            let config = Config::load_from(Some(&case.toml), case.vars.clone())?;
            let builder = config.builder()?;
            if accepted % 10 == 0 {
                started += 1;
                run_a_manager(builder, &config);
            }
            Ok::<_, ConfigError>(())
        }));
        let Ok(outcome) = read else {
            panic!(
                "case {case_number} panicked:\n{}\n{:?}",
                case.toml, case.vars
            );
        };
        let Err(error) = outcome else {
            accepted += 1;
            continue;
        };
        refused += 1;
        let message = error.to_string();
        let named = match &error {
            ConfigError::Syntax { .. } => message.contains(" line "),
            _ => case
                .names
                .iter()
                .any(|name| message.contains(name.as_str())),
        };
        assert!(
            named,
            "case {case_number}: {message:?} names nothing it was given:\n{}\n{:?}",
            case.toml, case.vars
        );
    }
    // The generator reaches both sides, or the test proves little.
    assert!(accepted > CASES / 50, "only {accepted} accepted");
    assert!(refused > CASES / 2, "only {refused} refused");
    assert!(started > 10, "only {started} managers started");
}
