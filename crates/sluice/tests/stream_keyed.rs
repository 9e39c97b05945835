//! Per-key order in a streamed map: items of one key run one at a time in input order,
//! ordered and unordered; a buffer full of one key's items does not deadlock; a key
//! function that panics answers its item; a keyed map stopped midway ends.

mod common;

use common::{TestResult, watchdog};
use sluice::{ConcurrencyManager, StreamOptions, TaskError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An order event: the account it belongs to and its number in the input.
#[derive(Debug, Clone, Copy)]
struct Event {
    account: u32,
    number: u32,
}

fn events(n: u32, accounts: u32) -> Vec<Event> {
    (0..n)
        .map(|number| Event {
            // Uneven: account 0 has far more events than the others.
            account: if number % 3 == 0 {
                0
            } else {
                number % accounts
            },
            number,
        })
        .collect()
}

/// What the map's function saw: per account, the events applied in turn, and whether
/// two events of one account ever ran at once.
#[derive(Clone, Default)]
struct Ledger {
    applied: Arc<Mutex<HashMap<u32, Vec<u32>>>>,
    running: Arc<Mutex<HashMap<u32, bool>>>,
    overlapped: Arc<AtomicBool>,
}

impl Ledger {
    fn apply(&self, event: Event) -> u32 {
        let was = self
            .running
            .lock()
            .expect("running")
            .insert(event.account, true);
        if was == Some(true) {
            self.overlapped.store(true, Ordering::SeqCst);
        }
        // Long enough for another thread to come in if it could.
        std::thread::sleep(Duration::from_micros(200));
        self.applied
            .lock()
            .expect("applied")
            .entry(event.account)
            .or_default()
            .push(event.number);
        self.running
            .lock()
            .expect("running")
            .insert(event.account, false);
        event.number
    }

    fn check(&self, input: &[Event]) {
        assert!(
            !self.overlapped.load(Ordering::SeqCst),
            "two events of one account ran at once"
        );
        let applied = self.applied.lock().expect("applied");
        for (account, numbers) in applied.iter() {
            let expected: Vec<u32> = input
                .iter()
                .filter(|e| e.account == *account)
                .map(|e| e.number)
                .collect();
            assert_eq!(numbers, &expected, "account {account} in input order");
        }
    }
}

#[test]
fn items_of_one_key_run_one_at_a_time_in_input_order() -> TestResult {
    watchdog("keyed", || -> TestResult {
        let mgr = ConcurrencyManager::builder().cpu_threads(4).build()?;
        for unordered in [false, true] {
            let options = StreamOptions::new().buffer(16);
            let options = if unordered {
                options.unordered()
            } else {
                options
            };
            let input = events(300, 5);
            let ledger = Ledger::default();
            let applying = ledger.clone();
            let mut answers: Vec<u32> = mgr
                .stream(options)
                .keyed(|event: &Event| event.account)
                .cpu(input.clone(), move |event| applying.apply(event))
                .into_iter()
                .map(|answer| answer.expect("every event applied"))
                .collect();
            ledger.check(&input);
            if unordered {
                answers.sort_unstable();
            }
            assert_eq!(answers, (0..300).collect::<Vec<_>>());
        }
        Ok(())
    })
}

#[test]
fn a_buffer_full_of_one_keys_items_does_not_deadlock() -> TestResult {
    watchdog("one key fills the buffer", || -> TestResult {
        let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
        // Forty items of one key, then others: every place of the buffer is taken by
        // the one key's items while they wait for each other.
        let input: Vec<Event> = (0..40)
            .map(|number| Event { account: 7, number })
            .chain((40..60).map(|number| Event {
                account: number,
                number,
            }))
            .collect();
        for unordered in [false, true] {
            let options = StreamOptions::new().buffer(4);
            let options = if unordered {
                options.unordered()
            } else {
                options
            };
            let ledger = Ledger::default();
            let applying = ledger.clone();
            let mut stream = mgr
                .stream(options)
                .keyed(|event: &Event| event.account)
                .chunks(input.clone(), move |event| applying.apply(event));
            let mut answers = Vec::new();
            while let Some(answer) = stream.next_blocking() {
                // A slow consumer: the producers find the buffer full again and again.
                std::thread::sleep(Duration::from_micros(300));
                answers.push(answer?);
            }
            ledger.check(&input);
            answers.sort_unstable();
            assert_eq!(answers, (0..60).collect::<Vec<_>>());
        }
        Ok(())
    })
}

#[test]
fn a_key_function_that_panics_answers_its_item_and_the_rest_go_on() -> TestResult {
    watchdog("key panics", || -> TestResult {
        let mgr = ConcurrencyManager::builder().build()?;
        let answers: Vec<_> = mgr
            .stream(StreamOptions::new())
            .keyed(|name: &&str| {
                assert!(!name.is_empty(), "an empty name has no key");
                name.len()
            })
            .cpu(["ab", "", "cd", "efg"], |name| name.to_uppercase())
            .into_iter()
            .collect();
        assert_eq!(answers[0], Ok("AB".to_string()));
        assert!(
            matches!(&answers[1], Err(TaskError::Panicked(m)) if m.contains("an empty name has no key")),
            "{:?}",
            answers[1]
        );
        assert_eq!(answers[2..], [Ok("CD".to_string()), Ok("EFG".to_string())]);
        Ok(())
    })
}

#[test]
fn a_keyed_map_stopped_midway_ends() -> TestResult {
    watchdog("keyed stops", || -> TestResult {
        let mgr = ConcurrencyManager::builder().cpu_threads(2).build()?;
        // Fail-fast: the first failure stops the map while items wait for their keys.
        let answers: Vec<_> = mgr
            .stream(StreamOptions::new().fail_fast().buffer(8))
            .keyed(|n: &u32| n % 2)
            .try_cpu(0..10_000u32, |n| {
                std::thread::sleep(Duration::from_micros(50));
                if n == 25 { Err("bad record") } else { Ok(n) }
            })
            .into_iter()
            .collect();
        assert!(answers.len() < 10_000, "the map stopped");
        assert!(answers.contains(&Err(TaskError::Failed("bad record"))));
        // Dropped midway with items parked: the map ends, counted cancelled.
        let mut stream = mgr
            .stream(StreamOptions::new().buffer(8))
            .keyed(|n: &u32| n % 3)
            .cpu(0..u32::MAX, |n| n);
        assert_eq!(stream.next_blocking(), Some(Ok(0)));
        drop(stream);
        common::eventually("the map's end", || {
            common::counts(&mgr, sluice::RouteKind::Cpu).cancelled == 1
        });
        Ok(())
    })
}

#[test]
fn a_keyed_map_with_item_timeouts_keeps_each_keys_order() -> TestResult {
    watchdog("keyed timeouts", || -> TestResult {
        let mgr = ConcurrencyManager::builder().cpu_threads(4).build()?;
        let input = events(40, 2);
        let ledger = Ledger::default();
        let applying = ledger.clone();
        let answers: Vec<_> = mgr
            .stream(StreamOptions::new().item_timeout(Duration::from_secs(10)))
            .keyed(|event: &Event| event.account)
            .cpu(input.clone(), move |event| applying.apply(event))
            .into_iter()
            .collect();
        ledger.check(&input);
        assert_eq!(answers, (0..40).map(Ok).collect::<Vec<_>>());
        Ok(())
    })
}

#[test]
fn a_retried_item_holds_its_key_until_its_last_attempt() -> TestResult {
    watchdog("keyed retry", || -> TestResult {
        let mgr = ConcurrencyManager::builder().cpu_threads(4).build()?;
        let input = events(60, 3);
        let ledger = Ledger::default();
        let applying = ledger.clone();
        let tries: Arc<Mutex<HashMap<u32, u32>>> = Arc::default();
        let answers: Vec<_> = mgr
            .stream(StreamOptions::new().unordered())
            .keyed(|event: &Event| event.account)
            .retry(common::quick_retry(3)?)
            .try_cpu(input.clone(), move |event| {
                let tried = {
                    let mut tries = tries.lock().expect("tries");
                    let n = tries.entry(event.number).or_default();
                    *n += 1;
                    *n
                };
                // Every fifth event fails its first attempt; it is applied on its
                // second, before the next event of its account.
                if event.number % 5 == 0 && tried == 1 {
                    return Err("busy");
                }
                Ok(applying.apply(event))
            })
            .into_iter()
            .collect();
        ledger.check(&input);
        assert_eq!(answers.len(), 60);
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        Ok(())
    })
}

#[test]
fn io_items_of_one_key_are_awaited_one_at_a_time_in_input_order() -> TestResult {
    watchdog("keyed io", || -> TestResult {
        let mgr = ConcurrencyManager::builder().io_limit(8).build()?;
        for unordered in [false, true] {
            let options = StreamOptions::new().buffer(6);
            let options = if unordered {
                options.unordered()
            } else {
                options
            };
            let input = events(90, 4);
            let ledger = Ledger::default();
            let applying = ledger.clone();
            let mut answers: Vec<u32> = mgr
                .stream(options)
                .keyed(|event: &Event| event.account)
                .io(input.clone(), move |event| {
                    let ledger = applying.clone();
                    async move {
                        // Suspended in the middle, so that another event of the same
                        // account would run now if it could.
                        tokio::time::sleep(Duration::from_micros(100)).await;
                        ledger.apply(event)
                    }
                })
                .into_iter()
                .map(|answer| answer.expect("every event applied"))
                .collect();
            ledger.check(&input);
            if unordered {
                answers.sort_unstable();
            }
            assert_eq!(answers, (0..90).collect::<Vec<_>>());
        }
        // Dropped midway with futures parked: the map ends, counted cancelled.
        let mut stream = mgr
            .stream(StreamOptions::new().buffer(8))
            .keyed(|n: &u32| n % 2)
            .io(0..u32::MAX, |n| async move {
                tokio::time::sleep(Duration::from_micros(50)).await;
                n
            });
        assert_eq!(stream.next_blocking(), Some(Ok(0)));
        drop(stream);
        common::eventually("the io map's end", || {
            common::counts(&mgr, sluice::RouteKind::Io).cancelled == 1
        });
        Ok(())
    })
}
