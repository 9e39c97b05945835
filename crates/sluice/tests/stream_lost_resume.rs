//! A puller that finds a streamed map's buffer full counts itself parked in the buffer
//! first and in the map a moment later; a consumer that frees room in between must
//! still bring it back. Found by the stress harness (h10): a chunks stream with a
//! buffer of one hung with its map running, no puller queued or admitted, and its
//! consumer waiting. With one puller (one thread, or a gate the throttle narrowed to
//! one) nobody else brings it back. The window is a few instructions wide, so this test
//! drives many one-place streams through it with a consumer that spins; before the fix
//! it hangs (the watchdog fails it), after it passes.

mod common;

use common::watchdog;
use futures::StreamExt;
use futures::task::noop_waker_ref;
use sluice::{ConcurrencyManager, StreamOptions};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

#[test]
fn a_consumer_that_frees_room_while_a_puller_parks_resumes_it() {
    watchdog("one-place streams", || {
        // One thread: one puller, which nobody else would bring back.
        let mgr = ConcurrencyManager::builder()
            .cpu_threads(1)
            .build()
            .expect("a manager");
        let mut cx = Context::from_waker(noop_waker_ref());
        // Up to 3,000 rounds, fewer on a loaded machine: a hang is one round that never
        // ends (the watchdog's), not many slow rounds adding up past it. At load
        // averages of 10 and more a round took up to 60 ms (every hand-off waiting for a
        // time slice), so 300 rounds at least could pass the watchdog's 20 s.
        let began = Instant::now();
        for round in 0..3_000u32 {
            if round >= 30 && began.elapsed() > Duration::from_secs(8) {
                break;
            }
            let mut items = mgr
                .stream(StreamOptions::new().buffer(1))
                .cpu(0..64u32, |x| x);
            // A consumer that spins, so that it takes each result the moment it lands,
            // often while its producer finds the place still taken. It yields its time
            // slice now and then: on a machine loaded far past its two cores, a consumer
            // that only spins can hold the core its puller waits for, and one round
            // took longer than the watchdog (CI at a load average of 16) without a hang.
            let mut seen = 0;
            let mut idle = 0u32;
            loop {
                match items.poll_next_unpin(&mut cx) {
                    Poll::Ready(Some(_)) => {
                        seen += 1;
                        idle = 0;
                    }
                    Poll::Ready(None) => break,
                    Poll::Pending => {
                        idle += 1;
                        if idle.is_multiple_of(256) {
                            std::thread::yield_now();
                        } else {
                            std::hint::spin_loop();
                        }
                    }
                }
            }
            assert_eq!(seen, 64, "round {round}");
        }
    });
}
