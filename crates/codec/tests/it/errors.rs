//! One test per error kind: what is reported, at which offset, and what happens next.

use svrkit_codec::{
    encode_notification, encode_request, encode_value, Decoder, EncodeError, FrameError, Limits,
    Message, MessageError, MessageKind, RawValue,
};

/// Decodes a single frame that must be a well-formed but invalid message.
fn message_error(bytes: &[u8]) -> MessageError {
    let mut d = Decoder::default();
    let got = d.decode(bytes).unwrap().expect("a complete frame");
    assert_eq!(got.len, bytes.len());
    got.message.unwrap_err()
}

fn frame_error(bytes: &[u8], limits: Limits) -> FrameError {
    Decoder::new(limits).decode(bytes).unwrap_err()
}

#[test]
fn reserved_marker_is_malformed_at_its_offset() {
    let err = frame_error(b"\x94\x00\xc1", Limits::default());
    assert_eq!(err, FrameError::Malformed { offset: 2, byte: 0xc1 });
    assert_eq!(err.to_string(), "malformed msgpack at stream byte 2: reserved marker 0xc1");
}

#[test]
fn offsets_count_from_the_start_of_the_stream() {
    let mut wire = Vec::new();
    encode_request(&mut wire, 1, "m", &[1]).unwrap();
    let first = wire.len();
    wire.extend_from_slice(b"\x92\x01\xc1");
    let mut d = Decoder::default();
    let got = d.decode(&wire).unwrap().unwrap();
    assert_eq!(got.len, first);
    let err = d.decode(&wire[first..]).unwrap_err();
    assert_eq!(err.offset(), first as u64 + 2);
    // The stream is lost: the decoder keeps saying so.
    assert_eq!(d.decode(&wire[first..]).unwrap_err(), err);
}

#[test]
fn oversized_string_is_rejected_from_its_header_alone() {
    let limits = Limits { max_frame: 100, ..Limits::default() };
    // [0, 1, str32 claiming 1000 bytes — nothing of the payload has arrived.
    let err = frame_error(b"\x94\x00\x01\xdb\x00\x00\x03\xe8", limits);
    assert_eq!(err, FrameError::TooLarge { offset: 3, frame: 0, size: 1008, max_frame: 100 });
    assert!(err.to_string().contains("more than max_frame (100)"), "{err}");
    // bin32 and ext32 too.
    assert!(matches!(frame_error(b"\xc6\x00\x01\x00\x00", limits), FrameError::TooLarge { .. }));
    assert!(matches!(
        frame_error(b"\xc9\x00\x01\x00\x00\x01", limits),
        FrameError::TooLarge { .. }
    ));
}

#[test]
fn claimed_element_counts_are_size_claims() {
    // array32 / map32 claiming 4 billion elements: rejected at once, nothing allocated.
    let err = frame_error(b"\xdd\xff\xff\xff\xff", Limits::default());
    assert!(matches!(err, FrameError::TooLarge { offset: 0, size: 4_294_967_300, .. }), "{err}");
    let err = frame_error(b"\x91\xdf\xff\xff\xff\xff", Limits::default());
    assert!(matches!(err, FrameError::TooLarge { offset: 1, .. }), "{err}");
}

#[test]
fn frame_exactly_max_frame_is_accepted() {
    let mut wire = Vec::new();
    encode_request(&mut wire, 1, "m", &["x".repeat(50)]).unwrap();
    let limits = Limits { max_frame: wire.len(), ..Limits::default() };
    assert!(Decoder::new(limits).decode(&wire).unwrap().is_some());
    let limits = Limits { max_frame: wire.len() - 1, ..Limits::default() };
    assert!(matches!(frame_error(&wire, limits), FrameError::TooLarge { .. }));
}

