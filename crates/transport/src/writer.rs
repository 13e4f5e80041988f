//! The batching writer: many producers append encoded messages to one buffer; one
//! [`Flusher`] task writes whatever accumulated with a single `write` per wake-up.
//!
//! Double buffering: producers append to `pending` under a short mutex while the flusher
//! writes the previous batch from its own buffer, then swaps. A producer wakes the flusher
//! only when the flusher is idle, so a burst of 128 responses costs one wake-up and one
//! syscall. The writer is `Send + Sync` so handler threads (thread mode) and the
//! connection's own executor (coroutine mode) can both append.

use std::io;
use std::mem;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures_lite::future::poll_fn;
use futures_lite::AsyncWrite;

use crate::{LocalStream, Stream};

/// A socket that takes one non-blocking write from any thread: what
/// [`BatchWriter::flush_now`] writes to.
pub trait TryWrite: Send + Sync + std::fmt::Debug {
    /// One non-blocking `write` (`WouldBlock` when the socket buffer is full).
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
}

impl TryWrite for Stream {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        Stream::try_write(self, buf)
    }
}

impl TryWrite for LocalStream {
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        LocalStream::try_write(self, buf)
    }
}

/// Buffers larger than this are released after a flush, so idle connections stay small.
const KEEP_CAPACITY: usize = 64 * 1024;

/// A producer handle of a batching writer. Clone it freely; the [`Flusher`] finishes (after
/// writing everything appended) when the last handle is dropped or [`BatchWriter::close`] is
/// called.
#[derive(Debug)]
pub struct BatchWriter {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    handles: AtomicUsize,
    /// The socket, for [`BatchWriter::flush_now`]; `None` for writers made with `new`.
    direct: Option<Box<dyn TryWrite>>,
}

#[derive(Debug, Default)]
struct State {
    pending: Vec<u8>,
    /// Bytes handed to the socket but not yet written.
    writing: usize,
    /// The flusher, parked because there was nothing to write.
    flusher: Option<Waker>,
    /// Producers waiting for the backlog to shrink ([`BatchWriter::poll_ready`]).
    ready_waiters: Vec<Waker>,
    closed: bool,
    /// The socket failed: appends are dropped.
    broken: bool,
    /// A producer is writing to the socket itself ([`BatchWriter::flush_now`]); the
    /// flusher keeps off until it is done.
    direct_busy: bool,
    /// Reused buffer of direct writes.
    direct_spare: Vec<u8>,
    /// A producer promised a [`BatchWriter::flush_now`] ([`BatchWriter::hold`]): appends
    /// leave a parked flusher alone.
    held: bool,
}

impl BatchWriter {
    /// A writer and the flusher that drains it. Run the flusher as a task with
    /// [`Flusher::run`].
    pub fn new() -> (BatchWriter, Flusher) {
        BatchWriter::build(None)
    }

