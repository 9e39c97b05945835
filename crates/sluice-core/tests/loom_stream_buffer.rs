//! Loom models of `StreamBuffer`: a parked producer is always resumed once the consumer
//! frees room (no lost resume), ordered delivery holds across threads, and a cancel
//! racing a push drops every value exactly once.

#![cfg(sluice_loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use sluice_core::{Reserve, StreamBuffer, Taken};

#[test]
fn a_parked_producer_is_resumed_by_the_take_that_frees_room() {
    loom::model(|| {
        let buffer = Arc::new(StreamBuffer::new(2, true));
        let Reserve::Granted { first, count } = buffer.reserve(2) else {
            panic!("room")
        };
        assert_eq!((first, count), (0, 2));
        let producer = {
            let buffer = buffer.clone();
            thread::spawn(move || {
                buffer.push(0, 0u32);
                buffer.push(1, 1);
                // Parks, or finds room if the consumer already took.
                buffer.reserve(1)
            })
        };
        let mut resumed = 0;
        for expected in 0..2 {
            match buffer.take_blocking() {
                Taken::Value { value, resume } => {
                    assert_eq!(value, expected);
                    resumed += resume;
                }
                other => panic!("{other:?}"),
            }
        }
        match producer.join().expect("producer") {
            // Parked: exactly one take must have reported it.
            Reserve::Full => assert_eq!(resumed, 1),
            Reserve::Granted { first, .. } => {
                assert_eq!(resumed, 0);
                assert_eq!(first, 2);
            }
            Reserve::Closed => panic!("not closed"),
        }
    });
}

#[test]
fn two_producers_fill_in_order() {
    loom::model(|| {
        let buffer = Arc::new(StreamBuffer::new(4, true));
        let spawn = |buffer: Arc<StreamBuffer<u64>>| {
            thread::spawn(move || {
                if let Reserve::Granted { first, count } = buffer.reserve(1) {
                    for seq in first..first + count as u64 {
                        buffer.push(seq, seq);
                    }
                }
            })
        };
        let a = spawn(buffer.clone());
        let b = spawn(buffer.clone());
        a.join().expect("a");
        b.join().expect("b");
        buffer.close();
        let mut out = Vec::new();
        while let Taken::Value { value, .. } = buffer.take_blocking() {
            out.push(value);
        }
        assert_eq!(out, [0, 1]);
    });
}

/// Counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn cancel_racing_push_drops_each_value_once() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let buffer = Arc::new(StreamBuffer::new(2, false));
        let Reserve::Granted { .. } = buffer.reserve(2) else {
            panic!("room")
        };
        let producer = {
            let (buffer, drops) = (buffer.clone(), drops.clone());
            thread::spawn(move || {
                drop(buffer.push(0, Counted(drops.clone())));
                drop(buffer.push(1, Counted(drops)));
            })
        };
        drop(buffer.cancel());
        producer.join().expect("producer");
        assert!(matches!(buffer.try_take(), Taken::End));
        drop(buffer);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn values_held_by_the_consumer_count_until_released_and_no_resume_is_lost() {
    loom::model(|| {
        use sluice_core::Refill;
        use std::collections::VecDeque;
        let buffer = Arc::new(StreamBuffer::new(2, false));
        let Reserve::Granted { .. } = buffer.reserve(2) else {
            panic!("room")
        };
        let producer = {
            let buffer = buffer.clone();
            thread::spawn(move || {
                buffer.push(0, 0u32);
                buffer.push(1, 1);
                buffer.reserve(1)
            })
        };
        let mut local = VecDeque::new();
        let mut resumed = 0;
        let mut held = 0;
        while local.len() < 2 {
            match buffer.refill_blocking(held, &mut local, 2) {
                Refill::Got { count, resume } => {
                    held = count;
                    resumed += resume;
                }
                Refill::Empty { resume } => {
                    held = 0;
                    resumed += resume;
                }
                Refill::End { .. } => panic!("not closed"),
            }
            // What was taken is handed out; the next refill releases it.
            if local.len() < 2 {
                local.clear();
                local.push_back(0);
            }
        }
        let reserved = producer.join().expect("producer");
        // Release what the consumer held: room frees now, and a parked producer hears.
        if let Refill::Empty { resume } | Refill::Got { resume, .. } =
            buffer.try_refill(held, &mut VecDeque::new(), 2)
        {
            resumed += resume;
        }
        match reserved {
            Reserve::Full => assert_eq!(resumed, 1, "the parked producer is resumed once"),
            Reserve::Granted { .. } => assert_eq!(resumed, 0),
            Reserve::Closed => panic!("not closed"),
        }
    });
}
