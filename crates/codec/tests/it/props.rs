//! Property tests: arbitrary values and messages round-trip; any chunking of a stream yields
//! the same messages; arbitrary bytes never panic and decode the same however they arrive.

use proptest::prelude::*;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use svrkit_codec::{
    encode_error, encode_notification, encode_request, encode_response, Limits, RawValue, RpcError,
};

use crate::common::{decode_all, decode_chunked, Echomsg, Owned};

/// Any msgpack value (floats compared by bits so NaN round-trips too).
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Nil,
    Bool(bool),
    Int(i64),
    Uint(u64),
    F64(u64),
    Str(String),
    Bin(Vec<u8>),
    Array(Vec<Val>),
    Map(Vec<(Val, Val)>),
}

impl Serialize for Val {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Val::Nil => s.serialize_unit(),
            Val::Bool(b) => s.serialize_bool(*b),
            Val::Int(i) => s.serialize_i64(*i),
            Val::Uint(u) => s.serialize_u64(*u),
            Val::F64(bits) => s.serialize_f64(f64::from_bits(*bits)),
            Val::Str(x) => s.serialize_str(x),
            Val::Bin(b) => s.serialize_bytes(b),
            Val::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Val::Map(pairs) => {
                // Unknown length: exercises the patched map32 header.
                let mut map = s.serialize_map(None)?;
                for (k, v) in pairs {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Val {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Val, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Val;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any msgpack value")
            }
            fn visit_unit<E>(self) -> Result<Val, E> {
                Ok(Val::Nil)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Val, E> {
                Ok(Val::Bool(b))
            }
            fn visit_i64<E>(self, i: i64) -> Result<Val, E> {
                Ok(Val::Int(i))
            }
            fn visit_u64<E>(self, u: u64) -> Result<Val, E> {
                Ok(Val::Uint(u))
            }
            fn visit_f64<E>(self, x: f64) -> Result<Val, E> {
                Ok(Val::F64(x.to_bits()))
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Val, E> {
                Ok(Val::Str(s.to_string()))
            }
            fn visit_borrowed_bytes<E>(self, b: &'de [u8]) -> Result<Val, E> {
                Ok(Val::Bin(b.to_vec()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Val::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(Val::Map(pairs))
            }
        }
        d.deserialize_any(V)
    }
}

/// Normalizes what msgpack cannot tell apart: a non-negative Int is a Uint.
fn normal(v: Val) -> Val {
    match v {
        Val::Int(i) if i >= 0 => Val::Uint(i as u64),
        Val::Array(items) => Val::Array(items.into_iter().map(normal).collect()),
        Val::Map(pairs) => {
            Val::Map(pairs.into_iter().map(|(k, v)| (normal(k), normal(v))).collect())
        }
        other => other,
    }
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        (0usize..70_000).prop_map(|n| "s".repeat(n)), // fixstr, str8, str16 and str32
    ]
}

fn val() -> impl Strategy<Value = Val> {
    let leaf = prop_oneof![
        Just(Val::Nil),
        any::<bool>().prop_map(Val::Bool),
        any::<i64>().prop_map(Val::Int),
        any::<u64>().prop_map(Val::Uint),
        any::<u64>().prop_map(Val::F64),
        "\\PC{0,40}".prop_map(Val::Str),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Val::Bin),
    ];
    leaf.prop_recursive(6, 64, 20, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..20).prop_map(Val::Array),
            proptest::collection::vec((inner.clone(), inner), 0..20).prop_map(Val::Map),
        ]
    })
}

/// One message to send.
#[derive(Clone, Debug)]
enum Msg {
    Request(u32, String, Vec<Val>),
    Response(u32, Val),
    Error(u32, i64, String),
    Notification(String, Vec<Val>),
}

fn msg() -> impl Strategy<Value = Msg> {
    let params = || proptest::collection::vec(val(), 0..4);
    prop_oneof![
        (any::<u32>(), text(), params()).prop_map(|(i, m, p)| Msg::Request(i, m, p)),
        (any::<u32>(), val()).prop_map(|(i, v)| Msg::Response(i, v)),
        (any::<u32>(), any::<i64>(), text()).prop_map(|(i, c, m)| Msg::Error(i, c, m)),
        (text(), params()).prop_map(|(m, p)| Msg::Notification(m, p)),
    ]
}

fn encode(buf: &mut Vec<u8>, m: &Msg) {
    match m {
        Msg::Request(id, method, params) => encode_request(buf, *id, method, params).unwrap(),
        Msg::Response(id, v) => encode_response(buf, *id, v).unwrap(),
        Msg::Error(id, code, message) => {
            encode_error(buf, *id, &RpcError::new(*code, message.clone()))
        }
        Msg::Notification(method, params) => encode_notification(buf, method, params).unwrap(),
    }
}

/// Checks that a decoded message is the one sent.
fn same(sent: &Msg, got: &Owned) -> bool {
    let params = |bytes: &[u8]| {
        RawValue::from_slice(bytes)
            .unwrap()
            .deserialize::<Vec<Val>>()
            .unwrap()
            .into_iter()
            .map(normal)
            .collect::<Vec<_>>()
    };
    let norm = |vals: &[Val]| vals.iter().cloned().map(normal).collect::<Vec<_>>();
    match (sent, got) {
        (Msg::Request(i, m, p), Owned::Request { msgid, method, params: raw }) => {
            i == msgid && m == method && params(raw) == norm(p)
        }
        (Msg::Response(i, v), Owned::Response { msgid, error: None, result }) => {
            let got: Val = RawValue::from_slice(result).unwrap().deserialize().unwrap();
            i == msgid && normal(got) == normal(v.clone())
        }
        (Msg::Error(i, c, m), Owned::Response { msgid, error: Some(e), result }) => {
            let e = RpcError::from_raw(RawValue::from_slice(e).unwrap());
            i == msgid && e == RpcError::new(*c, m.clone()) && result == b"\xc0"
        }
        (Msg::Notification(m, p), Owned::Notification { method, params: raw }) => {
            m == method && params(raw) == norm(p)
        }
        _ => false,
    }
}

