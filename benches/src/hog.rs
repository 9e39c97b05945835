//! A background load for the round-trip rows measured "loaded": one thread that spins
//! on a core for as long as the [`Hog`] lives.
//!
//! A waiting strategy that spins before it parks wins on an idle machine and can lose
//! when another process holds a core; the loaded rows run both sides of a pair with
//! the same hog, so that a win in one condition cannot hide a loss in the other.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// One core kept busy until dropped.
pub struct Hog {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl Hog {
    /// Starts the spinning thread.
    ///
    /// ```
    /// let hog = sluice_benches::hog::Hog::start();
    /// // ... measure under load ...
    /// drop(hog);
    /// ```
    pub fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("bench-hog".into())
            .spawn(move || {
                let mut spins = 0u64;
                while !flag.load(Ordering::Relaxed) {
                    spins = black_box(spins.wrapping_add(1));
                }
                spins
            })
            .ok();
        Hog { stop, thread }
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
