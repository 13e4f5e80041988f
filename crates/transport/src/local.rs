//! Sockets on the per-thread reactor: [`StdStream`] (connected, not yet registered; moves
//! between threads), [`LocalStream`] (registered with the reactor of the thread that serves
//! it) and [`LocalListener`] (accepts on that reactor).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite};

use crate::reactor::{self, Dir, Shared};
use crate::{Accepted, Addr, Gate, Listener, Stream};

/// A connected TCP or Unix socket registered with no reactor: what an acceptor hands to
/// the thread that will serve the connection, which makes it a [`LocalStream`].
#[derive(Debug)]
pub enum StdStream {
    /// TCP.
    Tcp(TcpStream),
    /// Unix-domain.
    Unix(UnixStream),
}

impl StdStream {
    /// The remote address (`unix:<unnamed>` for most Unix peers).
    pub fn peer_addr(&self) -> io::Result<Addr> {
        match self {
            StdStream::Tcp(s) => s.peer_addr().map(Addr::Tcp),
            StdStream::Unix(s) => Ok(crate::net::unix_addr(&s.peer_addr()?)),
        }
    }

    /// Shut down reading, writing or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            StdStream::Tcp(s) => s.shutdown(how),
            StdStream::Unix(s) => s.shutdown(how),
        }
    }
}

impl AsFd for StdStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            StdStream::Tcp(s) => s.as_fd(),
            StdStream::Unix(s) => s.as_fd(),
        }
    }
}

impl Stream {
    /// Take the socket out of async-io's reactor, to move it to a thread that registers it
    /// with its own ([`LocalStream::new`]). Fails if other clones of this stream exist.
    pub fn into_std(self) -> io::Result<StdStream> {
        let busy = || io::Error::other("Stream::into_std: other clones of the stream exist");
        match self {
            Stream::Tcp(s) => {
                Arc::try_unwrap(s).map_err(|_| busy())?.into_inner().map(StdStream::Tcp)
            }
            Stream::Unix(s) => {
                Arc::try_unwrap(s).map_err(|_| busy())?.into_inner().map(StdStream::Unix)
            }
        }
    }
}

/// A connected socket registered with the reactor of the thread that created it (see
/// [`crate::reactor`]). Clones share the socket, like [`Stream`]: one task reads while
/// another writes.
///
/// Reading and `AsyncWrite` must happen on that thread, inside its
/// [`reactor::block_on`]. [`LocalStream::try_write`], [`LocalStream::shutdown`] and
/// dropping work from any thread; the socket leaves the reactor when the last clone drops.
#[derive(Clone, Debug)]
pub struct LocalStream {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    sock: StdStream,
    reactor: Arc<Shared>,
    key: u64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.reactor.deregister(self.sock.as_fd(), self.key);
    }
}

impl LocalStream {
    /// Register `sock` with this thread's reactor (creating the reactor on first use). Sets
    /// non-blocking mode, and `TCP_NODELAY` for TCP.
    pub fn new(sock: StdStream) -> io::Result<LocalStream> {
        match &sock {
            StdStream::Tcp(s) => {
                s.set_nonblocking(true)?;
                s.set_nodelay(true)?;
            }
            StdStream::Unix(s) => s.set_nonblocking(true)?,
        }
        let (reactor, key) = reactor::register(sock.as_fd())?;
        Ok(LocalStream { inner: Arc::new(Inner { sock, reactor, key }) })
    }

    /// The remote address (`unix:<unnamed>` for most Unix peers).
    pub fn peer_addr(&self) -> io::Result<Addr> {
        self.inner.sock.peer_addr()
    }

