//! Zero-allocation protos: `RawValue`, `ArrayRef` and `MapRef` fields read from the
//! buffer, decoded on demand, and written back byte-for-byte.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use svrkit_codec::{encode_response, encode_value, from_slice, ArrayRef, MapRef, RawValue};

use crate::common::{sample, Echomsg};

/// seed 000's echomsg as views.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct EchomsgView<'a> {
    #[serde(borrow)]
    my_string: &'a str,
    #[serde(borrow)]
    vec_int: ArrayRef<'a, i64>,
    #[serde(borrow)]
    dict_string: MapRef<'a, i64, &'a str>,
}

fn bytes<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    let mut buf = Vec::new();
    encode_value(&mut buf, v).unwrap();
    buf
}

#[test]
fn an_echomsg_view_reads_the_owned_fields_and_writes_the_same_bytes() {
    let owned = sample();
    let wire = bytes(&owned);
    let view: EchomsgView<'_> = from_slice(&wire).unwrap();
    assert_eq!(view.my_string, owned.my_string);
    assert_eq!(view.vec_int.len(), 8);
    assert_eq!(view.vec_int.to_vec().unwrap(), owned.vec_int);
    assert_eq!(view.vec_int.iter().map(Result::unwrap).sum::<i64>(), owned.vec_int.iter().sum());
    let dict: BTreeMap<i64, String> = view
        .dict_string
        .iter()
        .map(|kv| kv.map(|(k, v)| (k, v.to_string())))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(dict, owned.dict_string);
    assert_eq!(view.dict_string.get(&2).unwrap(), Some("value-2"));
    assert_eq!(view.dict_string.get(&9).unwrap(), None);
    // Echoed back: the same bytes the owned value gives (and rmp-serde).
    assert_eq!(bytes(&view), wire);
    assert_eq!(rmp_serde::to_vec(&owned).unwrap(), wire);
    let mut resp = Vec::new();
    encode_response(&mut resp, 3, &view).unwrap();
    let mut owned_resp = Vec::new();
    encode_response(&mut owned_resp, 3, &owned).unwrap();
    assert_eq!(resp, owned_resp);
}

#[test]
fn views_of_every_integer_width_decode_like_a_vec() {
    let ints: Vec<i64> =
        vec![0, 127, 128, 255, 256, 65535, 65536, -1, -32, -33, -129, -32769, i64::MIN, i64::MAX];
    let wire = bytes(&(ints.clone(), "tail"));
    let (view, tail): (ArrayRef<'_, i64>, &str) = from_slice(&wire).unwrap();
    assert_eq!(view.to_vec().unwrap(), ints);
    assert_eq!(tail, "tail");
    // As the last value of the input too (the exact-width int path).
    let wire = bytes(&ints);
    let view: ArrayRef<'_, i64> = from_slice(&wire).unwrap();
    assert_eq!(view.to_vec().unwrap(), ints);
}

#[test]
fn missing_and_nil_views_are_empty_and_other_types_are_errors() {
    // An older peer sent only the string.
    let view: EchomsgView<'_> = from_slice(b"\x91\xa2hi").unwrap();
    assert_eq!((view.my_string, view.vec_int.len(), view.dict_string.len()), ("hi", 0, 0));
    assert_eq!(bytes(&view), b"\x93\xa2hi\x90\x80");
    // nil where a container is expected.
    let view: EchomsgView<'_> = from_slice(b"\x93\xa2hi\xc0\xc0").unwrap();
    assert!(view.vec_int.is_empty() && view.dict_string.is_empty());
    // A str where an array is expected, an array where a map is expected.
    let err = from_slice::<EchomsgView<'_>>(b"\x93\xa2hi\xa1x\x80").unwrap_err();
    assert!(err.to_string().contains("an array"), "{err}");
    let err = from_slice::<EchomsgView<'_>>(b"\x93\xa2hi\x90\x90").unwrap_err();
    assert!(err.to_string().contains("a map"), "{err}");
    // Extra trailing fields are still skipped.
    let view: EchomsgView<'_> = from_slice(b"\x94\xa2hi\x91\x07\x80\xc3").unwrap();
    assert_eq!(view.vec_int.to_vec().unwrap(), [7]);
}

#[test]
fn an_element_that_does_not_fit_is_an_error_and_ends_the_iteration() {
    let wire = bytes(&vec![1u32, 300, 2]);
    let view: ArrayRef<'_, u8> = from_slice(&wire).unwrap();
    let got: Vec<_> = view.iter().collect();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].as_ref().unwrap(), &1);
    let err = got[1].as_ref().unwrap_err();
    assert_eq!(err.offset(), Some(2), "{err}");
    assert!(view.to_vec().is_err());
}

