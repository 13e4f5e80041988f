//! One multiplexed connection to one server, driven by the calls that wait on it.
//!
//! There is no reader task and no writer task. The socket, the pending-call table and the
//! read and write buffers sit behind one short-held mutex, and the futures of the calls in
//! flight do the I/O themselves:
//!
//! - A call encodes its request straight into the shared write buffer. If no call drives
//!   the connection, it takes that role and yields once, so that every other call made in
//!   the same executor tick can append too; when it runs again it writes the whole buffer
//!   with one non-blocking `write` (many calls, one syscall). A call that finds a driver
//!   does not yield: it wakes the driver and waits for its reply (so a call costs two
//!   polls: one to send, one to finish). A call alone on an idle connection writes at once.
//! - One waiting call at a time is the *driver*: it reads what is available, matches each
//!   response to its pending call by msgid and wakes that call, and registers for
//!   readiness. When the driver's own response arrives (or it times out, or is dropped) it
//!   hands the role to another waiting call.
//! - The driver reads only when the reactor reported the socket readable, or while reads
//!   keep filling the buffer: a short read means the socket is drained, so the next step
//!   is `Async::poll_readable` (one `epoll_ctl` to re-arm), not a read that ends in
//!   `EAGAIN`. One exception: when calls were still waiting after its last read and the
//!   driver runs again for another reason (new calls to write), it reads once first, as
//!   their replies may have come meanwhile (a read instead of a reactor round). With one
//!   call in flight that never happens: write, wait, read.
//! - When the last call in flight finishes, the socket is left watched by the reactor
//!   (one `epoll_ctl`, which the next driver's wait reuses). Before a request is queued on
//!   an idle connection, the reactor is asked whether the socket became readable since (a
//!   server that closed an idle connection shows up as EOF): no syscall. A connection
//!   found closed is `Stale`: nothing was sent, the caller reconnects once. Blocking
//!   callers ask `poll(2)` instead (unless they found the socket drained under 1 ms ago).
//!
//! - A notification only appends to the write buffer and returns. The first one of a
//!   burst (nothing unwritten before it) owns the write: it yields once, so that the other
//!   tasks of the executor tick append theirs, then writes them all in one `write`; if
//!   nothing was appended meanwhile (a caller awaiting notifications one by one), it hands
//!   the write to a flusher task on smol's global executor, which writes whatever has
//!   accumulated by the time it runs. A driving call writes them too; 16 KiB unwritten is
//!   written by the notification that got there, and 64 KiB the socket did not take make
//!   notifications wait for room. Being in the same buffer, a notification always goes
//!   out before a later call.
//!
//! - Calls have no timer each: a call's deadline sits in its slot, and the driver keeps
//!   one timer per connection, armed at the earliest deadline, and sweeps the table when
//!   it fires, waking the calls that expired.
//!
//! So with one call in flight the caller's own thread writes, waits and reads (no wake-up
//! crosses threads), and with many in flight one read serves them all. The socket is only
//! touched with non-blocking calls under the lock, so a dropped future never leaves a
//! half-written frame behind: the bytes belong to the connection, not to the future.
//!
//! On a client opted into the calling thread's svrkit reactor
//! (`Client::on_local_reactor`) the socket is a `LocalStream` and the timers are reactor
//! timers; everything else is the same. Such a connection is waited on only on the thread
//! that opened it, inside `reactor::block_on`: a call or notification polled elsewhere
//! fails with `WrongThread` and leaves the connection as it was. Its flusher task (on
//! smol's executor, another thread) only writes without waiting, and if the socket is
//! full, tries again 1 ms later or leaves the rest to a driver.
//!
//! The socket and the framing are the transport's (`svrkit_transport::Stream`,
//! `FrameReader`); its `BatchWriter`/`Flusher` pair is not used because it needs a flusher
//! task, and a task to hand each batch to is the cross-thread hop this design avoids.
//!
//! An I/O error, EOF or a broken stream fails every pending call of the connection at once
//! with `Lost`; the owner drops the connection and reconnects on the next call.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_lite::AsyncRead;
use serde::Serialize;
use svrkit_codec::{Limits, Message, RawValue, RawValueBuf, RpcError};

#[cfg(test)]
use svrkit_transport::Stream;
use svrkit_transport::{reactor, Addr, FrameReader};

use super::stream::{self, Endpoint, Sock};
use super::Drive;

/// Reads per poll before the driver yields to other tasks.
const MAX_READS_PER_POLL: usize = 32;

/// How long after a blocking call found the socket drained the next one skips the idle
/// check (a `poll(2)`): back-to-back blocking calls cost a `write`, a `poll` and a `read`.
const RECHECK_AFTER: Duration = Duration::from_millis(1);

/// Unwritten bytes at which a notification writes the buffer itself, without waiting.
const NOTIFY_WRITE_AT: usize = 16 * 1024;

/// Unwritten bytes (the socket did not take them) at which a notification waits for room.
const NOTIFY_FLUSH_AT: usize = 64 * 1024;

/// The driver token of the flusher task (notification tokens count up from 2^32).
const FLUSHER_TOKEN: u64 = u64::MAX;

/// How a call on one connection ended, before the router adds method and peer names.
#[derive(Debug)]
pub(crate) enum CallError {
    /// No response in time.
    Timeout { msgid: u32 },
    /// The connection broke; the reason.
    Lost(String),
    /// A local-reactor connection polled away from its thread's `block_on`.
    WrongThread,
    /// The server answered with an error.
    Remote(RpcError),
}

/// When a call gives up, and the timeout that deadline came from (for messages).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    pub(crate) at: Instant,
    pub(crate) timeout: Duration,
}

impl Deadline {
    /// `timeout` from now.
    pub(crate) fn after(timeout: Duration) -> Deadline {
        Deadline { at: Instant::now() + timeout, timeout }
    }
}

/// A connection shared by all the calls to one server.
#[derive(Debug)]
pub(crate) struct Connection {
    state: Mutex<State>,
    /// Set once the connection broke (`State::broken`), readable without the lock.
    dead: Arc<AtomicBool>,
}

#[derive(Debug)]
struct State {
    stream: Sock,
    /// Set once the connection broke; every later use fails with this reason.
    broken: Option<String>,
    /// `Connection::dead`.
    dead: Arc<AtomicBool>,
    next_msgid: u32,
    /// Tokens of notifications (above the u32 msgid range).
    next_token: u64,
    pending: Pending,
    wbuf: Vec<u8>,
    /// Bytes of `wbuf` already written.
    wpos: usize,
    /// Bytes written to the socket since the connection opened (with `wbuf.len() - wpos`,
    /// where in the stream each queued request ends).
    written: u64,
    /// The last write attempt found the socket full.
    write_blocked: bool,
    reader: FrameReader<RawRead>,
    /// The socket may hold bytes not read yet: readiness was reported and not consumed, or
    /// the last read filled the buffer. When false, the driver waits for readiness before
    /// reading (no speculative read that ends in `EAGAIN`).
    readable: bool,
    /// Set by [`RawRead`] when a read filled all the room it was given.
    read_filled: Arc<AtomicBool>,
    /// Calls whose reply has not arrived (pending slots without an outcome).
    unanswered: usize,
    /// Calls were still waiting for replies after the last read: the driver's next poll
    /// (woken by new calls, not by the reactor) reads once before waiting, since those
    /// replies may have come meanwhile; a reactor round costs five syscalls, a read one.
    more_expected: bool,
    /// When a blocking call last finished with the socket drained (see [`RECHECK_AFTER`]).
    drained_at: Option<Instant>,
    /// What the reactor wakes (socket readiness, the deadline timer): it passes the wake-up
    /// on to the current driver, so a new driver changes no reactor registration (no timer
    /// re-insert, no re-arm), and wakes nobody while no one drives.
    relay: Arc<Relay>,
    relay_waker: Waker,
    /// The call (msgid) or notification (token > u32::MAX) that drives the socket.
    driver: Option<u64>,
    driver_waker: Option<Waker>,
    /// Someone has promised to write what notifications left in the buffer: a notification
    /// future that yields once and then writes, or a flusher task.
    flush_owned: bool,
    /// Notifications sit in the unwritten part of the buffer (cleared once it is written).
    notes_unflushed: bool,
    /// Notifications waiting for the buffer to drain below [`NOTIFY_FLUSH_AT`].
    space_waiters: Vec<Waker>,
    /// No pending call expires before this (it may be early: calls that finished are
    /// only forgotten at the next sweep). `None`: nothing to sweep.
    sweep_at: Option<Instant>,
    /// The one deadline timer of the connection, polled by the driver, armed at
    /// `armed_at`: calls have no timer of their own.
    sweep_timer: Option<Alarm>,
    armed_at: Option<Instant>,
    /// Successful `write` calls (tests check the batching).
    #[cfg(test)]
    writes: usize,
    /// Reads that found nothing (`EAGAIN`; tests check there are none to spare).
    #[cfg(test)]
    empty_reads: usize,
}

