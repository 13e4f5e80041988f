//! A serde `Deserializer` over borrowed msgpack bytes, tolerant where the wire needs it.
//!
//! It reads what rmp-serde writes (structs as arrays, enums as `"Variant"` or
//! `{"Variant": data}`) and also:
//! - structs from arrays with extra trailing elements (skipped) — rmp-serde rejects them;
//! - structs from maps keyed by field name or index;
//! - strings sent as bin (valid UTF-8), bytes sent as str;
//! - any integer encoding for any integer type that holds the value.
//!
//! Strings and bytes are handed to visitors borrowed from the input. Skipping (ignored
//! fields, extra elements) walks headers only. It never panics on any input: every read is
//! bounds-checked and reports the offset of the item that failed.

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use crate::scan::skip;
use crate::ValueError;

pub(crate) struct Deserializer<'de> {
    input: &'de [u8],
    pos: usize,
    /// Offset of the last header read: where an error is reported.
    last: usize,
    /// Containers open right now (recursion depth).
    depth: usize,
    /// The value at `pos` runs to the end of the input: it is the last element of every
    /// enclosing container (and the input holds exactly one value). A `RawValue` there
    /// needs no walk to find its end.
    at_tail: bool,
}

/// The deepest nesting the deserializer recurses into, whatever limits the value was checked
/// against: deeper values are a [`ValueError`], not a stack overflow.
pub(crate) const MAX_RECURSION: usize = 256;

type Result<T> = std::result::Result<T, ValueError>;

