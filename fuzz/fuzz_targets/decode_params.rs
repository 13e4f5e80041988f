//! Fuzz target: typed params decoding of the seed-000 `echomsg` shape from arbitrary bytes.
//!
//! The bytes are read both as a whole frame (through the decoder) and as a bare value.
//! Must never panic; whatever deserializes must re-encode and deserialize to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use svrkit_codec::{encode_value, Decoder, Message, RawValue};
use svrkit_fuzz::{Echomsg, EchomsgView};

fn check(raw: RawValue<'_>) {
    if let Ok((msg,)) = raw.deserialize::<(Echomsg,)>() {
        round_trip(&msg);
    }
    if let Ok(msg) = raw.deserialize::<Echomsg>() {
        round_trip(&msg);
    }
    let owned = raw.deserialize::<Echomsg>().ok();
    if let Ok(view) = raw.deserialize::<EchomsgView<'_>>() {
        views_agree(&view, owned.as_ref());
    }
    let _ = raw.deserialize::<(i64, String, Vec<bool>)>();
    let _ = raw.to_string();
}

/// A view decodes (where its elements do) to what the owned proto holds, and re-encodes
/// to bytes that read back as the same view.
fn views_agree(view: &EchomsgView<'_>, owned: Option<&Echomsg>) {
    let ints = view.vec_int.to_vec();
    let dict = view.dict_string.collect::<std::collections::BTreeMap<i64, &str>>();
    if let (Some(owned), Ok(ints), Ok(dict)) = (owned, &ints, &dict) {
        assert_eq!(view.my_string, owned.my_string);
        assert_eq!(ints, &owned.vec_int);
        let dict: std::collections::BTreeMap<i64, String> =
            dict.iter().map(|(k, v)| (*k, v.to_string())).collect();
        assert_eq!(dict, owned.dict_string);
    }
    let mut buf = Vec::new();
    encode_value(&mut buf, view).expect("a view re-encodes");
    let back: EchomsgView<'_> = svrkit_codec::from_slice(&buf).expect("a re-encoded view decodes");
    assert_eq!(&back, view);
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
