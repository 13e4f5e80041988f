//! `RpcError`: the error object of a response, `[code, "message"]` on the wire.

use std::fmt;

use crate::raw::Limited;
use crate::RawValue;

/// Well-known error codes (JSON-RPC numbering).
pub mod codes {
    /// The message is not a valid request (bad shape, params not an array...).
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method.
    pub const NO_SUCH_METHOD: i64 = -32601;
    /// The params do not match the method's signature.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The server failed (handler panicked, result did not encode...).
    pub const INTERNAL: i64 = -32603;
    /// The default code of an error returned by a handler, and of incoming errors that
    /// carry no code.
    pub const APPLICATION: i64 = 1;
}

/// The most text [`RpcError::from_raw`] renders from an unrecognised error object.
const MAX_RENDERED: usize = 1024;

/// An error object: `[code, "message"]` on the wire (Neovim's shape; pynvim reads
/// `err[1]`, Python peers print it readably).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RpcError {
    /// Error code; see [`codes`].
    pub code: i64,
    /// Human-readable message.
    pub message: String,
}

impl RpcError {
    /// An error with this code and message.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError { code, message: message.into() }
    }

    /// Reads an incoming error object of any shape:
    /// - `[code, message, ...]` (svrkit, Neovim): as is;
    /// - `[name, message]` with a str name (some Python peers): [`codes::APPLICATION`] and
    ///   `"name: message"`;
    /// - a str (msgpack-rpc-python, mprpc): [`codes::APPLICATION`] and the text;
    /// - an int: that code, message `"error <code>"`;
    /// - a map: code from `code`/`errno`, message from `message`/`msg`/`error`/`what`/`reason`;
    /// - anything else: [`codes::APPLICATION`] and the value rendered readably (cut at 1 KiB).
    pub fn from_raw(raw: RawValue<'_>) -> RpcError {
        if let Some(s) = raw.as_str() {
            return RpcError::new(codes::APPLICATION, s);
        }
        if let Some(code) = raw.as_int() {
            let code = clamp(code);
            return RpcError::new(code, format!("error {code}"));
        }
        if let Some(mut items) = raw.array_items() {
            let first = items.next();
            let second = items.next();
            match (
                first.as_ref().and_then(RawValue::as_int),
                first.as_ref().and_then(RawValue::as_str),
                second,
            ) {
                (Some(code), _, Some(msg)) => return RpcError::new(clamp(code), text(msg)),
                (Some(code), _, None) => {
                    let code = clamp(code);
                    return RpcError::new(code, format!("error {code}"));
                }
                (None, Some(name), Some(msg)) => {
                    return RpcError::new(codes::APPLICATION, format!("{name}: {}", text(msg)))
                }
                (None, Some(msg), None) => return RpcError::new(codes::APPLICATION, msg),
                _ => {}
            }
        }
        if let Some(mut items) = raw.map_items() {
            let mut code = None;
            let mut message = None;
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                match k.as_str() {
                    Some("code" | "errno" | "error_code") => code = code.or(v.as_int().map(clamp)),
                    Some("message" | "msg" | "error" | "what" | "reason" | "description") => {
                        message = message.or(Some(text(v)))
                    }
                    _ => {}
                }
            }
            if let Some(message) = message {
                return RpcError::new(code.unwrap_or(codes::APPLICATION), message);
            }
            if let Some(code) = code {
                return RpcError::new(code, render(raw));
            }
        }
        RpcError::new(codes::APPLICATION, render(raw))
    }
}

fn clamp(code: i128) -> i64 {
    i64::try_from(code).unwrap_or(if code < 0 { i64::MIN } else { i64::MAX })
}

/// A message slot's text: the string itself, or the value rendered.
fn text(v: RawValue<'_>) -> String {
    v.as_str().map(str::to_string).unwrap_or_else(|| render(v))
}

/// Renders any value readably, at most [`MAX_RENDERED`] bytes.
fn render(v: RawValue<'_>) -> String {
    use fmt::Write;
    let mut out = String::new();
    if write!(Limited { out: &mut out, left: MAX_RENDERED }, "{v}").is_err() {
        out.push('…');
    }
    out
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl std::error::Error for RpcError {}
