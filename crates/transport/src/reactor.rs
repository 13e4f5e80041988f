//! A per-thread reactor: one epoll instance per I/O thread, sockets registered once
//! edge-triggered, local timers, and [`block_on`] to drive a future on it.
//!
//! # Model
//!
//! Each thread that calls [`block_on`] gets its own epoll fd (created on first use and kept
//! for the thread's life). A socket made into a [`crate::LocalStream`] is registered with
//! the epoll of the thread that made it, **once**, for `IN | OUT | RDHUP | ET`; the reactor
//! keeps per-source readiness flags and one waker slot per direction. An event sets the
//! flags and wakes the waiting task; a read that returns less than the buffer, or
//! `EAGAIN`, clears the readable flag (so the usual "read until `EAGAIN`" costs no extra
//! syscall); the same goes for writes. Nothing is re-armed: a request/response round trip
//! on one connection costs `epoll_wait` + `recv` + `send`.
//!
//! [`block_on`] polls its future; when the future is pending and nothing woke it, the
//! thread sleeps in `epoll_wait` with the earliest local [`Timer`] as its timeout (no
//! timerfd), dispatches the events, fires due timers and polls again. Wakes from the same
//! thread only set a flag. Wakes from other threads (a channel send, a stop request, a
//! handler thread finishing) write an eventfd registered in the same epoll, and only when
//! the loop is asleep.
//!
//! # Rules
//!
//! - A [`crate::LocalStream`] is waited on (read, written through `AsyncWrite`) only on the
//!   thread that registered it, inside that thread's [`block_on`]. `try_write`, `shutdown`
//!   and dropping work from any thread. Polling it elsewhere is a bug: a debug assertion
//!   in debug builds, an `io::Error` in release builds.
//! - [`Timer`]s belong to the thread that first polls them, inside [`block_on`].
//! - [`block_on`] does not nest: calling it inside itself on the same thread panics.
//! - Futures that use other reactors (async-io's `Timer` or `Async`, async-net) still work
//!   under [`block_on`]: their wakes arrive from async-io's thread through the eventfd.
//!
//! # Example
//!
//! Accept on this thread, serve the connection on another (the way the svrkit server's
//! acceptor hands connections to its I/O threads):
//!
//! ```
//! use futures_lite::{AsyncReadExt, AsyncWriteExt};
//! use svrkit_transport::reactor::block_on;
//! use svrkit_transport::{Addr, Gate, Listener, LocalStream, Policy};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = Listener::bind(&"127.0.0.1:0".parse::<Addr>()?)?;
//! let Addr::Tcp(addr) = listener.local_addr()? else { unreachable!() };
//! let client = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
//!     use std::io::{Read, Write};
//!     let mut c = std::net::TcpStream::connect(addr)?;
//!     c.write_all(b"ping")?;
//!     c.shutdown(std::net::Shutdown::Write)?;
//!     let mut back = Vec::new();
//!     c.read_to_end(&mut back)?;
//!     Ok(back)
//! });
//! let gate = Gate::new(&Policy::default());
//! let conn = block_on(async {
//!     let local = listener.local()?; // the listener joins this thread's reactor
//!     Ok::<_, std::io::Error>(local.accept_admitted(&gate).await)
//! })?;
//! let server = std::thread::spawn(move || -> std::io::Result<()> {
//!     let stream = LocalStream::new(conn.stream)?; // joins this thread's reactor
//!     block_on(async {
//!         let mut buf = Vec::new();
//!         (&stream).read_to_end(&mut buf).await?;
//!         (&stream).write_all(&buf).await?;
//!         (&stream).close().await
//!     })
//! });
//! server.join().unwrap()?;
//! assert_eq!(client.join().unwrap()?, b"ping");
//! # Ok(())
//! # }
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::event::{eventfd, EventfdFlags, Timespec};

/// The epoll data of the eventfd (no source slot has this index).
const WAKE_KEY: u64 = u64::MAX;
/// Events taken per `epoll_wait`.
const EVENTS: usize = 256;

const READABLE: u8 = 1;
const WRITABLE: u8 = 2;
/// The peer shut down its side (or the socket hung up / failed): sticky. A short read no
/// longer clears readability then, since no further edge will come and the next read
/// must get to see the end of the stream (data and FIN often arrive in one event).
const PEER_CLOSED: u8 = 4;

/// Which way a task waits on a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    Read,
    Write,
}

