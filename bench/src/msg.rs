//! The seeds/000 `echomsg` every workload echoes, and the wire sizes derived from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// seeds/000's `echomsg`: a 64-byte string, 8 ints, a 4-entry `int:string` dict. Encoded
/// by svrkit as a msgpack array of its fields (about 150 bytes with the envelope).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Echomsg {
    pub(crate) my_string: String,
    pub(crate) vec_int: Vec<i64>,
    pub(crate) dict_string: BTreeMap<i64, String>,
}

/// The zero-allocation view of [`Echomsg`] (svrkit-codec's views: the string borrowed,
/// the containers kept as bytes and decoded when iterated, echoed back with a copy).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct EchomsgView<'a> {
    #[serde(borrow)]
    pub(crate) my_string: &'a str,
    #[serde(borrow)]
    pub(crate) vec_int: svrkit_codec::ArrayRef<'a, i64>,
    #[serde(borrow)]
    pub(crate) dict_string: svrkit_codec::MapRef<'a, i64, &'a str>,
}

/// The message every request carries (the same as the codec crate's bench).
pub(crate) fn sample() -> Echomsg {
    Echomsg {
        my_string: "svrkit echo payload: 64 bytes of text to echo back and forth....".into(),
        vec_int: vec![1, -2, 300, -40_000, 5_000_000, -600_000_000, 7_000_000_000, i64::MIN],
        dict_string: (1..=4).map(|k| (k, format!("value {k}"))).collect(),
    }
}

/// The echo method every msgpack-rpc implementation serves.
pub(crate) const ECHO: &str = "echo1";
/// The one-way method of the notification workload.
pub(crate) const NOTE: &str = "note";
/// Server-side notification counter: returns `(count, server_nanos)`.
pub(crate) const STATS: &str = "stats";

/// The svrkit request and response for `msg` (msgid 1), the byte sizes the raw TCP
/// baseline copies.
pub(crate) fn wire_frames(msg: &Echomsg) -> (Vec<u8>, Vec<u8>) {
    let mut req = Vec::new();
    let mut resp = Vec::new();
    svrkit_codec::encode_request(&mut req, 1, ECHO, &(msg,)).expect("encode request");
    svrkit_codec::encode_response(&mut resp, 1, msg).expect("encode response");
    (req, resp)
}

/// The raw TCP + rmp-serde request: the msgpack-rpc envelope serialized by rmp-serde in
/// one go (msgid fixed: raw frames are answered in order).
pub(crate) type RmpRequest = (u8, u32, String, (Echomsg,));
/// The raw TCP + rmp-serde response.
pub(crate) type RmpResponse = (u8, u32, (), Echomsg);

/// rmp-serde encoding of the request envelope.
pub(crate) fn rmp_request(msg: &Echomsg, out: &mut Vec<u8>) {
    rmp_serde::encode::write(out, &(0u8, 1u32, ECHO, (msg,))).expect("encode");
}

/// rmp-serde encoding of the response envelope.
pub(crate) fn rmp_response(msg: &Echomsg, out: &mut Vec<u8>) {
    rmp_serde::encode::write(out, &(1u8, 1u32, (), msg)).expect("encode");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rmp_frames_have_the_svrkit_sizes_and_round_trip() {
        let msg = sample();
        let (req, resp) = wire_frames(&msg);
        let (mut rreq, mut rresp) = (Vec::new(), Vec::new());
        rmp_request(&msg, &mut rreq);
        rmp_response(&msg, &mut rresp);
        assert_eq!(rreq, req, "rmp-serde request differs from svrkit's");
        assert_eq!(rresp, resp, "rmp-serde response differs from svrkit's");
        let back: RmpRequest = rmp_serde::from_slice(&rreq).unwrap();
        assert_eq!(back.3 .0, msg);
        let back: RmpResponse = rmp_serde::from_slice(&rresp).unwrap();
        assert_eq!(back.3, msg);
        assert!((120..200).contains(&req.len()), "request is {} bytes", req.len());
    }
}