/// Cuts `bytes` at the given fractions.
fn split<'a>(bytes: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut prev = 0;
    for a in at {
        out.push(&bytes[prev..a]);
        prev = a;
    }
    out.push(&bytes[prev..]);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn values_round_trip(v in val()) {
        let mut buf = Vec::new();
        svrkit_codec::encode_value(&mut buf, &v).unwrap();
        let got: Val = RawValue::from_slice(&buf).unwrap().deserialize().unwrap();
        prop_assert_eq!(normal(got), normal(v.clone()));
        // rmp-serde reads what we write.
        let theirs: Val = rmp_serde::from_slice(&buf).unwrap();
        prop_assert_eq!(normal(theirs), normal(v));
    }

    #[test]
    fn messages_round_trip_under_any_chunking(
        msgs in proptest::collection::vec(msg(), 1..8),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut wire = Vec::new();
        for m in &msgs {
            encode(&mut wire, m);
        }
        let (whole, end) = decode_all(&wire);
        prop_assert_eq!(&end, &Ok(0));
        prop_assert_eq!(whole.len(), msgs.len());
        for (sent, (got, _)) in msgs.iter().zip(&whole) {
            prop_assert!(same(sent, got), "sent {:?}, got {:?}", sent, got);
        }
        let chunked = decode_chunked(&split(&wire, &cuts), Limits::default());
        prop_assert_eq!(chunked, (whole, end));
    }

    #[test]
    fn arbitrary_bytes_decode_the_same_however_they_arrive(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..16),
        max_frame in 1usize..600,
        max_depth in 1usize..10,
    ) {
        let limits = Limits { max_frame, max_depth };
        let whole = decode_chunked(&[&bytes], limits);
        let chunked = decode_chunked(&split(&bytes, &cuts), limits);
        prop_assert_eq!(&chunked, &whole);
        let one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
        prop_assert_eq!(decode_chunked(&one_by_one, limits), whole);
    }

    /// Complete frames take the decoder's one-pass fast path when whole, and the exact
    /// resumable scan when fed a byte at a time: both must agree, right at the limits too.
    #[test]
    fn whole_and_byte_by_byte_frames_agree_at_any_limits(
        values in proptest::collection::vec(val(), 1..4),
        wraps in 0usize..6,
        max_frame in 1usize..700,
        max_depth in 1usize..9,
    ) {
        let mut bytes = Vec::new();
        for v in &values {
            bytes.extend(std::iter::repeat_n(0x91, wraps));
            svrkit_codec::encode_value(&mut bytes, v).unwrap();
        }
        let limits = Limits { max_frame, max_depth };
        let whole = decode_chunked(&[&bytes], limits);
        let one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
        prop_assert_eq!(decode_chunked(&one_by_one, limits), whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic_as_values(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(raw) = RawValue::from_slice(&bytes) {
            let _ = raw.deserialize::<Echomsg>();
            let _ = raw.deserialize::<(Echomsg,)>();
            let _ = raw.deserialize::<Val>();
            let _ = RpcError::from_raw(raw);
            let _ = raw.to_string();
        }
        let _ = svrkit_codec::from_slice::<Vec<Val>>(&bytes);
    }
}

/// Owned form of [`Views`]: what a peer sends.
#[derive(Debug, serde::Serialize)]
struct Parts {
    items: Vec<Val>,
    pairs: Val,
    any: Val,
}

/// The same fields read as views over the buffer.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct Views<'a> {
    #[serde(borrow)]
    items: svrkit_codec::ArrayRef<'a, Val>,
    #[serde(borrow)]
    pairs: svrkit_codec::MapRef<'a, Val, Val>,
    #[serde(borrow)]
    any: RawValue<'a>,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Views hold exactly the bytes of their fields, decode to what the owned types do,
    /// and re-encode to the same bytes.
    #[test]
    fn views_read_and_reencode_like_owned_values(
        items in proptest::collection::vec(val(), 0..20),
        pairs in proptest::collection::vec((val(), val()), 0..20),
        any in val(),
    ) {
        let parts = Parts { items: items.clone(), pairs: Val::Map(pairs.clone()), any: any.clone() };
        let mut buf = Vec::new();
        svrkit_codec::encode_value(&mut buf, &parts).unwrap();
        let views: Views<'_> = svrkit_codec::from_slice(&buf).unwrap();
        prop_assert_eq!(views.items.len(), items.len());
        let got: Vec<Val> = views.items.to_vec().unwrap();
        prop_assert_eq!(got.into_iter().map(normal).collect::<Vec<_>>(),
            items.into_iter().map(normal).collect::<Vec<_>>());
        prop_assert_eq!(views.pairs.len(), pairs.len());
        let got: Vec<(Val, Val)> = views.pairs.collect().unwrap();
        prop_assert_eq!(normal(Val::Map(got)), normal(Val::Map(pairs)));
        let mut alone = Vec::new();
        svrkit_codec::encode_value(&mut alone, &any).unwrap();
        prop_assert_eq!(views.any.as_bytes(), &alone[..]);
        let mut again = Vec::new();
        svrkit_codec::encode_value(&mut again, &views).unwrap();
        prop_assert_eq!(&again, &buf);
    }
}