impl Dir {
    fn bit(self) -> u8 {
        match self {
            Dir::Read => READABLE,
            Dir::Write => WRITABLE,
        }
    }
}

/// The part of a reactor other threads touch: the epoll and eventfd, the sleep/wake flags,
/// and slots of sources dropped elsewhere. It is also the waker of [`block_on`].
#[derive(Debug)]
pub(crate) struct Shared {
    epoll: OwnedFd,
    eventfd: OwnedFd,
    /// Someone woke the future since it was last polled.
    notified: AtomicBool,
    /// The loop is (about to be) in `epoll_wait`: a wake must write the eventfd.
    sleeping: AtomicBool,
    /// Source slots freed by drops on other threads, reclaimed by the loop.
    orphans: Mutex<Vec<u64>>,
    has_orphans: AtomicBool,
}

impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.notified.swap(true, Ordering::SeqCst) {
            return; // Already notified: whoever did it took care of a sleeping loop.
        }
        if self.sleeping.swap(false, Ordering::SeqCst) {
            // The eventfd is edge-triggered and never read: every write is one event, and
            // the counter would take centuries of writes to saturate.
            let _ = rustix::io::write(&self.eventfd, &1u64.to_ne_bytes());
        }
    }
}

impl Shared {
    /// Remove `fd` (slot `key`) from this reactor; callable from any thread.
    pub(crate) fn deregister(self: &Arc<Self>, fd: BorrowedFd<'_>, key: u64) {
        let _ = epoll::delete(&self.epoll, fd);
        // On the owning thread the slot is freed now; elsewhere (or while the reactor is
        // busy, e.g. this drop runs inside a waker's drop) the loop reclaims it later.
        let freed = LOCAL.try_with(|l| {
            let Ok(mut l) = l.try_borrow_mut() else { return None };
            match l.as_mut() {
                Some(local) if Arc::ptr_eq(&local.shared, self) => Some(local.free(key)),
                _ => None,
            }
        });
        if let Ok(Some(wakers)) = freed {
            drop(wakers);
        } else {
            self.orphans.lock().unwrap_or_else(|e| e.into_inner()).push(key);
            self.has_orphans.store(true, Ordering::Release);
        }
    }
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    live: bool,
    ready: u8,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

/// The thread's own part of its reactor.
#[derive(Debug)]
struct Local {
    shared: Arc<Shared>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    timers: BTreeMap<(Instant, u64), Waker>,
    timer_seq: u64,
    running: bool,
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

fn key_of(index: u32, generation: u32) -> u64 {
    (u64::from(generation) << 32) | u64::from(index)
}

impl Local {
    fn new() -> io::Result<Local> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let eventfd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        epoll::add(
            &epoll,
            &eventfd,
            EventData::new_u64(WAKE_KEY),
            EventFlags::IN | EventFlags::ET,
        )?;
        Ok(Local {
            shared: Arc::new(Shared {
                epoll,
                eventfd,
                notified: AtomicBool::new(false),
                sleeping: AtomicBool::new(false),
                orphans: Mutex::new(Vec::new()),
                has_orphans: AtomicBool::new(false),
            }),
            slots: Vec::new(),
            free: Vec::new(),
            timers: BTreeMap::new(),
            timer_seq: 0,
            running: false,
        })
    }

    fn slot(&mut self, key: u64) -> Option<&mut Slot> {
        let slot = self.slots.get_mut((key & 0xffff_ffff) as usize)?;
        (slot.live && u64::from(slot.generation) == key >> 32).then_some(slot)
    }

    /// Free a source's slot; returns its wakers, to be dropped outside the borrow.
    #[must_use]
    fn free(&mut self, key: u64) -> [Option<Waker>; 2] {
        let index = (key & 0xffff_ffff) as u32;
        let Some(slot) = self.slot(key) else { return [None, None] };
        slot.live = false;
        slot.generation = slot.generation.wrapping_add(1);
        slot.ready = 0;
        let wakers = [slot.reader.take(), slot.writer.take()];
        self.free.push(index);
        wakers
    }

