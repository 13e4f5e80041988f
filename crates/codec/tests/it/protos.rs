//! Protos as arrays: missing trailing fields take defaults, extra trailing ones are skipped,
//! and what rmp-serde does with the same bytes (why the crate has its own deserializer).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use svrkit_codec::{encode_value, RawValue};

use crate::common::{sample, Echomsg};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Outer {
    id: i64,
    inner: Vec<Echomsg>,
    note: Option<String>,
}

/// A newer version of `Echomsg` with a field appended.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct EchomsgV2 {
    my_string: String,
    vec_int: Vec<i64>,
    dict_string: BTreeMap<i64, String>,
    added: Vec<bool>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
struct Strict {
    a: i64,
    b: i64,
}

fn bytes(v: &impl Serialize) -> Vec<u8> {
    let mut buf = Vec::new();
    encode_value(&mut buf, v).unwrap();
    buf
}

#[test]
fn missing_trailing_fields_take_defaults() {
    let wire = bytes(&("hi",));
    let got: Echomsg = RawValue::from_slice(&wire).unwrap().deserialize().unwrap();
    assert_eq!(got, Echomsg { my_string: "hi".into(), ..Default::default() });
    let got: Echomsg = RawValue::from_slice(b"\x90").unwrap().deserialize().unwrap();
    assert_eq!(got, Echomsg::default());
}

#[test]
fn extra_trailing_fields_are_skipped_at_any_depth() {
    let v2 = EchomsgV2 { added: vec![true, false], ..Default::default() };
    let newer = Outer { id: 3, inner: vec![sample(), sample()], note: Some("n".into()) };
    // Encode with the newer proto inside, plus an extra trailing field on the outer struct.
    let wire = bytes(&(3, vec![&v2, &v2], "n", {
        let mut m = BTreeMap::new();
        m.insert(1, vec![1.5]);
        m
    }));
    let got: Outer = RawValue::from_slice(&wire).unwrap().deserialize().unwrap();
    assert_eq!(got.id, 3);
    assert_eq!(got.inner, vec![Echomsg::default(), Echomsg::default()]);
    assert_eq!(got.note.as_deref(), Some("n"));
    // The round trip of the current version is exact.
    let got: Outer = RawValue::from_slice(&bytes(&newer)).unwrap().deserialize().unwrap();
    assert_eq!(got, newer);
}

#[test]
fn structs_also_read_from_maps_by_name_or_index() {
    // {"b": 2, "a": 1, "zzz": 9} and {0: 1, 1: 2}
    let by_name = b"\x83\xa1b\x02\xa1a\x01\xa3zzz\x09";
    let got: Strict = RawValue::from_slice(by_name).unwrap().deserialize().unwrap();
    assert_eq!(got, Strict { a: 1, b: 2 });
    let by_index = b"\x82\x00\x01\x01\x02";
    let got: Strict = RawValue::from_slice(by_index).unwrap().deserialize().unwrap();
    assert_eq!(got, Strict { a: 1, b: 2 });
}

#[test]
fn without_serde_default_a_missing_field_is_an_error() {
    let err = RawValue::from_slice(b"\x91\x01").unwrap().deserialize::<Strict>().unwrap_err();
    assert!(err.to_string().contains("invalid length 1"), "{err}");
}

#[test]
fn what_rmp_serde_does_with_the_same_bytes() {
    // Documented in the crate docs: rmp-serde 1.3 rejects extra trailing elements whatever
    // the attributes, and missing ones unless the struct has #[serde(default)].
    let extra = bytes(&EchomsgV2::default());
    assert!(rmp_serde::from_slice::<Echomsg>(&extra).is_err());
    assert!(RawValue::from_slice(&extra).unwrap().deserialize::<Echomsg>().is_ok());
    assert!(rmp_serde::from_slice::<Strict>(b"\x91\x01").is_err());
    assert!(rmp_serde::from_slice::<Echomsg>(b"\x91\xa1x").is_ok());
}

