//! The Vegas limit: grows while latency stays near its lowest, shrinks when it rises.
//!
//! TCP Vegas, as Netflix's `concurrency-limits` applies it to requests, treats the
//! lowest latency seen (`min_rtt`) as the cost of a call that waits for nothing. When
//! a call takes `rtt`, the excess `1 - min_rtt / rtt` is time spent queued, so of
//! `limit` calls in flight about `queue = limit * (1 - min_rtt / rtt)` are waiting
//! rather than being served. With `d = max(1, log10(limit))`:
//!
//! - `queue <= d`: nothing waits, so the limit jumps by `beta * d`;
//! - `queue < alpha * d`: a short queue, the limit grows by `d`;
//! - `queue > beta * d`: a long queue, the limit shrinks by `d`;
//! - otherwise it holds. A failed or timed-out call multiplies it by `backoff`.
//!
//! Why Vegas rather than loss-based AIMD: it reads the queue inside the dependency
//! directly from how far latency rose over its minimum, so it settles a few calls
//! above the point where latency starts to grow instead of pushing until calls fail.
//! That is the right place for a service with a fixed number of workers, where every
//! call past the knee only adds waiting (or thrashing). Errors and timeouts are a
//! separate signal and cut the limit multiplicatively, as loss does in TCP.
//!
//! Scaling the thresholds with `log10(limit)` keeps the steps meaningful at both 10
//! and 1,000 calls. Samples where fewer than half the limit were in flight leave it
//! alone: the caller is not using the limit, so they say nothing about whether a
//! higher one would be safe.
//!
//! One move per round trip: every move of the limit opens a new *epoch*, and only
//! calls that began in the current epoch move it again. A call that began earlier
//! measured the old limit; letting it move the new one would make the limit run far
//! past the point where latency answers (every call ending within one round trip would
//! add its step before the first reading of the new load arrives). TCP Vegas adjusts
//! once per round trip for the same reason. A burst of failures likewise cuts the limit
//! once per round trip, not once per failed call.
//!
//! Probing: every `probe_every` limits' worth of samples the lowest latency is
//! measured again, so that a dependency that got slower for good is not held to its
//! old best (which would read as a permanent queue and pin the limit low). Unlike
//! Netflix's version, which adopts the latency of the probing call at full load, the
//! probe drops the limit to `min` and starts an epoch: the calls still draining from
//! the old limit are ignored, and the first call of the new epoch gives the new
//! minimum. Reading it under our own load would make the queue we caused part of the
//! baseline; against a server that slows down when overloaded, each probe then
//! ratchets the limit upwards (several times the knee within a few thousand calls).
//! The probe costs a brief dip to `min`, from which the empty queue makes the limit
//! regrow by `beta` per round trip.

use super::LimitConfig;
use std::time::Duration;

/// One dependency's adaptive concurrency limit; the caller serialises calls.
#[derive(Debug, Clone)]
pub(crate) struct Vegas {
    /// Bounds and tuning.
    config: LimitConfig,
    /// The limit, kept fractional so that steps smaller than one call accumulate.
    limit: f64,
    /// The latency of a call that waited for nothing, once one has been seen.
    min_rtt: Option<Duration>,
    /// Samples since the last probe.
    samples: usize,
    /// Moves of the limit so far: a call that began before the last move measured the
    /// old limit, and is ignored.
    epoch: u64,
}

impl Vegas {
    /// A limit starting at `config.initial`, with no latency measured yet.
    pub(crate) fn new(config: LimitConfig) -> Self {
        Vegas {
            limit: config.initial as f64,
            config,
            min_rtt: None,
            samples: 0,
            epoch: 0,
        }
    }

    /// The current limit, within `config.min..=config.max`.
    pub(crate) fn limit(&self) -> usize {
        // Rounding down cannot leave the bounds, since they are whole; the clamp makes
        // the promise hold without relying on that.
        (self.limit.floor() as usize).clamp(self.config.min, self.config.max)
    }

    /// The latency of a call that waited for nothing, if one has been measured.
    pub(crate) fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    /// The current epoch: give it back to [`on_sample`](Self::on_sample) for a call
    /// that begins now.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// One call ended after `rtt`; `in_flight` = calls of the dependency in flight when
    /// it ended (itself included); `dropped` = it failed or timed out; `began` = the
    /// [`epoch`](Self::epoch) when it began. Returns the new limit.
    pub(crate) fn on_sample(
        &mut self,
        rtt: Duration,
        in_flight: usize,
        dropped: bool,
        began: u64,
    ) -> usize {
        if began < self.epoch {
            return self.limit();
        }
        let before = self.limit;
        let limit = self.step(rtt.max(self.config.min_rtt_floor), in_flight, dropped);
        if self.limit != before {
            self.epoch += 1;
        }
        limit
    }

