//! Shared fixtures: the seed-000 `echomsg` proto and a whole-stream decoding helper.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use svrkit_codec::{Decoder, FrameError, Limits, Message, MessageError};

/// seeds/000's `echomsg`, with the attribute set the crate docs recommend for protos.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Echomsg {
    pub(crate) my_string: String,
    pub(crate) vec_int: Vec<i64>,
    pub(crate) dict_string: BTreeMap<i64, String>,
}

/// The benchmark's echomsg: 64-byte string, 8 ints, 4-entry dict.
pub(crate) fn sample() -> Echomsg {
    Echomsg {
        my_string: "x".repeat(64),
        vec_int: (1..=8).map(|i| i * 1000).collect(),
        dict_string: (0..4).map(|i| (i, format!("value-{i}"))).collect(),
    }
}

/// An owned copy of a decoded message, to compare across decoding runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Owned {
    Request { msgid: u32, method: String, params: Vec<u8> },
    Response { msgid: u32, error: Option<Vec<u8>>, result: Vec<u8> },
    Notification { method: String, params: Vec<u8> },
    Invalid(MessageError),
}

impl Owned {
    pub(crate) fn of(m: &Result<Message<'_>, MessageError>) -> Owned {
        match m {
            Ok(Message::Request { msgid, method, params }) => Owned::Request {
                msgid: *msgid,
                method: method.to_string(),
                params: params.as_bytes().to_vec(),
            },
            Ok(Message::Response { msgid, error, result }) => Owned::Response {
                msgid: *msgid,
                error: error.map(|e| e.as_bytes().to_vec()),
                result: result.as_bytes().to_vec(),
            },
            Ok(Message::Notification { method, params }) => Owned::Notification {
                method: method.to_string(),
                params: params.as_bytes().to_vec(),
            },
            Err(e) => Owned::Invalid(e.clone()),
        }
    }
}

/// Decodes a stream delivered in `chunks` the way a read loop does (unconsumed bytes kept
/// at the front of the buffer). Returns the messages, their lengths, and how the stream ended.
pub(crate) fn decode_chunked(
    chunks: &[&[u8]],
    limits: Limits,
) -> (Vec<(Owned, usize)>, Result<usize, FrameError>) {
    let mut decoder = Decoder::new(limits);
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        let mut start = 0;
        loop {
            match decoder.decode(&buf[start..]) {
                Ok(Some(d)) => {
                    assert!(d.len > 0 && d.len <= buf.len() - start);
                    out.push((Owned::of(&d.message), d.len));
                    start += d.len;
                }
                Ok(None) => break,
                Err(e) => return (out, Err(e)),
            }
        }
        buf.drain(..start);
    }
    (out, Ok(buf.len()))
}

/// Decodes a whole buffer at once.
pub(crate) fn decode_all(bytes: &[u8]) -> (Vec<(Owned, usize)>, Result<usize, FrameError>) {
    decode_chunked(&[bytes], Limits::default())
}
