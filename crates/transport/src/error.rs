//! [`TransportError`]: the one error type of this crate, with the address or peer it is about.

use std::fmt;
use std::io;

use crate::Addr;

/// What went wrong in the transport, naming the address or peer involved.
#[derive(Debug)]
#[non_exhaustive]
pub enum TransportError {
    /// An address or network string did not parse.
    Parse {
        /// The input.
        input: String,
        /// What was expected.
        reason: String,
    },
    /// Binding a listener failed.
    Bind {
        /// Address asked for.
        addr: Addr,
        /// The OS error.
        source: io::Error,
    },
    /// Connecting failed.
    Connect {
        /// Address dialed.
        addr: Addr,
        /// The OS error.
        source: io::Error,
    },
    /// Reading from or writing to a connection failed.
    Io {
        /// The peer.
        peer: Addr,
        /// The OS error.
        source: io::Error,
    },
    /// The peer sent bytes that are not a msgpack stream (or a frame over `max_frame`).
    Frame {
        /// The peer.
        peer: Addr,
        /// What the decoder found.
        source: svrkit_codec::FrameError,
    },
    /// The peer closed the connection in the middle of a message.
    TruncatedFrame {
        /// The peer.
        peer: Addr,
        /// Bytes of the unfinished message.
        buffered: usize,
    },
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Parse { input, reason } => write!(f, "bad address {input:?}: {reason}"),
            TransportError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            TransportError::Connect { addr, source } => {
                write!(f, "cannot connect to {addr}: {source}")
            }
            TransportError::Io { peer, source } => write!(f, "connection {peer}: {source}"),
            TransportError::Frame { peer, source } => {
                write!(f, "connection {peer}: bad stream: {source}")
            }
            TransportError::TruncatedFrame { peer, buffered } => write!(
                f,
                "connection {peer}: closed in the middle of a message ({buffered} bytes buffered)"
            ),
        }
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TransportError::Bind { source, .. }
            | TransportError::Connect { source, .. }
            | TransportError::Io { source, .. } => Some(source),
            TransportError::Frame { source, .. } => Some(source),
            _ => None,
        }
    }
}
