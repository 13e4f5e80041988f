//! Golden bytes, hand-written from the msgpack spec: what goes out, and what must come in.

use std::collections::BTreeMap;

use svrkit_codec::{
    encode_error, encode_notification, encode_request, encode_response, encode_value, Decoder,
    Message, RawValue, RpcError,
};

/// Checks that `encode` appends exactly `expected` (after a prefix that must survive).
fn check(encode: impl FnOnce(&mut Vec<u8>), expected: &[u8]) {
    let mut buf = vec![0xAA];
    encode(&mut buf);
    assert_eq!(&buf[..1], &[0xAA], "encoder clobbered the buffer's existing bytes");
    assert_eq!(hex(&buf[1..]), hex(expected));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")
}

/// Decodes exactly one message from `bytes`.
fn decode(bytes: &[u8]) -> Message<'_> {
    let mut d = Decoder::default();
    let got = d.decode(bytes).unwrap().expect("a complete frame");
    assert_eq!(got.len, bytes.len());
    got.message.unwrap()
}

#[test]
fn request_with_empty_params() {
    // fixarray(4), 0, 1, fixstr(5) "echo1", fixarray(0)
    let wire = b"\x94\x00\x01\xa5echo1\x90";
    check(|b| encode_request(b, 1, "echo1", &[(); 0]).unwrap(), wire);
    let Message::Request { msgid: 1, method: "echo1", params } = decode(wire) else { panic!() };
    assert_eq!(params.as_bytes(), b"\x90");
}

#[test]
fn request_with_msgid_u32_max() {
    // uint32 0xffffffff, params [1, 2]
    let wire = b"\x94\x00\xce\xff\xff\xff\xff\xa3add\x92\x01\x02";
    check(|b| encode_request(b, 0xFFFF_FFFF, "add", &(1, 2)).unwrap(), wire);
    let Message::Request { msgid, .. } = decode(wire) else { panic!() };
    assert_eq!(msgid, 0xFFFF_FFFF);
}

#[test]
fn response_ok() {
    // [1, uint16 300, nil, "ok"]
    let wire = b"\x94\x01\xcd\x01\x2c\xc0\xa2ok";
    check(|b| encode_response(b, 300, "ok").unwrap(), wire);
    let Message::Response { msgid: 300, error: None, result } = decode(wire) else { panic!() };
    assert_eq!(result.deserialize::<&str>().unwrap(), "ok");
}

#[test]
fn error_response_is_code_and_message() {
    // [1, 5, [int16 -32601, fixstr(17) "no such method: x"], nil]
    let wire = b"\x94\x01\x05\x92\xd1\x80\xa7\xb1no such method: x\xc0";
    check(|b| encode_error(b, 5, &RpcError::new(-32601, "no such method: x")), wire);
    let Message::Response { msgid: 5, error: Some(e), result } = decode(wire) else { panic!() };
    assert!(result.is_nil());
    assert_eq!(RpcError::from_raw(e), RpcError::new(-32601, "no such method: x"));
}

#[test]
fn notification() {
    // [2, "ev", [true]]
    let wire = b"\x93\x02\xa2ev\x91\xc3";
    check(|b| encode_notification(b, "ev", &[true]).unwrap(), wire);
    let Message::Notification { method: "ev", params } = decode(wire) else { panic!() };
    assert_eq!(params.deserialize::<(bool,)>().unwrap(), (true,));
}

#[test]
fn strings_use_fixstr_str8_str16_str32() {
    let s31 = "a".repeat(31);
    check(|b| encode_value(b, &s31).unwrap(), &[&[0xbf][..], s31.as_bytes()].concat());
    let s32 = "b".repeat(32);
    check(|b| encode_value(b, &s32).unwrap(), &[&[0xd9, 32][..], s32.as_bytes()].concat());
    let s256 = "c".repeat(256);
    check(|b| encode_value(b, &s256).unwrap(), &[&[0xda, 1, 0][..], s256.as_bytes()].concat());
    let s64k = "d".repeat(65536);
    check(
        |b| encode_value(b, &s64k).unwrap(),
        &[&[0xdb, 0, 1, 0, 0][..], s64k.as_bytes()].concat(),
    );
}

#[test]
fn old_spec_strings_without_str8_decode() {
    // An old-spec peer sends a 40-byte string as str16 and a 3-byte one as str32.
    let s40 = "e".repeat(40);
    let str16 = [&[0xda, 0, 40][..], s40.as_bytes()].concat();
    assert_eq!(RawValue::from_slice(&str16).unwrap().deserialize::<String>().unwrap(), s40);
    let str32 = b"\xdb\x00\x00\x00\x03abc";
    assert_eq!(RawValue::from_slice(str32).unwrap().deserialize::<&str>().unwrap(), "abc");
    // ... and as a method name.
    let wire = b"\x94\x00\x02\xda\x00\x05echo1\x90";
    let Message::Request { method: "echo1", .. } = decode(wire) else { panic!() };
}

