//! `StreamBuffer`: order, room and parking, closing with holes, cancellation.

#![cfg(not(sluice_loom))]

use sluice_core::{Reserve, StreamBuffer, Taken};
use std::sync::Arc;
use std::thread;

fn granted(reserve: Reserve) -> (u64, usize) {
    match reserve {
        Reserve::Granted { first, count } => (first, count),
        other => panic!("expected room, got {other:?}"),
    }
}

fn value<T: std::fmt::Debug>(taken: Taken<T>) -> (T, usize) {
    match taken {
        Taken::Value { value, resume } => (value, resume),
        other => panic!("expected a value, got {other:?}"),
    }
}

#[test]
fn ordered_delivers_in_sequence_whatever_the_push_order() {
    let buffer = StreamBuffer::new(8, true);
    let (first, count) = granted(buffer.reserve(5));
    assert_eq!((first, count), (0, 5));
    for seq in [4, 2, 3] {
        assert!(buffer.push(seq, seq).is_none());
    }
    assert!(
        matches!(buffer.try_take(), Taken::Empty),
        "0 is not there yet"
    );
    buffer.push(0, 0);
    assert_eq!(value(buffer.try_take()).0, 0);
    assert!(
        matches!(buffer.try_take(), Taken::Empty),
        "1 is not there yet"
    );
    buffer.push(1, 1);
    let out: Vec<u64> = (0..4).map(|_| value(buffer.try_take()).0).collect();
    assert_eq!(out, [1, 2, 3, 4]);
}

#[test]
fn unordered_delivers_as_pushed() {
    let buffer = StreamBuffer::new(8, false);
    granted(buffer.reserve(3));
    buffer.push(2, "c");
    buffer.push(0, "a");
    assert_eq!(value(buffer.try_take()).0, "c");
    assert_eq!(value(buffer.try_take()).0, "a");
    assert!(matches!(buffer.try_take(), Taken::Empty));
}

#[test]
fn reservations_never_exceed_capacity_and_a_full_buffer_parks() {
    let buffer = StreamBuffer::new(4, true);
    assert_eq!(granted(buffer.reserve(3)), (0, 3));
    assert_eq!(granted(buffer.reserve(3)), (3, 1), "only one place left");
    assert_eq!(buffer.reserve(1), Reserve::Full);
    assert_eq!(buffer.reserve(2), Reserve::Full);
    for seq in 0..4 {
        buffer.push(seq, seq);
    }
    // Room frees one place per take; parked producers are resumed at half capacity.
    assert_eq!(value(buffer.try_take()), (0, 0));
    assert_eq!(
        value(buffer.try_take()),
        (1, 2),
        "both parked producers resume"
    );
    assert_eq!(
        value(buffer.try_take()),
        (2, 0),
        "nobody is parked any more"
    );
}

#[test]
fn unreserve_gives_the_tail_back() {
    let buffer: StreamBuffer<u8> = StreamBuffer::new(4, true);
    assert_eq!(granted(buffer.reserve(4)), (0, 4));
    buffer.unreserve(3);
    assert_eq!(buffer.held(), 1);
    assert_eq!(
        granted(buffer.reserve(4)),
        (1, 3),
        "sequence numbers stay dense"
    );
}

#[test]
fn close_skips_places_never_filled_and_then_ends() {
    let buffer = StreamBuffer::new(4, true);
    granted(buffer.reserve(3));
    buffer.push(2, 'c');
    buffer.close();
    assert_eq!(value(buffer.try_take()).0, 'c');
    assert!(matches!(buffer.try_take(), Taken::End));
    assert_eq!(buffer.reserve(1), Reserve::Closed);
}

#[test]
fn cancel_hands_back_what_is_buffered_and_refuses_the_rest() {
    let buffer = StreamBuffer::new(4, false);
    granted(buffer.reserve(2));
    buffer.push(0, String::from("kept"));
    let dropped = buffer.cancel();
    assert_eq!(dropped, ["kept"]);
    assert_eq!(
        buffer.push(1, String::from("late")).as_deref(),
        Some("late")
    );
    assert!(matches!(buffer.try_take(), Taken::End));
    assert_eq!(buffer.reserve(1), Reserve::Closed);
}

