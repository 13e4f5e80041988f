//! Sockets: [`Stream`] (a connected TCP or Unix socket), [`Listener`], [`connect`].
//!
//! Both are thin enums over `async_io::Async` of the std socket types. A [`Stream`] is cheap
//! to clone (an `Arc`); one clone reads while another writes, which is how a connection's
//! reader loop and its [`crate::Flusher`] share one socket. Reads and writes use async-io's
//! per-direction waker slots, so a reader and a writer on the same socket never wake each
//! other.

use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_io::Async;
use futures_lite::{AsyncRead, AsyncWrite};

use crate::{Addr, TransportError};

/// A connected socket, TCP (with `TCP_NODELAY` on) or Unix-domain. Clones share the socket.
#[derive(Clone, Debug)]
pub enum Stream {
    /// TCP.
    Tcp(Arc<Async<TcpStream>>),
    /// Unix-domain.
    Unix(Arc<Async<UnixStream>>),
}

impl Stream {
    /// Wrap a connected std TCP socket (sets non-blocking and `TCP_NODELAY`).
    pub fn from_std_tcp(s: TcpStream) -> io::Result<Stream> {
        s.set_nodelay(true)?;
        Ok(Stream::Tcp(Arc::new(Async::new(s)?)))
    }

    /// Wrap a connected std Unix socket (sets non-blocking).
    pub fn from_std_unix(s: UnixStream) -> io::Result<Stream> {
        Ok(Stream::Unix(Arc::new(Async::new(s)?)))
    }

    /// The remote address (`unix:<unnamed>` for most Unix peers).
    pub fn peer_addr(&self) -> io::Result<Addr> {
        match self {
            Stream::Tcp(s) => s.get_ref().peer_addr().map(Addr::Tcp),
            Stream::Unix(s) => Ok(unix_addr(&s.get_ref().peer_addr()?)),
        }
    }

    /// One non-blocking `write` (`WouldBlock` when the socket buffer is full).
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        use std::io::Write;
        match self {
            Stream::Tcp(s) => s.get_ref().write(buf),
            Stream::Unix(s) => s.get_ref().write(buf),
        }
    }

    /// Shut down reading, writing or both (all clones see it).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.get_ref().shutdown(how),
            Stream::Unix(s) => s.get_ref().shutdown(how),
        }
    }
}

pub(crate) fn unix_addr(a: &std::os::unix::net::SocketAddr) -> Addr {
    Addr::Unix(a.as_pathname().map(Path::to_path_buf).unwrap_or_default())
}

impl std::os::fd::AsFd for Stream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.get_ref().as_fd(),
            Stream::Unix(s) => s.get_ref().as_fd(),
        }
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Stream::Tcp($s) => $e,
            Stream::Unix($s) => $e,
        }
    };
}

impl AsyncRead for &Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this: &Stream = *self;
        delegate!(this, s => Pin::new(&mut &**s).poll_read(cx, buf))
    }
}

impl AsyncWrite for &Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this: &Stream = *self;
        delegate!(this, s => Pin::new(&mut &**s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this: &Stream = *self;
        delegate!(this, s => Pin::new(&mut &**s).poll_write_vectored(cx, bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this: &Stream = *self;
        Poll::Ready(match this.shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            r => r,
        })
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_close(cx)
    }
}

/// Connect to `addr` (`TCP_NODELAY` on for TCP).
pub async fn connect(addr: &Addr) -> Result<Stream, TransportError> {
    let err = |source| TransportError::Connect { addr: addr.clone(), source };
    match addr {
        Addr::Tcp(sa) => {
            let s = Async::<TcpStream>::connect(*sa).await.map_err(err)?;
            s.get_ref().set_nodelay(true).map_err(err)?;
            Ok(Stream::Tcp(Arc::new(s)))
        }
        Addr::Unix(path) => {
            let s = Async::<UnixStream>::connect(path).await.map_err(err)?;
            Ok(Stream::Unix(Arc::new(s)))
        }
    }
}

/// A listening socket, TCP or Unix-domain.
///
/// A Unix listener created by [`Listener::bind`] removes its socket file when dropped; one
/// made with [`Listener::from_std_unix`] (e.g. inherited by a worker process) leaves it.
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(Async<TcpListener>),
    /// Unix-domain, with the path to remove on drop when this process created it.
    Unix(Async<UnixListener>, Option<PathBuf>),
}

impl Listener {
    /// Bind `addr`. A stale Unix socket file (nobody accepting on it) is replaced; a live one
    /// is an "address in use" error.
    pub fn bind(addr: &Addr) -> Result<Listener, TransportError> {
        let err = |source| TransportError::Bind { addr: addr.clone(), source };
        match addr {
            Addr::Tcp(sa) => Ok(Listener::Tcp(Async::<TcpListener>::bind(*sa).map_err(err)?)),
            Addr::Unix(path) => {
                let l = match UnixListener::bind(path) {
                    Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                        match UnixStream::connect(path) {
                            Err(c) if c.kind() == io::ErrorKind::ConnectionRefused => {
                                std::fs::remove_file(path).map_err(err)?;
                                UnixListener::bind(path).map_err(err)?
                            }
                            _ => return Err(err(e)),
                        }
                    }
                    r => r.map_err(err)?,
                };
                Ok(Listener::Unix(Async::new(l).map_err(err)?, Some(path.clone())))
            }
        }
    }

    /// Wrap a bound std TCP listener (inherited from a supervisor, or bound with
    /// `SO_REUSEPORT` by the caller).
    pub fn from_std_tcp(l: TcpListener) -> io::Result<Listener> {
        Ok(Listener::Tcp(Async::new(l)?))
    }

    /// Wrap a bound std Unix listener; its file is left in place on drop.
    pub fn from_std_unix(l: UnixListener) -> io::Result<Listener> {
        Ok(Listener::Unix(Async::new(l)?, None))
    }

    /// The address this listener is bound to (with the real port after binding port 0).
    pub fn local_addr(&self) -> io::Result<Addr> {
        match self {
            Listener::Tcp(l) => l.get_ref().local_addr().map(Addr::Tcp),
            Listener::Unix(l, _) => Ok(unix_addr(&l.get_ref().local_addr()?)),
        }
    }

    /// Wait for the next connection (TCP ones get `TCP_NODELAY`).
    pub async fn accept(&self) -> io::Result<(Stream, Addr)> {
        match self {
            Listener::Tcp(l) => {
                let (s, peer): (Async<TcpStream>, SocketAddr) = l.accept().await?;
                s.get_ref().set_nodelay(true)?;
                Ok((Stream::Tcp(Arc::new(s)), Addr::Tcp(peer)))
            }
            Listener::Unix(l, _) => {
                let (s, peer) = l.accept().await?;
                Ok((Stream::Unix(Arc::new(s)), unix_addr(&peer)))
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, Some(path)) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}