#[test]
fn nesting_deeper_than_max_depth_is_rejected() {
    let limits = Limits { max_depth: 8, ..Limits::default() };
    let ok = [vec![0x91; 7], vec![0x90]].concat(); // 8 levels
    assert!(Decoder::new(limits).decode(&ok).unwrap().is_some());
    let deep = [vec![0x91; 8], vec![0x90]].concat(); // 9 levels
    let err = frame_error(&deep, limits);
    assert_eq!(err, FrameError::TooDeep { offset: 8, max_depth: 8 });
    assert!(err.to_string().contains("max_depth (8)"), "{err}");
    // A deep claim is caught before the rest of the frame arrives.
    let err = frame_error(&deep[..9], limits);
    assert_eq!(err.offset(), 8);
}

#[test]
fn frame_that_is_not_an_array() {
    let err = message_error(b"\x81\x01\x02");
    assert!(matches!(err, MessageError::NotAnArray { offset: 0, .. }), "{err:?}");
    assert_eq!(err.msgid(), None);
    assert!(err.to_string().contains("expected an array, found map {1: 2}"), "{err}");
}

#[test]
fn bad_type_tag() {
    let err = message_error(b"\x94\x07\x01\xa1m\x90");
    assert!(matches!(err, MessageError::BadType { offset: 1, .. }), "{err:?}");
    assert!(err.to_string().contains("found int 7"), "{err}");
    let err = message_error(b"\x90");
    assert!(err.to_string().contains("found an empty array"), "{err}");
    let err = message_error(b"\x91\xa1x");
    assert!(matches!(err, MessageError::BadType { .. }), "{err:?}");
}

#[test]
fn bad_msgid() {
    for (bytes, found) in [
        (&b"\x94\x00\xff\xa1m\x90"[..], "int -1"),
        (b"\x94\x00\xcf\x00\x00\x00\x01\x00\x00\x00\x00\xa1m\x90", "int 4294967296"),
        (b"\x94\x00\xa1x\xa1m\x90", "str \"x\""),
        (b"\x94\x01\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00\xc0\xc0", "float 1.0"),
    ] {
        let err = message_error(bytes);
        assert!(matches!(err, MessageError::BadMsgid { offset: 2, .. }), "{err:?}");
        assert_eq!(err.msgid(), None);
        assert!(err.to_string().contains(found), "{err} should mention {found}");
    }
}

#[test]
fn wrong_arity_keeps_the_msgid() {
    let err = message_error(b"\x93\x00\x09\xa1m");
    assert_eq!(
        err,
        MessageError::Arity { kind: MessageKind::Request, msgid: Some(9), offset: 0, found: 3 }
    );
    assert_eq!(err.msgid(), Some(9));
    assert!(err.to_string().contains("expected 4 elements, found 3"), "{err}");
    let err = message_error(b"\x92\x02\xa1m");
    assert_eq!(err.kind(), Some(MessageKind::Notification));
    assert_eq!(err.msgid(), None);
    let err = message_error(b"\x91\x01");
    assert!(matches!(err, MessageError::Arity { msgid: None, found: 1, .. }), "{err:?}");
}

#[test]
fn method_that_is_not_text() {
    let err = message_error(b"\x94\x00\x0b\x05\x90");
    assert!(matches!(err, MessageError::BadMethod { msgid: Some(11), offset: 3, .. }), "{err:?}");
    assert!(err.to_string().contains("found int 5"), "{err}");
    let err = message_error(b"\x94\x00\x0c\xc4\x01\xff\x90");
    assert_eq!(err.msgid(), Some(12));
    assert!(err.to_string().contains("not valid UTF-8"), "{err}");
}

#[test]
fn params_that_are_not_an_array_keep_msgid_and_method() {
    let err = message_error(b"\x94\x00\x07\xa4echo\x80");
    assert_eq!(err.msgid(), Some(7));
    let MessageError::ParamsNotArray { method, offset, .. } = &err else { panic!("{err:?}") };
    assert_eq!((method.as_str(), *offset), ("echo", 8));
    assert!(err.to_string().contains("params of \"echo\" must be an array, found map"), "{err}");
}

#[test]
fn stream_stays_in_sync_after_a_message_error() {
    let mut wire = b"\x94\x00\x07\xa4echo\x80".to_vec();
    encode_notification(&mut wire, "next", &[1]).unwrap();
    let mut d = Decoder::default();
    let first = d.decode(&wire).unwrap().unwrap();
    assert!(first.message.is_err());
    let second = d.decode(&wire[first.len..]).unwrap().unwrap();
    assert!(matches!(second.message, Ok(Message::Notification { method: "next", .. })));
}

