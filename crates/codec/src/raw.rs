//! `RawValue`: the borrowed bytes of one complete msgpack value, and readers over them.

use std::fmt;

use crate::de::Deserializer;
use crate::scan::{head, head_len, skip, validate_one, Kind};
use crate::{Limits, ValueError};

/// Borrowed bytes of exactly one complete, well-formed msgpack value.
///
/// Every `RawValue` has been checked (by the [`Decoder`](crate::Decoder) or by
/// [`RawValue::from_slice`]): its containers close, it holds no reserved byte and it nests
/// no deeper than the limit it was checked against. Params and results are handed out as
/// `RawValue`s and deserialized straight from the connection's buffer with
/// [`deserialize`](Self::deserialize).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RawValue<'a> {
    bytes: &'a [u8],
}

impl RawValue<'static> {
    /// msgpack nil (`0xc0`).
    pub const NIL: RawValue<'static> = RawValue { bytes: &[0xc0] };
    /// An empty msgpack array (`0x90`), e.g. the params of a call without arguments.
    pub const EMPTY_ARRAY: RawValue<'static> = RawValue { bytes: &[0x90] };
    /// An empty msgpack map (`0x80`).
    pub const EMPTY_MAP: RawValue<'static> = RawValue { bytes: &[0x80] };
}

/// An owned copy of a [`RawValue`]: one complete, well-formed msgpack value that outlives
/// the buffer it was read from (a client keeps a call's result this way until the caller
/// takes it). It can only be made from a `RawValue`, so it is as checked as its source:
/// [`as_raw`](Self::as_raw) hands it back without walking the bytes again.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RawValueBuf(Vec<u8>);

impl RawValueBuf {
    /// The value, borrowed (no check: it was checked when its source was).
    #[inline]
    pub fn as_raw(&self) -> RawValue<'_> {
        RawValue::new_unchecked(&self.0)
    }

    /// The value's msgpack bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The msgpack bytes, owned.
    #[inline]
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl fmt::Debug for RawValueBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.as_raw(), f)
    }
}

impl From<RawValue<'_>> for RawValueBuf {
    fn from(raw: RawValue<'_>) -> RawValueBuf {
        raw.to_buf()
    }
}

impl<'a> RawValue<'a> {
    /// An owned copy of the bytes that keeps the "checked" guarantee ([`RawValueBuf`]).
    #[inline]
    pub fn to_buf(&self) -> RawValueBuf {
        RawValueBuf(self.bytes.to_vec())
    }

    /// Checks that `bytes` is exactly one complete msgpack value (nesting at most
    /// [`DEFAULT_MAX_DEPTH`](crate::DEFAULT_MAX_DEPTH)) and wraps it.
    pub fn from_slice(bytes: &'a [u8]) -> Result<Self, ValueError> {
        Self::from_slice_with(bytes, &Limits { max_frame: usize::MAX, ..Limits::default() })
    }

    /// [`from_slice`](Self::from_slice) with explicit limits.
    pub fn from_slice_with(bytes: &'a [u8], limits: &Limits) -> Result<Self, ValueError> {
        validate_one(bytes, limits)?;
        Ok(RawValue { bytes })
    }

    /// Wraps bytes already known to be one complete value (a checked frame's element).
    #[inline]
    pub(crate) const fn new_unchecked(bytes: &'a [u8]) -> Self {
        RawValue { bytes }
    }

    /// The value's msgpack bytes.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    #[inline]
    fn marker(&self) -> u8 {
        self.bytes.first().copied().unwrap_or(0xc0)
    }

    /// The header's kind and count.
    #[inline]
    fn head(&self) -> (Kind, u32) {
        head(self.bytes)
    }

    /// Is it nil?
    #[inline]
    pub fn is_nil(&self) -> bool {
        self.marker() == 0xc0
    }

    /// `Some(n)` if it is an array of `n` elements.
    #[inline]
    pub fn array_len(&self) -> Option<u32> {
        match self.head() {
            (Kind::Array, n) => Some(n),
            _ => None,
        }
    }

    /// `Some(n)` if it is a map of `n` pairs.
    pub fn map_len(&self) -> Option<u32> {
        match self.head() {
            (Kind::Map, n) => Some(n),
            _ => None,
        }
    }