/// One decoded msgpack header.
enum Head<'de> {
    Nil,
    Bool(bool),
    Uint(u64),
    Int(i64),
    F32(f32),
    F64(f64),
    Str(&'de [u8]),
    Bin(&'de [u8]),
    Ext(i8, &'de [u8]),
    Array(u32),
    Map(u32),
}

fn truncated(offset: usize) -> ValueError {
    ValueError::new(Some(offset), "truncated msgpack value".to_string())
}

impl<'de> Deserializer<'de> {
    pub(crate) fn new(input: &'de [u8]) -> Self {
        Deserializer { input, pos: 0, last: 0, depth: 0, at_tail: true }
    }

    /// A deserializer reading the values of a container, `input`, from `pos` (just past
    /// its header). [`set_tail`](Self::set_tail) before each: is it the last one?
    pub(crate) fn at(input: &'de [u8], pos: usize) -> Self {
        Deserializer { input, pos, last: pos, depth: 0, at_tail: false }
    }

    /// Whether the next value runs to the end of the input (see `at_tail`).
    #[inline]
    pub(crate) fn set_tail(&mut self, at_tail: bool) {
        self.at_tail = at_tail;
    }

    pub(crate) fn last_head(&self) -> usize {
        self.last
    }

    #[inline]
    fn peek(&self) -> Result<u8> {
        self.input.get(self.pos).copied().ok_or_else(|| truncated(self.pos))
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'de [u8]> {
        let end = self.pos.checked_add(n).ok_or_else(|| truncated(self.pos))?;
        let s = self.input.get(self.pos..end).ok_or_else(|| truncated(self.pos))?;
        self.pos = end;
        Ok(s)
    }

    /// Reads `N` bytes as a big-endian number.
    #[inline]
    fn be<const N: usize>(&mut self) -> Result<u64> {
        // `pos <= input.len()`, so `pos + N` cannot overflow.
        let Some(bytes) = self.input.get(self.pos..self.pos + N) else {
            return Err(truncated(self.pos));
        };
        let mut v = 0u64;
        for &b in bytes {
            v = (v << 8) | u64::from(b);
        }
        self.pos += N;
        Ok(v)
    }

    /// Reads the next header (and a blob's payload).
    fn head(&mut self) -> Result<Head<'de>> {
        self.last = self.pos;
        let m = self.peek()?;
        self.pos += 1;
        Ok(match m {
            0x00..=0x7f => Head::Uint(u64::from(m)),
            0xe0..=0xff => Head::Int(i64::from(m as i8)),
            0x80..=0x8f => Head::Map(u32::from(m & 0x0f)),
            0x90..=0x9f => Head::Array(u32::from(m & 0x0f)),
            0xa0..=0xbf => Head::Str(self.take(usize::from(m & 0x1f))?),
            0xc0 => Head::Nil,
            0xc2 => Head::Bool(false),
            0xc3 => Head::Bool(true),
            0xc4 | 0xc5 | 0xc6 | 0xd9 | 0xda | 0xdb => {
                let n = match m {
                    0xc4 | 0xd9 => self.be::<1>()?,
                    0xc5 | 0xda => self.be::<2>()?,
                    _ => self.be::<4>()?,
                };
                let data = self.take(n as usize)?;
                if m >= 0xd9 {
                    Head::Str(data)
                } else {
                    Head::Bin(data)
                }
            }
            0xc7..=0xc9 | 0xd4..=0xd8 => {
                let n = match m {
                    0xc7 => self.be::<1>()?,
                    0xc8 => self.be::<2>()?,
                    0xc9 => self.be::<4>()?,
                    0xd4 => 1,
                    0xd5 => 2,
                    0xd6 => 4,
                    0xd7 => 8,
                    _ => 16,
                };
                let tag = self.be::<1>()? as u8 as i8;
                Head::Ext(tag, self.take(n as usize)?)
            }
            0xca => Head::F32(f32::from_bits(self.be::<4>()? as u32)),
            0xcb => Head::F64(f64::from_bits(self.be::<8>()?)),
            0xcc => Head::Uint(self.be::<1>()?),
            0xcd => Head::Uint(self.be::<2>()?),
            0xce => Head::Uint(self.be::<4>()?),
            0xcf => Head::Uint(self.be::<8>()?),
            0xd0 => Head::Int(i64::from(self.be::<1>()? as u8 as i8)),
            0xd1 => Head::Int(i64::from(self.be::<2>()? as u16 as i16)),
            0xd2 => Head::Int(i64::from(self.be::<4>()? as u32 as i32)),
            0xd3 => Head::Int(self.be::<8>()? as i64),
            0xdc => Head::Array(self.be::<2>()? as u32),
            0xdd => Head::Array(self.be::<4>()? as u32),
            0xde => Head::Map(self.be::<2>()? as u32),
            0xdf => Head::Map(self.be::<4>()? as u32),
            0xc1 => {
                return Err(ValueError::new(
                    Some(self.last),
                    "malformed msgpack: reserved marker 0xc1".to_string(),
                ))
            }
        })
    }

    /// Fast path for the common small array: its count, header consumed.
    #[inline]
    fn fixarray(&mut self) -> Option<u32> {
        let m = *self.input.get(self.pos)?;
        if m & 0xf0 != 0x90 {
            return None;
        }
        self.last = self.pos;
        self.pos += 1;
        Some(u32::from(m & 0x0f))
    }

    /// Integers, with fast paths for the one-byte encodings and for every sized encoding
    /// (u8..u64, i8..i64) followed by at least 8 bytes of input.
    #[inline(always)]
    fn int<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value> {
        let at = self.pos;
        match self.input.get(at) {
            Some(&m) if m <= 0x7f => {
                self.last = at;
                self.pos = at + 1;
                visitor.visit_u64(u64::from(m))
            }
            Some(&m) if m >= 0xe0 => {
                self.last = at;
                self.pos = at + 1;
                visitor.visit_i64(i64::from(m as i8))
            }
            Some(&m) if m.wrapping_sub(0xcc) < 8 => {
                // 0xcc-0xcf: u8/u16/u32/u64, 0xd0-0xd3: i8/i16/i32/i64; the low two bits
                // give the width. One unaligned 8-byte big-endian load, shifted down to the
                // width (sign-extending for the signed ones), when 8 bytes follow the
                // marker; the slow path reads exactly the width otherwise.
                let Some(word) = self.input.get(at + 1..at + 9) else {
                    return self.int_slow(visitor);
                };
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(word);
                let word = u64::from_be_bytes(bytes);
                let width = 1u32 << (m & 3);
                let shift = 64 - 8 * width;
                self.last = at;
                self.pos = at + 1 + width as usize;
                // The value is the top `width` bytes of the word (`shift` is 0..=56).
                if m < 0xd0 {
                    visitor.visit_u64(word >> shift)
                } else {
                    visitor.visit_i64((word as i64) >> shift)
                }
            }
            _ => self.int_slow(visitor),
        }
    }

    /// [`int`](Self::int) past the one-byte encodings, errors included.
    #[inline(never)]
    fn int_slow<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value> {
        let m = self.peek()?;
        if (0xcc..=0xd3).contains(&m) {
            self.last = self.pos;
            self.pos += 1;
            return match m {
                0xcc => visitor.visit_u64(self.be::<1>()?),
                0xcd => visitor.visit_u64(self.be::<2>()?),
                0xce => visitor.visit_u64(self.be::<4>()?),
                0xcf => visitor.visit_u64(self.be::<8>()?),
                0xd0 => visitor.visit_i64(i64::from(self.be::<1>()? as u8 as i8)),
                0xd1 => visitor.visit_i64(i64::from(self.be::<2>()? as u16 as i16)),
                0xd2 => visitor.visit_i64(i64::from(self.be::<4>()? as u32 as i32)),
                _ => visitor.visit_i64(self.be::<8>()? as i64),
            };
        }
        let h = self.head()?;
        self.visit_head(h, visitor, false)
    }

    /// Fast path for strings: a complete fixstr or str8 is consumed and its bytes returned;
    /// anything else (other types, truncation) leaves the position alone and gives `None`.
    /// Kept small so it inlines without the slow path's register spills.
    #[inline(always)]
    fn short_str(&mut self) -> Option<&'de [u8]> {
        let at = self.pos;
        let m = *self.input.get(at)?;
        let (start, n) = if m & 0xe0 == 0xa0 {
            (at + 1, usize::from(m & 0x1f))
        } else if m == 0xd9 {
            (at + 2, usize::from(*self.input.get(at + 1)?))
        } else {
            return None;
        };
        // `at < input.len()` and `n < 256`: no overflow.
        let s = self.input.get(start..start + n)?;
        self.last = at;
        self.pos = start + n;
        Some(s)
    }

    /// `deserialize_str` for everything [`short_str`](Self::short_str) does not take,
    /// errors included.
    #[inline(never)]
    fn str_slow<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value> {
        match self.head()? {
            // Strings may come as str or (pynvim, old peers) as bin: UTF-8 either way.
            Head::Str(s) | Head::Bin(s) => match crate::utf8::from_utf8(s) {
                Ok(s) => visitor.visit_borrowed_str(s),
                Err(_) => visitor.visit_borrowed_bytes(s),
            },
            h => self.visit_head(h, visitor, false),
        }
    }

    /// Skips one whole value (headers only).
    fn skip_value(&mut self) -> Result<()> {
        self.last = self.pos;
        self.pos = skip(self.input, self.pos).ok_or_else(|| truncated(self.last))?;
        Ok(())
    }

    /// Feeds a header to a visitor the way `deserialize_any` does.
    fn visit_head<V: Visitor<'de>>(
        &mut self,
        h: Head<'de>,
        visitor: V,
        tolerant: bool,
    ) -> Result<V::Value> {
        match h {
            Head::Nil => visitor.visit_unit(),
            Head::Bool(b) => visitor.visit_bool(b),
            Head::Uint(u) => visitor.visit_u64(u),
            Head::Int(i) => visitor.visit_i64(i),
            Head::F32(x) => visitor.visit_f32(x),
            Head::F64(x) => visitor.visit_f64(x),
            Head::Str(s) => match crate::utf8::from_utf8(s) {
                Ok(s) => visitor.visit_borrowed_str(s),
                Err(_) => visitor.visit_borrowed_bytes(s),
            },
            Head::Bin(b) => visitor.visit_borrowed_bytes(b),
            Head::Ext(tag, data) => {
                visitor.visit_seq(ExtAccess { tag: Some(tag), data: Some(data) })
            }
            Head::Array(n) => self.visit_array(n, visitor, tolerant),
            Head::Map(n) => {
                self.enter()?;
                let tail = self.at_tail;
                let mut access = MapAccess { de: self, left: n, tail };
                let value = visitor.visit_map(&mut access)?;
                // Drain what the visitor did not read (it can stop early on its own).
                access.de.at_tail = false;
                while access.left > 0 {
                    access.left -= 1;
                    access.de.skip_value()?;
                    access.de.skip_value()?;
                }
                self.depth -= 1;
                self.at_tail = tail;
                Ok(value)
            }
        }
    }

    /// Visits an array as a sequence. `tolerant`: extra trailing elements the visitor did not
    /// ask for are skipped (structs); otherwise they are an error (tuples).
    fn visit_array<V: Visitor<'de>>(
        &mut self,
        n: u32,
        visitor: V,
        tolerant: bool,
    ) -> Result<V::Value> {
        let start = self.last;
        self.enter()?;
        let tail = self.at_tail;
        let mut access = SeqAccess { de: self, left: n, tail };
        let value = visitor.visit_seq(&mut access)?;
        access.de.at_tail = false;
        if access.left > 0 {
            if !tolerant {
                return Err(ValueError::new(
                    Some(start),
                    format!(
                        "array of {n} elements is longer than expected ({} unread)",
                        access.left
                    ),
                ));
            }
            while access.left > 0 {
                access.left -= 1;
                access.de.skip_value()?;
            }
        }
        self.depth -= 1;
        self.at_tail = tail;
        Ok(value)
    }

    /// One more container open; an error past [`MAX_RECURSION`].
    #[inline]
    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_RECURSION {
            return Err(ValueError::new(
                Some(self.last),
                format!("msgpack nested deeper than {MAX_RECURSION} levels"),
            ));
        }
        Ok(())
    }
}

