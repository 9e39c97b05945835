//! Linking an enqueued batch into its FIFO chains (each chain a list of its live tasks
//! in enqueue order, see `queries`): ids are reserved before the insert so that each
//! task is inserted with its links, and the chains' old tails are linked after it.

use crate::enqueue::TaskId;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A batch's chained tasks, by chain, in input order (indices into the batch).
pub(crate) struct Batch<'a> {
    /// Each chain's tasks.
    chains: BTreeMap<&'a str, Vec<usize>>,
}

/// Each task's id and neighbours, in input order, as the insert writes them.
#[derive(Debug, Default)]
pub(crate) struct Links {
    /// The reserved ids.
    pub(crate) ids: Vec<Option<TaskId>>,
    /// The task before each one in its chain (its chain's old tail for the first).
    pub(crate) prevs: Vec<Option<TaskId>>,
    /// The task after each one in its chain.
    pub(crate) nexts: Vec<Option<TaskId>>,
}

/// What a batch's insert leaves to write: tasks to relink (where unique keys skipped
/// some of a chain) and each chain's (old tail, first, last) new task.
#[derive(Debug, Default)]
pub(crate) struct Ends {
    /// Relinked tasks, their `prev_id` and `next_id`.
    pub(crate) relink: (Vec<TaskId>, Vec<Option<TaskId>>, Vec<Option<TaskId>>),
    /// Chains that received tasks.
    pub(crate) keys: Vec<String>,
    /// Their old tails.
    pub(crate) old_tails: Vec<Option<TaskId>>,
    /// Their first new task.
    pub(crate) firsts: Vec<TaskId>,
    /// Their last new task.
    pub(crate) lasts: Vec<TaskId>,
    /// Chains locked for the batch that received nothing (every task skipped): their
    /// rows go if they are empty.
    pub(crate) unused: Vec<String>,
}

impl<'a> Batch<'a> {
    /// Groups a batch's tasks by chain (`None`: unordered).
    pub(crate) fn new(fifo_keys: &'a [Option<String>]) -> Batch<'a> {
        let mut chains: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (n, key) in fifo_keys.iter().enumerate() {
            if let Some(key) = key {
                chains.entry(key.as_str()).or_default().push(n);
            }
        }
        Batch { chains }
    }

    /// The batch's chains, in key order (the order they are locked in).
    pub(crate) fn keys(&self) -> Vec<String> {
        self.chains.keys().map(|k| (*k).to_owned()).collect()
    }

    /// Whether no task of the batch is chained.
    pub(crate) fn is_empty(&self) -> bool {
        self.chains.is_empty()
    }

    /// Links `len` tasks given their reserved ids (growing, one per task) and their
    /// chains' tails.
    pub(crate) fn link(
        &self,
        len: usize,
        reserved: &[TaskId],
        tails: &HashMap<String, Option<TaskId>>,
    ) -> Links {
        let mut links = Links {
            ids: reserved.iter().copied().map(Some).collect(),
            prevs: vec![None; len],
            nexts: vec![None; len],
        };
        for (key, tasks) in &self.chains {
            let mut before: Option<usize> = None;
            for &n in tasks {
                links.prevs[n] = match before {
                    Some(b) => Some(reserved[b]),
                    None => tails.get(*key).copied().flatten(),
                };
                if let Some(b) = before {
                    links.nexts[b] = Some(reserved[n]);
                }
                before = Some(n);
            }
        }
        links
    }

    /// After the insert: the chains' ends, and the relinks the skipped tasks need.
    pub(crate) fn ends(
        &self,
        reserved: &[TaskId],
        inserted: &HashSet<TaskId>,
        tails: &HashMap<String, Option<TaskId>>,
    ) -> Ends {
        let mut ends = Ends::default();
        for (key, tasks) in &self.chains {
            let kept: Vec<TaskId> = tasks
                .iter()
                .map(|&n| reserved[n])
                .filter(|id| inserted.contains(id))
                .collect();
            let (Some(&first), Some(&last)) = (kept.first(), kept.last()) else {
                ends.unused.push((*key).to_owned());
                continue;
            };
            let old_tail = tails.get(*key).copied().flatten();
            if kept.len() != tasks.len() {
                for (n, &id) in kept.iter().enumerate() {
                    let prev = if n == 0 { old_tail } else { Some(kept[n - 1]) };
                    ends.relink.0.push(id);
                    ends.relink.1.push(prev);
                    ends.relink.2.push(kept.get(n + 1).copied());
                }
            }
            ends.keys.push((*key).to_owned());
            ends.old_tails.push(old_tail);
            ends.firsts.push(first);
            ends.lasts.push(last);
        }
        ends
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_links_after_each_chains_tail_and_skips_what_was_not_inserted() {
        let keys = vec![
            Some("a".to_owned()),
            None,
            Some("a".to_owned()),
            Some("b".to_owned()),
        ];
        let batch = Batch::new(&keys);
        let tails = HashMap::from([("a".to_owned(), Some(7)), ("b".to_owned(), None)]);
        let links = batch.link(4, &[10, 11, 12, 13], &tails);
        assert_eq!(links.prevs, vec![Some(7), None, Some(10), None]);
        assert_eq!(links.nexts, vec![Some(12), None, None, None]);

        let ends = batch.ends(&[10, 11, 12, 13], &HashSet::from([11, 12, 13]), &tails);
        assert_eq!(ends.relink, (vec![12], vec![Some(7)], vec![None]));
        assert_eq!(ends.keys, vec!["a", "b"]);
        assert_eq!(ends.old_tails, vec![Some(7), None]);
        assert_eq!((ends.firsts, ends.lasts), (vec![12, 13], vec![12, 13]));

        let ends = batch.ends(&[10, 11, 12, 13], &HashSet::from([10, 12]), &tails);
        assert_eq!(ends.keys, vec!["a"]);
        assert_eq!(ends.unused, vec!["b"]);
    }
}