    fn reclaim_orphans(&mut self, dead: &mut Vec<Waker>) {
        if self.shared.has_orphans.swap(false, Ordering::Acquire) {
            let keys =
                std::mem::take(&mut *self.shared.orphans.lock().unwrap_or_else(|e| e.into_inner()));
            for key in keys {
                dead.extend(self.free(key).into_iter().flatten());
            }
        }
    }
}

/// Run `f` on this thread's reactor state, creating the reactor on first use.
fn with_local<R>(f: impl FnOnce(&mut Local) -> R) -> io::Result<R> {
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        if l.is_none() {
            *l = Some(Local::new()?);
        }
        Ok(f(l.as_mut().expect("just created")))
    })
}

/// Register `fd` with this thread's reactor (edge-triggered, both directions). Both
/// directions start out ready: the first read or write finds out.
pub(crate) fn register(fd: BorrowedFd<'_>) -> io::Result<(Arc<Shared>, u64)> {
    with_local(|local| {
        let index = match local.free.pop() {
            Some(i) => i,
            None => {
                local.slots.push(Slot::default());
                u32::try_from(local.slots.len() - 1)
                    .map_err(|_| io::Error::other("too many sources"))?
            }
        };
        let slot = &mut local.slots[index as usize];
        slot.live = true;
        slot.ready = READABLE | WRITABLE;
        let key = key_of(index, slot.generation);
        let flags = EventFlags::IN | EventFlags::OUT | EventFlags::RDHUP | EventFlags::ET;
        if let Err(e) = epoll::add(&local.shared.epoll, fd, EventData::new_u64(key), flags) {
            let _fresh = local.free(key);
            return Err(e.into());
        }
        Ok((local.shared.clone(), key))
    })?
}

/// Whether this thread runs the reactor `shared` (and is inside its [`block_on`]).
fn check_owner(local: &Local, shared: &Arc<Shared>) -> io::Result<()> {
    let ok = Arc::ptr_eq(&local.shared, shared) && local.running;
    debug_assert!(
        ok,
        "a svrkit_transport::LocalStream was polled outside the reactor::block_on of the thread that registered it"
    );
    if ok {
        Ok(())
    } else {
        Err(io::Error::other(
            "socket polled outside the reactor::block_on of the thread that registered it",
        ))
    }
}

/// Whether `shared` is the calling thread's reactor and the thread is inside its
/// [`block_on`]: what waiting on one of its sources requires.
pub(crate) fn is_home(shared: &Arc<Shared>) -> bool {
    LOCAL
        .try_with(|l| {
            l.try_borrow().is_ok_and(|l| {
                l.as_ref().is_some_and(|local| local.running && Arc::ptr_eq(&local.shared, shared))
            })
        })
        .unwrap_or(false)
}

/// Ready if `dir` is flagged ready; otherwise remember the waker and stay pending.
pub(crate) fn poll_ready(
    shared: &Arc<Shared>,
    key: u64,
    dir: Dir,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    let (r, replaced) = LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let Some(local) = l.as_mut() else {
            return (Poll::Ready(Err(io::Error::other("no reactor on this thread"))), None);
        };
        if let Err(e) = check_owner(local, shared) {
            return (Poll::Ready(Err(e)), None);
        }
        let Some(slot) = local.slot(key) else {
            return (Poll::Ready(Err(io::Error::other("socket no longer registered"))), None);
        };
        if slot.ready & dir.bit() != 0 {
            return (Poll::Ready(Ok(())), None);
        }
        let w = match dir {
            Dir::Read => &mut slot.reader,
            Dir::Write => &mut slot.writer,
        };
        match w {
            Some(old) if old.will_wake(cx.waker()) => (Poll::Pending, None),
            _ => (Poll::Pending, w.replace(cx.waker().clone())),
        }
    });
    // A replaced waker is dropped outside the borrow (its drop may run arbitrary code).
    drop(replaced);
    r
}

/// The last syscall on `dir` found nothing (`EAGAIN`, or it returned less than asked):
/// the next poll waits for the next event.
pub(crate) fn clear_ready(shared: &Arc<Shared>, key: u64, dir: Dir) {
    LOCAL.with(|l| {
        if let Some(local) = l.borrow_mut().as_mut() {
            if Arc::ptr_eq(&local.shared, shared) {
                if let Some(slot) = local.slot(key) {
                    if !(matches!(dir, Dir::Read) && slot.ready & PEER_CLOSED != 0) {
                        slot.ready &= !dir.bit();
                    }
                }
            }
        }
    });
}

/// Leaves the running flag set by [`block_on`], even on a panic.
struct Running;

impl Drop for Running {
    fn drop(&mut self) {
        let _ = LOCAL.try_with(|l| {
            if let Some(local) = l.borrow_mut().as_mut() {
                local.running = false;
            }
        });
    }
}