#[derive(Debug, Default)]
struct Slot {
    waker: Option<Waker>,
    outcome: Option<Result<RawValueBuf, RpcError>>,
    /// When the call times out.
    deadline: Option<Instant>,
    /// The deadline passed (set by the driver's sweep).
    expired: bool,
    /// A reply arrived (counted out of `State::unanswered`).
    answered: bool,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The pending calls by msgid. Msgids are local counters, not attacker-chosen keys, so a
/// multiplicative hash replaces SipHash (which showed up in the client's profile).
type Pending = HashMap<u32, Slot, BuildHasherDefault<MsgidHasher>>;

/// Hashes one u32 msgid with a multiply by an odd constant (a bijection, so sequential
/// msgids spread over all buckets).
#[derive(Default)]
struct MsgidHasher(u64);

impl Hasher for MsgidHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Next msgid after `next` that no pending call holds; u32, wrapping. (`queue_request`
/// does the same with one lookup; this is the rule its tests state.)
#[cfg(test)]
fn alloc_msgid(next: &mut u32, pending: &Pending) -> u32 {
    loop {
        let id = *next;
        *next = next.wrapping_add(1);
        if !pending.contains_key(&id) {
            return id;
        }
    }
}

impl Connection {
    /// Connects to `endpoint` within `timeout`.
    /// `local`: on the calling thread's svrkit reactor (which must be running).
    pub(crate) async fn connect(
        endpoint: &Endpoint,
        timeout: Duration,
        local: bool,
    ) -> io::Result<Connection> {
        let stream = if local {
            Sock::Local(stream::connect_local(endpoint, timeout).await?)
        } else {
            Sock::Async(stream::connect(endpoint, timeout).await?)
        };
        let peer = match endpoint {
            Endpoint::Unix(path) => Addr::Unix(path.clone()),
            Endpoint::Tcp { .. } => stream.peer_addr()?,
        };
        Ok(Connection::with_sock(stream, peer))
    }

    #[cfg(test)]
    fn new(stream: Stream, peer: Addr) -> Connection {
        Connection::with_sock(Sock::Async(stream), peer)
    }

    fn with_sock(stream: Sock, peer: Addr) -> Connection {
        let read_filled = Arc::new(AtomicBool::new(false));
        let raw = RawRead { stream: stream.clone(), filled: Arc::clone(&read_filled) };
        let reader = FrameReader::new(raw, peer, Limits::default());
        let dead = Arc::new(AtomicBool::new(false));
        let relay = Arc::new(Relay::default());
        Connection {
            dead: Arc::clone(&dead),
            state: Mutex::new(State {
                stream,
                broken: None,
                dead,
                next_msgid: 0,
                next_token: u64::from(u32::MAX) + 1,
                pending: Pending::default(),
                wbuf: Vec::new(),
                wpos: 0,
                written: 0,
                write_blocked: false,
                reader,
                relay_waker: Waker::from(Arc::clone(&relay)),
                relay,
                readable: false,
                read_filled,
                unanswered: 0,
                more_expected: false,
                drained_at: None,
                driver: None,
                driver_waker: None,
                flush_owned: false,
                notes_unflushed: false,
                space_waiters: Vec::new(),
                sweep_at: None,
                sweep_timer: None,
                armed_at: None,
                #[cfg(test)]
                writes: 0,
                #[cfg(test)]
                empty_reads: 0,
            }),
        }
    }

    /// Sets the next msgid to allocate (tests of the wraparound).
    #[cfg(test)]
    fn set_next_msgid(&self, msgid: u32) {
        lock(&self.state).next_msgid = msgid;
    }

    /// The check a request makes before it is queued (tests).
    #[cfg(test)]
    fn is_usable(&self, drive: Drive) -> bool {
        Connection::check_usable(&mut lock(&self.state), drive).is_ok()
    }

    /// True once the connection is known to be broken (no lock taken). Whether an idle
    /// connection is still open is checked when a request is queued (`StartError::Stale`).
    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// Before anything is queued: a connection already broken, or found closed by its
    /// idle check, is `Stale` (nothing was sent; the caller reconnects).
    fn check_usable(st: &mut State, drive: Drive) -> Result<(), StartError> {
        if let Some(reason) = &st.broken {
            return Err(StartError::Stale(reason.clone()));
        }
        if !st.stream.is_home() {
            return Err(StartError::WrongThread);
        }
        if let Err(reason) = st.check_idle(drive) {
            st.fail(&reason);
            return Err(StartError::Stale(reason));
        }
        Ok(())
    }

    /// Encodes a request into the write buffer and gives it a slot; returns its msgid and
    /// the stream offset at which it will have been written.
    fn queue_request<P: Serialize + ?Sized>(
        st: &mut State,
        method: &str,
        params: &P,
        deadline: Instant,
        drive: Drive,
    ) -> Result<(u32, u64), StartError> {
        Connection::check_usable(st, drive)?;
        // Takes the next msgid no pending call holds (one hash lookup).
        let msgid = loop {
            let id = st.next_msgid;
            st.next_msgid = id.wrapping_add(1);
            if let Entry::Vacant(free) = st.pending.entry(id) {
                free.insert(Slot { deadline: Some(deadline), ..Slot::default() });
                break id;
            }
        };
        match svrkit_codec::encode_request(&mut st.wbuf, msgid, method, params) {
            Ok(()) => {}
            Err(e) if is_unit(&e) => {
                svrkit_codec::encode_request_raw(&mut st.wbuf, msgid, method, RawValue::EMPTY_ARRAY)
            }
            Err(e) => {
                st.pending.remove(&msgid);
                return Err(StartError::Encode(e));
            }
        }
        st.unanswered += 1;
        if st.sweep_at.is_none_or(|at| deadline < at) {
            st.sweep_at = Some(deadline);
            // The driver re-arms the timer for the earlier deadline when it next runs.
            if let Some(w) = &st.driver_waker {
                w.wake_by_ref();
            }
        }
        Ok((msgid, st.written + (st.wbuf.len() - st.wpos) as u64))
    }

    /// A call for a thread that may block: if no other call drives the connection, this
    /// thread does, with blocking `poll(2)` waits instead of the reactor, so nothing wakes
    /// it from another thread. `Ok(None)`: another call drives it; use [`Connection::call`].
    /// The responses of other calls that arrive meanwhile are dispatched as usual.
    pub(crate) fn call_blocking<P: Serialize + ?Sized>(
        self: &Arc<Self>,
        method: &str,
        params: &P,
        deadline: Deadline,
    ) -> Result<Option<Result<RawValueBuf, CallError>>, StartError> {
        let Deadline { at: deadline, timeout } = deadline;
        let (msgid, sent_at, stream) = {
            let mut st = lock(&self.state);
            if st.driver.is_some() {
                return Ok(None);
            }
            let (msgid, sent_at) =
                Connection::queue_request(&mut st, method, params, deadline, Drive::Blocking)?;
            st.driver = Some(u64::from(msgid));
            st.driver_waker = None;
            (msgid, sent_at, st.stream.clone())
        };
        let mut call = BlockingCall { conn: self, msgid, done: false };
        loop {
            let wants_write = {
                let mut st = lock(&self.state);
                if let Err(e) = st.flush() {
                    st.fail(e);
                }
                // Other (async) calls' deadlines are this driver's job too.
                st.sweep(Instant::now());
                if let Some(outcome) = st.pending.get_mut(&msgid).and_then(|s| s.outcome.take()) {
                    call.finish(&mut st);
                    if !st.readable && st.pending.is_empty() {
                        st.drained_at = Some(Instant::now());
                    }
                    return Ok(Some(outcome.map_err(CallError::Remote)));
                }
                if let Some(reason) = &st.broken {
                    let reason = reason.clone();
                    call.finish(&mut st);
                    return Ok(Some(Err(CallError::Lost(reason))));
                }
                (st.unflushed(), st.sweep_at.map_or(deadline, |at| at.min(deadline)))
            };
            let (wants_write, wake_at) = wants_write;
            let now = Instant::now();
            let ready = if now >= deadline {
                None
            } else {
                match wait_fd(&stream, wants_write, Some(wake_at.saturating_duration_since(now))) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        let mut st = lock(&self.state);
                        st.fail(format!("poll: {e}"));
                        continue;
                    }
                }
            };
            let mut st = lock(&self.state);
            match ready {
                Some(r) if r.readable => {
                    if let Err(e) = st.read_once() {
                        st.fail(e);
                    }
                }
                Some(_) => {}
                None => {
                    call.finish(&mut st);
                    if st.write_blocked && st.written < sent_at {
                        st.fail(format!("the server has not read the request in {timeout:?}"));
                    }
                    return Ok(Some(Err(CallError::Timeout { msgid })));
                }
            }
        }
    }