#[test]
fn byte_compatible_with_rmp_serde() {
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    enum E {
        A,
        B(i8),
        C { x: u16 },
    }
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct All {
        e: Vec<E>,
        t: (u8, i32, f32, f64, bool, char),
        o: Option<Box<All>>,
        u: (),
        s: String,
    }
    let value = All {
        e: vec![E::A, E::B(-5), E::C { x: 999 }],
        t: (255, -70000, 0.5, -1e300, true, 'é'),
        o: Some(Box::new(All {
            e: vec![],
            t: Default::default(),
            o: None,
            u: (),
            s: "s".repeat(300),
        })),
        u: (),
        s: String::new(),
    };
    let ours = bytes(&value);
    assert_eq!(ours, rmp_serde::to_vec(&value).unwrap());
    assert_eq!(svrkit_codec::from_slice::<All>(&ours).unwrap(), value);
    assert_eq!(rmp_serde::from_slice::<All>(&ours).unwrap(), value);
    let echo = sample();
    assert_eq!(bytes(&echo), rmp_serde::to_vec(&echo).unwrap());
}

#[test]
fn borrowed_fields_point_into_the_buffer() {
    #[derive(Deserialize)]
    struct Borrowed<'a> {
        s: &'a str,
        b: &'a [u8],
    }
    let wire = b"\x92\xa3abc\xc4\x02\x01\x02";
    let got: Borrowed<'_> = RawValue::from_slice(wire).unwrap().deserialize().unwrap();
    assert_eq!((got.s, got.b), ("abc", &[1u8, 2][..]));
    assert!(wire.as_ptr_range().contains(&got.s.as_ptr()));
}

#[test]
fn bin_fields_go_out_as_bin_and_read_any_byte_shape() {
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default)]
    struct WithBin {
        name: String,
        #[serde(with = "svrkit_codec::bin")]
        data: Vec<u8>,
    }
    let v = WithBin { name: "n".into(), data: vec![0, 255, 7] };
    assert_eq!(bytes(&v), b"\x92\xa1n\xc4\x03\x00\xff\x07");
    let back: WithBin = RawValue::from_slice(&bytes(&v)).unwrap().deserialize().unwrap();
    assert_eq!(back, v);
    // Older encodings: an array of ints, a str; and a missing field.
    for (wire, data) in [
        (&b"\x92\xa1n\x93\x00\xcc\xff\x07"[..], &[0u8, 255, 7][..]),
        (b"\x92\xa1n\xa3\x00\xc3\xbf", &[0, 0xc3, 0xbf]),
    ] {
        let got: WithBin = RawValue::from_slice(wire).unwrap().deserialize().unwrap();
        assert_eq!((got.name.as_str(), got.data.as_slice()), ("n", data));
    }
    let got: WithBin = RawValue::from_slice(b"\x91\xa1n").unwrap().deserialize().unwrap();
    assert!(got.data.is_empty());
    assert!(RawValue::from_slice(b"\x92\xa1n\x91\xcd\x01\x00")
        .unwrap()
        .deserialize::<WithBin>()
        .is_err());
}

#[test]
fn cow_fields_with_serde_borrow_borrow_the_buffer() {
    use std::borrow::Cow;
    /// seed 000's echomsg as generated code may declare it to avoid allocating strings.
    #[derive(Debug, Default, Deserialize, Serialize)]
    #[serde(default)]
    struct EchomsgCow<'a> {
        #[serde(borrow)]
        my_string: Cow<'a, str>,
        vec_int: Vec<i64>,
        #[serde(borrow)]
        dict_string: BTreeMap<i64, Cow<'a, str>>,
    }
    let echo = sample();
    let wire = bytes(&echo);
    let got: EchomsgCow<'_> = RawValue::from_slice(&wire).unwrap().deserialize().unwrap();
    // A Cow field is borrowed, not copied (this one is a str8)...
    assert!(matches!(got.my_string, Cow::Borrowed(_)), "{:?}", got.my_string);
    // ...but serde borrows a Cow only when it is the field itself: inside a map (or Vec)
    // it is filled Owned whatever the deserializer offers. `&'a str` borrows there.
    assert!(got.dict_string.values().all(|v| matches!(v, Cow::Owned(_))));
    assert!(wire.as_ptr_range().contains(&got.my_string.as_ptr()));
    assert_eq!(got.my_string, echo.my_string);
    assert_eq!(got.vec_int, echo.vec_int);
    let dict: BTreeMap<i64, String> =
        got.dict_string.iter().map(|(k, v)| (*k, v.to_string())).collect();
    assert_eq!(dict, echo.dict_string);
    // And it goes out byte for byte as the owned proto does.
    assert_eq!(bytes(&got), wire);
}
