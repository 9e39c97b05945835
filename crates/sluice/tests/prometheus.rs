//! The Prometheus example serves the manager's counters: this test starts it, scrapes
//! it over HTTP and reads the text (feature `metrics`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The example's binary, next to this test's (`cargo test --example prometheus` builds
/// it).
fn example() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let debug = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    debug
        .join("examples")
        .join(format!("prometheus{}", std::env::consts::EXE_SUFFIX))
}

#[test]
fn the_example_serves_the_counters_as_prometheus_text() {
    let binary = example();
    assert!(
        binary.exists(),
        "build it first: cargo test -p sluice --features metrics --example prometheus ({binary:?})"
    );
    let mut child = Command::new(binary)
        .args(["--port", "0", "--scrapes", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let port: u16 = lines
        .find_map(|line| {
            line.ok()?
                .strip_prefix("listening on ")?
                .trim()
                .parse()
                .ok()
        })
        .expect("the example prints its port");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the example listens");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("the request goes out");
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .expect("the answer comes back");
    assert!(child.wait().expect("the example ends").success());

    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    let has = |needle: &str| {
        text.lines()
            .any(|line| line.starts_with(needle) || line.contains(needle))
    };
    // 40 parses, every tenth failed (i = 0, 10, 20, 30: tenants 0 and 2).
    for expected in [
        r#"sluice_tasks_total{route="cpu",outcome="succeeded"} 36"#,
        r#"sluice_tasks_total{route="cpu",outcome="failed"} 4"#,
        r#"sluice_tasks_submitted_total{route="cpu"} 40"#,
        r#"sluice_key_tasks{route="cpu",key="tenant-0",outcome="failed"} 2"#,
        r#"sluice_key_tasks{route="cpu",key="tenant-1",outcome="succeeded"} 10"#,
        r#"sluice_limit{route="io"}"#,
        r#"sluice_run_time_seconds{route="cpu",quantile="0.99"}"#,
        r#"sluice_throttle_reason{route="cpu",reason="clear"} 1"#,
    ] {
        assert!(has(expected), "missing {expected:?} in:\n{text}");
    }
}