    /// Queues a request; the returned future waits for its response.
    pub(crate) fn call<P: Serialize + ?Sized>(
        self: &Arc<Self>,
        method: &str,
        params: &P,
        deadline: Deadline,
    ) -> Result<Call, StartError> {
        let (msgid, sent_at) = Connection::queue_request(
            &mut lock(&self.state),
            method,
            params,
            deadline.at,
            Drive::Async,
        )?;
        let timeout = deadline.timeout;
        Ok(Call { conn: Arc::clone(self), msgid, sent_at, timeout, yielded: false, done: false })
    }

    /// Queues a notification. It is only appended to the write buffer: the returned future
    /// is ready at once unless the buffer holds [`NOTIFY_FLUSH_AT`] bytes the socket did not
    /// take (then it waits for room, bounded by `timeout`). The bytes go out with the next
    /// write of the connection: the driving call's if there is one; else the first
    /// notification of a burst yields once (so that the others of the same executor tick
    /// append too) and then writes them all. `Drive::Blocking` (a thread that will not
    /// poll again soon) writes at once instead. A burst that reaches [`NOTIFY_WRITE_AT`]
    /// unwritten bytes is written by the notification that got there. So a burst costs one
    /// `write` per batch, and a notification always goes out before a later call.
    pub(crate) fn notify<P: Serialize + ?Sized>(
        self: &Arc<Self>,
        method: &str,
        params: &P,
        timeout: Duration,
        drive: Drive,
    ) -> Result<Notify, StartError> {
        let mut st = lock(&self.state);
        let first = !st.unflushed();
        if first {
            // Only the first notification of a burst checks: the others follow it closely.
            // By readiness, even for blocking callers: nothing is read on a connection
            // that only sends notifications, so the watch stays armed and costs no syscall.
            Connection::check_usable(&mut st, Drive::Async)?;
        } else if let Some(reason) = &st.broken {
            return Err(StartError::Stale(reason.clone()));
        } else if !st.stream.is_home() {
            return Err(StartError::WrongThread);
        }
        match svrkit_codec::encode_notification(&mut st.wbuf, method, params) {
            Ok(()) => {}
            Err(e) if is_unit(&e) => {
                svrkit_codec::encode_notification_raw(&mut st.wbuf, method, RawValue::EMPTY_ARRAY)
            }
            Err(e) => return Err(StartError::Encode(e)),
        }
        st.notes_unflushed = true;
        if st.backlog() >= NOTIFY_WRITE_AT || drive == Drive::Blocking {
            if let Err(reason) = st.flush() {
                st.fail(&reason);
                return Err(StartError::Lost(reason));
            }
        }
        let wait = st.backlog() >= NOTIFY_FLUSH_AT;
        let mut owner = false;
        if !wait && st.unflushed() && !st.flush_owned {
            match &st.driver_waker {
                // The driver writes the buffer whenever it runs.
                Some(w) if first => w.wake_by_ref(),
                Some(_) => {}
                None if drive == Drive::Blocking => st.schedule_flush(self),
                None => {
                    st.flush_owned = true;
                    owner = true;
                }
            }
        }
        let token = st.next_token;
        st.next_token += 1;
        let queued_to = st.written + st.backlog() as u64;
        Ok(Notify {
            conn: (wait || owner).then(|| Arc::clone(self)),
            token,
            timer: None,
            timeout,
            wait,
            owner,
            queued_to,
            yielded: false,
            done: false,
        })
    }
}

/// `()` params (nil) mean "no params": they go out as `[]`.
fn is_unit(e: &svrkit_codec::EncodeError) -> bool {
    matches!(e, svrkit_codec::EncodeError::ParamsNotArray { found } if found == "nil")
}

/// Why a request could not be queued.
#[derive(Debug)]
pub(crate) enum StartError {
    /// The connection was broken before this request (or its idle check found it closed):
    /// nothing was sent, reconnect and try again.
    Stale(String),
    /// It broke while queueing.
    Lost(String),
    /// A local-reactor connection used away from its thread's `block_on`: nothing queued.
    WrongThread,
    Encode(svrkit_codec::EncodeError),
}

impl State {
    /// Drops a call's slot.
    fn forget(&mut self, msgid: u32) {
        if let Some(slot) = self.pending.remove(&msgid) {
            if !slot.answered {
                self.unanswered -= 1;
            }
        }
    }

    /// Marks the connection broken and wakes every waiting call.
    fn fail(&mut self, reason: impl ToString) {
        if self.broken.is_none() {
            self.broken = Some(reason.to_string());
            self.dead.store(true, Ordering::Release);
        }
        for slot in self.pending.values_mut() {
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        }
        if let Some(w) = self.driver_waker.take() {
            w.wake();
        }
        for w in self.space_waiters.drain(..) {
            w.wake();
        }
    }

