//! Compression of new chunks: zstd at a settable level, or none.

use std::cell::RefCell;
use std::io;

/// How a chunk is stored in a pack; the number is what the pack and catalog record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Stored as is.
    None,
    /// zstd at this level (1..=22).
    Zstd(i32),
}

impl Compression {
    /// The code stored beside each chunk: 0 for none, 1 for zstd.
    pub fn code(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Zstd(_) => 1,
        }
    }

    /// Parses `none` or a zstd level `1`..=`22`, as the command line takes it.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.eq_ignore_ascii_case("none") || text == "0" {
            return Ok(Self::None);
        }
        match text.parse::<i32>() {
            Ok(level) if zstd::compression_level_range().contains(&level) && level > 0 => {
                Ok(Self::Zstd(level))
            }
            _ => Err(format!(
                "compression must be `none` or a zstd level from 1 to 22, not `{text}`"
            )),
        }
    }
}

/// Compresses `raw`; answers the bytes to store and the code they are stored with.
/// Data zstd cannot shrink is stored raw, so a reader never pays to inflate it.
pub fn compress(raw: Vec<u8>, compression: Compression) -> (Vec<u8>, u8) {
    match compression {
        Compression::None => (raw, Compression::None.code()),
        Compression::Zstd(level) => match compress_zstd(&raw, level) {
            Ok(packed) if packed.len() < raw.len() => (packed, Compression::Zstd(level).code()),
            Ok(_) => (raw, Compression::None.code()),
            Err(error) => {
                tracing::warn!(%error, "zstd failed; chunk stored uncompressed");
                (raw, Compression::None.code())
            }
        },
    }
}

thread_local! {
    /// This thread's zstd context and the level it was made for: making a context per
    /// chunk (allocating and clearing its tables) cost ~5% of a run's CPU time on the
    /// bench tree, most of it for the 16 k small files' chunks.
    static ZSTD: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
}

/// Compresses `raw` at `level` with this thread's context (made on first use, or
/// when the level changes); the output is what `zstd::bulk::compress` gives.
fn compress_zstd(raw: &[u8], level: i32) -> io::Result<Vec<u8>> {
    ZSTD.with(|cell| {
        let mut cached = cell.borrow_mut();
        if !matches!(&*cached, Some((made_for, _)) if *made_for == level) {
            *cached = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        match cached.as_mut() {
            Some((_, compressor)) => compressor.compress(raw),
            None => zstd::bulk::compress(raw, level),
        }
    })
}

/// Inflates a stored chunk of `raw_len` bytes stored with `code`.
pub fn decompress(stored: Vec<u8>, code: u8, raw_len: usize) -> io::Result<Vec<u8>> {
    match code {
        0 => Ok(stored),
        1 => zstd::bulk::decompress(&stored, raw_len),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown compression code {other}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_keeps_incompressible_data_raw() -> io::Result<()> {
        let text = b"sluice ".repeat(1000);
        let (packed, code) = compress(text.clone(), Compression::Zstd(3));
        assert_eq!(code, 1);
        assert!(packed.len() < text.len());
        assert_eq!(decompress(packed, code, text.len())?, text);
        let (raw, code) = compress(vec![7], Compression::Zstd(3));
        assert_eq!((raw, code), (vec![7], 0));
        assert!(Compression::parse("23").is_err());
        assert_eq!(Compression::parse("none"), Ok(Compression::None));
        Ok(())
    }
}
