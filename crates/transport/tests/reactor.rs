//! Tests of the per-thread reactor over real loopback TCP and Unix sockets: readiness
//! after short reads and `EAGAIN`, end of stream, peer reset, many sources, timers,
//! cross-thread wakes, deregistration on drop, and misuse.

use std::future::Future;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_lite::future::{poll_fn, zip};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use svrkit_codec::{encode_request, encode_response, Limits, Message};
use svrkit_transport::reactor::{self, block_on, Timer};
use svrkit_transport::{
    Addr, BatchWriter, FrameReader, Gate, Listener, LocalStream, Policy, StdStream,
};

/// A connected (LocalStream side, plain std peer) Unix pair, registered on this thread.
fn unix_pair() -> (LocalStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    (LocalStream::new(StdStream::Unix(a)).unwrap(), b)
}

/// A connected (LocalStream side, plain std peer) TCP pair over loopback.
fn tcp_pair() -> (LocalStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (LocalStream::new(StdStream::Tcp(s)).unwrap(), peer)
}

/// Poll `fut` once with a no-op waker.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

/// Let the reactor run once (dispatching pending events) by sleeping on a timer.
async fn tick() {
    Timer::after(Duration::from_millis(1)).await;
}

/// Fails the test (instead of hanging it) if `fut` takes longer than 10 s.
async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    futures_lite::future::or(fut, async {
        Timer::after(Duration::from_secs(10)).await;
        panic!("timed out after 10 s");
    })
    .await
}

#[test]
fn short_read_clears_readiness_until_the_next_event() {
    let (s, mut peer) = tcp_pair();
    block_on(bounded(async {
        peer.write_all(b"0123456789").unwrap();
        let mut buf = [0u8; 100];
        // Wait for the bytes, then a short read (10 < 100).
        let mut got = 0;
        while got < 10 {
            got += (&s).read(&mut buf[got..]).await.unwrap();
        }
        assert_eq!(&buf[..10], b"0123456789");
        // More bytes arrive, but the reactor has not seen their event yet: after a short
        // read the stream is not readable until it does (no `EAGAIN` read in between).
        peer.write_all(b"abc").unwrap();
        let mut s2 = &s;
        let mut read = s2.read(&mut buf);
        assert!(poll_once(&mut read).is_pending(), "a short read must clear readiness");
        // The event arrives: readable again.
        assert_eq!(read.await.unwrap(), 3);
        assert_eq!(&buf[..3], b"abc");
    }));
}

#[test]
fn a_full_read_keeps_readiness_until_eagain() {
    let (s, mut peer) = unix_pair();
    block_on(bounded(async {
        peer.write_all(b"abcd").unwrap();
        let mut buf = [0u8; 4];
        (&s).read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"abcd");
        // The buffer was filled exactly: still flagged readable, so the next read asks the
        // socket and finds the bytes written meanwhile without waiting for an event.
        peer.write_all(b"ef").unwrap();
        let mut s2 = &s;
        let mut read = s2.read(&mut buf);
        let got = poll_once(&mut read);
        drop(read);
        match got {
            Poll::Ready(Ok(2)) => assert_eq!(&buf[..2], b"ef"),
            other => panic!("expected the 2 bytes at once, got {other:?}"),
        }
        // Nothing left: EAGAIN clears readiness; the read completes on the next event.
        let mut read = s2.read(&mut buf);
        assert!(poll_once(&mut read).is_pending());
        peer.write_all(b"g").unwrap();
        assert_eq!(read.await.unwrap(), 1);
        assert_eq!(buf[0], b'g');
    }));
}

#[test]
fn end_of_stream_is_seen_and_stays() {
    let (s, peer) = tcp_pair();
    block_on(bounded(async {
        let mut buf = [0u8; 16];
        let mut s2 = &s;
        let mut read = s2.read(&mut buf);
        assert!(poll_once(&mut read).is_pending());
        // The peer half-closes: RDHUP wakes the reader, which reads 0.
        peer.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read.await.unwrap(), 0);
        // End of stream stays readable.
        assert_eq!((&s).read(&mut buf).await.unwrap(), 0);
        assert_eq!((&s).read(&mut buf).await.unwrap(), 0);
        // Writing still works (half-close).
        (&s).write_all(b"bye").await.unwrap();
    }));
    let mut peer = peer;
    let mut got = Vec::new();
    s.shutdown(Shutdown::Write).unwrap();
    peer.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"bye");
}