    /// Writes as much of the write buffer as the socket takes, registering `cx` for
    /// writability when bytes remain.
    fn flush(&mut self) -> Result<(), String> {
        let cx = &mut Context::from_waker(&self.relay_waker);
        while self.wpos < self.wbuf.len() {
            match self.stream.poll_write(cx, &self.wbuf[self.wpos..]) {
                Poll::Ready(Ok(0)) => return Err("the socket accepts no more bytes".to_string()),
                Poll::Ready(Ok(n)) => {
                    self.wpos += n;
                    self.written += n as u64;
                    self.write_blocked = false;
                    #[cfg(test)]
                    {
                        self.writes += 1;
                    }
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => return Err(e.to_string()),
                Poll::Pending => {
                    self.write_blocked = true;
                    self.wake_space_waiters();
                    return Ok(());
                }
            }
        }
        self.wbuf.clear();
        self.wpos = 0;
        self.notes_unflushed = false;
        self.wake_space_waiters();
        Ok(())
    }

    fn unflushed(&self) -> bool {
        self.wpos < self.wbuf.len()
    }

    /// Bytes queued and not yet written.
    fn backlog(&self) -> usize {
        self.wbuf.len() - self.wpos
    }

    /// Makes sure someone writes the unflushed bytes: the driver (woken), or a flusher
    /// task. Nothing to do when a flusher is already on its way.
    fn schedule_flush(&mut self, conn: &Arc<Connection>) {
        if !self.unflushed() || self.flush_owned {
            return;
        }
        if let Some(w) = &self.driver_waker {
            // The driver writes the buffer whenever it runs.
            w.wake_by_ref();
            return;
        }
        self.flush_owned = true;
        smol::spawn(Flusher { conn: Arc::clone(conn), pause: None }).detach();
    }

    fn wake_space_waiters(&mut self) {
        if !self.space_waiters.is_empty() && self.backlog() < NOTIFY_FLUSH_AT {
            for w in self.space_waiters.drain(..) {
                w.wake();
            }
        }
    }

    /// Reads what the socket has and dispatches the responses, registering `cx` for
    /// readability (or waking it to yield after many reads). Reads only after readiness
    /// was reported or while reads keep filling the buffer: a short read means the socket
    /// is drained, so the next step is waiting, not a read that fails with `EAGAIN`.
    fn read_available(&mut self, cx: &mut Context<'_>) -> Result<(), String> {
        let mut speculate = std::mem::take(&mut self.more_expected);
        for _ in 0..MAX_READS_PER_POLL {
            if !self.readable && !std::mem::take(&mut speculate) {
                match self.stream.poll_readable(&self.relay_waker) {
                    Poll::Ready(Ok(())) => self.readable = true,
                    Poll::Ready(Err(e)) => return Err(e.to_string()),
                    Poll::Pending => return Ok(()),
                }
            }
            self.read_once()?;
        }
        // Still more to read: let other tasks run, then continue.
        cx.waker().wake_by_ref();
        Ok(())
    }

    /// One non-blocking read, then dispatch; updates `readable`.
    fn read_once(&mut self) -> Result<(), String> {
        // `RawRead` ignores the context: it never registers with the reactor.
        match self.reader.poll_fill(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(0)) => Err("closed by the server".to_string()),
            Poll::Ready(Ok(_)) => {
                self.readable = self.read_filled.load(Ordering::Relaxed);
                self.dispatch()?;
                self.more_expected = self.unanswered > 0;
                Ok(())
            }
            Poll::Ready(Err(e)) => Err(e.to_string()),
            Poll::Pending => {
                self.readable = false;
                #[cfg(test)]
                {
                    self.empty_reads += 1;
                }
                Ok(())
            }
        }
    }

    /// With no call in flight, looks for what the server may have sent meanwhile (EOF
    /// when it closed the connection) before a new request is queued. `Err`: it is gone.
    fn check_idle(&mut self, drive: Drive) -> Result<(), String> {
        if !self.pending.is_empty() || self.driver.is_some() {
            return Ok(());
        }
        let readable = match drive {
            // Ready once the reactor saw the socket readable since the last check; else
            // this (re)arms the watch, with a waker that does nothing: no task to wake,
            // the next check or driver looks.
            Drive::Async => match self.stream.poll_readable(&self.relay_waker) {
                Poll::Ready(Ok(())) => true,
                Poll::Ready(Err(e)) => return Err(e.to_string()),
                Poll::Pending => self.readable,
            },
            // A connection whose socket a blocking call found drained a moment ago is not
            // asked again (the same race as a close just after the check).
            Drive::Blocking => {
                let recent = self.drained_at.is_some_and(|at| at.elapsed() < RECHECK_AFTER);
                self.readable
                    || (!recent
                        && wait_fd(&self.stream, false, Some(Duration::ZERO))
                            .map_err(|e| format!("poll: {e}"))?
                            .readable)
            }
        };
        if readable {
            self.read_once()?;
        }
        Ok(())
    }

    /// Hands every complete message in the read buffer to its call.
    fn dispatch(&mut self) -> Result<(), String> {
        let State { reader, pending, unanswered, .. } = self;
        while let Some(decoded) = reader.next_frame().map_err(|e| e.to_string())? {
            match decoded.message {
                Ok(Message::Response { msgid, error, result }) => {
                    if let Some(slot) = pending.get_mut(&msgid) {
                        if !slot.answered {
                            slot.answered = true;
                            *unanswered -= 1;
                        }
                        slot.outcome = Some(match error {
                            Some(error) => Err(RpcError::from_raw(error)),
                            None => Ok(result.to_buf()),
                        });
                        if let Some(w) = slot.waker.take() {
                            w.wake();
                        }
                    } else {
                        log::debug!(
                            "response to msgid {msgid}, which no call waits for (timed out?)"
                        );
                    }
                }
                Ok(Message::Request { msgid, method, .. }) => {
                    log::debug!("ignoring request {method} (msgid {msgid}) sent by a server");
                }
                Ok(Message::Notification { method, .. }) => {
                    log::debug!("ignoring notification {method} sent by a server");
                }
                Err(e) => log::warn!("ignoring an invalid message from the server: {e}"),
            }
        }
        Ok(())
    }

    /// Gives up the driver role and wakes a waiting call to take it over.
    fn release_driver(&mut self, token: u64) {
        if self.driver != Some(token) {
            return;
        }
        self.driver = None;
        self.driver_waker = None;
        *lock_relay(&self.relay) = None;
        if let Some(slot) =
            self.pending.values_mut().find(|s| s.outcome.is_none() && s.waker.is_some())
        {
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        }
    }

    /// The driver's work: write, read and dispatch, expire the calls whose deadline
    /// passed; registers `cx` for whichever comes first.
    fn drive(&mut self, cx: &mut Context<'_>) -> Result<(), String> {
        self.flush()?;
        self.read_available(cx)?;
        for _ in 0..4 {
            self.sweep(Instant::now());
            let Some(at) = self.sweep_at else { return Ok(()) };
            let local = self.stream.is_local();
            let timer = self.sweep_timer.get_or_insert_with(|| Alarm::at(local, at));
            if self.armed_at != Some(at) {
                timer.set_at(at);
                self.armed_at = Some(at);
            }
            if timer.poll(&mut Context::from_waker(&self.relay_waker)).is_pending() {
                return Ok(());
            }
            // Fired: the timer is spent until set again.
            self.armed_at = None;
        }
        // Deadlines keep passing as fast as they are swept: run again soon.
        cx.waker().wake_by_ref();
        Ok(())
    }

    /// Marks the calls whose deadline is past `now` expired and wakes them; computes the
    /// next deadline. Only scans when the earliest known deadline has come.
    fn sweep(&mut self, now: Instant) {
        let Some(at) = self.sweep_at else { return };
        if now < at {
            return;
        }
        let mut next: Option<Instant> = None;
        for slot in self.pending.values_mut() {
            let Some(deadline) = slot.deadline else { continue };
            if slot.outcome.is_some() || slot.expired {
                continue;
            }
            if deadline <= now {
                slot.expired = true;
                if let Some(w) = slot.waker.take() {
                    w.wake();
                }
            } else if next.is_none_or(|n| deadline < n) {
                next = Some(deadline);
            }
        }
        self.sweep_at = next;
    }

