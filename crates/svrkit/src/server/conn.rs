//! One connection: read frames, start handlers, let the batching writer send replies; and
//! [`Call`], a handler future that turns a panic into an INTERNAL error reply.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;
use futures_lite::future::poll_fn;
use svrkit_codec::{codes, encode_error, Limits, Message, MessageError, MessageKind, RpcError};
use svrkit_transport::reactor::{self, Timer};
use svrkit_transport::{Accepted, BatchWriter, FrameReader, LocalStream, TransportError};

use super::limit::{Limiter, Permit};
use super::router::{BoxFuture, Router};
use super::shutdown::ShutdownHandle;

/// Stop reading from a peer while this many reply bytes wait to be written to it.
const HIGH_WATER: usize = 4 * 1024 * 1024;
/// Reads in a row that found data at once after which a connection lets the others of its
/// thread run (each read takes up to the whole read buffer: hundreds of small messages).
const FAIR_STREAK: u32 = 8;
/// Frames handled between two checks of the write backlog.
const BACKLOG_CHECK_EVERY: u32 = 64;

thread_local! {
    /// On a thread-mode handler thread: the call queue it serves.
    static POOL_QUEUE: std::cell::RefCell<Option<async_channel::Receiver<Call>>> =
        const { std::cell::RefCell::new(None) };
}

/// Serve thread-mode calls on this thread until the queue closes.
pub(crate) fn handler_thread(rx: async_channel::Receiver<Call>) {
    POOL_QUEUE.with(|q| *q.borrow_mut() = Some(rx.clone()));
    while let Ok(call) = rx.recv_blocking() {
        futures_lite::future::block_on(call);
    }
    POOL_QUEUE.with(|q| q.borrow_mut().take());
}

/// Whether a reply finished on this thread should be written by this thread at once: yes
/// when no other call waits in the queue (a lone call: save the hop back to the I/O
/// thread); no under load, so the I/O thread's flusher batches many replies per write.
pub(crate) fn reply_directly() -> bool {
    POOL_QUEUE.with(|q| q.borrow().as_ref().is_none_or(|rx| rx.is_empty()))
}

/// Where started handlers run.
pub(crate) enum Exec {
    /// Coroutine mode: polled once inline; if not finished, spawned on this thread's
    /// executor (weak: the executor owns the tasks that own this context).
    Local(Weak<LocalExecutor<'static>>),
    /// Thread mode: every call goes to the handler threads (a bounded queue).
    Pool(async_channel::Sender<Call>),
}

/// What every connection of one I/O thread shares.
pub(crate) struct ConnCtx {
    pub(crate) router: Router,
    pub(crate) limiter: Limiter,
    pub(crate) shutdown: ShutdownHandle,
    pub(crate) limits: Limits,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) exec: Exec,
    /// Handlers write their own reply to the socket (thread mode: saves a hop back to the
    /// I/O thread).
    pub(crate) direct_replies: bool,
    pub(crate) local: Weak<LocalExecutor<'static>>,
}

/// A started handler: its future plus what is needed to answer if it panics.
pub(crate) struct Call {
    fut: BoxFuture<()>,
    method: Arc<str>,
    /// Where to answer a panic: the request's msgid and writer (`None`: notification).
    to: Option<(u32, BatchWriter)>,
    _permit: Permit,
}

impl Future for Call {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        match catch_unwind(AssertUnwindSafe(|| this.fut.as_mut().poll(cx))) {
            Ok(p) => p,
            Err(payload) => {
                let what = panic_message(&*payload);
                log::error!("handler {} panicked: {what}", this.method);
                if let Some((id, writer)) = &this.to {
                    let e = RpcError::new(
                        codes::INTERNAL,
                        format!("{}: handler panicked: {what}", this.method),
                    );
                    writer.write_with(|buf| encode_error(buf, *id, &e));
                }
                Poll::Ready(())
            }
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(non-string panic payload)"
    }
}

enum End {
    Eof,
    Broken(TransportError),
    Idle,
    Stopped,
}

