//! Content-defined chunking (FastCDC 2020) over a file read in pieces: the chunker
//! holds at most two maximum-size chunks of the file, whatever the file's size.
//!
//! `fastcdc`'s own `StreamCDC` zeroes a buffer of the maximum chunk size for every
//! file and moves it after every chunk: 8 MiB per small source file by default. This
//! chunker grows its buffer only as far as the file needs and feeds FastCDC's `cut`.

use fastcdc::v2020;
use std::io::{self, Read};

/// Chunk sizes in bytes: FastCDC never cuts below `min` (except at a file's end) nor
/// above `max`; `avg` is FastCDC's own average parameter, the point where its
/// normalised chunking switches from a strict cut mask to a lenient one. The chunks'
/// real mean lies well above it, since no cut is sought before `min`: with a 512 KiB
/// minimum, `avg` = 1 MiB gives chunks of about 1.5 MB on average and `avg` = 640 KiB
/// about 1 MB (measured on the toolchain's libraries, as restic's chunks are).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ChunkSizes {
    /// Smallest chunk, except a file's last one.
    pub min: u32,
    /// Chunk size aimed at.
    pub avg: u32,
    /// Largest chunk.
    pub max: u32,
}

impl Default for ChunkSizes {
    /// 512 KiB / 640 KiB / 8 MiB: chunks of 1 MiB on average, as restic's (its own
    /// 512 KiB minimum and 8 MiB maximum, mean measured at 0.99 MB on the bench tree's
    /// binaries). With FastCDC's `avg` at 1 MiB the mean is 1.5 MB, and a copy of a file
    /// shifted by a few bytes costs its whole first chunk: the bench tree's dedup ratio
    /// fell 2.6% short of restic's.
    fn default() -> Self {
        Self {
            min: 512 * 1024,
            avg: 640 * 1024,
            max: 8 * 1024 * 1024,
        }
    }
}

impl ChunkSizes {
    /// Checks the sizes against FastCDC's bounds and each other; the error names the
    /// size that is wrong and the range it must be in.
    pub fn validated(self) -> Result<Self, String> {
        let check = |name: &str, value: u32, low: u32, high: u32| {
            if (low..=high).contains(&value) {
                Ok(())
            } else {
                Err(format!(
                    "{name} chunk size {value} is outside {low}..={high} bytes"
                ))
            }
        };
        check("minimum", self.min, v2020::MINIMUM_MIN, v2020::MINIMUM_MAX)?;
        check("average", self.avg, v2020::AVERAGE_MIN, v2020::AVERAGE_MAX)?;
        check("maximum", self.max, v2020::MAXIMUM_MIN, v2020::MAXIMUM_MAX)?;
        if !(self.min <= self.avg && self.avg <= self.max) {
            return Err(format!(
                "chunk sizes must be ordered minimum <= average <= maximum, not {} / {} / {}",
                self.min, self.avg, self.max
            ));
        }
        Ok(self)
    }
}

/// The chunks of `source`, in order, each as its raw bytes. `sizes` must have been
/// [`validated`](ChunkSizes::validated).
pub fn chunks<R: Read>(source: R, sizes: ChunkSizes) -> Chunks<R> {
    chunks_in(source, sizes, Vec::new())
}

/// [`chunks`] reading into `buf` (emptied first), which [`Chunks::into_buffer`] gives
/// back: a reader that keeps one buffer for all its files allocates it once, instead
/// of a new one of up to twice the maximum chunk per file.
pub fn chunks_in<R: Read>(source: R, sizes: ChunkSizes, mut buf: Vec<u8>) -> Chunks<R> {
    buf.clear();
    // FastCDC's normalisation level 1, as its own iterators use by default.
    let bits = v2020::logarithm2(sizes.avg) as usize;
    let mask_s = v2020::MASKS[bits + 1];
    let mask_l = v2020::MASKS[bits - 1];
    Chunks {
        source,
        max: sizes.max as usize,
        min: sizes.min as usize,
        avg: sizes.avg as usize,
        masks: [mask_s, mask_l, mask_s << 1, mask_l << 1],
        buf,
        start: 0,
        eof: false,
    }
}

/// The iterator [`chunks`] answers.
pub struct Chunks<R> {
    /// What is chunked.
    source: R,
    /// Largest chunk.
    max: usize,
    /// Smallest chunk.
    min: usize,
    /// Chunk size aimed at.
    avg: usize,
    /// FastCDC's masks: small, large, and both shifted left once.
    masks: [u64; 4],
    /// Bytes read and not yet cut, from `start`.
    buf: Vec<u8>,
    /// Where the next chunk starts in `buf`.
    start: usize,
    /// Whether `source` is exhausted.
    eof: bool,
}