#[test]
fn a_raw_value_field_keeps_the_bytes_of_any_value() {
    #[derive(Deserialize, Serialize)]
    struct Envelope<'a> {
        id: u32,
        #[serde(borrow)]
        body: RawValue<'a>,
        after: &'a str,
    }
    let owned = sample();
    let wire = bytes(&(7, &owned, "after"));
    let env: Envelope<'_> = from_slice(&wire).unwrap();
    assert_eq!((env.id, env.after), (7, "after"));
    assert_eq!(env.body.as_bytes(), bytes(&owned));
    assert_eq!(env.body.deserialize::<Echomsg>().unwrap(), owned);
    assert_eq!(bytes(&env), wire);
}

#[test]
fn raw_values_from_other_deserializers_must_be_one_whole_value() {
    // rmp-serde hands a bin's payload to the RawValue visitor: accepted only when it is
    // exactly one well-formed msgpack value.
    let ok = rmp_serde::to_vec(&serde_bytes_like(b"\x92\x01\xa1x")).unwrap();
    let raw: RawValue<'_> = rmp_serde::from_slice(&ok).unwrap();
    assert_eq!(raw.array_len(), Some(2));
    for bad in [&b"\x92\x01"[..], b"\x01\x02", b"\xc1", b""] {
        let wire = rmp_serde::to_vec(&serde_bytes_like(bad)).unwrap();
        assert!(rmp_serde::from_slice::<RawValue<'_>>(&wire).is_err(), "{bad:02x?}");
    }
}

fn serde_bytes_like(b: &[u8]) -> impl Serialize + '_ {
    struct Bin<'a>(&'a [u8]);
    impl Serialize for Bin<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }
    Bin(b)
}

#[test]
fn a_raw_value_is_exactly_its_value_at_any_position() {
    // The last element of every enclosing container runs to the end of the input (no walk
    // needed); anywhere else the value's end is found by walking it. Both must give the
    // value's bytes, exactly.
    #[derive(Deserialize, Serialize, Debug)]
    struct Inner<'a> {
        a: u8,
        #[serde(borrow)]
        raw: RawValue<'a>,
    }
    #[derive(Deserialize, Serialize, Debug)]
    struct Outer<'a> {
        #[serde(borrow)]
        inner: Inner<'a>,
        #[serde(borrow)]
        list: Vec<RawValue<'a>>,
        #[serde(borrow)]
        map: BTreeMap<u8, RawValue<'a>>,
        #[serde(borrow)]
        last: Option<RawValue<'a>>,
    }
    let value = |v: &(i32, &str)| bytes(v);
    let owned = (
        (1u8, (2, "two")),
        vec![(3, "three"), (4, "four")],
        BTreeMap::from([(5u8, (5, "five")), (6u8, (6, "six"))]),
        Some((7, "seven")),
    );
    let wire = bytes(&owned);
    let got: Outer<'_> = from_slice(&wire).unwrap();
    assert_eq!(got.inner.raw.as_bytes(), value(&(2, "two")));
    assert_eq!(got.list[0].as_bytes(), value(&(3, "three")));
    assert_eq!(got.list[1].as_bytes(), value(&(4, "four")));
    assert_eq!(got.map[&5].as_bytes(), value(&(5, "five")));
    assert_eq!(got.map[&6].as_bytes(), value(&(6, "six")));
    assert_eq!(got.last.unwrap().as_bytes(), value(&(7, "seven")));
    assert_eq!(bytes(&got), wire);

    // A struct with extra trailing elements: its last field is not at the tail.
    let wire = bytes(&((1u8, (2, "two"), "extra"), "after"));
    let (inner, after): (Inner<'_>, &str) = from_slice(&wire).unwrap();
    assert_eq!((inner.raw.as_bytes(), after), (&value(&(2, "two"))[..], "after"));

    // `{"Variant": raw}` at the tail and not.
    #[derive(Deserialize, Serialize, Debug)]
    enum E<'a> {
        V(#[serde(borrow)] RawValue<'a>),
    }
    let wire = bytes(&(E::V(RawValue::from_slice(&value(&(8, "eight"))).unwrap()), 9));
    let (E::V(raw), nine): (E<'_>, u8) = from_slice(&wire).unwrap();
    assert_eq!((raw.as_bytes(), nine), (&value(&(8, "eight"))[..], 9));
    let wire = bytes(&E::V(RawValue::from_slice(&value(&(8, "eight"))).unwrap()));
    let E::V(raw) = from_slice::<E<'_>>(&wire).unwrap();
    assert_eq!(raw.as_bytes(), value(&(8, "eight")));

    // Views of views: the last element of an ArrayRef is at the tail of its bytes.
    let wire = bytes(&vec![vec![1, 2], vec![3]]);
    let outer: ArrayRef<'_, ArrayRef<'_, i32>> = from_slice(&wire).unwrap();
    let inner: Vec<Vec<i32>> = outer.iter().map(|a| a.unwrap().to_vec().unwrap()).collect();
    assert_eq!(inner, [vec![1, 2], vec![3]]);
}