    /// [`on_sample`](Self::on_sample) for a call of the current epoch.
    fn step(&mut self, rtt: Duration, in_flight: usize, dropped: bool) -> usize {
        let min = self.config.min as f64;
        self.samples += 1;
        if self.samples >= self.config.probe_every.saturating_mul(self.limit()) {
            // Measured at `min`, so that the queue we caused is not taken as the
            // dependency's own latency (see the module docs). The new epoch makes the
            // calls still draining from the old limit be ignored.
            self.samples = 0;
            self.min_rtt = None;
            self.limit = min;
            self.epoch += 1;
            return self.limit();
        }
        if dropped {
            // A failed call's latency may be a timeout or a fast error: neither is
            // the no-load latency.
            self.limit = (self.limit * self.config.backoff).max(min);
            return self.limit();
        }
        let min_rtt = self.min_rtt.map_or(rtt, |m| m.min(rtt));
        self.min_rtt = Some(min_rtt);
        // Too few calls to say whether a higher limit would be safe.
        if (in_flight as f64) * 2.0 < self.limit {
            return self.limit();
        }
        let queue = self.limit * (1.0 - min_rtt.as_secs_f64() / rtt.as_secs_f64());
        let d = self.limit.log10().max(1.0);
        let (alpha, beta) = (self.config.alpha * d, self.config.beta * d);
        if queue <= d {
            self.limit += beta;
        } else if queue < alpha {
            self.limit += d;
        } else if queue > beta {
            self.limit -= d;
        }
        self.limit = self.limit.clamp(min, self.config.max as f64);
        self.limit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One millisecond.
    const MS: Duration = Duration::from_millis(1);

    /// A server with `k` workers that thrashes when overloaded: with `c` calls in
    /// flight each takes `base * (1 + 0.5 * max(0, c - k))`.
    fn latency(base: Duration, k: usize, c: usize) -> Duration {
        base.mul_f64(1.0 + 0.5 * c.saturating_sub(k) as f64)
    }

    /// Runs `n` samples of a closed loop that always keeps `limit` calls in flight;
    /// returns each sample's (calls in flight, latency).
    fn drive(
        v: &mut Vegas,
        n: usize,
        k: usize,
        base: impl Fn(usize) -> Duration,
    ) -> Vec<(usize, Duration)> {
        (0..n)
            .map(|i| {
                let c = v.limit();
                let rtt = latency(base(i), k, c);
                v.on_sample(rtt, c, false, v.epoch());
                (c, rtt)
            })
            .collect()
    }

    /// Mean calls in flight over `s`.
    fn mean_limit(s: &[(usize, Duration)]) -> f64 {
        s.iter().map(|&(c, _)| c as f64).sum::<f64>() / s.len() as f64
    }

    /// Calls per second over `s` in virtual time: with `c` in flight one call ends
    /// every `rtt / c`.
    fn throughput(s: &[(usize, Duration)]) -> f64 {
        let secs: f64 = s.iter().map(|&(c, r)| r.as_secs_f64() / c as f64).sum();
        s.len() as f64 / secs
    }

    /// The defaults with other bounds.
    fn config(initial: usize, min: usize, max: usize) -> LimitConfig {
        LimitConfig {
            initial,
            min,
            max,
            ..LimitConfig::default()
        }
    }

    #[test]
    fn starts_at_initial_and_stays_within_bounds() {
        let mut v = Vegas::new(config(7, 3, 40));
        assert_eq!((v.limit(), v.min_rtt()), (7, None));
        // A fixed linear congruential sequence: assorted but reproducible.
        let mut x: u64 = 12345;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let rtt = Duration::from_micros((x >> 33) % 200_000);
            let in_flight = ((x >> 20) % 60) as usize;
            let began = if x.is_multiple_of(3) { 0 } else { v.epoch() };
            let l = v.on_sample(rtt, in_flight, (x >> 10).is_multiple_of(7), began);
            assert!((3..=40).contains(&l) && l == v.limit(), "limit {l}");
        }
    }

    #[test]
    fn rtt_below_the_floor_counts_as_the_floor() {
        let mut v = Vegas::new(LimitConfig::default());
        v.on_sample(Duration::from_nanos(10), 20, false, 0);
        assert_eq!(v.min_rtt(), Some(LimitConfig::default().min_rtt_floor));
    }

    #[test]
    fn drops_back_off_down_to_min() {
        let mut v = Vegas::new(config(100, 5, 200));
        assert_eq!(v.on_sample(10 * MS, 100, true, v.epoch()), 90);
        assert_eq!(v.on_sample(10 * MS, 90, true, v.epoch()), 81);
        assert_eq!(v.min_rtt(), None, "a dropped call is not a latency sample");
        for _ in 0..100 {
            v.on_sample(10 * MS, 80, true, v.epoch());
        }
        assert_eq!(v.limit(), 5);
    }

