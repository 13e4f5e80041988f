//! `RpcError::from_raw`: every incoming error shape read as code + message.

use svrkit_codec::{codes, encode_value, RawValue, RpcError};

fn check(value: impl serde::Serialize, code: i64, message: &str) {
    let mut buf = Vec::new();
    encode_value(&mut buf, &value).unwrap();
    let got = RpcError::from_raw(RawValue::from_slice(&buf).unwrap());
    assert_eq!(got, RpcError::new(code, message));
}

#[test]
fn code_and_message_array() {
    check((-32601, "no such method: x"), -32601, "no such method: x");
    check((7, "boom", "extra"), 7, "boom");
    check((7,), 7, "error 7");
    check((7, [1, 2]), 7, "[1, 2]");
}

#[test]
fn python_shapes() {
    check("plain string", codes::APPLICATION, "plain string");
    check(("ValueError", "bad value"), codes::APPLICATION, "ValueError: bad value");
    check(("only message",), codes::APPLICATION, "only message");
    check(42, 42, "error 42");
}

#[test]
fn maps() {
    use std::collections::BTreeMap;
    check(BTreeMap::from([("code", "3")]), codes::APPLICATION, "{\"code\": \"3\"}");
    let mut buf = Vec::new();
    // {"code": 3, "message": "m"}
    encode_value(&mut buf, &[("code", 3)]).unwrap();
    buf.clear();
    buf.extend_from_slice(b"\x82\xa4code\x03\xa7message\xa1m");
    assert_eq!(RpcError::from_raw(RawValue::from_slice(&buf).unwrap()), RpcError::new(3, "m"));
    buf.clear();
    buf.extend_from_slice(b"\x81\xa3msg\xa2hi");
    assert_eq!(
        RpcError::from_raw(RawValue::from_slice(&buf).unwrap()),
        RpcError::new(codes::APPLICATION, "hi")
    );
}

#[test]
fn anything_else_is_rendered_and_bounded() {
    check(true, codes::APPLICATION, "true");
    check(vec![vec![1u8]], codes::APPLICATION, "[[1]]");
    let huge = vec![vec![1u8; 100]; 100];
    let mut buf = Vec::new();
    encode_value(&mut buf, &huge).unwrap();
    let got = RpcError::from_raw(RawValue::from_slice(&buf).unwrap());
    assert_eq!(got.code, codes::APPLICATION);
    assert!(got.message.len() <= 1024 + '…'.len_utf8() && got.message.ends_with('…'));
}
