//! Reading an output stream to its end while keeping at most a limit of it, so that a
//! chatty command never blocks on a full pipe and never fills memory.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Which part of a stream past its limit is kept.
#[derive(Debug, Clone, Copy)]
pub(super) enum Keep {
    /// The first bytes (standard output: the beginning of a result).
    Head,
    /// The last bytes (standard error: where the reason for a failure is).
    Tail,
}

/// The kept bytes of one stream.
#[derive(Debug)]
pub(super) struct Capture {
    /// What is kept so far; for `Tail`, up to twice the limit between trims.
    buf: Vec<u8>,
    /// How many bytes are kept at most.
    limit: usize,
    /// Which ones.
    keep: Keep,
    /// Whether any byte was dropped.
    pub(super) truncated: bool,
}

impl Capture {
    pub(super) fn new(limit: usize, keep: Keep) -> Self {
        Capture {
            buf: Vec::new(),
            limit,
            keep,
            truncated: false,
        }
    }

    /// Reads `reader` to its end (or its first error), keeping what the limit allows.
    pub(super) async fn read_from(
        &mut self,
        mut reader: impl AsyncRead + Unpin,
    ) -> std::io::Result<()> {
        let mut chunk = vec![0; 8 * 1024];
        loop {
            let n = reader.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            self.push(&chunk[..n]);
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        match self.keep {
            Keep::Head => {
                let room = self.limit.saturating_sub(self.buf.len());
                let taken = room.min(bytes.len());
                self.buf.extend_from_slice(&bytes[..taken]);
                self.truncated |= taken < bytes.len();
            }
            Keep::Tail => {
                self.buf.extend_from_slice(bytes);
                // Trimmed only past twice the limit, so each byte is moved once on average.
                if self.buf.len() > self.limit.saturating_mul(2) {
                    self.trim();
                }
            }
        }
    }

    fn trim(&mut self) {
        let excess = self.buf.len().saturating_sub(self.limit);
        if excess > 0 {
            self.buf.drain(..excess);
            self.truncated = true;
        }
    }

    /// The kept bytes and whether any were dropped.
    pub(super) fn finish(mut self) -> (Vec<u8>, bool) {
        self.trim();
        (self.buf, self.truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(limit: usize, keep: Keep, input: &[u8]) -> (Vec<u8>, bool) {
        let mut capture = Capture::new(limit, keep);
        for chunk in input.chunks(3) {
            capture.push(chunk);
        }
        capture.finish()
    }

    #[test]
    fn head_keeps_the_first_bytes() {
        assert_eq!(
            capture(4, Keep::Head, b"abcdefgh"),
            (b"abcd".to_vec(), true)
        );
        assert_eq!(
            capture(8, Keep::Head, b"abcdefgh"),
            (b"abcdefgh".to_vec(), false)
        );
    }

    #[test]
    fn tail_keeps_the_last_bytes() {
        assert_eq!(
            capture(4, Keep::Tail, b"abcdefghij"),
            (b"ghij".to_vec(), true)
        );
        assert_eq!(
            capture(10, Keep::Tail, b"abcdefghij"),
            (b"abcdefghij".to_vec(), false)
        );
    }
}
