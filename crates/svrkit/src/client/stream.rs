//! Where a client connects (`Endpoint`, which unlike the transport's `Addr` may name a
//! host to resolve) and connecting to it with the transport's sockets.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::Timer;
use futures_lite::{AsyncWrite, FutureExt};
use svrkit_transport::{Addr, Stream, TransportError};

/// The address of one server: a TCP host and port, or a Unix socket path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// `host:port`; `host` is an IP address or a name resolved at connect time.
    Tcp {
        /// IP address or host name.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// A Unix-domain stream socket.
    Unix(PathBuf),
}

impl Endpoint {
    /// A TCP endpoint.
    pub fn tcp(host: impl Into<String>, port: u16) -> Endpoint {
        Endpoint::Tcp { host: host.into(), port }
    }

    /// A Unix-socket endpoint.
    pub fn unix(path: impl Into<PathBuf>) -> Endpoint {
        Endpoint::Unix(path.into())
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(addr: SocketAddr) -> Endpoint {
        Endpoint::Tcp { host: addr.ip().to_string(), port: addr.port() }
    }
}

/// `ip:port` (IPv6 in brackets) or `unix:PATH`. This is also the name a node has on the
/// hash ring, so `127.0.0.1:3000` hashes as the seed's Python client hashed it.
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Endpoint::Tcp { host, port } => write!(f, "{host}:{port}"),
            Endpoint::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl From<Addr> for Endpoint {
    fn from(addr: Addr) -> Endpoint {
        match addr {
            Addr::Tcp(sa) => Endpoint::from(sa),
            Addr::Unix(path) => Endpoint::Unix(path),
        }
    }
}

/// Resolves `endpoint` and connects within `timeout` (TCP_NODELAY on), trying each
/// resolved address in turn.
pub(crate) async fn connect(endpoint: &Endpoint, timeout: Duration) -> io::Result<Stream> {
    let connect = async {
        let addrs: Vec<Addr> = match endpoint {
            Endpoint::Tcp { host, port } => async_net::resolve((host.as_str(), *port))
                .await?
                .into_iter()
                .map(Addr::Tcp)
                .collect(),
            Endpoint::Unix(path) => vec![Addr::Unix(path.clone())],
        };
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the name resolves to no address");
        for addr in &addrs {
            match svrkit_transport::connect(addr).await {
                Ok(stream) => return Ok(stream),
                Err(TransportError::Connect { source, .. }) => last = source,
                Err(other) => last = io::Error::other(other.to_string()),
            }
        }
        Err(last)
    };
    let expire = async {
        Timer::after(timeout).await;
        Err(io::Error::new(io::ErrorKind::TimedOut, format!("connect timed out after {timeout:?}")))
    };
    connect.or(expire).await
}

/// One non-blocking write, registering `cx` for writability when it would block.
pub(crate) fn poll_write(
    stream: &Stream,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    Pin::new(&mut &*stream).poll_write(cx, buf)
}
