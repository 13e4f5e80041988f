//! The crate's one error type: every variant says which ZooKeeper and which path.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// What went wrong in registration or discovery, with the ZooKeeper address and znode path.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A configured value is not usable (hosts list, root path, app name, timeout).
    Config {
        /// Which setting (`zk`, `path`, `app`, ...).
        what: &'static str,
        /// The value as given.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// No ZooKeeper session could be opened before the deadline.
    Unreachable {
        /// The connect string that was tried (`host:port[,host:port...]`).
        hosts: String,
        /// How many rounds over the whole host list were made.
        attempts: u32,
        /// How long it kept trying.
        waited: Duration,
        /// The last failure of the ZooKeeper client.
        source: zookeeper_client::Error,
    },
    /// A ZooKeeper operation failed.
    Zk {
        /// The operation (`create`, `delete`, `list`, ...).
        op: &'static str,
        /// The connect string of the session.
        hosts: String,
        /// The znode path the operation was about.
        path: String,
        /// The failure reported by the ZooKeeper client.
        source: zookeeper_client::Error,
    },
    /// A provider node holds data that is not the documented JSON metadata.
    Metadata {
        /// The znode path.
        path: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// No address to advertise was found for a server listening on a wildcard address.
    NoAdvertiseAddress {
        /// The address the server listens on.
        listen: SocketAddr,
        /// The `ip_prefix` filter, if any.
        ip_prefix: Option<String>,
        /// The interface addresses that were considered.
        candidates: Vec<std::net::IpAddr>,
    },
    /// The ZooKeeper session did not report `Closed` in time after deregistration.
    CloseTimeout {
        /// The connect string of the session.
        hosts: String,
        /// The session id (hex in ZooKeeper's logs).
        session_id: i64,
        /// How long it waited.
        waited: Duration,
    },
}

impl Error {
    pub(crate) fn zk(
        op: &'static str,
        hosts: &str,
        path: &str,
        source: zookeeper_client::Error,
    ) -> Error {
        Error::Zk { op, hosts: hosts.to_owned(), path: path.to_owned(), source }
    }

    pub(crate) fn config(what: &'static str, value: &str, reason: &'static str) -> Error {
        Error::Config { what, value: value.to_owned(), reason }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config { what, value, reason } => {
                write!(f, "invalid discovery setting `{what}` = {value:?}: {reason}")
            }
            Error::Unreachable { hosts, attempts, waited, source } => {
                write!(
                    f,
                    "ZooKeeper unreachable at {hosts}: no session after {attempts} round(s) over \
                     the host list in {:.1} s (last error: {source}",
                    waited.as_secs_f64()
                )?;
                match source {
                    zookeeper_client::Error::NoHosts => {
                        write!(f, ": every host refused or closed the connection)")
                    }
                    zookeeper_client::Error::Timeout => write!(f, ": no answer in time)"),
                    _ => write!(f, ")"),
                }
            }
            Error::Zk { op, hosts, path, source } => {
                write!(f, "ZooKeeper {op} of {path} on {hosts} failed: {source}")
            }
            Error::Metadata { path, source } => {
                write!(f, "provider node {path} does not hold valid JSON metadata: {source}")
            }
            Error::NoAdvertiseAddress { listen, ip_prefix, candidates } => {
                write!(f, "server listens on {listen} and no address to advertise was found")?;
                match ip_prefix {
                    Some(prefix) => write!(f, " with ip_prefix {prefix:?}")?,
                    None => write!(f, " (no non-loopback interface address)")?,
                }
                write!(f, "; interface addresses: {candidates:?}; set `advertise` explicitly")
            }
            Error::CloseTimeout { hosts, session_id, waited } => write!(
                f,
                "ZooKeeper session {session_id:#x} on {hosts} not closed after {} ms",
                waited.as_millis()
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Unreachable { source, .. } | Error::Zk { source, .. } => Some(source),
            Error::Metadata { source, .. } => Some(source),
            _ => None,
        }
    }
}