    /// Tries to flush without registering; wakes the driver when bytes remain.
    fn flush_or_poke(&mut self) -> Result<(), String> {
        if self.unflushed() {
            // A no-op waker: this call does not wait for writability, the driver does.
            self.flush()?;
            if self.unflushed() {
                if let Some(w) = &self.driver_waker {
                    w.wake_by_ref();
                }
            }
        }
        Ok(())
    }

    fn set_driver_waker(&mut self, waker: &Waker) {
        if !self.driver_waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            self.driver_waker = Some(waker.clone());
            *lock_relay(&self.relay) = Some(waker.clone());
        }
    }
}

/// The driver role of a blocking call, given back however the call ends.
struct BlockingCall<'c> {
    conn: &'c Connection,
    msgid: u32,
    done: bool,
}

impl BlockingCall<'_> {
    fn finish(&mut self, st: &mut State) {
        st.forget(self.msgid);
        st.release_driver(u64::from(self.msgid));
        self.done = true;
    }
}

impl Drop for BlockingCall<'_> {
    fn drop(&mut self) {
        if !self.done {
            let conn = self.conn;
            self.finish(&mut lock(&conn.state));
        }
    }
}

/// The waker the reactor holds for a connection: wakes the current driver, if any.
#[derive(Debug, Default)]
struct Relay {
    target: Mutex<Option<Waker>>,
}

fn lock_relay(relay: &Relay) -> MutexGuard<'_, Option<Waker>> {
    relay.target.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl std::task::Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Cloned out so that the driver's waker runs without the relay locked.
        let target = lock_relay(self).clone();
        if let Some(w) = target {
            w.wake();
        }
    }
}

/// The socket as the `FrameReader` reads it: one plain non-blocking `read`; `WouldBlock`
/// is `Pending` without registering anything with the reactor (the driver waits with
/// [`poll_readable`] itself, and only when it has to). Notes whether the read filled all
/// the room it had (then more may be waiting).
#[derive(Debug)]
struct RawRead {
    stream: Sock,
    filled: Arc<AtomicBool>,
}

impl AsyncRead for RawRead {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let result = self.stream.read(buf);
            return match result {
                Ok(n) => {
                    self.filled.store(n == buf.len(), Ordering::Relaxed);
                    Poll::Ready(Ok(n))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            };
        }
    }
}

/// A deadline timer on the reactor the connection's socket uses: async-io's, or the
/// calling thread's svrkit reactor (polled only where the socket is home).
#[derive(Debug)]
enum Alarm {
    Async(async_io::Timer),
    Local(reactor::Timer),
}

impl Alarm {
    fn at(local: bool, at: Instant) -> Alarm {
        if local {
            Alarm::Local(reactor::Timer::at(at))
        } else {
            Alarm::Async(async_io::Timer::at(at))
        }
    }

    fn set_at(&mut self, at: Instant) {
        match self {
            Alarm::Async(t) => t.set_at(at),
            Alarm::Local(t) => t.set_at(at),
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self {
            Alarm::Async(t) => Pin::new(t).poll(cx).map(drop),
            Alarm::Local(t) => Pin::new(t).poll(cx).map(drop),
        }
    }
}

/// What `poll(2)` found.
struct Ready {
    readable: bool,
}

/// Waits (blocking the thread) until the socket is readable, or writable when
/// `wants_write`, or `timeout` passes. Errors and hang-ups count as readable: the read
/// that follows reports them.
fn wait_fd(stream: &Sock, wants_write: bool, timeout: Option<Duration>) -> io::Result<Ready> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let fd = stream.as_fd();
    let mut events = PollFlags::IN;
    if wants_write {
        events |= PollFlags::OUT;
    }
    let mut fds = [PollFd::new(&fd, events)];
    let timeout =
        timeout.map(|t| Timespec::try_from(t).unwrap_or(Timespec { tv_sec: i64::MAX, tv_nsec: 0 }));
    loop {
        match poll(&mut fds, timeout.as_ref()) {
            Ok(_) => break,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let revents = fds[0].revents();
    Ok(Ready { readable: revents.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR) })
}

/// A request in flight; resolves to the raw msgpack value of its result.
#[derive(Debug)]
pub(crate) struct Call {
    conn: Arc<Connection>,
    msgid: u32,
    /// Stream offset at which the request has been fully written.
    sent_at: u64,
    timeout: Duration,
    yielded: bool,
    done: bool,
}

impl Call {
    /// Forgets the call's slot and gives up the driver role (waking a successor).
    fn finish(conn: &Arc<Connection>, st: &mut State, msgid: u32) {
        st.forget(msgid);
        st.release_driver(u64::from(msgid));
        if st.notes_unflushed {
            // This call may have been the driver that notifications counted on.
            st.schedule_flush(conn);
        }
        if st.pending.is_empty() && st.driver.is_none() && st.broken.is_none() {
            // Idle now: arm the readiness watch the next call's idle check reads (one
            // `epoll_ctl`, which the next driver's wait then reuses instead of making its
            // own), so that a server closing the connection meanwhile is seen.
            if let Poll::Ready(Ok(())) = st.stream.poll_readable(&st.relay_waker) {
                st.readable = true;
            }
        }
    }
}

/// Where a call stands, from its slot.
enum Standing {
    Answered(Result<RawValueBuf, RpcError>),
    Lost(String),
    Expired,
    Waiting,
}

impl State {
    fn standing(&mut self, msgid: u32) -> Standing {
        // A reply that came before the connection broke is still delivered.
        match self.pending.get_mut(&msgid) {
            Some(slot) if slot.outcome.is_some() => {
                Standing::Answered(slot.outcome.take().expect("checked"))
            }
            _ if self.broken.is_some() => Standing::Lost(self.broken.clone().unwrap_or_default()),
            Some(slot) if slot.expired => Standing::Expired,
            Some(_) => Standing::Waiting,
            None => Standing::Lost("the call was forgotten by its connection".to_string()),
        }
    }
}

impl Future for Call {
    type Output = Result<RawValueBuf, CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "Call polled after completion");
        let mut guard = lock(&this.conn.state);
        let st = &mut *guard;
        let msgid = this.msgid;
        let token = u64::from(msgid);

        if !st.stream.is_home() {
            // Polled where the socket cannot be waited on: this call gives up (its reply,
            // if the request went out, is dropped on arrival); the connection is intact.
            Call::finish(&this.conn, st, msgid);
            this.done = true;
            return Poll::Ready(Err(CallError::WrongThread));
        }
        let mut standing = st.standing(msgid);
        if let Standing::Waiting = standing {
            // Whether to drive (or help write) in this poll.
            let mut work = true;
            if !this.yielded {
                this.yielded = true;
                match (st.driver, &st.driver_waker) {
                    (Some(d), Some(w)) if d != token => {
                        // The driver writes the buffer (this tick's other requests
                        // included) when it runs; wait for the reply without a yield.
                        w.wake_by_ref();
                        work = false;
                    }
                    // Nobody drives (or a blocking call does, which needs no poke): take
                    // the role if it is free, and let the other calls of this tick append
                    // their requests first (they find a driver and do not yield
                    // themselves); unless this is the only call on the connection: then
                    // there is nothing to batch with yet, and a yield would cost an
                    // executor round (under `block_on`, a reactor poll: five syscalls).
                    // Calls made while it drives join the next write.
                    (driver, _) if driver.is_some() || st.pending.len() > 1 => {
                        if driver.is_none() {
                            st.driver = Some(token);
                            st.set_driver_waker(cx.waker());
                        }
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    _ => {}
                }
            }
            if work {
                let io = if st.driver.is_none_or(|d| d == token) {
                    st.driver = Some(token);
                    st.set_driver_waker(cx.waker());
                    st.drive(cx)
                } else {
                    st.flush_or_poke()
                };
                if let Err(e) = io {
                    st.fail(e);
                }
                standing = st.standing(msgid);
            }
        }
        let mut stalled = false;
        let result = match standing {
            Standing::Waiting => {
                if let Some(slot) = st.pending.get_mut(&msgid) {
                    if !slot.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        slot.waker = Some(cx.waker().clone());
                    }
                }
                return Poll::Pending;
            }
            Standing::Answered(outcome) => outcome.map_err(CallError::Remote),
            Standing::Lost(reason) => Err(CallError::Lost(reason)),
            Standing::Expired => {
                // A peer that did not even take the request in a whole timeout is not
                // reading: fail the connection rather than queue more behind it.
                stalled = st.write_blocked && st.written < this.sent_at;
                Err(CallError::Timeout { msgid })
            }
        };
        Call::finish(&this.conn, st, msgid);
        if stalled {
            st.fail(format!("the server has not read the request in {:?}", this.timeout));
        }
        this.done = true;
        Poll::Ready(result)
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if !self.done {
            let mut st = lock(&self.conn.state);
            Call::finish(&self.conn, &mut st, self.msgid);
        }
    }
}

