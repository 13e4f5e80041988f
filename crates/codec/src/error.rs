//! The codec's errors, one type per layer: broken stream, bad message, bad value, failed encode.

use std::fmt;

/// The byte stream is broken: the connection cannot be kept in sync and must be closed.
///
/// Offsets count bytes from the start of the stream the [`Decoder`](crate::Decoder) has
/// seen (every byte it handed out as part of a message, plus the offset in the current
/// buffer).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The reserved msgpack marker byte 0xc1 (never valid msgpack).
    Malformed {
        /// Stream offset of the offending byte.
        offset: u64,
        /// The byte found.
        byte: u8,
    },
    /// A header claims more bytes than `max_frame` allows for the whole frame. Detected
    /// from the header alone, before the payload is buffered.
    TooLarge {
        /// Stream offset of the header that made the frame too large.
        offset: u64,
        /// Stream offset where the frame starts.
        frame: u64,
        /// The least size (bytes) the frame would have, counting from its start.
        size: u64,
        /// The configured limit.
        max_frame: usize,
    },
    /// Arrays and maps nest deeper than `max_depth`.
    TooDeep {
        /// Stream offset of the container header one level too deep.
        offset: u64,
        /// The configured limit.
        max_depth: usize,
    },
}

impl FrameError {
    /// Stream offset of the byte that broke the stream.
    pub fn offset(&self) -> u64 {
        match *self {
            FrameError::Malformed { offset, .. }
            | FrameError::TooLarge { offset, .. }
            | FrameError::TooDeep { offset, .. } => offset,
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Malformed { offset, byte } => {
                write!(f, "malformed msgpack at stream byte {offset}: reserved marker 0x{byte:02x}")
            }
            FrameError::TooLarge { offset, frame, size, max_frame } => write!(
                f,
                "frame starting at stream byte {frame} is too large: the header at byte {offset} \
                 makes it at least {size} bytes, more than max_frame ({max_frame})"
            ),
            FrameError::TooDeep { offset, max_depth } => write!(
                f,
                "msgpack nested too deep at stream byte {offset}: more than max_depth \
                 ({max_depth}) levels of arrays/maps"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

/// The three msgpack-rpc message kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// `[0, msgid, method, params]`
    Request,
    /// `[1, msgid, error, result]`
    Response,
    /// `[2, method, params]`
    Notification,
}

impl MessageKind {
    /// The number of elements the message array must have.
    pub const fn arity(self) -> u32 {
        match self {
            MessageKind::Request | MessageKind::Response => 4,
            MessageKind::Notification => 3,
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MessageKind::Request => "request",
            MessageKind::Response => "response",
            MessageKind::Notification => "notification",
        })
    }
}

/// A complete, well-formed msgpack value that is not a valid msgpack-rpc message.
///
/// The stream stays in sync: a server answers it (when [`msgid`](Self::msgid) is known) and
/// keeps the connection. Offsets are stream offsets (see [`FrameError`]) of the offending
/// element.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageError {
    /// The frame is not an array.
    NotAnArray {
        /// Stream offset of the frame.
        offset: u64,
        /// What it is instead (`"map"`, `"int 7"`...).
        found: String,
    },
    /// The first element is not the type tag 0, 1 or 2.
    BadType {
        /// Stream offset of the element (or of the frame when the array is empty).
        offset: u64,
        /// What was found.
        found: String,
    },
    /// The msgid is not an integer in `0..=0xFFFFFFFF`.
    BadMsgid {
        /// The kind announced by the type tag.
        kind: MessageKind,
        /// Stream offset of the element.
        offset: u64,
        /// What was found.
        found: String,
    },
    /// The array has the wrong number of elements for its kind.
    Arity {
        /// The kind announced by the type tag.
        kind: MessageKind,
        /// The msgid, when it could be read.
        msgid: Option<u32>,
        /// Stream offset of the frame.
        offset: u64,
        /// Elements found.
        found: u32,
    },
    /// The method name is neither a str nor a bin holding valid UTF-8.
    BadMethod {
        /// The kind announced by the type tag.
        kind: MessageKind,
        /// The msgid (requests).
        msgid: Option<u32>,
        /// Stream offset of the element.
        offset: u64,
        /// What was found.
        found: String,
    },
    /// The params are not an array.
    ParamsNotArray {
        /// The kind announced by the type tag.
        kind: MessageKind,
        /// The msgid (requests).
        msgid: Option<u32>,
        /// The method called.
        method: String,
        /// Stream offset of the element.
        offset: u64,
        /// What was found.
        found: String,
    },
}

impl MessageError {
    /// The msgid of the offending request (or response), when it could be read, so a server
    /// can answer with an error response.
    pub fn msgid(&self) -> Option<u32> {
        match self {
            MessageError::Arity { msgid, .. }
            | MessageError::BadMethod { msgid, .. }
            | MessageError::ParamsNotArray { msgid, .. } => *msgid,
            MessageError::NotAnArray { .. }
            | MessageError::BadType { .. }
            | MessageError::BadMsgid { .. } => None,
        }
    }

