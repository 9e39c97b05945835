//! A task's payload as stored: JSON (`jsonb`) or raw bytes (`bytea`), and [`Bytes`],
//! the handler payload type that receives raw bytes.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a task carries: one of the two payload columns.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Payload {
    /// Any `Serialize` value, stored as `jsonb`.
    Json(serde_json::Value),
    /// Raw bytes, stored as `bytea` (never read as JSON).
    Bytes(Vec<u8>),
}

impl Payload {
    /// From the two columns of a row: exactly one is set (a table constraint).
    pub(crate) fn from_columns(json: Option<serde_json::Value>, bytes: Option<Vec<u8>>) -> Self {
        match (json, bytes) {
            (_, Some(bytes)) => Payload::Bytes(bytes),
            (Some(json), None) => Payload::Json(json),
            // The constraint rules this out; `null` makes it a deserialize error for
            // the handler rather than a panic.
            (None, None) => Payload::Json(serde_json::Value::Null),
        }
    }

    /// Deserializes the payload as `T`: JSON through serde_json, bytes through
    /// serde's byte visitor (which [`Bytes`] and `serde_bytes::ByteBuf` accept).
    pub(crate) fn decode<T: de::DeserializeOwned>(self) -> Result<T, String> {
        match self {
            Payload::Json(value) => serde_json::from_value(value).map_err(|e| e.to_string()),
            Payload::Bytes(bytes) => {
                let bytes: de::value::BytesDeserializer<'_, de::value::Error> =
                    de::value::BytesDeserializer::new(&bytes);
                T::deserialize(bytes).map_err(|e| format!("a bytes payload: {e}"))
            }
        }
    }
}

/// A raw-bytes payload, as a [`Handler`](crate::Handler) receives it: set
/// `type Payload = Bytes` to run tasks enqueued with [`NewTask::bytes`](crate::NewTask::bytes).
/// A JSON array of numbers 0..=255 is accepted too.
///
/// # Examples
///
/// ```
/// use sluice_postgres::{Bytes, Handler, TaskInfo, Work};
///
/// struct Crc;
///
/// impl Handler for Crc {
///     type Payload = Bytes;
///     fn kind(&self) -> &str { "crc" }
///     fn handle(&self, _task: TaskInfo, bytes: Bytes) -> Work {
///         Work::cpu(move || {
///             let sum = bytes.0.iter().fold(0u32, |h, &b| h.rotate_left(3) ^ u32::from(b));
///             std::hint::black_box(sum);
///             Ok(())
///         })
///     }
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Bytes(pub Vec<u8>);

impl From<Vec<u8>> for Bytes {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes(bytes)
    }
}

impl From<Bytes> for Vec<u8> {
    fn from(bytes: Bytes) -> Self {
        bytes.0
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_byte_buf(BytesVisitor)
    }
}

/// Accepts bytes, or a sequence of small integers (the JSON form of bytes).
struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("raw bytes")
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Bytes, E> {
        Ok(Bytes(bytes.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Bytes, E> {
        Ok(Bytes(bytes))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        while let Some(byte) = seq.next_element::<u8>()? {
            bytes.push(byte);
        }
        Ok(Bytes(bytes))
    }
}
