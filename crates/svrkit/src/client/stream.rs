//! Where a client connects (`Endpoint`, which unlike the transport's `Addr` may name a
//! host to resolve), connecting to it with the transport's sockets, and `Sock`: a
//! connection's socket on async-io's reactor or on the calling thread's svrkit reactor.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::task::Waker;

use async_io::Timer;
use futures_lite::{AsyncWrite, FutureExt};
use svrkit_transport::{reactor, Addr, LocalStream, Stream, TransportError};

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
    let expire = async {
        Timer::after(timeout).await;
        Err(timed_out(timeout))
    };
    connect_any(endpoint).or(expire).await
}

/// [`connect`], then moves the socket to the calling thread's svrkit reactor; the connect
/// timeout is a reactor timer. Must run inside `reactor::block_on` (the caller checks).
pub(crate) async fn connect_local(
    endpoint: &Endpoint,
    timeout: Duration,
) -> io::Result<LocalStream> {
    let expire = async {
        reactor::Timer::after(timeout).await;
        Err(timed_out(timeout))
    };
    let stream = connect_any(endpoint).or(expire).await?;
    LocalStream::new(stream.into_std()?)
}

fn timed_out(timeout: Duration) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("connect timed out after {timeout:?}"))
}

async fn connect_any(endpoint: &Endpoint) -> io::Result<Stream> {
    let addrs: Vec<Addr> = match endpoint {
        Endpoint::Tcp { host, port } => {
            async_net::resolve((host.as_str(), *port)).await?.into_iter().map(Addr::Tcp).collect()
        }
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
}

/// What a connection's futures say when polled where its socket cannot be waited on.
pub(crate) const WRONG_THREAD: &str = "polled outside svrkit::reactor::block_on on the thread \
     that opened the connection (Client::on_local_reactor)";

/// A connection's socket: on async-io's reactor (any thread, any executor), or registered
/// with the svrkit reactor of the thread that opened it (waited on only there, inside
/// `reactor::block_on`; writes without waiting work anywhere).
#[derive(Clone, Debug)]
pub(crate) enum Sock {
    Async(Stream),
    Local(LocalStream),
}

impl Sock {
    /// Whether the socket can be waited on here (always, on async-io).
    pub(crate) fn is_home(&self) -> bool {
        match self {
            Sock::Async(_) => true,
            Sock::Local(s) => s.is_home(),
        }
    }

    pub(crate) fn is_local(&self) -> bool {
        matches!(self, Sock::Local(_))
    }

    pub(crate) fn peer_addr(&self) -> io::Result<Addr> {
        match self {
            Sock::Async(s) => s.peer_addr(),
            Sock::Local(s) => s.peer_addr(),
        }
    }

    /// One non-blocking write, registering `cx` for writability when it would block (away
    /// from a local socket's thread: `Pending` without registering; the caller retries).
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            Sock::Async(s) => Pin::new(&mut &*s).poll_write(cx, buf),
            Sock::Local(s) if s.is_home() => Pin::new(&mut &*s).poll_write(cx, buf),
            Sock::Local(s) => match s.try_write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
                r => Poll::Ready(r),
            },
        }
    }

    /// One non-blocking read, registering nothing.
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Sock::Async(Stream::Tcp(s)) => s.get_ref().read(buf),
            Sock::Async(Stream::Unix(s)) => s.get_ref().read(buf),
            Sock::Local(s) => s.try_read(buf),
        }
    }

    /// Ready if the reactor reported the socket readable since the last registration (for
    /// a local socket: since a read found it drained); else registers `waker`. A local
    /// socket away from its thread is an error (nothing registered).
    pub(crate) fn poll_readable(&self, waker: &Waker) -> Poll<io::Result<()>> {
        let cx = &mut Context::from_waker(waker);
        match self {
            Sock::Async(Stream::Tcp(s)) => s.poll_readable(cx),
            Sock::Async(Stream::Unix(s)) => s.poll_readable(cx),
            Sock::Local(s) if s.is_home() => s.poll_readable(cx),
            Sock::Local(_) => Poll::Ready(Err(io::Error::other(WRONG_THREAD))),
        }
    }
}

impl AsFd for Sock {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Sock::Async(Stream::Tcp(s)) => s.as_fd(),
            Sock::Async(Stream::Unix(s)) => s.as_fd(),
            Sock::Local(s) => s.as_fd(),
        }
    }
}
