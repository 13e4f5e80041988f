//! Encode then decode: every message kind, typed params and results.

use svrkit_codec::{
    encode_error, encode_notification, encode_request, encode_response, Decoder, Message, RpcError,
};

use crate::common::{sample, Echomsg};

#[test]
fn request_response_notification_round_trip() {
    let req = sample();
    let mut buf = Vec::new();
    encode_request(&mut buf, 0xFFFF_FFFF, "echo1", &[&req]).unwrap();
    encode_response(&mut buf, 42, &req).unwrap();
    encode_notification(&mut buf, "echo4", &(&req,)).unwrap();
    encode_error(&mut buf, 9, &RpcError::new(-32601, "no such method: nope"));

    let mut decoder = Decoder::default();
    let mut at = 0;
    let mut next = || {
        let d = decoder.decode(&buf[at..]).unwrap().expect("a complete message");
        at += d.len;
        d.message.unwrap()
    };
    let Message::Request { msgid, method, params } = next() else { panic!("not a request") };
    assert_eq!((msgid, method), (0xFFFF_FFFF, "echo1"));
    let (got,): (Echomsg,) = params.deserialize().unwrap();
    assert_eq!(got, req);

    let Message::Response { msgid, error: None, result } = next() else { panic!("not a response") };
    assert_eq!(msgid, 42);
    assert_eq!(result.deserialize::<Echomsg>().unwrap(), req);

    let Message::Notification { method, params } = next() else { panic!("not a notification") };
    assert_eq!(method, "echo4");
    assert_eq!(params.deserialize::<(Echomsg,)>().unwrap().0, req);

    let Message::Response { msgid, error: Some(error), result } = next() else {
        panic!("no error")
    };
    assert_eq!(msgid, 9);
    assert!(result.is_nil());
    assert_eq!(RpcError::from_raw(error), RpcError::new(-32601, "no such method: nope"));
    assert_eq!(at, buf.len());
}

#[test]
fn byte_by_byte_delivery_yields_the_same_messages() {
    let mut buf = Vec::new();
    for id in 0..20u32 {
        encode_request(&mut buf, id * 1000, "echo1", &[sample()]).unwrap();
        encode_response(&mut buf, id, &sample()).unwrap();
    }
    let whole = crate::common::decode_all(&buf);
    assert_eq!(whole.0.len(), 40);
    assert_eq!(whole.1, Ok(0));
    let chunks: Vec<&[u8]> = buf.chunks(1).collect();
    let trickled = crate::common::decode_chunked(&chunks, svrkit_codec::Limits::default());
    assert_eq!(trickled, whole);
}

#[test]
fn a_result_kept_as_raw_value_buf_outlives_its_buffer() {
    let req = sample();
    let mut buf = Vec::new();
    encode_response(&mut buf, 7, &req).unwrap();
    let mut decoder = Decoder::default();
    let kept = {
        let d = decoder.decode(&buf).unwrap().expect("a complete message");
        let Ok(svrkit_codec::Message::Response { result, .. }) = d.message else {
            panic!("not a response")
        };
        let kept = result.to_buf();
        assert_eq!(kept.as_bytes(), result.as_bytes());
        assert_eq!(kept.as_raw(), result);
        kept
    };
    buf.clear(); // the read buffer is reused; the kept value is not affected
    buf.extend_from_slice(&[0xc1; 64]);
    assert_eq!(kept.as_raw().deserialize::<Echomsg>().unwrap(), req);
    assert_eq!(svrkit_codec::RawValueBuf::from(kept.as_raw()), kept);
    let bytes = kept.clone().into_bytes();
    assert_eq!(svrkit_codec::RawValue::from_slice(&bytes).unwrap(), kept.as_raw());
}
