//! Why a row's rounds are spread over the whole run, and how they are shared out.
//!
//! The machine's speed drifts over minutes as well as seconds. Interleaving the two sides
//! of a pair cancels the drift within a round, but a row measured in one stretch of ten
//! seconds sees only that stretch's machine: two runs of the page then disagree on rows
//! near their target (one stretch a little busier than the other), while each run's
//! interval, made from rounds that all saw the same stretch, is narrow and sure of
//! itself. So the runner makes several passes over every row, each pass giving each row
//! a share of its rounds: a row's rounds come from stretches minutes apart, and its
//! bootstrap interval is as wide as the run's drift makes it.

/// Passes over the rows in a full or quick run (a smoke run makes one).
pub const PASSES: usize = 3;

/// Rounds of `total` that pass `pass` (from 0) of `passes` gives a row: an even share,
/// the first passes taking one more when `total` does not divide.
pub fn share(total: usize, pass: usize, passes: usize) -> usize {
    let passes = passes.max(1);
    total / passes + usize::from(pass < total % passes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shares_of_a_row_add_up_to_its_rounds() {
        for total in 0..40 {
            for passes in 1..5 {
                let sum: usize = (0..passes).map(|pass| share(total, pass, passes)).sum();
                assert_eq!(sum, total, "{total} rounds over {passes} passes");
            }
        }
    }

    #[test]
    fn shares_differ_by_one_round_at_most() {
        assert_eq!(
            (0..3).map(|pass| share(7, pass, 3)).collect::<Vec<_>>(),
            [3, 2, 2]
        );
        assert_eq!(
            (0..3).map(|pass| share(21, pass, 3)).collect::<Vec<_>>(),
            [7, 7, 7]
        );
        assert_eq!(share(5, 0, 0), 5);
    }
}
