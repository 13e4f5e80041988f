//! TCP and Unix-socket transports on smol for msgpack-rpc: listeners, connectors, framed
//! reading, a batching writer and the accept policy. Used by both the server and the client
//! of the `svrkit` facade; knows nothing of methods, handlers or routing.
//!
//! # Design
//!
//! - **Sockets** ([`Stream`], [`Listener`], [`connect`]): enums over `async_io::Async` of
//!   the std TCP and Unix socket types, addressed by [`Addr`] (`"ip:port"` or
//!   `"unix:/path"`). TCP sockets get `TCP_NODELAY`: batching is done by the writer, not by
//!   Nagle. A [`Stream`] clones cheaply so one task reads while another writes. These run
//!   on async-io's process-wide reactor: right for clients and for code on any executor.
//! - **The per-thread reactor** ([`reactor`], [`LocalStream`], [`LocalListener`],
//!   [`StdStream`]): for server I/O threads. Each thread that runs [`reactor::block_on`]
//!   owns an epoll fd; a [`LocalStream`] is registered with it once, edge-triggered, and
//!   keeps readiness flags that short reads and writes clear, so a request/response round
//!   trip costs `epoll_wait` + `recv` + `send` and no event is ever handled by another
//!   thread. Timers are a per-thread ordered map that sets the `epoll_wait` timeout; wakes
//!   from other threads go through an eventfd, written only while the loop sleeps. An
//!   acceptor takes [`StdStream`]s from a [`LocalListener`] and sends each to the thread
//!   that will serve it, which makes it a [`LocalStream`] there.
//! - **Reading** ([`FrameReader`]): one reusable buffer per connection, read into in place
//!   and cut into messages by the codec's streaming [`svrkit_codec::Decoder`]; messages
//!   borrow from the buffer (no copy, no allocation per message).
//! - **Writing** ([`BatchWriter`] + [`Flusher`]): producers append encoded messages to a
//!   shared buffer; one flusher task writes everything that accumulated each time it runs.
//!   With 128 requests in flight that is one `write` for 128 responses: this is where
//!   pipelined throughput comes from. [`BatchWriter::flush_now`] lets a producer that just
//!   finished a burst write it itself while the flusher is idle (no task or thread hop; what
//!   the socket refuses is left to the flusher); [`BatchWriter::hold`] keeps appends from
//!   waking the flusher until then, and [`BatchWriter::write_now_with`] does both for a
//!   single reply finished on another thread. [`BatchWriter::ready`] gives back-pressure
//!   when a peer does not read.
//! - **Policy** ([`Policy`], [`Gate`], [`Listener::accept_admitted`]): `allow_ip`
//!   (addresses and CIDRs, IPv4 and IPv6) and `max_connections` at accept time (a refused
//!   peer is closed with a log line naming it); `idle_timeout` and `max_frame` travel with
//!   the policy for the connection loop to apply.
//!
//! Executors are the caller's: nothing here spawns a task or a thread. The example below
//! runs on async-io; the [`reactor`] module's docs show the same on the per-thread reactor.
//!
//! # Example
//!
//! ```
//! use svrkit_codec::{encode_request, encode_response, Limits, Message};
//! use svrkit_transport::{connect, Addr, BatchWriter, FrameReader, Gate, Listener, Policy};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! async_io::block_on(async {
//!     let listener = Listener::bind(&"127.0.0.1:0".parse::<Addr>()?)?;
//!     let addr = listener.local_addr()?;
//!     let gate = Gate::new(&Policy::default());
//!
//!     // Server: answer "add" requests until the client hangs up.
//!     let server = async {
//!         let conn = listener.accept_admitted(&gate).await;
//!         let (writer, flusher) = BatchWriter::new();
//!         let flush = flusher.run(conn.stream.clone());
//!         let read = async move {
//!             let mut reader = FrameReader::new(conn.stream, conn.peer, Limits::default());
//!             loop {
//!                 while let Some(d) = reader.next_frame()? {
//!                     if let Ok(Message::Request { msgid, params, .. }) = d.message {
//!                         let (a, b): (i64, i64) = params.deserialize()?;
//!                         writer.write_with(|buf| encode_response(buf, msgid, &(a + b)))?;
//!                     }
//!                 }
//!                 if reader.fill().await? == 0 {
//!                     return Ok::<_, Box<dyn std::error::Error>>(()); // drops `writer`
//!                 }
//!             }
//!         };
//!         let (r, f) = futures_lite::future::zip(read, flush).await;
//!         r?;
//!         f?;
//!         Ok::<_, Box<dyn std::error::Error>>(())
//!     };
//!
//!     // Client: two pipelined calls in one write.
//!     let client = async {
//!         let stream = connect(&addr).await?;
//!         let mut out = Vec::new();
//!         encode_request(&mut out, 1, "add", &(1, 2))?;
//!         encode_request(&mut out, 2, "add", &(3, 4))?;
//!         futures_lite::AsyncWriteExt::write_all(&mut &stream, &out).await?;
//!         let mut reader = FrameReader::new(stream.clone(), addr.clone(), Limits::default());
//!         let mut sums = Vec::new();
//!         while sums.len() < 2 {
//!             while let Some(d) = reader.next_frame()? {
//!                 if let Ok(Message::Response { result, .. }) = d.message {
//!                     sums.push(result.deserialize::<i64>()?);
//!                 }
//!             }
//!             if sums.len() < 2 && reader.fill().await? == 0 {
//!                 break;
//!             }
//!         }
//!         stream.shutdown(std::net::Shutdown::Both)?;
//!         Ok::<_, Box<dyn std::error::Error>>(sums)
//!     };
//!
//!     let (s, c) = futures_lite::future::zip(server, client).await;
//!     s?;
//!     assert_eq!(c?, [3, 7]);
//!     Ok(())
//! })
//! # }
//! ```

mod addr;
mod error;
mod framed;
mod local;
mod net;
mod policy;
pub mod reactor;
mod writer;

pub use addr::{Addr, AllowList, IpNet};
pub use error::TransportError;
pub use framed::FrameReader;
pub use local::{LocalListener, LocalStream, StdStream};
pub use net::{connect, Listener, Stream};
pub use policy::{Accepted, ConnPermit, Gate, Policy, Refusal};
pub use writer::{BatchWriter, Flusher, TryWrite};
