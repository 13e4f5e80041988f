//! Fuzz target: typed params decoding of the seed-000 `echomsg` shape from arbitrary bytes.
//!
//! The bytes are read both as a whole frame (through the decoder) and as a bare value.
//! Must never panic; whatever deserializes must re-encode and deserialize to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use svrkit_codec::{encode_value, Decoder, Message, RawValue};
use svrkit_fuzz::Echomsg;

fn check(raw: RawValue<'_>) {
    if let Ok((msg,)) = raw.deserialize::<(Echomsg,)>() {
        round_trip(&msg);
    }
    if let Ok(msg) = raw.deserialize::<Echomsg>() {
        round_trip(&msg);
    }
    let _ = raw.deserialize::<(i64, String, Vec<bool>)>();
    let _ = raw.to_string();
}

fn round_trip(msg: &Echomsg) {
    let mut buf = Vec::new();
    encode_value(&mut buf, msg).expect("a decoded proto re-encodes");
    let back: Echomsg = svrkit_codec::from_slice(&buf).expect("re-encoded proto decodes");
    assert_eq!(&back, msg);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(d)) = Decoder::default().decode(data) {
        match d.message {
            Ok(Message::Request { params, .. } | Message::Notification { params, .. }) => {
                check(params)
            }
            Ok(Message::Response { result, .. }) => check(result),
            Err(_) => {}
        }
    }
    if let Ok(raw) = RawValue::from_slice(data) {
        check(raw);
    }
});