/// A queued notification; it only waits when the write buffer is full, or yields once
/// when it has to write its burst.
#[derive(Debug)]
pub(crate) struct Notify {
    /// Only held when there is more to do than return (`wait` or `owner`).
    conn: Option<Arc<Connection>>,
    token: u64,
    /// Made only if the notification has to wait for room.
    timer: Option<Alarm>,
    timeout: Duration,
    /// The buffer was full when it was queued.
    wait: bool,
    /// This notification owns the flush of its burst (`State::flush_owned`): it yields
    /// once, then writes the buffer if others appended meanwhile, else hands the write to
    /// a flusher task (a caller that awaits its notifications one by one keeps appending
    /// while the flusher's write is on its way, instead of paying a `write` each).
    owner: bool,
    /// Stream offset up to which the buffer held bytes when this was queued.
    queued_to: u64,
    yielded: bool,
    done: bool,
}

impl Notify {
    fn finish(
        &mut self,
        st: &mut State,
        result: Result<(), CallError>,
    ) -> Poll<Result<(), CallError>> {
        st.release_driver(self.token);
        self.done = true;
        Poll::Ready(result)
    }

    /// The owner's write, after its yield: the whole buffer if the socket takes it, else
    /// the rest is handed to the driver or a flusher task. `alone`: nothing was appended
    /// since this notification, so leave the write to a flusher task.
    fn flush_burst(conn: &Arc<Connection>, st: &mut State, alone: bool) -> Result<(), CallError> {
        st.flush_owned = false;
        if let Some(reason) = &st.broken {
            return Err(CallError::Lost(reason.clone()));
        }
        if !alone {
            if let Err(reason) = st.flush() {
                st.fail(&reason);
                return Err(CallError::Lost(reason));
            }
        }
        st.schedule_flush(conn);
        Ok(())
    }
}

