//! [`FrameReader`]: reads a byte stream into a reusable buffer and cuts it into msgpack-rpc
//! messages with the codec's streaming decoder.
//!
//! The buffer is read into in place; decoded messages borrow from it (zero copy), so a
//! message must be handled (or copied) before the next [`FrameReader::next_frame`] or
//! [`FrameReader::fill`]. Consumed bytes are dropped by moving a start index; the unread tail
//! is moved to the front only when the free space at the end runs low. The buffer grows
//! (doubling) while reads keep filling it, up to 64 KiB for throughput, and beyond that only
//! as far as one frame needs, which the decoder caps at `max_frame`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::future::poll_fn;
use futures_lite::AsyncRead;
use svrkit_codec::{Decoded, Decoder, Limits};

use crate::{Addr, TransportError};

const INITIAL: usize = 4 * 1024;
const GROW_LIMIT: usize = 64 * 1024;
/// Compact when less than this is free at the end of the buffer.
const MIN_TAIL: usize = 1024;

/// Reads msgpack-rpc messages from `R`. The usual loop:
///
/// ```text
/// loop {
///     while let Some(d) = reader.next_frame()? { handle(d.message) }
///     if reader.fill().await? == 0 { break } // clean EOF
/// }
/// ```
#[derive(Debug)]
pub struct FrameReader<R> {
    io: R,
    peer: Addr,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    grow: bool,
    decoder: Decoder,
    max_frame: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader of `io`, naming `peer` in its errors, with the decoder's `limits`.
    pub fn new(io: R, peer: Addr, limits: Limits) -> FrameReader<R> {
        FrameReader {
            io,
            peer,
            buf: Vec::new(),
            start: 0,
            end: 0,
            grow: false,
            decoder: Decoder::new(limits),
            max_frame: limits.max_frame,
        }
    }

    /// The peer this reader reads from.
    pub fn peer(&self) -> &Addr {
        &self.peer
    }

    /// Bytes read but not yet returned as messages.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// The next complete message already in the buffer, or `None` if more bytes are needed.
    /// An error means the stream is broken (malformed msgpack, a frame over `max_frame`):
    /// close the connection.
    pub fn next_frame(&mut self) -> Result<Option<Decoded<'_>>, TransportError> {
        if self.start == self.end {
            return Ok(None);
        }
        let data = &self.buf[self.start..self.end];
        match self.decoder.decode(data) {
            Ok(Some(d)) => {
                self.start += d.len;
                Ok(Some(d))
            }
            Ok(None) => Ok(None),
            Err(source) => Err(TransportError::Frame { peer: self.peer.clone(), source }),
        }
    }

    /// Read more bytes: `Ok(n)` with `n > 0` bytes added, `Ok(0)` on a clean end of stream
    /// (nothing buffered), [`TransportError::TruncatedFrame`] if the peer closed mid-message.
    /// Cancel-safe: dropping the future loses nothing.
    pub async fn fill(&mut self) -> Result<usize, TransportError> {
        poll_fn(|cx| self.poll_fill(cx)).await
    }

    /// Poll version of [`FrameReader::fill`].
    pub fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize, TransportError>> {
        self.make_room();
        let res = Pin::new(&mut self.io).poll_read(cx, &mut self.buf[self.end..]);
        match res {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(0)) if self.start < self.end => {
                Poll::Ready(Err(TransportError::TruncatedFrame {
                    peer: self.peer.clone(),
                    buffered: self.end - self.start,
                }))
            }
            Poll::Ready(Ok(n)) => {
                self.grow = self.end + n == self.buf.len();
                self.end += n;
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::ConnectionReset => {
                Poll::Ready(if self.start < self.end {
                    Err(TransportError::TruncatedFrame {
                        peer: self.peer.clone(),
                        buffered: self.end - self.start,
                    })
                } else {
                    Ok(0)
                })
            }
            Poll::Ready(Err(source)) => {
                Poll::Ready(Err(TransportError::Io { peer: self.peer.clone(), source }))
            }
        }
    }

    fn make_room(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.is_empty() {
            self.buf.resize(INITIAL, 0);
            return;
        }
        if self.buf.len() - self.end >= MIN_TAIL && !(self.grow && self.buf.len() < GROW_LIMIT) {
            return;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let len = self.buf.len();
        let want = if self.grow && len < GROW_LIMIT {
            len * 2
        } else if len - self.end < MIN_TAIL {
            // One frame fills the buffer: grow as far as a frame may be (+ room to see that
            // it is over the limit).
            (len * 2).min(self.max_frame.saturating_add(MIN_TAIL)).max(len)
        } else {
            len
        };
        if want > len {
            self.buf.resize(want, 0);
        }
        self.grow = false;
    }

    /// Release the buffer's memory if it is empty (for connections that go quiet).
    pub fn shrink(&mut self) {
        if self.start == self.end && self.buf.len() > INITIAL {
            self.buf = Vec::new();
            self.start = 0;
            self.end = 0;
        }
    }
}