#[test]
fn value_errors_name_the_offset() {
    let raw = RawValue::from_slice(b"\x93\x01\x02\xa1x").unwrap();
    let err = raw.deserialize::<(i64, i64, i64)>().unwrap_err();
    assert_eq!(err.offset(), Some(3), "{err}");
    assert!(err.to_string().contains("at byte 3 of the value"), "{err}");
    let err = raw.deserialize::<(i64, i64)>().unwrap_err();
    assert!(err.to_string().contains("longer than expected"), "{err}");
    let err = RawValue::from_slice(b"\x92\x01").unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    let err = RawValue::from_slice(b"\x01\x02").unwrap_err();
    assert_eq!(err.offset(), Some(1));
    assert!(err.to_string().contains("trailing"), "{err}");
    let err = RawValue::from_slice(b"\x91\xc1").unwrap_err();
    assert_eq!(err.offset(), Some(1));
}

#[test]
fn encode_errors_leave_the_buffer_as_it_was() {
    let mut buf = b"keep".to_vec();
    let err = encode_request(&mut buf, 1, "m", &5).unwrap_err();
    assert_eq!(err, EncodeError::ParamsNotArray { found: "int".into() });
    assert_eq!(buf, b"keep");

    struct Fails;
    impl serde::Serialize for Fails {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("refused"))
        }
    }
    let err = encode_request(&mut buf, 1, "m", &(1, "two", Fails)).unwrap_err();
    assert_eq!(err.to_string(), "cannot encode value: refused");
    assert_eq!(buf, b"keep");
    assert!(encode_value(&mut buf, &u128::MAX).is_err());
    assert_eq!(buf, b"keep");
}

#[test]
fn header_crossing_max_frame_reports_the_same_error_whether_split_or_not() {
    // Regression (found by proptest): a str32 header straddling max_frame was reported with
    // its claimed size when whole but with the header's end when split.
    let limits = Limits { max_frame: 4, ..Limits::default() };
    let wire = b"\x92\x01\xdb\x00\x00\x01\x00";
    let expected = FrameError::TooLarge { offset: 2, frame: 0, size: 7, max_frame: 4 };
    assert_eq!(frame_error(wire, limits), expected);
    let mut d = Decoder::new(limits);
    assert_eq!(d.decode(&wire[..4]), Err(expected.clone()));
    let (_, end) = crate::common::decode_chunked(&[&wire[..3], &wire[3..]], limits);
    assert_eq!(end, Err(expected));
}

#[test]
fn deserializing_deeper_than_the_recursion_cap_is_an_error_not_a_crash() {
    // A decoder configured for very deep values still cannot make deserialization overflow
    // the stack: past 256 levels it is a ValueError.
    let limits = Limits { max_depth: 10_000, ..Limits::default() };
    let deep = [vec![0x91; 5_000], vec![0xc0]].concat();
    let raw = RawValue::from_slice_with(&deep, &limits).unwrap();
    // IgnoredAny skips by scanning headers (no recursion) ...
    assert!(raw.deserialize::<serde::de::IgnoredAny>().is_ok());
    // ... a visitor that recurses stops at the cap.
    let Err(err) = raw.deserialize::<NestedAny>() else { panic!("5000 levels deserialized") };
    assert!(err.to_string().contains("deeper than 256 levels"), "{err}");
    assert_eq!(err.offset(), Some(256));
}

/// Any value, visited recursively (like a dynamic msgpack value type would).
struct NestedAny;

impl<'de> serde::Deserialize<'de> for NestedAny {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = NestedAny;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("anything")
            }
            fn visit_unit<E>(self) -> Result<NestedAny, E> {
                Ok(NestedAny)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<NestedAny, A::Error> {
                while a.next_element::<NestedAny>()?.is_some() {}
                Ok(NestedAny)
            }
        }
        d.deserialize_any(V)
    }
}