#[test]
fn a_blocked_consumer_is_woken_by_a_producer_thread() {
    let buffer = Arc::new(StreamBuffer::new(16, true));
    let producer = {
        let buffer = buffer.clone();
        thread::spawn(move || {
            let mut next = 0u64;
            while next < 1_000 {
                match buffer.reserve(7.min(1_000 - next as usize)) {
                    Reserve::Granted { first, count } => {
                        for seq in first..first + count as u64 {
                            buffer.push(seq, seq);
                        }
                        next = first + count as u64;
                    }
                    Reserve::Full => thread::yield_now(),
                    Reserve::Closed => unreachable!("nobody closes"),
                }
            }
            buffer.close();
        })
    };
    let mut seen = Vec::new();
    while let Taken::Value { value, .. } = buffer.take_blocking() {
        seen.push(value);
    }
    producer.join().expect("producer");
    assert_eq!(seen.len(), 1_000);
    assert!(seen.iter().enumerate().all(|(i, v)| *v == i as u64));
}

#[test]
fn push_many_fills_a_units_places_at_once() {
    let buffer = StreamBuffer::new(8, true);
    granted(buffer.reserve(3));
    granted(buffer.reserve(2));
    // The second unit finishes first; nothing leaves before the first unit's places.
    assert!(buffer.push_many(3, vec![30, 40]).is_empty());
    assert!(matches!(buffer.try_take(), Taken::Empty));
    assert!(buffer.push_many(0, vec![0, 10, 20]).is_empty());
    buffer.close();
    let out: Vec<u32> = std::iter::from_fn(|| match buffer.try_take() {
        Taken::Value { value, .. } => Some(value),
        _ => None,
    })
    .collect();
    assert_eq!(out, [0, 10, 20, 30, 40]);
    assert_eq!(buffer.cancel(), Vec::<u32>::new());
    assert_eq!(buffer.push_many(5, vec![1]), [1], "refused once cancelled");
}

#[test]
fn a_refill_moves_a_batch_and_keeps_it_counted_until_the_next() {
    use sluice_core::Refill;
    use std::collections::VecDeque;
    let buffer = StreamBuffer::new(4, false);
    granted(buffer.reserve(4));
    assert!(buffer.push_many(0, vec![1, 2, 3, 4]).is_empty());
    assert_eq!(buffer.reserve(1), Reserve::Full, "parks");
    let mut local = VecDeque::new();
    assert_eq!(
        buffer.try_refill(0, &mut local, 3),
        Refill::Got {
            count: 3,
            resume: 0
        },
        "the three taken still count: no room yet"
    );
    assert_eq!(buffer.held(), 4);
    local.clear();
    assert_eq!(
        buffer.try_refill(3, &mut local, 3),
        Refill::Got {
            count: 1,
            resume: 1
        },
        "releasing them frees room and resumes the parked producer"
    );
    buffer.close();
    assert_eq!(
        buffer.try_refill(1, &mut local, 3),
        Refill::End { resume: 0 }
    );
}

/// Counts its wakes.
struct CountWakes(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn an_async_producer_is_woken_as_soon_as_one_place_frees() {
    // The io stream's driver starts one item per place: had it waited for half the
    // buffer, the items in flight would drop by that much between its wake-ups.
    let buffer = StreamBuffer::new(8, false);
    assert_eq!(granted(buffer.reserve(8)), (0, 8));
    for seq in 0..8 {
        assert_eq!(buffer.push(seq, seq), None);
    }
    let wakes = Arc::new(CountWakes(std::sync::atomic::AtomicUsize::new(0)));
    let waker = std::task::Waker::from(wakes.clone());
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(
        buffer.poll_reserve(&mut cx, 1).is_pending(),
        "the buffer is full"
    );
    assert_eq!(value(buffer.try_take()), (0, 0));
    assert_eq!(wakes.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(matches!(
        buffer.poll_reserve(&mut cx, 1),
        std::task::Poll::Ready(Reserve::Granted { first: 8, count: 1 })
    ));
}

#[test]
fn push_each_fills_places_in_any_order_with_one_wake() {
    let buffer = StreamBuffer::new(4, true);
    assert_eq!(granted(buffer.reserve(4)), (0, 4));
    let wakes = Arc::new(CountWakes(std::sync::atomic::AtomicUsize::new(0)));
    let waker = std::task::Waker::from(wakes.clone());
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(buffer.poll_take(&mut cx).is_pending(), "nothing pushed yet");
    assert!(buffer.push_each([(2, "c"), (0, "a"), (1, "b")]).is_empty());
    assert_eq!(wakes.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(value(buffer.try_take()).0, "a");
    assert_eq!(value(buffer.try_take()).0, "b");
    assert_eq!(value(buffer.try_take()).0, "c");
    // Cancelled: every value is handed back to be dropped by the caller.
    drop(buffer.cancel());
    assert_eq!(buffer.push_each([(3, "d")]), ["d"]);
}