/// Drive `future` to completion on this thread's reactor: poll it, and while it is pending
/// wait for socket events, local timers and wakes from other threads.
///
/// # Panics
///
/// If called inside `block_on` on the same thread (it would deadlock), or if the thread's
/// epoll / eventfd cannot be created.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let shared = with_local(|local| {
        assert!(
            !local.running,
            "svrkit_transport::reactor::block_on called inside block_on on the same thread"
        );
        local.running = true;
        local.shared.clone()
    })
    .unwrap_or_else(|e| panic!("svrkit_transport::reactor: cannot create the epoll reactor: {e}"));
    let _running = Running;
    let waker = Waker::from(shared.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let mut events: Vec<epoll::Event> = Vec::with_capacity(EVENTS);
    let mut wakers: Vec<Waker> = Vec::new();
    let mut dead: Vec<Waker> = Vec::new();
    shared.notified.store(true, Ordering::SeqCst);
    loop {
        if shared.notified.swap(false, Ordering::SeqCst) {
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
        }
        // Due timers, and how long until the next one.
        let timeout = LOCAL.with(|l| {
            let mut l = l.borrow_mut();
            let local = l.as_mut().expect("reactor exists while running");
            local.reclaim_orphans(&mut dead);
            if local.timers.is_empty() {
                return None;
            }
            let now = Instant::now();
            while let Some(entry) = local.timers.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                wakers.push(entry.remove());
            }
            local.timers.first_key_value().map(|(k, _)| k.0 - now)
        });
        dead.clear();
        if !wakers.is_empty() {
            for w in wakers.drain(..) {
                w.wake();
            }
            continue;
        }
        shared.sleeping.store(true, Ordering::SeqCst);
        let timeout = if shared.notified.load(Ordering::SeqCst) {
            // Woken meanwhile: only look for events, do not sleep.
            Some(Duration::ZERO)
        } else {
            timeout
        };
        let spec = timeout.map(|d| Timespec {
            tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(d.subsec_nanos()),
        });
        events.clear();
        let r =
            epoll::wait(&shared.epoll, rustix::buffer::spare_capacity(&mut events), spec.as_ref());
        shared.sleeping.store(false, Ordering::SeqCst);
        match r {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => panic!("svrkit_transport::reactor: epoll_wait failed: {e}"),
        }
        if events.is_empty() {
            continue;
        }
        dispatch(&events, &mut wakers);
        for w in wakers.drain(..) {
            w.wake();
        }
    }
}

/// Marks the sources of `events` ready and collects the wakers to wake.
fn dispatch(events: &[epoll::Event], wakers: &mut Vec<Waker>) {
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let local = l.as_mut().expect("reactor exists while running");
        for ev in events {
            let key = ev.data.u64();
            if key == WAKE_KEY {
                continue; // `notified` says what to do.
            }
            let flags = ev.flags;
            let Some(slot) = local.slot(key) else { continue };
            let hup = flags.intersects(EventFlags::HUP | EventFlags::ERR);
            if hup || flags.contains(EventFlags::RDHUP) {
                slot.ready |= PEER_CLOSED;
            }
            if hup || flags.intersects(EventFlags::IN | EventFlags::RDHUP | EventFlags::PRI) {
                slot.ready |= READABLE;
                wakers.extend(slot.reader.take());
            }
            if hup || flags.contains(EventFlags::OUT) {
                slot.ready |= WRITABLE;
                wakers.extend(slot.writer.take());
            }
        }
    });
}

/// Collects the socket events that are ready now, without sleeping (one `epoll_wait` with
/// a zero timeout), and wakes their tasks; returns how many sources it woke. For a task
/// that has been busy on one socket for long (a peer that never stops sending): call it,
/// then yield, and the tasks of the other sockets run before it is polled again. An
/// executor only gives [`block_on`] the chance to look for events when it runs out of
/// ready tasks (or every few hundred polls), so a yield alone would not let them in.
/// Does nothing outside [`block_on`].
pub fn poll_events() -> usize {
    let Some(shared) = LOCAL.with(|l| {
        l.borrow().as_ref().filter(|local| local.running).map(|local| local.shared.clone())
    }) else {
        return 0;
    };
    let mut events: Vec<epoll::Event> = Vec::with_capacity(64);
    match epoll::wait(
        &shared.epoll,
        rustix::buffer::spare_capacity(&mut events),
        Some(&Timespec { tv_sec: 0, tv_nsec: 0 }),
    ) {
        Ok(_) => {}
        Err(_) => return 0,
    }
    let mut wakers = Vec::new();
    dispatch(&events, &mut wakers);
    let n = wakers.len();
    for w in wakers {
        w.wake();
    }
    n
}

