//! Where a client connects (`Endpoint`) and the non-blocking socket it drives.
//!
//! The client drives its sockets from the calling task (see `conn.rs`), so it needs
//! non-blocking `read`/`write` plus readiness registration, which `async_io::Async` gives
//! for TCP and Unix streams alike.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::{Async, Timer};
use futures_lite::FutureExt;

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

/// A connected, non-blocking stream.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(Async<TcpStream>),
    Unix(Async<UnixStream>),
}

impl Stream {
    /// Connects within `timeout`, with TCP_NODELAY on TCP.
    pub(crate) async fn connect(endpoint: &Endpoint, timeout: Duration) -> io::Result<Stream> {
        let connect = async {
            match endpoint {
                Endpoint::Tcp { host, port } => {
                    let addrs = async_net::resolve((host.as_str(), *port)).await?;
                    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
                    for addr in addrs {
                        match Async::<TcpStream>::connect(addr).await {
                            Ok(stream) => {
                                stream.get_ref().set_nodelay(true)?;
                                return Ok(Stream::Tcp(stream));
                            }
                            Err(e) => last = e,
                        }
                    }
                    Err(last)
                }
                Endpoint::Unix(path) => Ok(Stream::Unix(Async::<UnixStream>::connect(path).await?)),
            }
        };
        let expire = async {
            Timer::after(timeout).await;
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connect timed out after {timeout:?}"),
            ))
        };
        connect.or(expire).await
    }

    /// One non-blocking read.
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s.get_ref()).read(buf),
            Stream::Unix(s) => (&*s.get_ref()).read(buf),
        }
    }

    /// One non-blocking write.
    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s.get_ref()).write(buf),
            Stream::Unix(s) => (&*s.get_ref()).write(buf),
        }
    }

    pub(crate) fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Tcp(s) => s.poll_readable(cx),
            Stream::Unix(s) => s.poll_readable(cx),
        }
    }

    pub(crate) fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Stream::Tcp(s) => s.poll_writable(cx),
            Stream::Unix(s) => s.poll_writable(cx),
        }
    }
}