    /// The message kind announced by the type tag, when it was valid.
    pub fn kind(&self) -> Option<MessageKind> {
        match self {
            MessageError::BadMsgid { kind, .. }
            | MessageError::Arity { kind, .. }
            | MessageError::BadMethod { kind, .. }
            | MessageError::ParamsNotArray { kind, .. } => Some(*kind),
            MessageError::NotAnArray { .. } | MessageError::BadType { .. } => None,
        }
    }

    /// Stream offset of the offending element.
    pub fn offset(&self) -> u64 {
        match self {
            MessageError::NotAnArray { offset, .. }
            | MessageError::BadType { offset, .. }
            | MessageError::BadMsgid { offset, .. }
            | MessageError::Arity { offset, .. }
            | MessageError::BadMethod { offset, .. }
            | MessageError::ParamsNotArray { offset, .. } => *offset,
        }
    }
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::NotAnArray { offset, found } => write!(
                f,
                "invalid msgpack-rpc message at stream byte {offset}: expected an array, found {found}"
            ),
            MessageError::BadType { offset, found } => write!(
                f,
                "invalid msgpack-rpc message at stream byte {offset}: type tag must be 0 \
                 (request), 1 (response) or 2 (notification), found {found}"
            ),
            MessageError::BadMsgid { kind, offset, found } => write!(
                f,
                "invalid msgpack-rpc {kind} at stream byte {offset}: msgid must be an integer \
                 in 0..=4294967295, found {found}"
            ),
            MessageError::Arity { kind, msgid, offset, found } => {
                write!(
                    f,
                    "invalid msgpack-rpc {kind} at stream byte {offset}: expected {} elements, \
                     found {found}",
                    kind.arity()
                )?;
                if let Some(id) = msgid {
                    write!(f, " (msgid {id})")?;
                }
                Ok(())
            }
            MessageError::BadMethod { kind, msgid, offset, found } => {
                write!(
                    f,
                    "invalid msgpack-rpc {kind} at stream byte {offset}: method name must be a \
                     UTF-8 str (or bin), found {found}"
                )?;
                if let Some(id) = msgid {
                    write!(f, " (msgid {id})")?;
                }
                Ok(())
            }
            MessageError::ParamsNotArray { kind, msgid, method, offset, found } => {
                write!(
                    f,
                    "invalid msgpack-rpc {kind} at stream byte {offset}: params of \"{method}\" \
                     must be an array, found {found}"
                )?;
                if let Some(id) = msgid {
                    write!(f, " (msgid {id})")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for MessageError {}

/// A msgpack value does not deserialize into the requested type (or is not one complete,
/// well-formed msgpack value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueError {
    // Boxed: keeps `Result<T, ValueError>` small on the deserializer's hot path.
    inner: Box<ValueErrorInner>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ValueErrorInner {
    offset: Option<usize>,
    message: String,
}

impl ValueError {
    #[cold]
    pub(crate) fn new(offset: Option<usize>, message: String) -> Self {
        ValueError { inner: Box::new(ValueErrorInner { offset, message }) }
    }

    /// Offset, within the value's bytes, of the msgpack item that failed (when known).
    pub fn offset(&self) -> Option<usize> {
        self.inner.offset
    }

    /// What went wrong, without the offset.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    pub(crate) fn at(mut self, offset: usize) -> Self {
        self.inner.offset.get_or_insert(offset);
        self
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.offset {
            Some(offset) => write!(f, "{} (at byte {offset} of the value)", self.inner.message),
            None => f.write_str(&self.inner.message),
        }
    }
}

impl std::error::Error for ValueError {}

impl serde::de::Error for ValueError {
    #[cold]
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ValueError::new(None, msg.to_string())
    }
}

/// Encoding failed; the output buffer was truncated back to its previous length.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The value's `Serialize` implementation failed (or asked for something msgpack cannot
    /// express).
    Serialize {
        /// The serializer's message.
        message: String,
    },
    /// Request and notification params must serialize to a msgpack array.
    ParamsNotArray {
        /// What they serialized to.
        found: String,
    },
    /// A string longer than msgpack allows (4 GiB).
    TooLong {
        /// What was too long.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::Serialize { message } => write!(f, "cannot encode value: {message}"),
            EncodeError::ParamsNotArray { found } => {
                write!(f, "params must serialize to a msgpack array, not {found}")
            }
            EncodeError::TooLong { what, len } => {
                write!(f, "{what} is {len} bytes, more than msgpack's 4 GiB limit")
            }
        }
    }
}

impl std::error::Error for EncodeError {}