/// Serve one connection until the peer leaves, the stream breaks, it idles out or the
/// server stops; then wait for its calls to finish and their replies to be written.
pub(crate) async fn serve(ctx: Rc<ConnCtx>, conn: Accepted<LocalStream>) {
    let Accepted { stream, peer, permit } = conn;
    let (writer, flusher) = BatchWriter::with_stream(stream.clone());
    let Some(ex) = ctx.local.upgrade() else {
        return;
    };
    let flush = ex.spawn(flusher.run(stream.clone()));
    drop(ex);
    let mut reader = FrameReader::new(stream.clone(), peer.clone(), ctx.limits);
    match read_loop(&ctx, &mut reader, &writer).await {
        End::Eof => log::debug!("connection {peer} closed by peer"),
        End::Broken(e) => log::warn!("closing connection: {e}"),
        End::Idle => log::info!(
            "closing connection {peer}: idle for {:?}",
            ctx.idle_timeout.unwrap_or_default()
        ),
        End::Stopped => log::debug!("connection {peer}: server stopping"),
    }
    drop(reader);
    drop(writer);
    if let Err(e) = flush.await {
        log::debug!("connection {peer}: write failed: {e}");
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    drop(permit);
}

async fn read_loop(
    ctx: &ConnCtx,
    reader: &mut FrameReader<LocalStream>,
    writer: &BatchWriter,
) -> End {
    let mut stop = ctx.shutdown.listen();
    let mut idle = ctx.idle_timeout.map(|d| (d, Timer::after(d), Instant::now()));
    // Reads in a row that found data at once: a peer that never stops sending would keep
    // this task, and its thread's other connections waiting, for as long as it sends.
    let mut streak = 0u32;
    loop {
        // Replies produced while this batch is dispatched (here or on handler threads) wait
        // for the `flush_now` below: one write, and no flusher task woken in between.
        writer.hold();
        if let Err(e) = process(ctx, reader, writer).await {
            return End::Broken(e);
        }
        enum Ev {
            Read(Result<usize, TransportError>),
            Stop,
            Idle,
        }
        // Send the replies just produced before going back to the socket (one write for the
        // whole batch, from this task, without waking the flusher).
        writer.flush_now();
        if streak >= FAIR_STREAK {
            // Let the thread's other connections in: pick up their events, then yield.
            streak = 0;
            reactor::poll_events();
            futures_lite::future::yield_now().await;
        }
        let mut waited = false;
        let ev = poll_fn(|cx| {
            if ctx.shutdown.is_stopped() || Pin::new(&mut stop).poll(cx).is_ready() {
                return Poll::Ready(Ev::Stop);
            }
            if let Poll::Ready(r) = reader.poll_fill(cx) {
                return Poll::Ready(Ev::Read(r));
            }
            if let Some((_, timer, _)) = &mut idle {
                if Pin::new(timer).poll(cx).is_ready() {
                    return Poll::Ready(Ev::Idle);
                }
            }
            waited = true;
            Poll::Pending
        })
        .await;
        streak = if waited { 0 } else { streak + 1 };
        match ev {
            Ev::Read(Ok(0)) => return End::Eof,
            Ev::Read(Ok(_)) => {
                if let Some((_, _, last)) = &mut idle {
                    *last = Instant::now();
                }
            }
            Ev::Read(Err(e)) => return End::Broken(e),
            Ev::Idle => {
                let (d, timer, last) = idle.as_mut().expect("idle timer fired");
                let now = Instant::now();
                if writer.producers() > 1 {
                    // Calls are pending: not idle.
                    *last = now;
                }
                if now.duration_since(*last) >= *d {
                    return End::Idle;
                }
                timer.set_at(*last + *d);
            }
            Ev::Stop => {
                // Take what the peer already sent, answer it, then stop reading.
                let waker = Waker::noop();
                let mut cx = Context::from_waker(waker);
                for _ in 0..64 {
                    if let Err(e) = process(ctx, reader, writer).await {
                        return End::Broken(e);
                    }
                    match reader.poll_fill(&mut cx) {
                        Poll::Ready(Ok(n)) if n > 0 => continue,
                        Poll::Ready(Err(e)) => return End::Broken(e),
                        _ => break,
                    }
                }
                return End::Stopped;
            }
        }
    }
}

/// Dispatch every complete message in the read buffer.
async fn process(
    ctx: &ConnCtx,
    reader: &mut FrameReader<LocalStream>,
    writer: &BatchWriter,
) -> Result<(), TransportError> {
    let mut n = 0u32;
    loop {
        // Checked on entry too: a batch of a few large requests never reaches the count.
        if n.is_multiple_of(BACKLOG_CHECK_EVERY) && writer.backlog() > HIGH_WATER {
            // Every wait here first writes what is held (see `read_loop`).
            writer.flush_now();
            writer.ready(HIGH_WATER).await;
            writer.hold();
        }
        n = n.wrapping_add(1);
        let Some(decoded) = reader.next_frame()? else {
            return Ok(());
        };
        match decoded.message {
            Ok(Message::Request { msgid, method, params }) => {
                let permit = acquire(&ctx.limiter, writer).await;
                if let Some((name, fut)) =
                    ctx.router.start(method, params, Some(msgid), writer, ctx.direct_replies)
                {
                    run(ctx, call(fut, name, Some(msgid), writer, permit), writer).await;
                }
            }
            Ok(Message::Notification { method, params }) => {
                let permit = acquire(&ctx.limiter, writer).await;
                if let Some((name, fut)) =
                    ctx.router.start(method, params, None, writer, ctx.direct_replies)
                {
                    run(ctx, call(fut, name, None, writer, permit), writer).await;
                }
            }
            Ok(Message::Response { msgid, .. }) => {
                log::debug!(
                    "{}: ignoring a response (msgid {msgid}) sent to a server",
                    reader.peer()
                );
            }
            Err(e) => {
                let answer = e.msgid().filter(|_| e.kind() == Some(MessageKind::Request));
                match answer {
                    Some(id) => {
                        let code = if matches!(e, MessageError::ParamsNotArray { .. }) {
                            codes::INVALID_PARAMS
                        } else {
                            codes::INVALID_REQUEST
                        };
                        let err = RpcError::new(code, e.to_string());
                        writer.write_with(|buf| encode_error(buf, id, &err));
                    }
                    None => {
                        log::warn!("{}: invalid message ignored: {e}", reader.peer());
                    }
                }
            }
        }
    }
}

async fn acquire(limiter: &Limiter, writer: &BatchWriter) -> Permit {
    match limiter.try_acquire() {
        Some(p) => p,
        None => {
            writer.flush_now();
            let p = limiter.acquire().await;
            writer.hold();
            p
        }
    }
}

fn call(
    fut: BoxFuture<()>,
    method: Arc<str>,
    msgid: Option<u32>,
    writer: &BatchWriter,
    permit: Permit,
) -> Call {
    Call { fut, method, to: msgid.map(|id| (id, writer.clone())), _permit: permit }
}

async fn run(ctx: &ConnCtx, mut call: Call, writer: &BatchWriter) {
    match &ctx.exec {
        Exec::Local(ex) => {
            let mut cx = Context::from_waker(Waker::noop());
            if Pin::new(&mut call).poll(&mut cx).is_pending() {
                if let Some(ex) = ex.upgrade() {
                    ex.spawn(call).detach();
                }
            }
        }
        Exec::Pool(tx) => {
            let sent = match tx.try_send(call) {
                Ok(()) => Ok(()),
                Err(async_channel::TrySendError::Full(call)) => {
                    // The queue is full: write what is held before waiting.
                    writer.flush_now();
                    let r = tx.send(call).await.map_err(drop);
                    writer.hold();
                    r
                }
                Err(async_channel::TrySendError::Closed(_)) => Err(()),
            };
            if sent.is_err() {
                log::error!("handler threads are gone; call dropped");
            }
        }
    }
}