impl Future for Notify {
    type Output = Result<(), CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "Notify polled after completion");
        let Some(conn) = this.conn.clone() else {
            this.done = true;
            return Poll::Ready(Ok(()));
        };
        if this.owner {
            if !this.yielded {
                // Let the other notifications (and calls) of this tick append first.
                this.yielded = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            this.owner = false;
            this.done = true;
            let mut st = lock(&conn.state);
            let alone = st.written + st.backlog() as u64 <= this.queued_to;
            return Poll::Ready(Notify::flush_burst(&conn, &mut st, alone));
        }
        if !this.wait {
            this.done = true;
            return Poll::Ready(Ok(()));
        }
        let mut guard = lock(&conn.state);
        let st = &mut *guard;
        if let Some(reason) = &st.broken {
            let reason = reason.clone();
            return this.finish(st, Err(CallError::Lost(reason)));
        }
        if !st.stream.is_home() {
            // The bytes stay queued: the connection's next driver writes them.
            return this.finish(st, Err(CallError::WrongThread));
        }
        if st.driver.is_none() {
            st.driver = Some(this.token);
        }
        let io = if st.driver == Some(this.token) {
            st.set_driver_waker(cx.waker());
            st.drive(cx)
        } else {
            st.flush_or_poke()
        };
        if let Err(reason) = io {
            st.fail(&reason);
            return this.finish(st, Err(CallError::Lost(reason)));
        }
        if st.backlog() < NOTIFY_FLUSH_AT {
            st.release_driver(this.token);
            st.schedule_flush(&conn);
            this.done = true;
            return Poll::Ready(Ok(()));
        }
        let local = st.stream.is_local();
        let timer =
            this.timer.get_or_insert_with(|| Alarm::at(local, Instant::now() + this.timeout));
        if timer.poll(cx).is_ready() {
            // The peer has not read for a whole timeout: the stream is stuck mid-frame.
            let reason = format!("writes stalled for {:?}", this.timeout);
            st.fail(&reason);
            return this.finish(st, Err(CallError::Lost(reason)));
        }
        if st.driver != Some(this.token) {
            st.space_waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for Notify {
    fn drop(&mut self) {
        let Some(conn) = self.conn.as_ref().filter(|_| !self.done) else {
            return;
        };
        let mut st = lock(&conn.state);
        if self.owner {
            // Dropped before its write: write now (no waiting), or hand the rest on.
            let _ = Notify::flush_burst(conn, &mut st, false);
        } else if self.wait {
            st.release_driver(self.token);
            st.schedule_flush(conn);
        }
    }
}

/// Writes what notifications left in the buffer when nothing else would: spawned by
/// [`State::schedule_flush`], it drives the connection (reading too, so replies to calls
/// keep flowing) until the buffer is written, or pokes the driver if there is one.
struct Flusher {
    conn: Arc<Connection>,
    /// Between attempts to write to a full local-reactor socket from this thread.
    pause: Option<async_io::Timer>,
}

impl Future for Flusher {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let conn = Arc::clone(&self.conn);
        let mut guard = lock(&conn.state);
        let st = &mut *guard;
        if st.broken.is_some() {
            st.release_driver(FLUSHER_TOKEN);
            st.flush_owned = false;
            return Poll::Ready(());
        }
        if !st.stream.is_home() {
            // A local-reactor socket, and this task runs on another thread: write what the
            // socket takes without waiting; if it is full and no driver will write the
            // rest, look again in 1 ms (nothing here can wait for the socket's writability).
            if let Err(e) = st.flush_or_poke() {
                st.fail(e);
            } else if st.unflushed() && st.driver_waker.is_none() {
                let pause = self.pause.get_or_insert_with(async_io::Timer::never);
                pause.set_after(Duration::from_millis(1));
                if Pin::new(pause).poll(cx).is_ready() {
                    cx.waker().wake_by_ref();
                }
                return Poll::Pending;
            }
            st.flush_owned = false;
            return Poll::Ready(());
        }
        if st.driver.is_none() {
            st.driver = Some(FLUSHER_TOKEN);
        }
        if st.driver == Some(FLUSHER_TOKEN) {
            st.set_driver_waker(cx.waker());
            if let Err(e) = st.drive(cx) {
                st.fail(e);
            } else if st.unflushed() {
                return Poll::Pending;
            }
            st.release_driver(FLUSHER_TOKEN);
        } else if let Err(e) = st.flush_or_poke() {
            st.fail(e);
        }
        st.flush_owned = false;
        Poll::Ready(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_io::Timer;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    /// A connection over a socket pair whose other end is a test peer thread: it reads what
    /// the connection writes, hands each read's complete messages to `on_batch` with a
    /// buffer for replies (written once per batch) and returns its state at EOF.
    fn fake_peer<S: Send + 'static>(
        mut state: S,
        mut on_batch: impl FnMut(&mut S, &[Message<'_>], &mut Vec<u8>) + Send + 'static,
    ) -> (Arc<Connection>, std::thread::JoinHandle<S>) {
        let (client, mut server) = UnixStream::pair().unwrap();
        let conn = Arc::new(Connection::new(
            Stream::from_std_unix(client).unwrap(),
            Addr::Unix("pair".into()),
        ));
        let handle = std::thread::spawn(move || {
            let mut decoder = svrkit_codec::Decoder::new(Limits::default());
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            loop {
                let n = match server.read(&mut chunk) {
                    Ok(0) | Err(_) => return state,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                let mut start = 0;
                let mut batch = Vec::new();
                let mut out = Vec::new();
                while let Some(d) = decoder.decode(&buf[start..]).unwrap() {
                    batch.push(d.message.expect("the client sent a valid message"));
                    start += d.len;
                }
                on_batch(&mut state, &batch, &mut out);
                drop(batch);
                buf.drain(..start);
                if !out.is_empty() {
                    server.write_all(&out).unwrap();
                }
            }
        });
        (conn, handle)
    }

    /// A connection over a socket pair whose other end answers every request with its
    /// msgid, in reverse order of each batch read, so replies come back out of order.
    fn pair() -> (Arc<Connection>, std::thread::JoinHandle<Vec<u32>>) {
        fake_peer(Vec::new(), |seen: &mut Vec<u32>, batch, out| {
            let ids: Vec<u32> = batch
                .iter()
                .filter_map(|m| match m {
                    Message::Request { msgid, .. } => Some(*msgid),
                    _ => None,
                })
                .collect();
            seen.extend(&ids);
            for id in ids.iter().rev() {
                svrkit_codec::encode_response(out, *id, id).unwrap();
            }
        })
    }

    #[test]
    fn msgids_wrap_around_u32_max_and_replies_match_their_calls() {
        let (conn, server) = pair();
        conn.set_next_msgid(u32::MAX - 2);
        let ex = async_executor::LocalExecutor::new();
        let calls: Vec<_> = (0..6)
            .map(|_| {
                let call = conn.call("m", &(), Deadline::after(Duration::from_secs(5))).unwrap();
                let msgid = call.msgid;
                ex.spawn(async move { (msgid, call.await) })
            })
            .collect();
        let results = futures_lite::future::block_on(ex.run(async {
            let mut out = Vec::new();
            for c in calls {
                out.push(c.await);
            }
            out
        }));
        let ids: Vec<u32> = results.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, [u32::MAX - 2, u32::MAX - 1, u32::MAX, 0, 1, 2]);
        for (id, r) in results {
            let bytes = r.unwrap();
            assert_eq!(bytes.as_raw().deserialize::<u32>().unwrap(), id);
        }
        drop(conn);
        let seen = server.join().unwrap();
        assert_eq!(seen.len(), 6);
    }

    #[test]
    fn an_in_flight_msgid_is_never_reused() {
        let mut pending = Pending::default();
        pending.insert(7, Slot::default());
        pending.insert(8, Slot::default());
        pending.insert(u32::MAX, Slot::default());
        let mut next = 7;
        assert_eq!(alloc_msgid(&mut next, &pending), 9);
        assert_eq!(next, 10);
        let mut next = u32::MAX;
        assert_eq!(alloc_msgid(&mut next, &pending), 0);
    }

    #[test]
    fn a_wrapped_msgid_skips_the_call_still_waiting_on_it() {
        let (conn, _server) = pair();
        conn.set_next_msgid(5);
        let first = conn.call("m", &(), Deadline::after(Duration::from_secs(5))).unwrap();
        assert_eq!(first.msgid, 5);
        // 2^32 calls later the counter is back at 5, with call 5 still in flight.
        conn.set_next_msgid(5);
        let second = conn.call("m", &(), Deadline::after(Duration::from_secs(5))).unwrap();
        assert_eq!(second.msgid, 6);
        let (a, b) = futures_lite::future::block_on(futures_lite::future::zip(first, second));
        assert_eq!(a.unwrap().as_raw().deserialize::<u32>().unwrap(), 5);
        assert_eq!(b.unwrap().as_raw().deserialize::<u32>().unwrap(), 6);
    }

    #[test]
    fn requests_queued_while_one_call_drives_go_out_in_one_write() {
        let (conn, server) = pair();
        let ex = async_executor::LocalExecutor::new();
        // Each task queues its request when it first runs, as independent callers do.
        let calls: Vec<_> = (0..50)
            .map(|_| {
                let conn = Arc::clone(&conn);
                ex.spawn(async move {
                    conn.call("m", &(), Deadline::after(Duration::from_secs(5))).unwrap().await
                })
            })
            .collect();
        futures_lite::future::block_on(ex.run(async {
            for c in calls {
                c.await.unwrap();
            }
        }));
        // The first call goes out alone (nothing to wait for); the 49 others, queued while
        // it drives, in one more write.
        assert_eq!(lock(&conn.state).writes, 2);
        drop(conn);
        assert_eq!(server.join().unwrap().len(), 50);
    }

    /// A connection over a socket pair whose other end counts the notifications it reads
    /// (checking that their params count up from 0) until EOF.
    fn note_counter() -> (Arc<Connection>, std::thread::JoinHandle<u64>) {
        fake_peer(0u64, |count: &mut u64, batch, _out| {
            for m in batch {
                if let Message::Notification { params, .. } = m {
                    let (i,): (u64,) = params.deserialize().unwrap();
                    assert_eq!(i, *count, "notifications out of order");
                    *count += 1;
                }
            }
        })
    }

    #[test]
    fn a_burst_of_notifications_arrives_whole_in_few_writes() {
        let (conn, server) = note_counter();
        futures_lite::future::block_on(async {
            for i in 0..10_000u64 {
                conn.notify("n", &(i,), Duration::from_secs(5), Drive::Async)
                    .unwrap()
                    .await
                    .unwrap();
            }
        });
        // Nothing else writes: the flusher task sends the tail.
        let deadline = Instant::now() + Duration::from_secs(20);
        while lock(&conn.state).unflushed() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let writes = lock(&conn.state).writes;
        assert!(writes >= 1);
        assert!(writes <= 2_000, "{writes} writes for 10000 notifications");
        drop(conn);
        // The flusher may still hold the connection for a moment; EOF comes after.
        assert_eq!(server.join().unwrap(), 10_000);
    }

    #[test]
    fn a_lone_notification_is_flushed_without_a_later_call() {
        let (conn, server) = note_counter();
        futures_lite::future::block_on(async {
            conn.notify("n", &(0u64,), Duration::from_secs(5), Drive::Async)
                .unwrap()
                .await
                .unwrap();
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while lock(&conn.state).unflushed() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(!lock(&conn.state).unflushed());
        drop(conn);
        assert_eq!(server.join().unwrap(), 1);
    }

    #[test]
    fn unanswered_calls_time_out_by_the_drivers_sweep_earliest_deadline_first() {
        // A peer that reads and never answers.
        let (client, mut server) = UnixStream::pair().unwrap();
        let sink = std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while matches!(server.read(&mut chunk), Ok(n) if n > 0) {}
        });
        let conn = Arc::new(Connection::new(
            Stream::from_std_unix(client).unwrap(),
            Addr::Unix("pair".into()),
        ));
        let order = Arc::new(Mutex::new(Vec::new()));
        let ex = async_executor::LocalExecutor::new();
        // Long deadlines first; the short call is made once the driver has armed the
        // connection's timer for a long one, so it must re-arm it earlier.
        let timeouts = [3000u64, 2000, 50];
        let tasks: Vec<_> = timeouts
            .iter()
            .map(|&ms| {
                let conn = Arc::clone(&conn);
                let order = Arc::clone(&order);
                ex.spawn(async move {
                    if ms == 50 {
                        Timer::after(Duration::from_millis(20)).await;
                    }
                    let r = conn
                        .call("m", &(), Deadline::after(Duration::from_millis(ms)))
                        .unwrap()
                        .await;
                    // Expired alone: the long calls were not swept along with it.
                    let others_live = lock(&conn.state).pending.values().all(|s| !s.expired);
                    order.lock().unwrap().push((ms, others_live));
                    r
                })
            })
            .collect();
        let results = futures_lite::future::block_on(ex.run(async {
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await);
            }
            out
        }));
        for r in results {
            assert!(matches!(r, Err(CallError::Timeout { .. })), "{r:?}");
        }
        assert_eq!(order.lock().unwrap()[0], (50, true));
        assert!(lock(&conn.state).pending.is_empty());
        drop(conn);
        sink.join().unwrap();
    }

    fn decode_u32(bytes: &[u8]) -> u32 {
        RawValue::from_slice(bytes).unwrap().deserialize::<u32>().unwrap()
    }

    #[test]
    fn sequential_calls_write_once_and_read_only_what_is_there() {
        let (conn, server) = pair();
        futures_lite::future::block_on(async {
            for _ in 0..200 {
                let call = conn.call("m", &(), Deadline::after(Duration::from_secs(5))).unwrap();
                let msgid = call.msgid;
                assert_eq!(decode_u32(call.await.unwrap().as_bytes()), msgid);
            }
        });
        let st = lock(&conn.state);
        // One write per call (no yield before it: nothing to batch with), and no read
        // that came back empty: the driver waits for readiness after each short read.
        assert_eq!(st.writes, 200);
        assert_eq!(st.empty_reads, 0);
        assert!(st.pending.is_empty());
        drop(st);
        drop(conn);
        assert_eq!(server.join().unwrap().len(), 200);
    }

    #[test]
    fn calls_dropped_mid_flight_leave_no_slot_and_the_others_get_their_replies() {
        let (conn, server) = pair();
        let ex = async_executor::LocalExecutor::new();
        let tasks: Vec<_> = (0..120u32)
            .map(|i| {
                let conn = Arc::clone(&conn);
                ex.spawn(async move {
                    let mut call =
                        conn.call("m", &(), Deadline::after(Duration::from_secs(5))).unwrap();
                    let msgid = call.msgid;
                    if i % 3 == 0 {
                        // Polled (queued, maybe driving, maybe already answered), then
                        // dropped: the caller gave up.
                        let _ = futures_lite::future::poll_once(&mut call).await;
                        drop(call);
                        return None;
                    }
                    Some((msgid, call.await))
                })
            })
            .collect();
        let results = futures_lite::future::block_on(ex.run(async {
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await);
            }
            out
        }));
        let answered: Vec<_> = results.into_iter().flatten().collect();
        assert_eq!(answered.len(), 80);
        for (msgid, r) in answered {
            assert_eq!(decode_u32(r.unwrap().as_bytes()), msgid);
        }
        {
            let st = lock(&conn.state);
            assert!(st.pending.is_empty(), "{} slots left", st.pending.len());
            assert_eq!(st.unanswered, 0);
            assert_eq!(st.driver, None);
            assert!(st.broken.is_none());
        }
        // The connection still works.
        let last = conn.call("m", &(), Deadline::after(Duration::from_secs(5))).unwrap();
        let msgid = last.msgid;
        assert_eq!(decode_u32(futures_lite::future::block_on(last).unwrap().as_bytes()), msgid);
        drop(conn);
        assert_eq!(server.join().unwrap().len(), 121);
    }

    /// What the recorder saw: (is a request, task, seq).
    type Seen = Vec<(bool, u32, u32)>;

    /// A peer that records every notification and request as (task, seq) from its params
    /// `(task, seq)`, answers requests with `true`, and returns the record at EOF.
    fn recorder() -> (Arc<Connection>, std::thread::JoinHandle<Seen>) {
        fake_peer(Vec::new(), |seen: &mut Seen, batch, out| {
            for m in batch {
                match m {
                    Message::Notification { params, .. } => {
                        let (task, seq): (u32, u32) = params.deserialize().unwrap();
                        seen.push((false, task, seq));
                    }
                    Message::Request { msgid, params, .. } => {
                        let (task, seq): (u32, u32) = params.deserialize().unwrap();
                        seen.push((true, task, seq));
                        svrkit_codec::encode_response(out, *msgid, &true).unwrap();
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        })
    }

    #[test]
    fn notifications_and_calls_of_many_tasks_go_out_in_each_tasks_order() {
        let (conn, peer) = recorder();
        let ex = async_executor::LocalExecutor::new();
        let tasks: Vec<_> = (0..8u32)
            .map(|task| {
                let conn = Arc::clone(&conn);
                ex.spawn(async move {
                    for seq in 0..300u32 {
                        if seq % 10 == 9 {
                            let call = conn
                                .call("c", &(task, seq), Deadline::after(Duration::from_secs(5)))
                                .unwrap();
                            assert!(RawValue::from_slice(call.await.unwrap().as_bytes())
                                .unwrap()
                                .deserialize::<bool>()
                                .unwrap());
                        } else {
                            let note = conn.notify(
                                "n",
                                &(task, seq),
                                Duration::from_secs(5),
                                Drive::Async,
                            );
                            note.unwrap().await.unwrap();
                        }
                    }
                })
            })
            .collect();
        futures_lite::future::block_on(ex.run(async {
            for t in tasks {
                t.await;
            }
        }));
        // Nothing after the last calls: wait for the flush of any trailing notes.
        let deadline = Instant::now() + Duration::from_secs(20);
        while lock(&conn.state).unflushed() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(conn);
        let seen = peer.join().unwrap();
        assert_eq!(seen.len(), 8 * 300);
        for task in 0..8 {
            let order: Vec<u32> =
                seen.iter().filter(|(_, t, _)| *t == task).map(|(_, _, s)| *s).collect();
            assert_eq!(order, (0..300).collect::<Vec<_>>(), "task {task}");
        }
        // Calls are requests, the rest notifications.
        assert!(seen.iter().all(|(is_call, _, seq)| *is_call == (seq % 10 == 9)));
    }

    #[test]
    fn an_idle_connection_the_server_closed_is_found_unusable() {
        // Blocking callers ask poll(2): known at once.
        let (client, server) = UnixStream::pair().unwrap();
        let conn =
            Connection::new(Stream::from_std_unix(client).unwrap(), Addr::Unix("pair".into()));
        assert!(conn.is_usable(Drive::Blocking));
        drop(server);
        assert!(!conn.is_usable(Drive::Blocking));
        assert!(lock(&conn.state).broken.is_some());

        // Async callers ask the reactor: known once it has seen the EOF.
        let (client, server) = UnixStream::pair().unwrap();
        let conn =
            Connection::new(Stream::from_std_unix(client).unwrap(), Addr::Unix("pair".into()));
        assert!(conn.is_usable(Drive::Async));
        drop(server);
        let deadline = Instant::now() + Duration::from_secs(20);
        while conn.is_usable(Drive::Async) && Instant::now() < deadline {
            // Lets the reactor run (this thread or async-io's).
            async_io::block_on(Timer::after(Duration::from_millis(1)));
        }
        assert!(!conn.is_usable(Drive::Async));
        assert!(lock(&conn.state).broken.as_deref().is_some_and(|r| r.contains("closed")));
    }
}
