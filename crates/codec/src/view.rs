//! `ArrayRef` and `MapRef`: typed views of a msgpack array or map left undecoded in the
//! input buffer, for protos that must not allocate.

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use crate::de::Deserializer;
use crate::scan::head_len;
use crate::{RawValue, ValueError};

/// A msgpack array of `T`, kept as its borrowed bytes and decoded element by element on
/// demand: deserializing it walks its headers once and allocates nothing; serializing it
/// copies its bytes (this crate's serializer). The zero-allocation stand-in for a `Vec<T>`
/// proto field (see the crate docs, *Zero-allocation protos*).
///
/// A missing field (`#[serde(default)]`) is an empty array. Nil is accepted as empty too;
/// any other non-array value is an error when the enclosing value is deserialized.
pub struct ArrayRef<'a, T> {
    raw: RawValue<'a>,
    len: u32,
    _items: PhantomData<fn() -> T>,
}

/// A msgpack map from `K` to `V`, kept as its borrowed bytes and decoded pair by pair on
/// demand; the zero-allocation stand-in for a `BTreeMap<K, V>` proto field.
pub struct MapRef<'a, K, V> {
    raw: RawValue<'a>,
    len: u32,
    _items: PhantomData<fn() -> (K, V)>,
}

impl<'a, T: Deserialize<'a>> ArrayRef<'a, T> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// No elements?
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The array's msgpack bytes.
    pub fn raw(&self) -> RawValue<'a> {
        self.raw
    }

    /// The elements, each decoded as it is reached.
    pub fn iter(&self) -> ArrayIter<'a, T> {
        ArrayIter { items: Elements::new(self.raw, self.len), _items: PhantomData }
    }

    /// Decodes every element into a `Vec` (the owned form).
    pub fn to_vec(&self) -> Result<Vec<T>, ValueError> {
        self.iter().collect()
    }
}

impl<'a, K: Deserialize<'a>, V: Deserialize<'a>> MapRef<'a, K, V> {
    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// No pairs?
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The map's msgpack bytes.
    pub fn raw(&self) -> RawValue<'a> {
        self.raw
    }

    /// The pairs in wire order, each decoded as it is reached.
    pub fn iter(&self) -> MapIter<'a, K, V> {
        MapIter { items: Elements::new(self.raw, self.len.saturating_mul(2)), _items: PhantomData }
    }

    /// The value of the first pair whose key equals `key` (a linear scan: small maps).
    pub fn get(&self, key: &K) -> Result<Option<V>, ValueError>
    where
        K: PartialEq,
    {
        for pair in self.iter() {
            let (k, v) = pair?;
            if k == *key {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// Decodes every pair into a collection (`BTreeMap`, `HashMap`, `Vec<(K, V)>`...).
    pub fn collect<C: FromIterator<(K, V)>>(&self) -> Result<C, ValueError> {
        self.iter().collect()
    }
}

/// The values of a container, read in turn by one deserializer over the container's
/// bytes (so sized integers take the 8-byte-load fast path, and nothing is walked twice).
struct Elements<'a> {
    de: Deserializer<'a>,
    left: u32,
}

impl<'a> Elements<'a> {
    /// `raw` is the container (or nil, with `left` 0); its header is skipped.
    fn new(raw: RawValue<'a>, left: u32) -> Self {
        let bytes = raw.as_bytes();
        let start = bytes.first().map_or(0, |&m| head_len(m));
        Elements { de: Deserializer::at(bytes, start), left }
    }

    #[inline]
    fn next<T: Deserialize<'a>>(&mut self) -> Option<Result<T, ValueError>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        self.de.set_tail(self.left == 0);
        let item = T::deserialize(&mut self.de).map_err(|e| e.at(self.de.last_head()));
        if item.is_err() {
            // Stop after an error: the position is no longer trustworthy.
            self.left = 0;
        }
        Some(item)
    }
}

/// Iterator over an [`ArrayRef`]'s elements.
pub struct ArrayIter<'a, T> {
    items: Elements<'a>,
    _items: PhantomData<fn() -> T>,
}

impl<'a, T: Deserialize<'a>> Iterator for ArrayIter<'a, T> {
    type Item = Result<T, ValueError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.items.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.items.left as usize))
    }
}

/// Iterator over a [`MapRef`]'s pairs.
pub struct MapIter<'a, K, V> {
    items: Elements<'a>,
    _items: PhantomData<fn() -> (K, V)>,
}

impl<'a, K: Deserialize<'a>, V: Deserialize<'a>> Iterator for MapIter<'a, K, V> {
    type Item = Result<(K, V), ValueError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let k = self.items.next::<K>()?;
        let v = self.items.next::<V>()?;
        Some(k.and_then(|k| Ok((k, v?))))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.items.left as usize / 2))
    }
}

impl<T> Clone for ArrayRef<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for ArrayRef<'_, T> {}

impl<K, V> Clone for MapRef<'_, K, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K, V> Copy for MapRef<'_, K, V> {}

impl<T> Default for ArrayRef<'_, T> {
    /// An empty array.
    fn default() -> Self {
        ArrayRef { raw: RawValue::EMPTY_ARRAY, len: 0, _items: PhantomData }
    }
}

impl<K, V> Default for MapRef<'_, K, V> {
    /// An empty map.
    fn default() -> Self {
        MapRef { raw: RawValue::EMPTY_MAP, len: 0, _items: PhantomData }
    }
}

/// Equal when their msgpack bytes are.
impl<T> PartialEq for ArrayRef<'_, T> {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

/// Equal when their msgpack bytes are.
impl<K, V> PartialEq for MapRef<'_, K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl<T> fmt::Debug for ArrayRef<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ArrayRef({})", self.raw)
    }
}

impl<K, V> fmt::Debug for MapRef<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MapRef({})", self.raw)
    }
}

impl<T> Serialize for ArrayRef<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<K, V> Serialize for MapRef<'_, K, V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de: 'a, 'a, T> Deserialize<'de> for ArrayRef<'a, T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <RawValue<'a> as Deserialize<'de>>::deserialize(d)?;
        if raw.is_nil() {
            return Ok(ArrayRef::default());
        }
        match raw.array_len() {
            Some(len) => Ok(ArrayRef { raw, len, _items: PhantomData }),
            None => Err(serde::de::Error::invalid_type(
                serde::de::Unexpected::Other(raw.type_name()),
                &"an array",
            )),
        }
    }
}

impl<'de: 'a, 'a, K, V> Deserialize<'de> for MapRef<'a, K, V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <RawValue<'a> as Deserialize<'de>>::deserialize(d)?;
        if raw.is_nil() {
            return Ok(MapRef::default());
        }
        match raw.map_len() {
            Some(len) => Ok(MapRef { raw, len, _items: PhantomData }),
            None => Err(serde::de::Error::invalid_type(
                serde::de::Unexpected::Other(raw.type_name()),
                &"a map",
            )),
        }
    }
}