/// What this thread's reactor holds (see [`stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Sockets registered (sockets dropped on other threads count until the loop next
    /// runs).
    pub sources: usize,
    /// Armed timers.
    pub timers: usize,
}

/// What this thread's reactor holds (zeros if the thread has none).
pub fn stats() -> Stats {
    LOCAL.with(|l| {
        l.borrow().as_ref().map_or(Stats::default(), |local| Stats {
            sources: local.slots.len() - local.free.len(),
            timers: local.timers.len(),
        })
    })
}

/// Whether this thread is inside [`block_on`].
pub fn is_running() -> bool {
    LOCAL.with(|l| l.borrow().as_ref().is_some_and(|local| local.running))
}

/// A future that completes at a point in time, on the local reactor of the thread that
/// polls it (inside [`block_on`]): kept in a per-thread ordered map, it sets the
/// `epoll_wait` timeout; no timerfd, no syscall to arm, move or cancel it. Dropping it
/// cancels it. Resolves to the deadline.
#[derive(Debug)]
pub struct Timer {
    when: Instant,
    /// The map key while registered.
    key: Option<(Instant, u64)>,
    /// The reactor it is registered with.
    owner: Option<Arc<Shared>>,
}

impl Timer {
    /// Fires `d` from now.
    pub fn after(d: Duration) -> Timer {
        Timer::at(Instant::now() + d)
    }

    /// Fires at `when`.
    pub fn at(when: Instant) -> Timer {
        Timer { when, key: None, owner: None }
    }

    /// Move the deadline to `when` (re-arms a timer that already fired).
    pub fn set_at(&mut self, when: Instant) {
        self.cancel();
        self.when = when;
    }

    /// Move the deadline to `d` from now.
    pub fn set_after(&mut self, d: Duration) {
        self.set_at(Instant::now() + d);
    }

    /// The deadline.
    pub fn deadline(&self) -> Instant {
        self.when
    }

    fn cancel(&mut self) {
        if let (Some(key), Some(owner)) = (self.key.take(), self.owner.as_ref()) {
            // If the reactor is busy (this drop runs inside a waker's drop), the entry stays
            // and fires into a waker nobody listens to: harmless.
            let removed = LOCAL.try_with(|l| {
                let mut l = l.try_borrow_mut().ok()?;
                l.as_mut()
                    .filter(|local| Arc::ptr_eq(&local.shared, owner))
                    .and_then(|local| local.timers.remove(&key))
            });
            // Dropped outside the borrow.
            drop(removed);
        }
    }
}

impl Future for Timer {
    type Output = Instant;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Instant> {
        let this = &mut *self;
        let (r, replaced) = LOCAL.with(|l| {
            let mut l = l.borrow_mut();
            let local = l.as_mut().filter(|local| local.running).unwrap_or_else(|| {
                panic!("svrkit_transport::reactor::Timer polled outside reactor::block_on")
            });
            if let Some(owner) = &this.owner {
                assert!(
                    Arc::ptr_eq(owner, &local.shared),
                    "svrkit_transport::reactor::Timer polled on another thread than the one that armed it"
                );
            }
            match this.key {
                Some(key) => match local.timers.get_mut(&key) {
                    // Still armed: keep the newest waker.
                    Some(w) if w.will_wake(cx.waker()) => (Poll::Pending, None),
                    Some(w) => (Poll::Pending, Some(std::mem::replace(w, cx.waker().clone()))),
                    // The loop removed it: it fired.
                    None => {
                        this.key = None;
                        (Poll::Ready(this.when), None)
                    }
                },
                None => {
                    if this.when <= Instant::now() {
                        return (Poll::Ready(this.when), None);
                    }
                    local.timer_seq += 1;
                    let key = (this.when, local.timer_seq);
                    local.timers.insert(key, cx.waker().clone());
                    this.key = Some(key);
                    this.owner = Some(local.shared.clone());
                    (Poll::Pending, None)
                }
            }
        });
        drop(replaced);
        r
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.cancel();
    }
}
