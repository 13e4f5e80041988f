//! Helpers shared by the fuzz targets: the seed-000 proto and owned copies of decoded messages.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use svrkit_codec::{Decoder, FrameError, Limits, Message, MessageError};

/// seeds/000's `echomsg`, declared the way generated code declares protos.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Echomsg {
    /// A string field.
    pub my_string: String,
    /// A list of ints.
    pub vec_int: Vec<i64>,
    /// An int -> string dict.
    pub dict_string: BTreeMap<i64, String>,
}

/// The same proto as zero-allocation views over the buffer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EchomsgView<'a> {
    /// A string field, borrowed.
    #[serde(borrow)]
    pub my_string: &'a str,
    /// A list of ints, decoded on demand.
    #[serde(borrow)]
    pub vec_int: svrkit_codec::ArrayRef<'a, i64>,
    /// An int -> string dict, decoded on demand.
    #[serde(borrow)]
    pub dict_string: svrkit_codec::MapRef<'a, i64, &'a str>,
}

/// An owned copy of one decoding step, comparable across runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A valid message: msgid (requests, responses), method (requests, notifications) and
    /// the bytes of its values (params; or error then result).
    Message { msgid: Option<u32>, method: Option<String>, values: Vec<u8> },
    /// A well-formed frame that is not a valid message.
    Invalid(MessageError),
}

impl Step {
    fn of(m: &Result<Message<'_>, MessageError>) -> Step {
        match *m {
            Ok(Message::Request { msgid, method, params }) => Step::Message {
                msgid: Some(msgid),
                method: Some(method.to_string()),
                values: params.as_bytes().to_vec(),
            },
            Ok(Message::Notification { method, params }) => Step::Message {
                msgid: None,
                method: Some(method.to_string()),
                values: params.as_bytes().to_vec(),
            },
            Ok(Message::Response { msgid, error, result }) => {
                let mut values = Vec::new();
                if let Some(e) = error {
                    // What a client does with every error it gets.
                    let _ = svrkit_codec::RpcError::from_raw(e).code;
                    values.extend_from_slice(e.as_bytes());
                }
                values.extend_from_slice(result.as_bytes());
                Step::Message { msgid: Some(msgid), method: None, values }
            }
            Err(ref e) => Step::Invalid(e.clone()),
        }
    }
}

/// Decodes `chunks` as one stream arriving piece by piece, the way a read loop does (the
/// unconsumed bytes stay at the front of the buffer). Returns every step with its length,
/// and how the stream ended (bytes left over, or the error that broke it).
pub fn decode_chunks(
    chunks: &[&[u8]],
    limits: Limits,
) -> (Vec<(Step, usize)>, Result<usize, FrameError>) {
    let mut decoder = Decoder::new(limits);
    let mut buf: Vec<u8> = Vec::new();
    let mut steps = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        let mut start = 0;
        loop {
            match decoder.decode(&buf[start..]) {
                Ok(Some(d)) => {
                    assert!(d.len > 0 && d.len <= buf.len() - start, "bad length {}", d.len);
                    steps.push((Step::of(&d.message), d.len));
                    start += d.len;
                }
                Ok(None) => break,
                Err(e) => return (steps, Err(e)),
            }
        }
        buf.drain(..start);
    }
    (steps, Ok(buf.len()))
}
