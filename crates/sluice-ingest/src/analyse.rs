//! What is computed from file contents: per-file facts, word counts, duplicate groups.
//! Pure functions; `pipeline.rs` decides which pool runs them.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

/// How often each word occurs.
pub type WordCounts = HashMap<String, u64, BuildHasherDefault<WordHasher>>;

/// A fast hash for short words (the FxHash scheme): the word count and its merges
/// spend most of their time hashing, and the keys come from local files, not from an
/// adversary, so SipHash's flooding resistance buys nothing here.
#[derive(Debug, Default, Clone, Copy)]
pub struct WordHasher(u64);

impl WordHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let mut buf = [0u8; 8];
            buf.copy_from_slice(word);
            self.add(u64::from_le_bytes(buf));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        // The multiply leaves the low bits, which pick the bucket, the worst mixed.
        self.0.rotate_left(26)
    }
}

/// What one file's contents tell.
#[derive(Debug, Clone)]
pub struct FileFacts {
    /// Its size in bytes.
    pub len: u64,
    /// Its BLAKE3 hash.
    pub hash: blake3::Hash,
    /// Its lines: newlines, plus one for a last line without one.
    pub lines: u64,
    /// The contents, when they are text (UTF-8 without NUL bytes), kept for word
    /// counting.
    pub text: Option<Arc<String>>,
}

/// Hashes `bytes` and tells whether they are text and how many lines they hold.
pub fn analyse(bytes: Vec<u8>) -> FileFacts {
    let hash = blake3::hash(&bytes);
    let newlines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    let lines = newlines + u64::from(bytes.last().is_some_and(|&b| b != b'\n'));
    let len = bytes.len() as u64;
    let text = if bytes.contains(&0) {
        None
    } else {
        String::from_utf8(bytes).ok().map(Arc::new)
    };
    FileFacts {
        len,
        hash,
        lines,
        text,
    }
}

/// Whole lines of one or more texts, about `target_bytes` in all: one work item of
/// the word count.
#[derive(Debug, Clone, Default)]
pub struct LineChunk {
    /// Texts and the byte ranges of whole lines in them.
    pieces: Vec<(Arc<String>, Range<usize>)>,
    /// The bytes of all pieces.
    bytes: usize,
}

impl LineChunk {
    /// The lines of this chunk.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.pieces
            .iter()
            .flat_map(|(text, range)| text.get(range.clone()).unwrap_or("").lines())
    }
}

/// Cuts `texts` into chunks of whole lines of about `target_bytes` each: a large text
/// gives many chunks, small texts share one.
pub fn line_chunks(
    texts: impl IntoIterator<Item = Arc<String>>,
    target_bytes: usize,
) -> Vec<LineChunk> {
    let target = target_bytes.max(1);
    let mut chunks = Vec::new();
    let mut current = LineChunk::default();
    for text in texts {
        let mut start = 0;
        while start < text.len() {
            let room = target.saturating_sub(current.bytes).max(1);
            let end = line_end(&text, start.saturating_add(room));
            current.bytes += end - start;
            current.pieces.push((text.clone(), start..end));
            start = end;
            if current.bytes >= target {
                chunks.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.pieces.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// The end of the line holding byte `at` (past its newline), or the text's end.
fn line_end(text: &str, at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    text.as_bytes()[at..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |newline| at + newline + 1)
}

/// Counts the words of a chunk's lines: runs of letters, digits and `_` that start
/// with a letter or `_`, lowercased.
pub fn count_words(chunk: LineChunk) -> WordCounts {
    let mut counts = WordCounts::default();
    let mut lower = String::new();
    for line in chunk.lines() {
        if line.is_ascii() {
            // The common case, byte by byte: no UTF-8 decoding, no Unicode tables.
            let bytes = line.as_bytes();
            let mut start = 0;
            while start < bytes.len() {
                let len = bytes[start..]
                    .iter()
                    .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_'))
                    .unwrap_or(bytes.len() - start);
                if len > 0 {
                    let word = &line[start..start + len];
                    if !bytes[start].is_ascii_digit() {
                        if word.bytes().any(|b| b.is_ascii_uppercase()) {
                            lower.clear();
                            lower.push_str(word);
                            lower.make_ascii_lowercase();
                            add_word(&mut counts, &lower);
                        } else {
                            add_word(&mut counts, word);
                        }
                    }
                }
                start += len + 1;
            }
        } else {
            for word in line.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
                if word.is_empty() || word.starts_with(|c: char| c.is_numeric()) {
                    continue;
                }
                if word.chars().any(char::is_uppercase) {
                    lower.clear();
                    lower.extend(word.chars().flat_map(char::to_lowercase));
                    add_word(&mut counts, &lower);
                } else {
                    add_word(&mut counts, word);
                }
            }
        }
    }
    counts
}

/// Counts one occurrence of `word`, allocating only for a word not seen before.
fn add_word(counts: &mut WordCounts, word: &str) {
    match counts.get_mut(word) {
        Some(count) => *count += 1,
        None => {
            counts.insert(word.to_owned(), 1);
        }
    }
}

/// Adds `part` into `total`.
pub fn merge_into(total: &mut WordCounts, mut part: WordCounts) {
    // Walk the smaller map, insert into the larger.
    if part.len() > total.len() {
        std::mem::swap(total, &mut part);
    }
    for (word, count) in part {
        *total.entry(word).or_insert(0) += count;
    }
}

/// The `n` most frequent words, most frequent first, ties in alphabetical order.
pub fn top_words(counts: &WordCounts, n: usize) -> Vec<(String, u64)> {
    let order = |a: &(&String, &u64), b: &(&String, &u64)| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0));
    let mut all: Vec<(&String, &u64)> = counts.iter().collect();
    // Only the first `n` need sorting: select them, then sort those.
    if n < all.len() {
        all.select_nth_unstable_by(n, order);
        all.truncate(n);
    }
    all.sort_unstable_by(order);
    all.into_iter()
        .take(n)
        .map(|(word, &count)| (word.clone(), count))
        .collect()
}

/// Files grouped by content hash, to find duplicates. Empty files are left out: they
/// are all alike and waste nothing.
#[derive(Debug, Default)]
pub struct Duplicates {
    /// Size and paths of every distinct non-empty content.
    by_hash: HashMap<blake3::Hash, (u64, Vec<PathBuf>)>,
}

/// Files with the same contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateGroup {
    /// The size of each copy.
    pub len: u64,
    /// Every copy, sorted.
    pub paths: Vec<PathBuf>,
}