    /// One non-blocking `write` (`WouldBlock` when the socket buffer is full). Any thread.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match &self.inner.sock {
            StdStream::Tcp(s) => (&*s).write(buf),
            StdStream::Unix(s) => (&*s).write(buf),
        }
    }

    /// Shut down reading, writing or both (all clones see it). Any thread.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.sock.shutdown(how)
    }

    /// Whether this stream can be waited on here: the calling thread registered it and
    /// is inside its [`reactor::block_on`]. Waiting elsewhere is an error (and a debug
    /// assertion); callers that may be polled anywhere ask this first.
    pub fn is_home(&self) -> bool {
        reactor::is_home(&self.inner.reactor)
    }

    /// Ready once the reactor has reported the socket readable and no read since found it
    /// drained; otherwise `cx` is woken by the next readable edge. Reads nothing. Only on
    /// the registering thread, inside its [`reactor::block_on`] (else an error).
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        reactor::poll_ready(&self.inner.reactor, self.inner.key, Dir::Read, cx)
    }

    /// One non-blocking `read` (`WouldBlock` when there is nothing), registering no
    /// waker. A read that returns less than `buf.len()`, or `WouldBlock`, clears the
    /// readable flag when called on the registering thread (the socket is drained: the
    /// next [`LocalStream::poll_readable`] waits for the next edge), as `AsyncRead` does.
    /// Any thread.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let inner = &*self.inner;
        let r = loop {
            let r = match &inner.sock {
                StdStream::Tcp(s) => (&*s).read(buf),
                StdStream::Unix(s) => (&*s).read(buf),
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => break r,
            }
        };
        match &r {
            Ok(n) if *n > 0 && *n < buf.len() => {
                reactor::clear_ready(&inner.reactor, inner.key, Dir::Read);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                reactor::clear_ready(&inner.reactor, inner.key, Dir::Read);
            }
            _ => {}
        }
        r
    }

    fn poll_io(
        &self,
        cx: &mut Context<'_>,
        dir: Dir,
        want: usize,
        mut op: impl FnMut(&StdStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let inner = &*self.inner;
        loop {
            match reactor::poll_ready(&inner.reactor, inner.key, dir, cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
            match op(&inner.sock) {
                Ok(n) => {
                    // Less than asked: the socket is drained (full, for writes); the next
                    // edge says when there is more. End of stream (0) stays readable.
                    if n > 0 && n < want {
                        reactor::clear_ready(&inner.reactor, inner.key, dir);
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    reactor::clear_ready(&inner.reactor, inner.key, dir);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsFd for LocalStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.sock.as_fd()
    }
}

impl AsyncRead for &LocalStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let want = buf.len();
        self.poll_io(cx, Dir::Read, want, |s| match s {
            StdStream::Tcp(s) => (&*s).read(buf),
            StdStream::Unix(s) => (&*s).read(buf),
        })
    }
}

impl AsyncWrite for &LocalStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_io(cx, Dir::Write, buf.len(), |s| match s {
            StdStream::Tcp(s) => (&*s).write(buf),
            StdStream::Unix(s) => (&*s).write(buf),
        })
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let want = bufs.iter().map(|b| b.len()).sum();
        self.poll_io(cx, Dir::Write, want, |s| match s {
            StdStream::Tcp(s) => (&*s).write_vectored(bufs),
            StdStream::Unix(s) => (&*s).write_vectored(bufs),
        })
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(match self.shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            r => r,
        })
    }
}

impl AsyncRead for LocalStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_read(cx, buf)
    }
}

impl AsyncWrite for LocalStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_close(cx)
    }
}

/// A [`Listener`] accepting on this thread's reactor ([`Listener::local`]). Accepted
/// sockets come out as [`StdStream`]s, registered nowhere, ready to be sent to the thread
/// that will serve them.
#[derive(Debug)]
pub struct LocalListener<'a> {
    listener: &'a Listener,
    reactor: Arc<Shared>,
    key: u64,
}

impl Listener {
    /// Accept on this thread's reactor instead of async-io's (see [`LocalListener`]). The
    /// listener's socket is registered with this thread's epoll until the result drops.
    pub fn local(&self) -> io::Result<LocalListener<'_>> {
        let (reactor, key) = reactor::register(self.as_fd())?;
        Ok(LocalListener { listener: self, reactor, key })
    }

    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Tcp(l) => l.get_ref().as_fd(),
            Listener::Unix(l, _) => l.get_ref().as_fd(),
        }
    }
}

impl Drop for LocalListener<'_> {
    fn drop(&mut self) {
        self.reactor.deregister(self.listener.as_fd(), self.key);
    }
}

impl LocalListener<'_> {
    /// The next connection (blocking mode as the OS gives it; [`LocalStream::new`] makes it
    /// non-blocking). Must be awaited inside this thread's [`reactor::block_on`].
    pub async fn accept(&self) -> io::Result<(StdStream, Addr)> {
        let r = futures_lite::future::poll_fn(|cx| self.poll_accept(cx)).await;
        r
    }

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(StdStream, Addr)>> {
        loop {
            match reactor::poll_ready(&self.reactor, self.key, Dir::Read, cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
            let r = match self.listener {
                Listener::Tcp(l) => {
                    l.get_ref().accept().map(|(s, a)| (StdStream::Tcp(s), Addr::Tcp(a)))
                }
                Listener::Unix(l, _) => l
                    .get_ref()
                    .accept()
                    .map(|(s, a)| (StdStream::Unix(s), crate::net::unix_addr(&a))),
            };
            match r {
                Ok(v) => return Poll::Ready(Ok(v)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    reactor::clear_ready(&self.reactor, self.key, Dir::Read);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Accept the next connection `gate` admits, like [`Listener::accept_admitted`]:
    /// refused peers are closed with a warning, accept errors (e.g. out of file
    /// descriptors) are logged and retried after 50 ms. Cancel-safe.
    pub async fn accept_admitted(&self, gate: &Gate) -> Accepted<StdStream> {
        loop {
            match self.accept().await {
                Ok((stream, peer)) => match gate.admit(&peer) {
                    Ok(permit) => return Accepted { stream, peer, permit },
                    Err(why) => {
                        log::warn!("refused connection from {peer}: {why}");
                        let _ = stream.shutdown(Shutdown::Both);
                    }
                },
                Err(e) => {
                    log::warn!("accept failed: {e}; retrying in 50ms");
                    reactor::Timer::after(Duration::from_millis(50)).await;
                }
            }
        }
    }
}
