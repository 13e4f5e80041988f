//! `#[serde(with = "svrkit_codec::bin")]`: a `Vec<u8>` field as msgpack bin (the IDL's `bin`).
//!
//! Without it serde writes a `Vec<u8>` as an array of integers. Reading accepts bin, str
//! and arrays of integers, so older peers' encodings still decode.

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserializer, Serializer};

/// Writes the bytes as msgpack bin.
pub fn serialize<T: AsRef<[u8]> + ?Sized, S: Serializer>(
    bytes: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(bytes.as_ref())
}

/// Reads bin, str or an array of integers 0..=255.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    d.deserialize_byte_buf(BytesVisitor)
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bytes (msgpack bin, str, or an array of integers 0..=255)")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
        Ok(v.as_bytes().to_vec())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Vec<u8>, E> {
        Ok(Vec::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(b) = seq.next_element::<u8>()? {
            out.push(b);
        }
        Ok(out)
    }
}