impl<R: Read> Chunks<R> {
    /// The buffer, for the next file.
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// Makes sure a whole maximum-size chunk (or the rest of the source) is buffered:
    /// the bytes not yet cut move to the front (less than `max`), then the buffer is
    /// filled up to twice `max`, so moving never costs more than reading.
    fn fill(&mut self) -> io::Result<()> {
        if self.eof || self.buf.len() - self.start >= self.max {
            return Ok(());
        }
        self.buf.drain(..self.start);
        self.start = 0;
        let want = (2 * self.max - self.buf.len()) as u64;
        let got = (&mut self.source).take(want).read_to_end(&mut self.buf)?;
        self.eof = (got as u64) < want;
        Ok(())
    }
}

impl<R: Read> Iterator for Chunks<R> {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Err(error) = self.fill() {
            self.eof = true;
            self.start = self.buf.len();
            return Some(Err(error));
        }
        let rest = &self.buf[self.start..];
        if rest.is_empty() {
            return None;
        }
        let [mask_s, mask_l, mask_s_ls, mask_l_ls] = self.masks;
        let (_, len) = v2020::cut(
            rest, self.min, self.avg, self.max, mask_s, mask_l, mask_s_ls, mask_l_ls,
        );
        let chunk = rest[..len].to_vec();
        self.start += len;
        Some(Ok(chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> ChunkSizes {
        ChunkSizes {
            min: 1024,
            avg: 4096,
            max: 16384,
        }
    }

    #[test]
    fn chunks_cover_the_input_and_resynchronise_after_a_shift() -> io::Result<()> {
        let data: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let plain: Vec<Vec<u8>> = chunks(&data[..], small()).collect::<io::Result<_>>()?;
        assert_eq!(plain.concat(), data);
        assert!(plain.iter().all(|chunk| chunk.len() <= 16384));
        let mut shifted = b"xyz".to_vec();
        shifted.extend_from_slice(&data);
        let moved: Vec<Vec<u8>> = chunks(&shifted[..], small()).collect::<io::Result<_>>()?;
        let shared = moved.iter().filter(|chunk| plain.contains(chunk)).count();
        assert!(shared + 2 >= plain.len(), "{shared} of {}", plain.len());
        Ok(())
    }

    #[test]
    fn cuts_where_fastcdc_cuts() -> io::Result<()> {
        let data: Vec<u8> = (0..300_000u32)
            .map(|i| (i.wrapping_mul(2_246_822_519) >> 11) as u8)
            .collect();
        let ours: Vec<usize> = chunks(&data[..], small())
            .map(|chunk| chunk.map(|c| c.len()))
            .collect::<io::Result<_>>()?;
        let theirs: Vec<usize> = v2020::FastCDC::new(&data, 1024, 4096, 16384)
            .map(|chunk| chunk.length)
            .collect();
        assert_eq!(ours, theirs);
        assert_eq!(chunks(&[][..], small()).count(), 0);
        Ok(())
    }

    #[test]
    fn memory_stays_within_two_chunks_whatever_the_size() -> io::Result<()> {
        let data: Vec<u8> = (0..2_000_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8)
            .collect();
        let mut chunks = chunks(&data[..], small());
        let mut total = 0;
        let mut most = 0;
        while let Some(chunk) = chunks.next() {
            total += chunk?.len();
            most = most.max(chunks.buf.capacity());
        }
        assert_eq!(total, data.len());
        // read_to_end may round its reservation up; never toward the file's size.
        assert!(most <= 4 * 16384, "buffer grew to {most} bytes");
        Ok(())
    }

    #[test]
    fn default_chunks_average_about_one_mebibyte_as_restics() -> io::Result<()> {
        // xorshift bytes: no structure for the gear hash to find.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let data: Vec<u8> = (0..96 << 20)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        let sizes: Vec<usize> = chunks(&data[..], ChunkSizes::default())
            .map(|chunk| chunk.map(|c| c.len()))
            .collect::<io::Result<_>>()?;
        let whole = &sizes[..sizes.len() - 1];
        let mean = whole.iter().sum::<usize>() as f64 / whole.len() as f64 / f64::from(1 << 20);
        assert!((0.8..=1.2).contains(&mean), "mean chunk {mean:.2} MiB");
        Ok(())
    }

    #[test]
    fn bad_sizes_are_named() {
        let bad = ChunkSizes { min: 10, ..small() };
        assert!(matches!(bad.validated(), Err(e) if e.contains("minimum chunk size 10")));
        let unordered = ChunkSizes {
            min: 8192,
            avg: 4096,
            max: 16384,
        };
        assert!(matches!(unordered.validated(), Err(e) if e.contains("ordered")));
    }
}