#[test]
fn method_name_as_bin_decodes() {
    // pynvim sends method names as bin8.
    let wire = b"\x94\x00\x03\xc4\x05echo1\x90";
    let Message::Request { msgid: 3, method: "echo1", .. } = decode(wire) else { panic!() };
    let wire = b"\x93\x02\xc4\x02ev\x90";
    let Message::Notification { method: "ev", .. } = decode(wire) else { panic!() };
}

#[test]
fn bin_where_a_string_is_expected_decodes_when_utf8() {
    let bin = b"\x91\xc4\x03h\xc3\xa9"; // ["hé"] as bin
    let (s,): (String,) = RawValue::from_slice(bin).unwrap().deserialize().unwrap();
    assert_eq!(s, "hé");
    let bad = b"\x91\xc4\x01\xff";
    let err = RawValue::from_slice(bad).unwrap().deserialize::<(String,)>().unwrap_err();
    assert_eq!(err.offset(), Some(1), "{err}");
}

#[test]
fn int_map_keys() {
    // {1: "a", -2: "b"}
    let wire = b"\x82\x01\xa1a\xfe\xa1b";
    let m: BTreeMap<i64, String> = RawValue::from_slice(wire).unwrap().deserialize().unwrap();
    assert_eq!(m, BTreeMap::from([(1, "a".to_string()), (-2, "b".to_string())]));
    let mut out = Vec::new();
    encode_value(&mut out, &m).unwrap();
    assert_eq!(hex(&out), hex(b"\x82\xfe\xa1b\x01\xa1a"));
}

#[test]
fn msgid_in_any_integer_encoding_that_fits() {
    for (id_bytes, id) in [
        (&b"\xcc\x05"[..], 5u32),
        (b"\xd0\x05", 5),
        (b"\xd3\x00\x00\x00\x00\x00\x00\x00\x07", 7),
        (b"\xcf\x00\x00\x00\x00\xff\xff\xff\xff", 0xFFFF_FFFF),
    ] {
        let wire = [b"\x94\x00", id_bytes, b"\xa1m\x90"].concat();
        let Message::Request { msgid, .. } = decode(&wire) else { panic!() };
        assert_eq!(msgid, id);
    }
}

#[test]
fn integers_take_their_most_compact_form() {
    for (v, bytes) in [
        (0i64, &b"\x00"[..]),
        (127, b"\x7f"),
        (128, b"\xcc\x80"),
        (256, b"\xcd\x01\x00"),
        (65536, b"\xce\x00\x01\x00\x00"),
        (1 << 32, b"\xcf\x00\x00\x00\x01\x00\x00\x00\x00"),
        (-1, b"\xff"),
        (-32, b"\xe0"),
        (-33, b"\xd0\xdf"),
        (-129, b"\xd1\xff\x7f"),
        (-32769, b"\xd2\xff\xff\x7f\xff"),
        (i64::MIN, b"\xd3\x80\x00\x00\x00\x00\x00\x00\x00"),
    ] {
        check(|b| encode_value(b, &v).unwrap(), bytes);
        assert_eq!(RawValue::from_slice(bytes).unwrap().deserialize::<i64>().unwrap(), v);
    }
    check(|b| encode_value(b, &u64::MAX).unwrap(), b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff");
}

#[test]
fn floats_bytes_options_and_enums() {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    enum E {
        Unit,
        New(u8),
        Pair(u8, u8),
    }
    check(|b| encode_value(b, &1.5f64).unwrap(), b"\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00");
    check(|b| encode_value(b, &1.5f32).unwrap(), b"\xca\x3f\xc0\x00\x00");
    check(|b| encode_value(b, &Bytes(&[1, 2])).unwrap(), b"\xc4\x02\x01\x02");
    check(|b| encode_value(b, &None::<u8>).unwrap(), b"\xc0");
    check(|b| encode_value(b, &Some(3u8)).unwrap(), b"\x03");
    check(|b| encode_value(b, &E::Unit).unwrap(), b"\xa4Unit");
    check(|b| encode_value(b, &E::New(1)).unwrap(), b"\x81\xa3New\x01");
    check(|b| encode_value(b, &E::Pair(1, 2)).unwrap(), b"\x81\xa4Pair\x92\x01\x02");
    for e in [E::Unit, E::New(1), E::Pair(1, 2)] {
        let mut buf = Vec::new();
        encode_value(&mut buf, &e).unwrap();
        assert_eq!(svrkit_codec::from_slice::<E>(&buf).unwrap(), e);
    }
}

/// A byte slice that serializes as msgpack bin (what `serde_bytes` does).
struct Bytes<'a>(&'a [u8]);

impl serde::Serialize for Bytes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}
