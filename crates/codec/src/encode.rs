//! Encoders: msgpack-rpc messages appended to a caller-owned buffer.
//!
//! Headers (array, type tag, msgid, method) are written by hand in their most compact
//! form; params and results go through this crate's serde serializer (structs as arrays,
//! byte-compatible with rmp-serde). On error the buffer
//! is truncated back to where it was, so a batch being built is never left half-written.

use serde::Serialize;

use crate::raw::type_name;
use crate::ser::Serializer;
use crate::{EncodeError, Message, RawValue, RpcError};

// Each header below goes out as one fixed-size `extend_from_slice` (one capacity check,
// a constant-size copy the compiler inlines) rather than a push followed by an extend.

/// Appends a msgpack unsigned integer in its most compact form.
#[inline]
pub(crate) fn write_uint(buf: &mut Vec<u8>, v: u64) {
    if v < 0x80 {
        buf.push(v as u8);
    } else if v <= 0xff {
        buf.extend_from_slice(&[0xcc, v as u8]);
    } else if v <= 0xffff {
        let [a, b] = (v as u16).to_be_bytes();
        buf.extend_from_slice(&[0xcd, a, b]);
    } else if v <= 0xffff_ffff {
        let [a, b, c, d] = (v as u32).to_be_bytes();
        buf.extend_from_slice(&[0xce, a, b, c, d]);
    } else {
        let [a, b, c, d, e, f, g, h] = v.to_be_bytes();
        buf.extend_from_slice(&[0xcf, a, b, c, d, e, f, g, h]);
    }
}

/// Appends a msgpack integer in its most compact form (non-negative values as unsigned).
#[inline]
pub(crate) fn write_int(buf: &mut Vec<u8>, v: i64) {
    if v >= 0 {
        write_uint(buf, v as u64);
    } else if v >= -32 {
        buf.push(v as i8 as u8);
    } else if v >= i64::from(i8::MIN) {
        buf.extend_from_slice(&[0xd0, v as i8 as u8]);
    } else if v >= i64::from(i16::MIN) {
        let [a, b] = (v as i16).to_be_bytes();
        buf.extend_from_slice(&[0xd1, a, b]);
    } else if v >= i64::from(i32::MIN) {
        let [a, b, c, d] = (v as i32).to_be_bytes();
        buf.extend_from_slice(&[0xd2, a, b, c, d]);
    } else {
        let [a, b, c, d, e, f, g, h] = v.to_be_bytes();
        buf.extend_from_slice(&[0xd3, a, b, c, d, e, f, g, h]);
    }
}

/// Appends a msgpack str (fixstr, str8, str16 or str32). `s` must be shorter than 4 GiB.
#[inline]
pub(crate) fn write_str(buf: &mut Vec<u8>, s: &str) {
    let n = s.len();
    if n < 32 {
        buf.push(0xa0 | n as u8);
    } else if n <= 0xff {
        buf.extend_from_slice(&[0xd9, n as u8]);
    } else if n <= 0xffff {
        let [a, b] = (n as u16).to_be_bytes();
        buf.extend_from_slice(&[0xda, a, b]);
    } else {
        let [a, b, c, d] = (n as u32).to_be_bytes();
        buf.extend_from_slice(&[0xdb, a, b, c, d]);
    }
    buf.extend_from_slice(s.as_bytes());
}

/// Cuts `s` to at most 4 GiB - 1 bytes (at a char boundary): msgpack's str limit.
fn clamp_str(s: &str) -> &str {
    const MAX: usize = u32::MAX as usize;
    if s.len() <= MAX {
        return s;
    }
    let mut cut = MAX;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

fn check_method(method: &str) -> Result<(), EncodeError> {
    if u32::try_from(method.len()).is_err() {
        return Err(EncodeError::TooLong { what: "method name", len: method.len() });
    }
    Ok(())
}

/// Serializes one value (structs as arrays) onto the end of `buf`.
#[inline]
fn serialize<T: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) -> Result<(), EncodeError> {
    value.serialize(&mut Serializer::new(buf)).map_err(crate::ser::Error::into_inner)
}

/// Serializes params, which must come out as an array.
fn serialize_params<P: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    params: &P,
) -> Result<(), EncodeError> {
    let at = buf.len();
    serialize(buf, params)?;
    match buf.get(at) {
        Some(0x90..=0x9f | 0xdc | 0xdd) => Ok(()),
        Some(&m) => Err(EncodeError::ParamsNotArray { found: type_name(m).to_string() }),
        None => Err(EncodeError::ParamsNotArray { found: "nothing".to_string() }),
    }
}

