//! An ordered streamed map cut short while an early item is still in flight never
//! hands a later item's answer in that item's place: a consumer of an ordered stream
//! reads an element's item from its position. Found by the stress harness (h10): at
//! shutdown, item 16's error came as element 15 of an ordered stream.

mod common;

use common::{eventually, watchdog};
use sluice::{ConcurrencyManager, RouteKind, StreamOptions};
use std::time::Duration;

#[test]
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
        // Item 0, cut short, answers Cancelled in its place; item 1 keeps its own; the
        // map's early end comes last.
        assert_eq!(
            seen.first(),
            Some(&Err(sluice::TaskError::Cancelled)),
            "{seen:?}"
        );
        assert_eq!(seen.get(1), Some(&Ok(1)), "{seen:?}");
    });
}
