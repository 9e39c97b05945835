//! Both sides of every streamed-map row do the same work: the same items, each once,
//! folded to the same value, so a ratio between them compares like with like.

use sluice_benches::streams;
use sluice_benches::work::work_20ns;
use sluice_benches::{Fixture, threads};

/// The XOR of `0..n`: what every side folds its results into, in any order.
fn xor_of(n: u64) -> u64 {
    (0..n).fold(0, |acc, x| acc ^ x)
}

#[test]
fn io_rows_fold_every_item_once_on_both_sides() {
    let fx = Fixture::new(threads());
    let mgr = streams::manager(threads());
    let n = 600;
    for ordered in [false, true] {
        assert_eq!(streams::io_anchor(&fx, n, ordered), xor_of(n));
        for buffer in [None, Some(streams::IN_FLIGHT)] {
            assert_eq!(streams::io_sluice(&fx, &mgr, n, ordered, buffer), xor_of(n));
        }
    }
}

#[test]
fn cpu_rows_fold_every_item_once_on_both_sides() {
    let fx = Fixture::new(threads());
    let mgr = streams::manager(threads());
    let n = 5_000;
    // `busy_1us` answers whatever its loop reached in its microsecond; `work_20ns`
    // answers the same every time, so the folds can be compared.
    let expect = (0..n).fold(0, |acc, x| acc ^ work_20ns(x));
    assert_eq!(streams::cpu_anchor(&fx, n, work_20ns), expect);
    assert_eq!(streams::cpu_sluice(&mgr, threads(), n, work_20ns), expect);
}
