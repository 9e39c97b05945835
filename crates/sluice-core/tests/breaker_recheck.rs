//! `Call::recheck`: a call that waited before it started asks its breaker again, so
//! work queued while the breaker opened does not run against the failing service.

#![cfg(not(sluice_loom))]

use sluice_core::{BreakerConfig, BreakerState, CircuitBreaker, ManualClock};
use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

const RECOVERY: Duration = Duration::from_secs(30);
const FAST: Duration = Duration::from_millis(1);

fn one_strike() -> Result<(CircuitBreaker, Arc<ManualClock>), Box<dyn Error>> {
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .recovery(RECOVERY)
        .half_open_probes(1)
        .build()?;
    let clock = Arc::new(ManualClock::new());
    Ok((CircuitBreaker::new(config, clock.clone()), clock))
}

#[test]
fn a_call_of_the_current_generation_keeps_its_admission() -> Result<(), Box<dyn Error>> {
    let (breaker, _clock) = one_strike()?;
    let call = breaker.try_acquire()?.recheck()?;
    assert_eq!((call.generation(), call.is_probe()), (0, false));
    assert!(matches!(
        call.failure(FAST).map(|t| t.to),
        Some(BreakerState::Open { .. })
    ));
    let snapshot = breaker.snapshot();
    assert_eq!(
        (snapshot.calls, snapshot.abandoned),
        (1, 0),
        "not asked twice"
    );
    Ok(())
}

#[test]
fn a_call_queued_while_the_breaker_opened_is_rejected() -> Result<(), Box<dyn Error>> {
    let (breaker, _clock) = one_strike()?;
    let queued = breaker.try_acquire()?;
    breaker.try_acquire()?.failure(FAST);
    let rejected = queued.recheck().err().ok_or("an open breaker refuses it")?;
    assert_eq!(rejected.retry_after(), RECOVERY);
    let snapshot = breaker.snapshot();
    assert_eq!((snapshot.abandoned, snapshot.rejections), (1, 1));
    assert_eq!(snapshot.outstanding(), 0);
    Ok(())
}

#[test]
fn a_stale_call_becomes_the_probe_once_the_breaker_is_half_open() -> Result<(), Box<dyn Error>> {
    let (breaker, clock) = one_strike()?;
    let queued = breaker.try_acquire()?;
    let late = breaker.try_acquire()?;
    breaker.try_acquire()?.failure(FAST);
    clock.advance(RECOVERY);
    let probe = queued.recheck()?;
    assert!(probe.is_probe());
    assert_eq!(
        probe.transition().map(|t| t.to),
        Some(BreakerState::HalfOpen),
        "the recheck made the move and reports it"
    );
    assert!(late.recheck().is_err(), "one probe at a time");
    assert_eq!(
        probe.recheck()?.transition(),
        None,
        "reported once, by the recheck that made it"
    );
    Ok(())
}

#[test]
fn a_call_from_before_the_breaker_closed_again_counts_in_the_new_generation()
-> Result<(), Box<dyn Error>> {
    let (breaker, clock) = one_strike()?;
    let queued = breaker.try_acquire()?;
    breaker.try_acquire()?.failure(FAST);
    clock.advance(RECOVERY);
    breaker.try_acquire()?.success(FAST);
    assert_eq!(breaker.state(), BreakerState::Closed);
    let fresh = queued.recheck()?;
    assert_eq!(fresh.generation(), breaker.snapshot().generation);
    assert!(
        fresh.failure(FAST).is_some(),
        "its failure counts: it opens the breaker again"
    );
    Ok(())
}