impl DuplicateGroup {
    /// Bytes that all copies but one take.
    pub fn wasted(&self) -> u64 {
        self.len * (self.paths.len() as u64).saturating_sub(1)
    }
}

impl Duplicates {
    /// Records a file.
    pub fn add(&mut self, path: PathBuf, facts: &FileFacts) {
        if facts.len > 0 {
            self.by_hash
                .entry(facts.hash)
                .or_insert_with(|| (facts.len, Vec::new()))
                .1
                .push(path);
        }
    }

    /// Every group of two or more files, the most bytes wasted first.
    pub fn groups(&self) -> Vec<DuplicateGroup> {
        let mut groups: Vec<DuplicateGroup> = self
            .by_hash
            .values()
            .filter(|(_, paths)| paths.len() > 1)
            .map(|(len, paths)| {
                let mut paths = paths.clone();
                paths.sort();
                DuplicateGroup { len: *len, paths }
            })
            .collect();
        groups.sort_by(|a, b| b.wasted().cmp(&a.wasted()).then(a.paths.cmp(&b.paths)));
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Arc<String> {
        Arc::new(s.to_owned())
    }

    #[test]
    fn facts_of_text_and_binary() {
        let facts = analyse(b"one\ntwo\nthree".to_vec());
        assert_eq!(facts.len, 13);
        assert_eq!(facts.lines, 3);
        assert_eq!(facts.hash, blake3::hash(b"one\ntwo\nthree"));
        assert_eq!(
            facts.text.as_deref().map(String::as_str),
            Some("one\ntwo\nthree")
        );

        assert_eq!(analyse(b"a\nb\n".to_vec()).lines, 2);
        assert_eq!(analyse(Vec::new()).lines, 0);
        assert!(analyse(Vec::new()).text.is_some());
        assert!(analyse(vec![0xff, 0xfe, b'\n']).text.is_none(), "not UTF-8");
        assert!(analyse(b"nul\0byte".to_vec()).text.is_none(), "NUL byte");
    }

    #[test]
    fn chunks_hold_whole_lines_and_every_byte() {
        let texts = [
            text("aa\nbb\ncc\n"),
            text("x"),
            text(""),
            text("long line\nend"),
        ];
        let chunks = line_chunks(texts.iter().cloned(), 4);
        let lines: Vec<&str> = chunks.iter().flat_map(LineChunk::lines).collect();
        assert_eq!(lines, ["aa", "bb", "cc", "x", "long line", "end"]);
        for chunk in &chunks {
            for (text, range) in &chunk.pieces {
                assert!(range.end == text.len() || text.as_bytes()[range.end - 1] == b'\n');
            }
        }
        assert!(chunks.len() >= 3, "4-byte target splits: {chunks:?}");
        assert!(line_chunks(Vec::new(), 64).is_empty());
    }

    #[test]
    fn words_are_lowercased_identifiers() {
        let input = "Hello, hello world!\nfoo_bar 42 x1 HELLO\n\
                     Ünïcode ünïcode straße 3d Αβγ\n";
        let chunk = &line_chunks([text(input)], 1024)[0];
        let counts = count_words(chunk.clone());
        let expected: WordCounts = [
            ("hello", 3),
            ("world", 1),
            ("foo_bar", 1),
            ("x1", 1),
            ("ünïcode", 2),
            ("straße", 1),
            ("αβγ", 1),
        ]
        .into_iter()
        .map(|(w, c)| (w.to_owned(), c))
        .collect();
        assert_eq!(counts, expected);
    }

    #[test]
    fn merge_and_top() {
        let counts = |pairs: &[(&str, u64)]| -> WordCounts {
            pairs.iter().map(|&(w, c)| (w.to_owned(), c)).collect()
        };
        let mut total = WordCounts::default();
        merge_into(&mut total, counts(&[("b", 2)]));
        merge_into(&mut total, counts(&[("a", 2), ("b", 1)]));
        merge_into(&mut total, counts(&[("c", 1)]));
        assert_eq!(
            top_words(&total, 2),
            [("b".to_owned(), 3), ("a".to_owned(), 2)]
        );
        assert_eq!(top_words(&total, 10).len(), 3);
    }

    #[test]
    fn duplicates_group_by_hash() {
        let mut dups = Duplicates::default();
        let same = analyse(b"same".to_vec());
        dups.add("b".into(), &same);
        dups.add("a".into(), &same);
        dups.add("c".into(), &analyse(b"other".to_vec()));
        dups.add("e1".into(), &analyse(Vec::new()));
        dups.add("e2".into(), &analyse(Vec::new()));
        let groups = dups.groups();
        assert_eq!(
            groups,
            [DuplicateGroup {
                len: 4,
                paths: vec!["a".into(), "b".into()]
            }]
        );
        assert_eq!(groups[0].wasted(), 4);
    }
}