    /// The elements, if it is an array.
    pub fn array_items(&self) -> Option<Items<'a>> {
        let n = self.array_len()?;
        Some(Items { bytes: self.bytes, pos: head_len(self.marker()), left: u64::from(n) })
    }

    /// The keys and values (alternating), if it is a map.
    pub fn map_items(&self) -> Option<Items<'a>> {
        let n = self.map_len()?;
        Some(Items { bytes: self.bytes, pos: head_len(self.marker()), left: 2 * u64::from(n) })
    }

    /// The text of a str, or of a bin holding valid UTF-8 (some peers send strings as bin).
    pub fn as_str(&self) -> Option<&'a str> {
        crate::utf8::from_utf8(self.blob(false)?).ok()
    }

    /// The payload of a str or bin.
    pub fn as_blob(&self) -> Option<&'a [u8]> {
        self.blob(false)
    }

    fn blob(&self, ext: bool) -> Option<&'a [u8]> {
        let m = self.marker();
        let is_ext = matches!(m, 0xc7..=0xc9 | 0xd4..=0xd8);
        let is_text = matches!(m, 0xa0..=0xbf | 0xc4..=0xc6 | 0xd9..=0xdb);
        if !(is_text || (ext && is_ext)) {
            return None;
        }
        let (_, n) = self.head();
        let start = head_len(m);
        self.bytes.get(start..start + n as usize)
    }

    /// The value of any msgpack integer encoding (`u64` and `i64` ranges both fit).
    pub fn as_int(&self) -> Option<i128> {
        read_int(self.bytes)
    }

    /// The value of a float (f32 or f64) or integer.
    pub fn as_f64(&self) -> Option<f64> {
        let b = self.bytes;
        match self.marker() {
            0xca => {
                Some(f64::from(f32::from_bits(u32::from_be_bytes(b.get(1..5)?.try_into().ok()?))))
            }
            0xcb => Some(f64::from_bits(u64::from_be_bytes(b.get(1..9)?.try_into().ok()?))),
            _ => self.as_int().map(|i| i as f64),
        }
    }

    /// The value of a bool.
    pub fn as_bool(&self) -> Option<bool> {
        match self.marker() {
            0xc2 => Some(false),
            0xc3 => Some(true),
            _ => None,
        }
    }

    /// A short name of the value's msgpack type, for messages: `"nil"`, `"int"`, `"str"`...
    pub fn type_name(&self) -> &'static str {
        type_name(self.marker())
    }

    /// Deserializes the value straight from the borrowed bytes.
    ///
    /// Structs are read from arrays (fields in order) or maps (by name or index). An array
    /// with more elements than the struct has fields is accepted and the extra trailing
    /// elements are skipped; missing trailing fields take their default when the struct has
    /// `#[serde(default)]` (see the crate docs: *Protos as arrays*). Strings may arrive as
    /// str or as bin holding UTF-8. Tuples must match their length exactly.
    pub fn deserialize<T: serde::Deserialize<'a>>(&self) -> Result<T, ValueError> {
        let mut de = Deserializer::new(self.bytes);
        let value = T::deserialize(&mut de).map_err(|e| e.at(de.last_head()))?;
        Ok(value)
    }

    /// A short description for error messages: `"int 7"`, `"str \"x\""`, `"map"`.
    pub(crate) fn describe(&self) -> String {
        let mut s = String::new();
        let _ = render(self, &mut Limited { out: &mut s, left: 48 }, 0);
        if s.len() >= 48 {
            s.push('…');
        }
        format!("{} {s}", self.type_name())
    }
}

/// Reads any msgpack integer encoding at the front of `b`.
#[inline]
pub(crate) fn read_int(b: &[u8]) -> Option<i128> {
    let m = *b.first()?;
    let be = |n: usize| -> Option<u64> {
        let bytes = b.get(1..1 + n)?;
        Some(bytes.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    };
    Some(match m {
        0x00..=0x7f => i128::from(m),
        0xe0..=0xff => i128::from(m as i8),
        0xcc => i128::from(be(1)?),
        0xcd => i128::from(be(2)?),
        0xce => i128::from(be(4)?),
        0xcf => i128::from(be(8)?),
        0xd0 => i128::from(be(1)? as u8 as i8),
        0xd1 => i128::from(be(2)? as u16 as i16),
        0xd2 => i128::from(be(4)? as u32 as i32),
        0xd3 => i128::from(be(8)? as i64),
        _ => return None,
    })
}

pub(crate) fn type_name(marker: u8) -> &'static str {
    match marker {
        0x00..=0x7f | 0xe0..=0xff | 0xcc..=0xd3 => "int",
        0x80..=0x8f | 0xde | 0xdf => "map",
        0x90..=0x9f | 0xdc | 0xdd => "array",
        0xa0..=0xbf | 0xd9..=0xdb => "str",
        0xc0 => "nil",
        0xc1 => "reserved",
        0xc2 | 0xc3 => "bool",
        0xc4..=0xc6 => "bin",
        0xc7..=0xc9 | 0xd4..=0xd8 => "ext",
        0xca | 0xcb => "float",
    }
}

/// Iterator over the elements of an array (or the alternating keys and values of a map).
#[derive(Clone, Debug)]
pub struct Items<'a> {
    bytes: &'a [u8],
    pos: usize,
    left: u64,
}

impl<'a> Iterator for Items<'a> {
    type Item = RawValue<'a>;

    fn next(&mut self) -> Option<RawValue<'a>> {
        if self.left == 0 {
            return None;
        }
        let end = skip(self.bytes, self.pos)?;
        let item = RawValue::new_unchecked(self.bytes.get(self.pos..end)?);
        self.pos = end;
        self.left -= 1;
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.left).unwrap_or(usize::MAX);
        (0, Some(left))
    }
}

impl fmt::Debug for RawValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawValue({self})")
    }
}