    #[test]
    fn app_limited_samples_leave_the_limit_alone() {
        let mut v = Vegas::new(config(50, 1, 1000));
        for rtt in [10 * MS, 500 * MS, 10 * MS, 2000 * MS] {
            assert_eq!(v.on_sample(rtt, 24, false, v.epoch()), 50);
        }
        assert_eq!(v.min_rtt(), Some(10 * MS));
    }

    #[test]
    fn constant_latency_grows_to_max() {
        let mut v = Vegas::new(config(5, 1, 300));
        drive(&mut v, 200, usize::MAX, |_| 10 * MS);
        assert_eq!(v.limit(), 300);
    }

    #[test]
    fn settles_just_above_the_knee_of_a_thrashing_server() {
        // Expected equilibrium: at L <= K = 8 latency is flat, the queue reads 0 and
        // the limit jumps by beta. Above, rtt/base = 1 + 0.5(L - 8), so
        // queue = L * (1 - 1/(1 + 0.5(L - 8))) = L(L - 8)/(L - 6). That is 3 (= alpha)
        // at L = 9 and 6*log10(L) (= beta) at L ~= 10.7, so the limit comes to rest in
        // 9..=10.7: about 10, i.e. 20 ms latency, 500 calls/s. The dips of probing
        // pull the average a little lower.
        let (k, base) = (8, 10 * MS);
        // Start above the knee: the first reading of min_rtt is under load, and only
        // the probe can correct it.
        let mut v = Vegas::new(config(20, 1, 1000));
        let run = drive(&mut v, 5000, k, |_| base);
        let settled = &run[4000..];
        let mean = mean_limit(settled);
        assert!(
            (k as f64..=1.5 * k as f64).contains(&mean),
            "settled at {mean}"
        );
        assert_eq!(v.min_rtt(), Some(base));
        // A fixed limit of 200 thrashes: 200 / 970 ms ~= 206 calls/s.
        let fixed = throughput(&[(200, latency(base, k, 200))]);
        let adaptive = throughput(settled);
        assert!(adaptive >= 2.0 * fixed, "{adaptive} vs {fixed} calls/s");
    }

    #[test]
    fn probe_drops_to_min_and_ignores_the_calls_of_the_old_limit() {
        let mut v = Vegas::new(LimitConfig {
            probe_every: 1,
            ..config(10, 2, 100)
        });
        let old = v.epoch();
        // App-limited samples keep the limit at 10, so the 10th sample probes.
        for _ in 0..9 {
            assert_eq!(v.on_sample(50 * MS, 4, false, old), 10);
        }
        assert_eq!(v.on_sample(50 * MS, 4, false, old), 2);
        for _ in 0..3 {
            let limit = v.on_sample(80 * MS, 3, false, old);
            assert_eq!((limit, v.min_rtt()), (2, None), "a call of the old limit");
        }
        v.on_sample(20 * MS, 1, false, v.epoch());
        assert_eq!(v.min_rtt(), Some(20 * MS));
    }

    #[test]
    fn the_limit_moves_once_per_round_trip() {
        let mut v = Vegas::new(config(40, 1, 1000));
        // A burst of failures of calls that all began together: one cut, not forty.
        let began = v.epoch();
        for _ in 0..40 {
            v.on_sample(10 * MS, 40, true, began);
        }
        assert_eq!(v.limit(), 36);
        // Calls that began under the old limit cannot grow the new one either.
        let began = v.epoch();
        v.on_sample(10 * MS, 36, false, began);
        let grown = v.limit();
        assert!(grown > 36);
        for _ in 0..30 {
            v.on_sample(10 * MS, 36, false, began);
        }
        assert_eq!(v.limit(), grown);
    }

    #[test]
    fn probing_follows_latency_that_rose_for_good() {
        // K = 50 workers; base latency doubles from 10 ms to 20 ms halfway. With the
        // old min_rtt every call reads as half queued, so the limit collapses to where
        // L/2 ~= beta (about 12); re-measuring min_rtt lets it regrow to the knee.
        let k = 50;
        let base = |i: usize| if i < 10_000 { 10 * MS } else { 20 * MS };
        let mut never = Vegas::new(LimitConfig {
            probe_every: usize::MAX,
            ..config(20, 1, 1000)
        });
        let stale = drive(&mut never, 20_000, k, base);
        assert!(
            mean_limit(&stale[19_000..]) < k as f64 / 2.0,
            "collapses without probing"
        );
        assert_eq!(never.min_rtt(), Some(10 * MS));

        let mut v = Vegas::new(config(20, 1, 1000));
        let run = drive(&mut v, 20_000, k, base);
        let (before, after) = (mean_limit(&run[9000..10_000]), mean_limit(&run[19_000..]));
        assert_eq!(v.min_rtt(), Some(20 * MS));
        assert!(
            before >= k as f64 && after >= k as f64,
            "{before} then {after}"
        );
        assert!(after <= 1.5 * k as f64, "{after}");
    }
}