    /// Like [`BatchWriter::new`], plus [`BatchWriter::flush_now`] on `stream` (pass the
    /// stream the flusher will run on: a [`Stream`] or a [`LocalStream`]).
    pub fn with_stream<S: TryWrite + 'static>(stream: S) -> (BatchWriter, Flusher) {
        BatchWriter::build(Some(Box::new(stream)))
    }

    fn build(direct: Option<Box<dyn TryWrite>>) -> (BatchWriter, Flusher) {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            handles: AtomicUsize::new(1),
            direct,
        });
        (BatchWriter { shared: shared.clone() }, Flusher { shared, spare: Vec::new() })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.shared)
    }

    /// Append to the batch with `f` (e.g. one of the codec's `encode_*`), waking the flusher
    /// if it is idle (unless [`BatchWriter::hold`] is in force). After the connection
    /// broke, `f` still runs but its bytes are dropped.
    pub fn write_with<R>(&self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        self.append(f, false)
    }

    /// Like [`BatchWriter::write_with`], then, if the flusher is idle, write the batch to
    /// the socket from this thread (as [`BatchWriter::flush_now`]) instead of waking it: a
    /// reply finished on another thread goes out without a hop back to the connection's
    /// thread. Falls back to waking the flusher when it is busy or there is no socket.
    pub fn write_now_with<R>(&self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        self.append(f, true)
    }

    fn append<R>(&self, f: impl FnOnce(&mut Vec<u8>) -> R, now: bool) -> R {
        let waker;
        let r;
        {
            let mut st = self.lock();
            let before = st.pending.len();
            r = f(&mut st.pending);
            if st.broken || st.closed {
                st.pending.truncate(before);
                return r;
            }
            if st.pending.len() == before || st.direct_busy || st.held {
                return r;
            }
            if now && self.shared.direct.is_some() && st.flusher.is_some() {
                self.write_direct(st);
                return r;
            }
            waker = st.flusher.take();
        }
        if let Some(w) = waker {
            w.wake();
        }
        r
    }

    /// Append pre-encoded bytes.
    pub fn write(&self, bytes: &[u8]) {
        self.write_with(|b| b.extend_from_slice(bytes));
    }

    /// Until the next [`BatchWriter::flush_now`], appends do not wake a parked flusher:
    /// a connection's reader holds the writer while it dispatches a batch of requests, so
    /// the replies produced meanwhile (on this thread or others) are written once, by its
    /// `flush_now`, without a flusher task in between. The caller must call `flush_now`.
    pub fn hold(&self) {
        self.lock().held = true;
    }

    /// Write what is buffered right now from the calling thread, with non-blocking writes,
    /// if the flusher is idle; whatever the socket does not take at once is left to the
    /// flusher. This saves a wake-up of the flusher's task (a thread hop when the producer
    /// runs on another thread). Call it after a burst of appends, not after each one, to
    /// keep one syscall per batch. Ends a [`BatchWriter::hold`]. For writers made with
    /// `new` (no socket), wakes the flusher if something is pending.
    pub fn flush_now(&self) {
        let mut st = self.lock();
        st.held = false;
        if st.pending.is_empty() || st.flusher.is_none() || st.direct_busy || st.broken {
            return;
        }
        if self.shared.direct.is_none() || st.closed {
            let w = st.flusher.take();
            drop(st);
            if let Some(w) = w {
                w.wake();
            }
            return;
        }
        self.write_direct(st);
    }

    /// Write `pending` from this thread; the flusher is parked and no one else writes.
    fn write_direct(&self, mut st: MutexGuard<'_, State>) {
        let Some(io) = &self.shared.direct else { return };
        st.direct_busy = true;
        let mut buf = mem::take(&mut st.direct_spare);
        mem::swap(&mut buf, &mut st.pending);
        st.writing = buf.len();
        drop(st);
        let mut done = 0;
        let mut failed = false;
        while done < buf.len() {
            match io.try_write(&buf[done..]) {
                Ok(0) => {
                    failed = true;
                    break;
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        let waker = {
            let mut st = self.lock();
            st.direct_busy = false;
            st.writing = 0;
            if failed {
                st.broken = true;
                st.pending.clear();
            } else if done < buf.len() {
                // Put the unwritten rest back in front of what was appended meanwhile.
                let later = mem::take(&mut st.pending);
                st.pending.extend_from_slice(&buf[done..]);
                st.pending.extend_from_slice(&later);
                st.direct_spare = later;
                st.direct_spare.clear();
            }
            buf.clear();
            if buf.capacity() <= KEEP_CAPACITY && st.direct_spare.capacity() < buf.capacity() {
                st.direct_spare = buf;
            }
            if (st.pending.is_empty() || st.held) && !failed && !st.closed {
                None
            } else {
                st.flusher.take()
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Bytes appended or being written and not yet handed to the kernel.
    pub fn backlog(&self) -> usize {
        let st = self.lock();
        st.pending.len() + st.writing
    }

    /// Ready when the backlog is at most `high_water` bytes (or the writer is closed or
    /// broken). Readers call this before taking more requests from a peer, so a peer that
    /// never reads its replies cannot grow the server's memory without bound.
    pub fn poll_ready(&self, cx: &mut Context<'_>, high_water: usize) -> Poll<()> {
        let mut st = self.lock();
        if st.pending.len() + st.writing <= high_water || st.broken || st.closed {
            Poll::Ready(())
        } else {
            if !st.ready_waiters.iter().any(|w| w.will_wake(cx.waker())) {
                st.ready_waiters.push(cx.waker().clone());
            }
            Poll::Pending
        }
    }

    /// Wait until the backlog is at most `high_water` bytes; see [`BatchWriter::poll_ready`].
    pub async fn ready(&self, high_water: usize) {
        poll_fn(|cx| self.poll_ready(cx, high_water)).await
    }

    /// Live producer handles (this one included). A connection loop holding one handle while
    /// each pending call holds another can tell from this whether calls are pending.
    pub fn producers(&self) -> usize {
        self.shared.handles.load(Ordering::Acquire)
    }

    /// Whether writing has stopped (closed, or the socket failed).
    pub fn is_closed(&self) -> bool {
        let st = self.lock();
        st.closed || st.broken
    }

    /// Stop: the flusher writes what is already buffered, then finishes; later appends are
    /// dropped.
    pub fn close(&self) {
        close(&self.shared);
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    // A panic while holding this lock can only come from a producer's encode closure; the
    // buffer is still a sequence of whole messages plus possibly a partial one, which the
    // codec's encoders never leave behind. Keep going.
    shared.state.lock().unwrap_or_else(|e| e.into_inner())
}

fn close(shared: &Shared) {
    let waker = {
        let mut st = lock(shared);
        st.closed = true;
        st.flusher.take()
    };
    if let Some(w) = waker {
        w.wake();
    }
}

impl Clone for BatchWriter {
    fn clone(&self) -> BatchWriter {
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        BatchWriter { shared: self.shared.clone() }
    }
}

impl Drop for BatchWriter {
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            close(&self.shared);
        }
    }
}

/// The consumer side of a [`BatchWriter`]: writes batches to a socket.
#[derive(Debug)]
pub struct Flusher {
    shared: Arc<Shared>,
    spare: Vec<u8>,
}

impl Flusher {
    /// Write batches to `io` until the writer is closed (and drained) or the socket fails.
    /// Each wake-up takes everything appended so far and writes it with as few syscalls as
    /// the kernel allows (one, unless its buffer is full). On exit the write side of `io` is
    /// closed.
    pub async fn run<W: AsyncWrite + Unpin>(mut self, mut io: W) -> io::Result<()> {
        let result = self.pump(&mut io).await;
        {
            let mut st = lock(&self.shared);
            st.broken = st.broken || result.is_err();
            st.closed = true;
            st.pending = Vec::new();
            st.writing = 0;
            for w in st.ready_waiters.drain(..) {
                w.wake();
            }
        }
        let _ = poll_fn(|cx| Pin::new(&mut io).poll_close(cx)).await;
        result
    }

    async fn pump<W: AsyncWrite + Unpin>(&mut self, io: &mut W) -> io::Result<()> {
        loop {
            let more = poll_fn(|cx| {
                let mut st = lock(&self.shared);
                if st.direct_busy {
                    st.flusher = Some(cx.waker().clone());
                    Poll::Pending
                } else if st.broken {
                    Poll::Ready(false)
                } else if !st.pending.is_empty() {
                    mem::swap(&mut st.pending, &mut self.spare);
                    st.writing = self.spare.len();
                    Poll::Ready(true)
                } else if st.closed {
                    Poll::Ready(false)
                } else {
                    st.flusher = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
            .await;
            if !more {
                return Ok(());
            }
            let mut done = 0;
            while done < self.spare.len() {
                let n =
                    poll_fn(|cx| Pin::new(&mut *io).poll_write(cx, &self.spare[done..])).await?;
                if n == 0 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                done += n;
                lock(&self.shared).writing = self.spare.len() - done;
            }
            self.spare.clear();
            if self.spare.capacity() > KEEP_CAPACITY {
                self.spare = Vec::new();
            }
            let waiters = mem::take(&mut lock(&self.shared).ready_waiters);
            for w in waiters {
                w.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;

    #[test]
    fn batches_and_finishes_when_handles_drop() {
        let (w, f) = BatchWriter::new();
        let w2 = w.clone();
        w.write(b"ab");
        w2.write_with(|b| b.extend_from_slice(b"cd"));
        assert_eq!(w.backlog(), 4);
        drop(w);
        drop(w2);
        let mut out = Vec::new();
        block_on(f.run(&mut out)).unwrap();
        assert_eq!(out, b"abcd");
    }

    #[test]
    fn close_drops_later_writes() {
        let (w, f) = BatchWriter::new();
        w.write(b"x");
        w.close();
        w.write(b"y");
        assert!(w.is_closed());
        let mut out = Vec::new();
        block_on(f.run(&mut out)).unwrap();
        assert_eq!(out, b"x");
    }
}