/// Renders the value readably, JSON-like: `[1, "two", {3: b"\x04"}]`.
impl fmt::Display for RawValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render(self, f, 0)
    }
}

/// A writer that stops (with an error) after `left` bytes, to bound rendered text.
pub(crate) struct Limited<'s> {
    pub(crate) out: &'s mut String,
    pub(crate) left: usize,
}

impl fmt::Write for Limited<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.len() <= self.left {
            self.out.push_str(s);
            self.left -= s.len();
            Ok(())
        } else {
            let mut cut = self.left;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            self.out.push_str(&s[..cut]);
            self.left = 0;
            Err(fmt::Error)
        }
    }
}

fn render(v: &RawValue<'_>, f: &mut dyn fmt::Write, depth: usize) -> fmt::Result {
    // Values are depth-checked when built; this guard only keeps rendering cheap.
    if depth > 100 {
        return f.write_str("…");
    }
    let m = v.marker();
    match type_name(m) {
        "int" => write!(f, "{}", v.as_int().unwrap_or_default()),
        "float" => write!(f, "{:?}", v.as_f64().unwrap_or_default()),
        "nil" => f.write_str("nil"),
        "bool" => write!(f, "{}", v.as_bool().unwrap_or_default()),
        "str" => match v.as_str() {
            Some(s) => write!(f, "{s:?}"),
            None => render_bytes(f, v.blob(false).unwrap_or_default()),
        },
        "bin" => render_bytes(f, v.blob(false).unwrap_or_default()),
        "ext" => {
            let tag = v.bytes.get(head_len(m) - 1).copied().unwrap_or(0) as i8;
            write!(f, "ext({tag}, ")?;
            render_bytes(f, v.blob(true).unwrap_or_default())?;
            f.write_str(")")
        }
        "array" => {
            f.write_str("[")?;
            for (i, item) in v.array_items().into_iter().flatten().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                render(&item, f, depth + 1)?;
            }
            f.write_str("]")
        }
        "map" => {
            f.write_str("{")?;
            let mut items = v.map_items().into_iter().flatten();
            let mut first = true;
            while let (Some(k), Some(val)) = (items.next(), items.next()) {
                if !first {
                    f.write_str(", ")?;
                }
                first = false;
                render(&k, f, depth + 1)?;
                f.write_str(": ")?;
                render(&val, f, depth + 1)?;
            }
            f.write_str("}")
        }
        _ => f.write_str("<reserved>"),
    }
}

fn render_bytes(f: &mut dyn fmt::Write, b: &[u8]) -> fmt::Result {
    f.write_str("b\"")?;
    for &byte in b {
        for c in std::ascii::escape_default(byte) {
            f.write_char(char::from(c))?;
        }
    }
    f.write_str("\"")
}

/// Through this crate's serializer, a `RawValue` is written as its bytes, unchanged: e.g. a
/// proto field holding a value decoded earlier and passed on (another serializer would
/// write a msgpack bin holding the bytes).
impl serde::Serialize for RawValue<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Bytes<'b>(&'b [u8]);
        impl serde::Serialize for Bytes<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
        s.serialize_newtype_struct(crate::ser::RAW_TOKEN, &Bytes(self.bytes))
    }
}

/// Through this crate's deserializer, a `RawValue` field takes the bytes of whatever value
/// is there, undecoded: decoding deferred until, and unless, the handler asks. The one
/// header walk that finds the value's end is also its check (complete, no reserved byte;
/// and it lies within a value checked whole). Other deserializers (which answer the
/// newtype request with `visit_newtype_struct`) must hand over bytes (e.g. a msgpack bin)
/// holding exactly one well-formed msgpack value, which is checked the same way (their
/// nesting depth is not).
impl<'de: 'a, 'a> serde::Deserialize<'de> for RawValue<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// What this crate's deserializer calls directly: bytes it has walked (checked).
        struct Trusted;
        impl<'de> serde::de::Visitor<'de> for Trusted {
            type Value = RawValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the bytes of one msgpack value")
            }
            fn visit_borrowed_bytes<E: serde::de::Error>(
                self,
                b: &'de [u8],
            ) -> Result<Self::Value, E> {
                Ok(RawValue::new_unchecked(b))
            }
            fn visit_newtype_struct<D: serde::Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<Self::Value, D::Error> {
                // Another deserializer: the bytes of a bin, checked.
                d.deserialize_bytes(Checked)
            }
        }
        /// Bytes from another deserializer: one well-formed value, exactly (a header walk),
        /// so that re-encoding it cannot break a stream.
        struct Checked;
        impl<'de> serde::de::Visitor<'de> for Checked {
            type Value = RawValue<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes holding one msgpack value")
            }
            fn visit_borrowed_bytes<E: serde::de::Error>(
                self,
                b: &'de [u8],
            ) -> Result<Self::Value, E> {
                if skip(b, 0) != Some(b.len()) {
                    return Err(E::custom("not exactly one well-formed msgpack value"));
                }
                Ok(RawValue::new_unchecked(b))
            }
        }
        d.deserialize_newtype_struct(crate::ser::RAW_TOKEN, Trusted)
    }
}
