//! The watchdog (a run that stops answering is a failure, not a hang) and the
//! process's memory figures.

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Exit code of a run the watchdog stopped.
pub const HUNG: i32 = 3;

/// Starts a thread that ends the process with [`HUNG`] once `answered` has not moved
/// for `patience`, after printing `seed` and what `describe` says about the state.
pub fn start(
    answered: Arc<AtomicU64>,
    patience: Duration,
    seed: u64,
    describe: impl Fn() -> String + Send + 'static,
) {
    let spawned = thread::Builder::new()
        .name("stress-watchdog".into())
        .spawn(move || {
            let mut last = answered.load(Ordering::Relaxed);
            let mut since = Instant::now();
            loop {
                thread::sleep(Duration::from_millis(250));
                let now = answered.load(Ordering::Relaxed);
                if now != last {
                    (last, since) = (now, Instant::now());
                } else if since.elapsed() >= patience {
                    #[allow(clippy::print_stderr)]
                    {
                        eprintln!(
                            "sluice-stress: FAIL (hung): no task answered for {patience:?}; \
                             seed {seed:#x}\n{}",
                            describe()
                        );
                    }
                    std::process::exit(HUNG);
                }
            }
        });
    if let Err(error) = spawned {
        panic!("the watchdog thread could not start: {error}");
    }
}

/// Resident memory now and at its peak, in bytes, from `/proc/self/status`; `None`
/// where there is no such file.
pub fn rss() -> Option<(u64, u64)> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
