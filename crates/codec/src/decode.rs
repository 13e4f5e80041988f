//! The streaming decoder: frames found by header scanning, then read as msgpack-rpc messages.

use crate::raw::read_int;
use crate::scan::{head_len, skip, FrameScanner};
use crate::{FrameError, Limits, MessageError, MessageKind, RawValue};

/// One msgpack-rpc message, borrowing from the decoder's input buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// `[0, msgid, method, params]`; `params` is an array.
    Request {
        /// Request id, echoed by the response.
        msgid: u32,
        /// Method name (sent as str, or as bin by some peers).
        method: &'a str,
        /// The arguments: a msgpack array.
        params: RawValue<'a>,
    },
    /// `[1, msgid, error, result]`.
    Response {
        /// The id of the request answered.
        msgid: u32,
        /// The error object; `None` when nil. See [`RpcError::from_raw`](crate::RpcError::from_raw).
        error: Option<RawValue<'a>>,
        /// The result (nil when `error` is set, by convention).
        result: RawValue<'a>,
    },
    /// `[2, method, params]`; `params` is an array.
    Notification {
        /// Method name.
        method: &'a str,
        /// The arguments: a msgpack array.
        params: RawValue<'a>,
    },
}

impl Message<'_> {
    /// Its kind.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Request { .. } => MessageKind::Request,
            Message::Response { .. } => MessageKind::Response,
            Message::Notification { .. } => MessageKind::Notification,
        }
    }

    /// The msgid of a request or response.
    pub fn msgid(&self) -> Option<u32> {
        match *self {
            Message::Request { msgid, .. } | Message::Response { msgid, .. } => Some(msgid),
            Message::Notification { .. } => None,
        }
    }
}

/// One step of the streaming decoder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// A complete frame was found; `Err` = a well-formed msgpack value that is not a valid
    /// msgpack-rpc message (bad type tag, method not str/bin-utf8, params not an array, wrong
    /// arity...). The stream stays in sync: the server answers it and keeps the connection.
    pub message: Result<Message<'a>, MessageError>,
    /// Bytes consumed from the front of the buffer.
    pub len: usize,
}

/// Streaming msgpack-rpc decoder: finds message boundaries in a byte stream.
///
/// Feed it the connection's unconsumed bytes; it returns one message at a time with its
/// length, or `Ok(None)` when the frame at the front is not complete yet. The scan is
/// resumable: after `Ok(None)`, call again with **the same bytes plus whatever arrived**
/// (what a read loop that keeps unconsumed bytes at the front of its buffer does) and the
/// scan continues where it stopped instead of starting over. To decode unrelated bytes
/// after `Ok(None)`, call [`reset`](Self::reset) first.
///
/// After a [`FrameError`] the stream is lost; every later call returns the same error until
/// [`reset`](Self::reset).
#[derive(Clone, Debug)]
pub struct Decoder {
    limits: Limits,
    scanner: FrameScanner,
    /// Stream offset of the front of the next buffer (bytes handed out so far).
    consumed: u64,
    failed: Option<FrameError>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(Limits::default())
    }
}

impl Decoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Decoder { limits, scanner: FrameScanner::default(), consumed: 0, failed: None }
    }

    /// The limits it enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Bytes handed out in messages so far: the stream offset of the next buffer's front.
    pub fn stream_offset(&self) -> u64 {
        self.consumed
    }

    /// Forgets any partly scanned frame and any error (the stream offset is kept).
    pub fn reset(&mut self) {
        self.scanner.reset();
        self.failed = None;
    }

    /// Decodes the message at the front of `buf`.
    ///
    /// `Ok(None)`: need more bytes. `Err`: the stream is broken (malformed msgpack, frame
    /// larger than max_frame, nesting deeper than max_depth): close the connection.
    /// Works for any split of the stream; scanning finds boundaries without building
    /// values, and allocates nothing once its small container stack has grown to the
    /// stream's nesting depth.
    pub fn decode<'a>(&mut self, buf: &'a [u8]) -> Result<Option<Decoded<'a>>, FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let len = match self.scanner.scan(buf, &self.limits, self.consumed) {
            Ok(Some(len)) => len,
            Ok(None) => return Ok(None),
            Err(e) => {
                self.failed = Some(e.clone());
                return Err(e);
            }
        };
        let Some(frame) = buf.get(..len) else { return Ok(None) };
        let base = self.consumed;
        self.scanner.reset();
        self.consumed += len as u64;
        Ok(Some(Decoded { message: parse(frame, base), len }))
    }
}