fn unexpected(h: &Head<'_>) -> de::Unexpected<'static> {
    match h {
        Head::Nil => de::Unexpected::Unit,
        Head::Bool(b) => de::Unexpected::Bool(*b),
        Head::Uint(u) => de::Unexpected::Unsigned(*u),
        Head::Int(i) => de::Unexpected::Signed(*i),
        Head::F32(x) => de::Unexpected::Float(f64::from(*x)),
        Head::F64(x) => de::Unexpected::Float(*x),
        Head::Str(_) => de::Unexpected::Other("str"),
        Head::Bin(_) => de::Unexpected::Other("bin"),
        Head::Ext(..) => de::Unexpected::Other("ext"),
        Head::Array(_) => de::Unexpected::Seq,
        Head::Map(_) => de::Unexpected::Map,
    }
}

impl<'de> de::Deserializer<'de> for &mut Deserializer<'de> {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let h = self.head()?;
        self.visit_head(h, visitor, false)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.peek()? == 0xc0 {
            self.last = self.pos;
            self.pos += 1;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.head()? {
            Head::Nil | Head::Array(0) => visitor.visit_unit(),
            h => Err(de::Error::invalid_type(unexpected(&h), &"nil")),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        if name == crate::ser::RAW_TOKEN {
            // A RawValue: the next value's bytes, undecoded. At the tail of the input they
            // run to its end; elsewhere their headers are walked once to find it.
            let start = self.pos;
            if self.at_tail && start < self.input.len() {
                self.last = start;
                self.pos = self.input.len();
            } else {
                self.skip_value()?;
            }
            let bytes = self.input.get(start..self.pos).unwrap_or_default();
            return visitor.visit_borrowed_bytes(bytes);
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.short_str() {
            Some(s) => match crate::utf8::from_utf8(s) {
                Ok(s) => visitor.visit_borrowed_str(s),
                Err(_) => visitor.visit_borrowed_bytes(s),
            },
            None => self.str_slow(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.head()? {
            Head::Str(s) | Head::Bin(s) => visitor.visit_borrowed_bytes(s),
            h => self.visit_head(h, visitor, false),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if let Some(n) = self.fixarray() {
            return self.visit_array(n, visitor, false);
        }
        match self.head()? {
            // A Vec<u8> may arrive as bin.
            Head::Bin(b) => visitor.visit_seq(de::value::SeqDeserializer::new(b.iter().copied())),
            h => self.visit_head(h, visitor, false),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        let h = self.head()?;
        self.visit_head(h, visitor, true)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        if let Some(n) = self.fixarray() {
            return self.visit_array(n, visitor, true);
        }
        let h = self.head()?;
        self.visit_head(h, visitor, true)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        let m = self.peek()?;
        match m {
            // {"Variant": data}
            0x81 => {
                self.last = self.pos;
                self.pos += 1;
                self.enter()?;
                let value = visitor.visit_enum(EnumAccess { de: &mut *self })?;
                self.depth -= 1;
                Ok(value)
            }
            // "Variant" (or its index): a unit variant.
            _ => match self.head()? {
                Head::Str(s) | Head::Bin(s) => match crate::utf8::from_utf8(s) {
                    Ok(s) => visitor.visit_enum(s.into_deserializer()),
                    Err(_) => {
                        Err(de::Error::invalid_type(de::Unexpected::Bytes(s), &"enum variant"))
                    }
                },
                Head::Uint(u) => match u32::try_from(u) {
                    Ok(index) => visitor.visit_enum(index.into_deserializer()),
                    Err(_) => {
                        Err(de::Error::invalid_value(de::Unexpected::Unsigned(u), &"variant index"))
                    }
                },
                h => Err(de::Error::invalid_type(
                    unexpected(&h),
                    &"enum variant (str or 1-entry map)",
                )),
            },
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.skip_value()?;
        visitor.visit_unit()
    }

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.int(visitor)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.int(visitor)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.int(visitor)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.int(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        // Fast path: fixmap.
        let m = self.peek()?;
        if m & 0xf0 == 0x80 {
            self.last = self.pos;
            self.pos += 1;
            return self.visit_head(Head::Map(u32::from(m & 0x0f)), visitor, false);
        }
        let h = self.head()?;
        self.visit_head(h, visitor, false)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i128 u8 u16 u128 f32 f64
    }
}

struct SeqAccess<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    left: u32,
    /// The array runs to the end of the input: so does its last element.
    tail: bool,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'_, 'de> {
    type Error = ValueError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        self.de.at_tail = self.tail && self.left == 0;
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        // Never trust a claimed count further than the bytes that could hold it (one byte
        // per element at least): this caps what serde pre-allocates.
        let room = self.de.input.len().saturating_sub(self.de.pos);
        Some((self.left as usize).min(room))
    }
}

struct MapAccess<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    left: u32,
    /// The map runs to the end of the input: so does its last value.
    tail: bool,
}

impl<'de> de::MapAccess<'de> for MapAccess<'_, 'de> {
    type Error = ValueError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        self.de.at_tail = false;
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        self.de.at_tail = self.tail && self.left == 0;
        seed.deserialize(&mut *self.de)
    }

    fn size_hint(&self) -> Option<usize> {
        let room = self.de.input.len().saturating_sub(self.de.pos) / 2;
        Some((self.left as usize).min(room))
    }
}

/// An ext value seen through `deserialize_any`: the sequence `(tag, bytes)`.
struct ExtAccess<'de> {
    tag: Option<i8>,
    data: Option<&'de [u8]>,
}

impl<'de> de::SeqAccess<'de> for ExtAccess<'de> {
    type Error = ValueError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if let Some(tag) = self.tag.take() {
            return seed.deserialize(tag.into_deserializer()).map(Some);
        }
        match self.data.take() {
            Some(d) => seed.deserialize(de::value::BorrowedBytesDeserializer::new(d)).map(Some),
            None => Ok(None),
        }
    }
}

struct EnumAccess<'a, 'de> {
    de: &'a mut Deserializer<'de>,
}

impl<'a, 'de> de::EnumAccess<'de> for EnumAccess<'a, 'de> {
    type Error = ValueError;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self)> {
        // The variant name is a map key: never at the tail; its data (the map's one value)
        // is where the map is.
        let tail = std::mem::replace(&mut self.de.at_tail, false);
        let variant = seed.deserialize(&mut *self.de)?;
        self.de.at_tail = tail;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for EnumAccess<'_, 'de> {
    type Error = ValueError;

    fn unit_variant(self) -> Result<()> {
        // {"Variant": nil} or {"Variant": []}
        de::Deserialize::deserialize(self.de)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        seed.deserialize(self.de)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value> {
        de::Deserializer::deserialize_tuple(self.de, len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        de::Deserializer::deserialize_struct(self.de, "", fields, visitor)
    }
}
