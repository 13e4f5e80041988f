//! `ClientError`: every way a client call can fail, with the method, peer and msgid.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::config::ConfigError;

/// Why a client call, notification or set-up failed.
///
/// A call always ends with a result or one of these, never a hang: each attempt is bounded
/// by the call timeout and the number of attempts by the configured retries.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// No response within the call timeout. The request may or may not have been executed.
    Timeout {
        /// Method called.
        method: String,
        /// Server the request went to.
        peer: String,
        /// The request's msgid on that connection.
        msgid: u32,
        /// The timeout that expired.
        after: Duration,
    },
    /// Could not connect to the server (refused, unreachable, connect timed out).
    /// The request was not sent.
    Connect {
        /// Server that could not be reached.
        peer: String,
        /// The socket error.
        source: io::Error,
    },
    /// The connection broke (reset, closed, undecodable stream) while the call was in
    /// flight. The request may or may not have been executed.
    ConnectionLost {
        /// Server whose connection broke.
        peer: String,
        /// What broke it.
        reason: String,
    },
    /// The server answered with an error object, shown as code + message whatever shape
    /// it had on the wire (`[code, "message"]`, a string, a map...). Never retried.
    Remote {
        /// Method called.
        method: String,
        /// Server that answered.
        peer: String,
        /// Error code (`svrkit_codec::codes` for the well-known ones).
        code: i64,
        /// Error message.
        message: String,
    },
    /// Routing found no server to send to: every candidate is ejected, the node list is
    /// empty, or a sharding client was given no shard id.
    NoNodeAvailable {
        /// Which route failed and why.
        detail: String,
    },
    /// The server's result did not deserialize into the requested type.
    Decode {
        /// Method called.
        method: String,
        /// Server that answered.
        peer: String,
        /// The deserialization error.
        source: svrkit_codec::ValueError,
    },
    /// The params could not be encoded; nothing was sent.
    Encode {
        /// Method called.
        method: String,
        /// The encoding error.
        source: svrkit_codec::EncodeError,
    },
    /// The client configuration is invalid.
    Config(ConfigError),
    /// A [`Client::on_local_reactor`](super::Client::on_local_reactor) call or notification
    /// was polled outside `svrkit::reactor::block_on`, or on another thread than the one
    /// whose reactor holds the server's connection. Nothing about the connection changed;
    /// the request was not sent if this came before it was queued, else its reply is
    /// dropped on arrival. Never retried.
    WrongThread {
        /// Server whose connection the call would use.
        peer: String,
    },
}

impl ClientError {
    /// The error code and message when the server answered with an error.
    pub fn remote(&self) -> Option<(i64, &str)> {
        match self {
            ClientError::Remote { code, message, .. } => Some((*code, message)),
            _ => None,
        }
    }

    /// True when the call failed because of the node (connect failure, timeout, lost
    /// connection), so another node may serve it.
    pub(crate) fn is_node_failure(&self) -> bool {
        matches!(
            self,
            ClientError::Timeout { .. }
                | ClientError::Connect { .. }
                | ClientError::ConnectionLost { .. }
        )
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Timeout { method, peer, msgid, after } => {
                write!(f, "call {method} (msgid {msgid}) to {peer} timed out after {after:?}")
            }
            ClientError::Connect { peer, source } => {
                write!(f, "cannot connect to {peer}: {source}")
            }
            ClientError::ConnectionLost { peer, reason } => {
                write!(f, "connection to {peer} lost: {reason}")
            }
            ClientError::Remote { method, peer, code, message } => {
                write!(f, "{peer} answered {method} with error {code}: {message}")
            }
            ClientError::NoNodeAvailable { detail } => write!(f, "no server available: {detail}"),
            ClientError::Decode { method, peer, source } => {
                write!(f, "result of {method} from {peer} does not decode: {source}")
            }
            ClientError::Encode { method, source } => {
                write!(f, "params of {method} do not encode: {source}")
            }
            ClientError::Config(e) => write!(f, "client configuration: {e}"),
            ClientError::WrongThread { peer } => write!(
                f,
                "call to {peer} polled outside svrkit::reactor::block_on on the thread that \
                 owns the connection (a Client::on_local_reactor client is driven only there)"
            ),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Connect { source, .. } => Some(source),
            ClientError::Decode { source, .. } => Some(source),
            ClientError::Encode { source, .. } => Some(source),
            ClientError::Config(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ConfigError> for ClientError {
    fn from(e: ConfigError) -> ClientError {
        ClientError::Config(e)
    }
}