/// Reads a complete, checked frame as a message. `base`: its stream offset.
fn parse(frame: &[u8], base: u64) -> Result<Message<'_>, MessageError> {
    if let Some(message) = parse_common(frame) {
        return Ok(message);
    }
    let at = |pos: usize| base + pos as u64;
    let whole = RawValue::new_unchecked(frame);
    let n = match whole.array_len() {
        Some(n) => n,
        None => return Err(MessageError::NotAnArray { offset: base, found: whole.describe() }),
    };
    let mut r = Elements { frame, pos: frame.first().map_or(1, |&m| head_len(m)) };
    let Some((tag_pos, tag)) = r.next() else {
        return Err(MessageError::BadType { offset: base, found: "an empty array".to_string() });
    };
    let kind = match read_int(tag.as_bytes()) {
        Some(0) => MessageKind::Request,
        Some(1) => MessageKind::Response,
        Some(2) => MessageKind::Notification,
        _ => return Err(MessageError::BadType { offset: at(tag_pos), found: tag.describe() }),
    };
    let arity = |msgid| MessageError::Arity { kind, msgid, offset: base, found: n };
    let mut msgid = None;
    if kind != MessageKind::Notification {
        let Some((id_pos, id)) = r.next() else { return Err(arity(None)) };
        match read_int(id.as_bytes()).and_then(|i| u32::try_from(i).ok()) {
            Some(id) => msgid = Some(id),
            None => {
                return Err(MessageError::BadMsgid {
                    kind,
                    offset: at(id_pos),
                    found: id.describe(),
                })
            }
        }
    }
    if n != kind.arity() {
        return Err(arity(msgid));
    }
    // n == arity, so the remaining elements are all there: the frame was fully checked.
    let mut next = || r.next().ok_or_else(|| arity(msgid));
    if kind == MessageKind::Response {
        let (_, error) = next()?;
        let (_, result) = r.last();
        let error = (!error.is_nil()).then_some(error);
        return Ok(Message::Response { msgid: msgid.unwrap_or_default(), error, result });
    }
    let (method_pos, method) = next()?;
    let method = match method.as_bytes() {
        // Fast path: fixstr, what nearly every peer sends.
        [m @ 0xa0..=0xbf, text @ ..] if text.len() == usize::from(m & 0x1f) => {
            crate::utf8::from_utf8(text).map_err(|_| MessageError::BadMethod {
                kind,
                msgid,
                offset: at(method_pos),
                found: format!("{} (not valid UTF-8)", method.describe()),
            })?
        }
        // str or bin (pynvim sends method names as bin), holding UTF-8.
        [0xa0..=0xbf | 0xd9..=0xdb | 0xc4..=0xc6, ..] => method.as_str().ok_or_else(|| {
            let found = format!("{} (not valid UTF-8)", method.describe());
            MessageError::BadMethod { kind, msgid, offset: at(method_pos), found }
        })?,
        _ => {
            return Err(MessageError::BadMethod {
                kind,
                msgid,
                offset: at(method_pos),
                found: method.describe(),
            })
        }
    };
    let (params_pos, params) = r.last();
    if params.array_len().is_none() {
        return Err(MessageError::ParamsNotArray {
            kind,
            msgid,
            method: method.to_string(),
            offset: at(params_pos),
            found: params.describe(),
        });
    }
    Ok(match msgid {
        Some(msgid) => Message::Request { msgid, method, params },
        None => Message::Notification { method, params },
    })
}

/// The shapes nearly every message has, read straight off the bytes: a request with a
/// fixstr ASCII/UTF-8 method and array params, or a response with a nil error. `None` for
/// anything else (including every invalid message), which [`parse`] then reads in full.
///
/// `frame` is one complete, checked msgpack value, so after the first three elements of a
/// 4-element array, the rest of the frame is exactly the fourth.
#[inline]
fn parse_common(frame: &[u8]) -> Option<Message<'_>> {
    let [0x94, tag @ 0..=1, rest @ ..] = frame else { return None };
    let (msgid, rest) = match *rest {
        [m @ 0x00..=0x7f, ref r @ ..] => (u32::from(m), r),
        [0xcc, a, ref r @ ..] => (u32::from(a), r),
        [0xcd, a, b, ref r @ ..] => (u32::from(u16::from_be_bytes([a, b])), r),
        [0xce, a, b, c, d, ref r @ ..] => (u32::from_be_bytes([a, b, c, d]), r),
        _ => return None,
    };
    if *tag == 1 {
        let [0xc0, ref result @ ..] = *rest else { return None };
        return Some(Message::Response {
            msgid,
            error: None,
            result: RawValue::new_unchecked(result),
        });
    }
    let [m @ 0xa0..=0xbf, ref r @ ..] = *rest else { return None };
    let n = usize::from(m & 0x1f);
    let (text, params) = (r.get(..n)?, r.get(n..)?);
    let method = crate::utf8::from_utf8(text).ok()?;
    let params = RawValue::new_unchecked(params);
    params.array_len()?;
    Some(Message::Request { msgid, method, params })
}

/// Walks the elements of a checked frame's top array.
struct Elements<'a> {
    frame: &'a [u8],
    pos: usize,
}

impl<'a> Elements<'a> {
    /// The last element (the caller has checked the arity) and its offset in the frame.
    #[inline]
    fn last(&self) -> (usize, RawValue<'a>) {
        // The frame is exactly the array, so its last element runs to the frame's end.
        (self.pos, RawValue::new_unchecked(self.frame.get(self.pos..).unwrap_or_default()))
    }

    /// The next element and its offset in the frame.
    #[inline]
    fn next(&mut self) -> Option<(usize, RawValue<'a>)> {
        let start = self.pos;
        let end = match *self.frame.get(start)? {
            // Fast paths: fixint (the type tag, small msgids) and fixstr (method names).
            0x00..=0x7f | 0xe0..=0xff => start + 1,
            m @ 0xa0..=0xbf => start + 1 + usize::from(m & 0x1f),
            _ => skip(self.frame, start)?,
        };
        self.pos = end;
        Some((start, RawValue::new_unchecked(self.frame.get(start..end)?)))
    }
}