#[test]
fn peer_reset_is_an_error() {
    let (s, peer) = tcp_pair();
    block_on(bounded(async {
        // The peer closes with our bytes unread in its buffer: the kernel answers with RST.
        (&s).write_all(b"never read").await.unwrap();
        tick().await;
        drop(peer);
        let mut buf = [0u8; 16];
        let err = loop {
            match (&s).read(&mut buf).await {
                Ok(0) => panic!("expected a reset, got end of stream"),
                Ok(_) => continue,
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    }));
}

type Reader<'a> = Pin<Box<dyn Future<Output = (usize, u8)> + 'a>>;

#[test]
fn many_sources_each_wake_their_own_reader() {
    const N: usize = 200;
    let pairs: Vec<_> = (0..N).map(|_| unix_pair()).collect();
    assert!(reactor::stats().sources >= N);
    block_on(bounded(async {
        let mut readers: Vec<Reader<'_>> = Vec::new();
        for (i, (s, _)) in pairs.iter().enumerate() {
            readers.push(Box::pin(async move {
                let mut b = [0u8; 1];
                (&*s).read_exact(&mut b).await.unwrap();
                (i, b[0])
            }));
        }
        // Every reader waits; then the peers write in reverse order.
        let mut cx = Context::from_waker(Waker::noop());
        for r in &mut readers {
            assert!(r.as_mut().poll(&mut cx).is_pending());
        }
        for (i, (_, peer)) in pairs.iter().enumerate().rev() {
            (&*peer).write_all(&[i as u8]).unwrap();
        }
        let mut done = [false; N];
        let mut left = N;
        poll_fn(|cx| {
            for r in &mut readers {
                if let Poll::Ready((i, b)) = r.as_mut().poll(cx) {
                    assert_eq!(b, i as u8);
                    assert!(!done[i]);
                    done[i] = true;
                    left -= 1;
                    *r = Box::pin(std::future::pending());
                }
            }
            if left == 0 {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }));
    let before = reactor::stats().sources;
    drop(pairs);
    assert_eq!(reactor::stats().sources, before - N, "dropping deregisters");
}

#[test]
fn timers_fire_in_deadline_order_and_cancel_on_drop() {
    let order = Arc::new(Mutex::new(Vec::new()));
    block_on(bounded(async {
        let t0 = Instant::now();
        let at = |ms| {
            let order = order.clone();
            async move {
                let fired = Timer::at(t0 + Duration::from_millis(ms)).await;
                assert!(Instant::now() >= fired);
                order.lock().unwrap().push(ms);
            }
        };
        // Armed out of order.
        zip(zip(at(30), at(10)), zip(at(20), at(1))).await;
        assert_eq!(*order.lock().unwrap(), [1, 10, 20, 30]);

        // Cancel: an armed timer leaves the reactor when dropped (`bounded` holds one).
        let base = reactor::stats().timers;
        let mut t = Timer::after(Duration::from_secs(3600));
        assert!(poll_once(&mut t).is_pending());
        assert_eq!(reactor::stats().timers, base + 1);
        drop(t);
        assert_eq!(reactor::stats().timers, base);

        // Re-arm: moving the deadline earlier makes it fire at the new one.
        let mut t = Timer::after(Duration::from_secs(3600));
        assert!(poll_once(&mut t).is_pending());
        let soon = Instant::now() + Duration::from_millis(5);
        t.set_at(soon);
        assert_eq!(reactor::stats().timers, base);
        assert_eq!((&mut t).await, soon);
        assert_eq!(reactor::stats().timers, base);
    }));
}

/// A one-shot flag set from another thread, waking whoever waits.
#[derive(Default)]
struct Flag {
    state: Mutex<(bool, Option<Waker>)>,
}

impl Flag {
    fn set(&self) {
        let w = {
            let mut st = self.state.lock().unwrap();
            st.0 = true;
            st.1.take()
        };
        if let Some(w) = w {
            w.wake();
        }
    }

    async fn wait(&self) {
        poll_fn(|cx| {
            let mut st = self.state.lock().unwrap();
            if st.0 {
                Poll::Ready(())
            } else {
                st.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

#[test]
fn a_wake_from_another_thread_interrupts_the_sleep() {
    let flag = Arc::new(Flag::default());
    let setter = {
        let flag = flag.clone();
        std::thread::spawn(move || {
            // Let the reactor go to sleep in epoll_wait (no timer armed: an infinite wait).
            std::thread::sleep(Duration::from_millis(50));
            flag.set();
        })
    };
    // Only the eventfd ends this wait before `bounded`'s 10 s timer fails the test.
    block_on(bounded(flag.wait()));
    setter.join().unwrap();
    // And again, with the wake arriving before the loop sleeps.
    let flag = Arc::new(Flag::default());
    flag.set();
    block_on(flag.wait());
}

#[test]
fn try_write_and_drop_from_other_threads() {
    let (s, mut peer) = tcp_pair();
    let before = reactor::stats().sources;
    let other = s.clone();
    std::thread::spawn(move || {
        assert_eq!(other.try_write(b"from afar").unwrap(), 9);
        // The last clone but one: dropping here does not deregister.
    })
    .join()
    .unwrap();
    let mut got = [0u8; 9];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"from afar");
    assert_eq!(reactor::stats().sources, before);
    // The last clone dropped elsewhere: the socket closes at once, the slot is reclaimed
    // when the loop next runs.
    std::thread::spawn(move || drop(s)).join().unwrap();
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    block_on(tick());
    assert_eq!(reactor::stats().sources, before - 1);
}

#[test]
fn nested_block_on_panics_clearly_and_the_thread_recovers() {
    let r = std::panic::catch_unwind(|| block_on(async { block_on(async {}) }));
    let payload = r.expect_err("nested block_on must panic");
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap();
    assert!(msg.contains("inside block_on"), "{msg}");
    assert!(!reactor::is_running());
    assert_eq!(block_on(async { 7 }), 7);
}

#[test]
fn polling_on_another_thread_is_refused() {
    let (s, _peer) = unix_pair();
    let r = std::thread::spawn(move || {
        let mut buf = [0u8; 4];
        let mut s = &s;
        let mut read = s.read(&mut buf);
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_once(&mut read)))
            .map(|p| matches!(p, Poll::Ready(Err(_))))
    })
    .join()
    .unwrap();
    // Debug builds assert; release builds return an error.
    assert!(r.unwrap_or(true));
}

#[test]
#[should_panic(expected = "outside reactor::block_on")]
fn a_timer_outside_block_on_panics() {
    let mut t = Timer::after(Duration::from_millis(1));
    let _ = poll_once(&mut t);
}

/// The whole path: accept on the reactor, hand the socket to another thread, which
/// registers it and answers framed requests through a batching writer.
#[test]
fn accept_on_one_thread_serve_on_another() {
    let listener = Listener::bind(&"127.0.0.1:0".parse::<Addr>().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let Addr::Tcp(sa) = addr.clone() else { unreachable!() };
    let client = std::thread::spawn(move || {
        let mut c = TcpStream::connect(sa).unwrap();
        let mut out = Vec::new();
        for i in 0..100u32 {
            encode_request(&mut out, i, "add", &(i, 1)).unwrap();
        }
        c.write_all(&out).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).unwrap();
        back
    });
    let gate = Gate::new(&Policy::default());
    let accepted = block_on(bounded(async {
        let local = listener.local().unwrap();
        local.accept_admitted(&gate).await
    }));
    assert_eq!(gate.open(), 1);
    let server = std::thread::spawn(move || {
        let stream = LocalStream::new(accepted.stream).unwrap();
        block_on(bounded(async {
            let (writer, flusher) = BatchWriter::with_stream(stream.clone());
            let flush = flusher.run(stream.clone());
            let read = async move {
                let mut reader = FrameReader::new(stream, accepted.peer, Limits::default());
                loop {
                    while let Some(d) = reader.next_frame().unwrap() {
                        if let Ok(Message::Request { msgid, params, .. }) = d.message {
                            let (a, b): (u32, u32) = params.deserialize().unwrap();
                            writer.write_with(|buf| encode_response(buf, msgid, &(a + b))).unwrap();
                        }
                    }
                    writer.flush_now();
                    if reader.fill().await.unwrap() == 0 {
                        break;
                    }
                }
            };
            let ((), f) = zip(read, flush).await;
            f.unwrap();
        }));
        drop(accepted.permit);
    });
    server.join().unwrap();
    let back = client.join().unwrap();
    let mut dec = svrkit_codec::Decoder::new(Limits::default());
    let mut at = 0;
    let mut n = 0u32;
    while let Some(d) = dec.decode(&back[at..]).unwrap() {
        at += d.len;
        match d.message.unwrap() {
            Message::Response { msgid, result, .. } => {
                assert_eq!(msgid, n);
                assert_eq!(result.deserialize::<u32>().unwrap(), n + 1);
            }
            other => panic!("unexpected {other:?}"),
        }
        n += 1;
    }
    assert_eq!(n, 100);
    assert_eq!(gate.open(), 0);
}

#[test]
fn poll_events_wakes_waiting_tasks_from_inside_a_busy_poll() {
    use futures_lite::AsyncRead;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::Wake;

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    assert_eq!(reactor::poll_events(), 0, "outside block_on it does nothing");
    let (s, mut peer) = unix_pair();
    block_on(async {
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(Arc::clone(&flag));
        let mut cx = Context::from_waker(&waker);
        let mut buf = [0u8; 8];
        // Nothing to read: the read registers `waker`.
        assert!(Pin::new(&mut &s).poll_read(&mut cx, &mut buf).is_pending());
        peer.write_all(b"x").unwrap();
        // Still inside this one poll of the block_on future (a task that never yields):
        // poll_events collects the event and wakes the reader.
        let t = Instant::now();
        let mut woke = 0;
        while !flag.0.load(Ordering::SeqCst) && t.elapsed() < Duration::from_secs(10) {
            woke += reactor::poll_events();
        }
        assert!(flag.0.load(Ordering::SeqCst), "the reader was not woken");
        assert_eq!(woke, 1);
        match Pin::new(&mut &s).poll_read(&mut cx, &mut buf) {
            Poll::Ready(Ok(1)) => assert_eq!(buf[0], b'x'),
            other => panic!("expected the byte, got {other:?}"),
        }
    });
}

#[test]
fn poll_readable_and_try_read_keep_the_edge_triggered_readiness() {
    let (s, mut peer) = tcp_pair();
    assert!(!s.is_home(), "outside block_on nothing can wait on it");
    block_on(bounded(async {
        assert!(s.is_home());
        let mut buf = [0u8; 100];
        // Registered as ready: the first try_read finds out (nothing: EAGAIN).
        let e = s.try_read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
        // EAGAIN cleared readiness: waiting reads nothing, and is woken by the bytes.
        let mut ready = poll_fn(|cx| s.poll_readable(cx));
        assert!(poll_once(&mut ready).is_pending());
        peer.write_all(b"0123456789").unwrap();
        ready.await.unwrap();
        // Still readable until a read finds the socket drained.
        poll_fn(|cx| s.poll_readable(cx)).await.unwrap();
        assert_eq!(s.try_read(&mut buf).unwrap(), 10);
        assert_eq!(&buf[..10], b"0123456789");
        // A short read cleared it: more bytes are only seen with their event.
        peer.write_all(b"abc").unwrap();
        let mut ready = poll_fn(|cx| s.poll_readable(cx));
        assert!(poll_once(&mut ready).is_pending(), "a short try_read must clear readiness");
        ready.await.unwrap();
        // A read that fills the buffer leaves it readable.
        assert_eq!(s.try_read(&mut buf[..3]).unwrap(), 3);
        assert_eq!(&buf[..3], b"abc");
        assert!(poll_once(&mut poll_fn(|cx| s.poll_readable(cx))).is_ready());
    }));
    // Another thread may read without waiting, and is not home.
    peer.write_all(b"xy").unwrap();
    let r = std::thread::spawn(move || {
        let home = s.is_home();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 8];
        loop {
            match s.try_read(&mut buf) {
                Ok(n) => return (home, buf[..n].to_vec()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "the bytes never came");
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("{e}"),
            }
        }
    })
    .join()
    .unwrap();
    assert_eq!(r, (false, b"xy".to_vec()));
}

#[test]
fn a_writer_that_fills_the_socket_is_woken_when_the_peer_reads() {
    // Writability is watched only from the first write that finds the socket full: that
    // write must still be woken once the peer makes room.
    for (s, peer) in [tcp_pair_boxed(), unix_pair_boxed()] {
        let payload: Vec<u8> = (0..8 << 20).map(|i| (i % 251) as u8).collect();
        let want = payload.clone();
        let reader = std::thread::spawn(move || {
            let mut peer = peer;
            std::thread::sleep(Duration::from_millis(100)); // let the writer hit a full socket
            let mut got = Vec::with_capacity(want.len());
            peer.read_to_end(&mut got).unwrap();
            assert!(got == want, "the peer read {} bytes, not the payload", got.len());
        });
        block_on(bounded(async {
            (&s).write_all(&payload).await.unwrap();
            (&s).close().await.unwrap();
        }));
        drop(s);
        reader.join().unwrap();
    }
}

/// A TCP pair with the peer as a boxed `Read`.
fn tcp_pair_boxed() -> (LocalStream, Box<dyn Read + Send>) {
    let (s, peer) = tcp_pair();
    (s, Box::new(peer))
}

/// A Unix pair with the peer as a boxed `Read`.
fn unix_pair_boxed() -> (LocalStream, Box<dyn Read + Send>) {
    let (s, peer) = unix_pair();
    (s, Box::new(peer))
}

#[test]
fn data_and_end_of_stream_in_one_event_are_both_read() {
    // The peer writes and shuts down its side before the reactor looks: one event carries
    // both (IN | RDHUP). The short read of the data must not wait for another edge: none
    // will come, and the end of the stream has to be seen.
    let (tcp, mut tcp_peer) = tcp_pair();
    let (unix, mut unix_peer) = unix_pair();
    tcp_peer.write_all(b"ping").unwrap();
    tcp_peer.shutdown(Shutdown::Write).unwrap();
    unix_peer.write_all(b"ping").unwrap();
    unix_peer.shutdown(Shutdown::Write).unwrap();
    block_on(bounded(async {
        tick().await; // the reactor takes the events before any read
        for s in [&tcp, &unix] {
            let mut got = Vec::new();
            let mut s = s;
            s.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"ping");
        }
    }));
}
