//! An ordered streamed map cut short while an early item is still in flight never
//! hands a later item's answer in that item's place: a consumer of an ordered stream
//! reads an element's item from its position. Found by the stress harness (h10): at
//! shutdown, item 16's error came as element 15 of an ordered stream.

mod common;

use common::{eventually, watchdog};
use sluice::{ConcurrencyManager, RouteKind, StreamOptions};
use std::time::Duration;

#[test]
#[ignore = "StreamBuffer::close skips unfilled places by design (sluice-core's \
            close_skips_places_never_filled_and_then_ends); for the lead to decide"]
fn an_ordered_stream_cut_short_keeps_every_answer_in_its_place() {
    watchdog("ordered stream cut short", || {
        let mgr = ConcurrencyManager::builder().build().expect("a manager");
        let items = mgr
            .stream(StreamOptions::new().buffer(4))
            .io(0..2u32, |x| async move {
                if x == 0 {
                    // Item 0 is still running when the map is cut short.
                    std::future::pending::<()>().await;
                }
                x
            });
        eventually("item 1 is answered", || {
            mgr.snapshot()
                .route(&RouteKind::Io)
                .is_some_and(|r| r.items.ok == 1)
        });
        mgr.shutdown(Duration::from_millis(10));
        let seen: Vec<_> = items.into_iter().collect();
        // Element 0 is item 0's answer or the map's early end, never item 1's value.
        assert_ne!(seen.first(), Some(&Ok(1)), "{seen:?}");
    });
}
