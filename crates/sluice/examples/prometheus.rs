//! Serves a manager's metrics as Prometheus text, through the `metrics` facade and
//! `metrics-exporter-prometheus` (run with `--features metrics`):
//!
//! ```sh
//! cargo run -p sluice --features metrics --example prometheus   # then: curl localhost:9898/metrics
//! ```
//!
//! Each scrape publishes a fresh snapshot (`publish_metrics`) and renders the
//! recorder's text. `--port 0` picks a free port; the port is printed as `listening
//! on <port>`. `--scrapes N` stops after N scrapes.

use metrics_exporter_prometheus::PrometheusBuilder;
use sluice::ConcurrencyManager;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = 9898u16;
    let mut scrapes = usize::MAX;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--port", Some(value)) => port = value.parse()?,
            ("--scrapes", Some(value)) => scrapes = value.parse()?,
            _ => {
                return Err(
                    format!("usage: prometheus [--port N] [--scrapes N] (got {arg:?})").into(),
                );
            }
        }
    }
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)?;

    // Some work to count: parsed records, a few bad ones, one key per tenant.
    let mgr = ConcurrencyManager::builder().build()?;
    for i in 0..40u32 {
        let tenant = format!("tenant-{}", i % 4);
        let parsed = mgr.task("parse").key(tenant).try_run_cpu(move || {
            if i % 10 == 0 {
                Err("bad record")
            } else {
                Ok(i)
            }
        });
        let _ = parsed.wait();
    }

    let listener = TcpListener::bind(("127.0.0.1", port))?;
    #[allow(clippy::print_stdout)] // an example program: its output is the point
    {
        println!("listening on {}", listener.local_addr()?.port());
    }
    for stream in listener.incoming().take(scrapes) {
        let mut stream = stream?;
        // The request line and headers, up to the blank line; any path is /metrics.
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut line = String::new();
        while reader.read_line(&mut line)? > 2 {
            line.clear();
        }
        mgr.publish_metrics();
        let body = handle.render();
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
    }
    Ok(())
}