/// Runs `f` and truncates `buf` back to its length before the call if `f` fails.
#[inline]
fn atomically(
    buf: &mut Vec<u8>,
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = buf.len();
    let result = f(buf);
    if result.is_err() {
        buf.truncate(start);
    }
    result
}

/// Appends one msgpack value (structs as arrays): e.g. params encoded ahead of time for
/// [`encode_request_raw`].
pub fn encode_value<T: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    value: &T,
) -> Result<(), EncodeError> {
    atomically(buf, |buf| serialize(buf, value))
}

/// Appends a request `[0, msgid, method, params]`. `params` must serialize to an array
/// (a tuple, a `Vec`, a slice, or `[req]` for a dialect-000 call).
pub fn encode_request<P: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    msgid: u32,
    method: &str,
    params: &P,
) -> Result<(), EncodeError> {
    check_method(method)?;
    atomically(buf, |buf| {
        buf.extend_from_slice(&[0x94, 0x00]);
        write_uint(buf, u64::from(msgid));
        write_str(buf, method);
        serialize_params(buf, params)
    })
}

/// Appends a notification `[2, method, params]`. `params` must serialize to an array.
pub fn encode_notification<P: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    method: &str,
    params: &P,
) -> Result<(), EncodeError> {
    check_method(method)?;
    atomically(buf, |buf| {
        buf.extend_from_slice(&[0x93, 0x02]);
        write_str(buf, method);
        serialize_params(buf, params)
    })
}

/// Appends a successful response `[1, msgid, nil, result]`.
pub fn encode_response<R: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    msgid: u32,
    result: &R,
) -> Result<(), EncodeError> {
    atomically(buf, |buf| {
        buf.extend_from_slice(&[0x94, 0x01]);
        write_uint(buf, u64::from(msgid));
        buf.push(0xc0);
        serialize(buf, result)
    })
}

/// Appends an error response `[1, msgid, [code, "message"], nil]`.
pub fn encode_error(buf: &mut Vec<u8>, msgid: u32, error: &RpcError) {
    buf.extend_from_slice(&[0x94, 0x01]);
    write_uint(buf, u64::from(msgid));
    buf.push(0x92);
    write_int(buf, error.code);
    write_str(buf, clamp_str(&error.message));
    buf.push(0xc0);
}

/// Appends a request whose params are already encoded. A method name longer than 4 GiB is
/// cut (msgpack cannot express it).
pub fn encode_request_raw(buf: &mut Vec<u8>, msgid: u32, method: &str, params: RawValue<'_>) {
    buf.extend_from_slice(&[0x94, 0x00]);
    write_uint(buf, u64::from(msgid));
    write_str(buf, clamp_str(method));
    buf.extend_from_slice(params.as_bytes());
}

/// Appends a notification whose params are already encoded.
pub fn encode_notification_raw(buf: &mut Vec<u8>, method: &str, params: RawValue<'_>) {
    buf.extend_from_slice(&[0x93, 0x02]);
    write_str(buf, clamp_str(method));
    buf.extend_from_slice(params.as_bytes());
}

/// Appends a successful response whose result is already encoded.
pub fn encode_response_raw(buf: &mut Vec<u8>, msgid: u32, result: RawValue<'_>) {
    encode_reply_raw(buf, msgid, None, result);
}

/// Appends a response with an already-encoded error object (any shape, forwarded as is)
/// and result: what a proxy needs to relay a reply under another msgid.
pub fn encode_reply_raw(
    buf: &mut Vec<u8>,
    msgid: u32,
    error: Option<RawValue<'_>>,
    result: RawValue<'_>,
) {
    buf.extend_from_slice(&[0x94, 0x01]);
    write_uint(buf, u64::from(msgid));
    buf.extend_from_slice(error.unwrap_or(RawValue::NIL).as_bytes());
    buf.extend_from_slice(result.as_bytes());
}

impl Message<'_> {
    /// Appends the message again (e.g. to relay it): the same bytes a compact encoder would
    /// write, with the method name always as str.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        match *self {
            Message::Request { msgid, method, params } => {
                encode_request_raw(buf, msgid, method, params)
            }
            Message::Response { msgid, error, result } => {
                encode_reply_raw(buf, msgid, error, result)
            }
            Message::Notification { method, params } => {
                encode_notification_raw(buf, method, params)
            }
        }
    }
}
