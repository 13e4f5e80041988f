//! Black-box tests of the transport over real loopback TCP and Unix sockets: framing across
//! arbitrary splits, large frames, truncated and oversized input, the batching writer, the
//! accept gate, and Unix socket file handling.

use std::io::{Read, Write};
use std::time::Duration;

use futures_lite::future::{block_on, zip};
use futures_lite::AsyncWriteExt;
use svrkit_codec::{encode_request, FrameError, Limits, Message};
use svrkit_transport::{
    connect, Addr, AllowList, BatchWriter, FrameReader, Gate, Listener, Policy, Refusal,
    TransportError,
};

fn tcp0() -> Addr {
    "127.0.0.1:0".parse().unwrap()
}

/// Read every request from `reader` until EOF: (msgid, method, params bytes).
async fn read_all(
    reader: &mut FrameReader<svrkit_transport::Stream>,
) -> Result<Vec<(u32, String, usize)>, TransportError> {
    let mut out = Vec::new();
    loop {
        while let Some(d) = reader.next_frame()? {
            match d.message.expect("valid message") {
                Message::Request { msgid, method, params } => {
                    out.push((msgid, method.to_string(), params.as_bytes().len()))
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        if reader.fill().await? == 0 {
            return Ok(out);
        }
    }
}

#[test]
fn frames_survive_any_split_over_tcp() {
    block_on(async {
        let l = Listener::bind(&tcp0()).unwrap();
        let addr = l.local_addr().unwrap();
        let mut wire = Vec::new();
        for i in 0..300u32 {
            let s = "z".repeat((i as usize * 37) % 5000);
            encode_request(&mut wire, i, "m", &(s, i)).unwrap();
        }
        let total = wire.len();
        let sender = std::thread::spawn(move || {
            let Addr::Tcp(sa) = addr else { unreachable!() };
            let mut s = std::net::TcpStream::connect(sa).unwrap();
            s.set_nodelay(true).unwrap();
            // Uneven chunks: 1, 2, 3, ... bytes, with pauses, so the reader sees partial frames.
            let mut pos = 0;
            let mut n = 1;
            while pos < wire.len() {
                let end = (pos + n).min(wire.len());
                s.write_all(&wire[pos..end]).unwrap();
                pos = end;
                n = n % 997 + 1;
                if n % 100 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        let (stream, peer) = l.accept().await.unwrap();
        let mut reader = FrameReader::new(stream, peer, Limits::default());
        let got = read_all(&mut reader).await.unwrap();
        sender.join().unwrap();
        assert_eq!(got.len(), 300);
        for (i, (msgid, method, _)) in got.iter().enumerate() {
            assert_eq!(*msgid, i as u32);
            assert_eq!(method, "m");
        }
        assert!(total > 300 * 1000);
    });
}

#[test]
fn large_frame_grows_the_buffer_and_oversized_one_is_refused() {
    block_on(async {
        let l = Listener::bind(&tcp0()).unwrap();
        let addr = l.local_addr().unwrap();
        let big = "b".repeat(3 << 20); // 3 MiB, more than the 64 KiB throughput size
        let client = async {
            let s = connect(&addr).await.unwrap();
            let mut w = Vec::new();
            encode_request(&mut w, 1, "big", &(big.clone(),)).unwrap();
            encode_request(&mut w, 2, "small", &(1,)).unwrap();
            (&s).write_all(&w).await.unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
            s
        };
        let server = async {
            let (stream, peer) = l.accept().await.unwrap();
            let limits = Limits { max_frame: 4 << 20, ..Limits::default() };
            let mut reader = FrameReader::new(stream, peer, limits);
            read_all(&mut reader).await.unwrap()
        };
        let (_s, got) = zip(client, server).await;
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].0, got[1].0), (1, 2));
        assert!(got[0].2 > 3 << 20);

        // The same with a 1 MiB limit: the stream is refused, naming the peer.
        let client = async {
            let s = connect(&addr).await.unwrap();
            let mut w = Vec::new();
            encode_request(&mut w, 1, "big", &(big.clone(),)).unwrap();
            let _ = (&s).write_all(&w).await;
            s
        };
        let server = async {
            let (stream, peer) = l.accept().await.unwrap();
            let limits = Limits { max_frame: 1 << 20, ..Limits::default() };
            let mut reader = FrameReader::new(stream, peer.clone(), limits);
            (read_all(&mut reader).await, peer)
        };
        let (_s, (res, peer)) = zip(client, server).await;
        match res {
            Err(TransportError::Frame { peer: p, source: FrameError::TooLarge { .. } }) => {
                assert_eq!(p, peer)
            }
            other => panic!("expected an oversized-frame error, got {other:?}"),
        }
    });
}

#[test]
fn close_mid_frame_is_reported() {
    block_on(async {
        let l = Listener::bind(&tcp0()).unwrap();
        let addr = l.local_addr().unwrap();
        let mut w = Vec::new();
        encode_request(&mut w, 1, "m", &("abcdef",)).unwrap();
        let half = w[..w.len() - 3].to_vec();
        let client = async {
            let s = connect(&addr).await.unwrap();
            (&s).write_all(&half).await.unwrap();
            drop(s);
        };
        let server = async {
            let (stream, peer) = l.accept().await.unwrap();
            let mut reader = FrameReader::new(stream, peer, Limits::default());
            read_all(&mut reader).await
        };
        let ((), res) = zip(client, server).await;
        assert!(
            matches!(res, Err(TransportError::TruncatedFrame { buffered, .. }) if buffered == half.len()),
            "{res:?}"
        );
    });
}

#[test]
fn batching_writer_delivers_everything_in_order_over_unix() {
    let dir = std::env::temp_dir().join(format!("svrkit-transport-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("w.sock");
    let addr = Addr::Unix(path.clone());
    block_on(async {
        let l = Listener::bind(&addr).unwrap();
        assert!(path.exists());
        let producer = async {
            let s = connect(&addr).await.unwrap();
            let (w, flusher) = BatchWriter::new();
            let writers: Vec<BatchWriter> = (0..4).map(|_| w.clone()).collect();
            drop(w);
            let produce = async move {
                for i in 0..20_000u32 {
                    let w = &writers[i as usize % 4];
                    w.write_with(|b| encode_request(b, i, "n", &(i,))).unwrap();
                    if i % 1000 == 0 {
                        futures_lite::future::yield_now().await;
                    }
                }
                // Dropping the writers lets the flusher finish.
            };
            let (_, r) = zip(produce, flusher.run(s)).await;
            r.unwrap();
        };
        let consumer = async {
            let (stream, peer) = l.accept().await.unwrap();
            let mut reader = FrameReader::new(stream, peer, Limits::default());
            read_all(&mut reader).await.unwrap()
        };
        let ((), got) = zip(producer, consumer).await;
        assert_eq!(got.len(), 20_000);
        assert!(got.iter().enumerate().all(|(i, g)| g.0 == i as u32));
        drop(l);
    });
    // The listener that created the socket file removed it.
    assert!(!path.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stale_unix_socket_is_replaced_but_live_one_is_not() {
    let dir = std::env::temp_dir().join(format!("svrkit-transport-stale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    // A stale file: bound by a std listener that is gone (its file stays behind).
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let addr = Addr::Unix(path.clone());
    let live = Listener::bind(&addr).expect("stale socket replaced");
    let again = Listener::bind(&addr);
    assert!(
        matches!(&again, Err(TransportError::Bind { source, .. }) if source.kind() == std::io::ErrorKind::AddrInUse),
        "{again:?}"
    );
    drop(live);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn gate_refuses_by_address_and_count() {
    let policy = Policy {
        allow: AllowList::parse_list("127.0.0.0/8").unwrap(),
        max_connections: 2,
        ..Policy::default()
    };
    let gate = Gate::new(&policy);
    let local: Addr = "127.0.0.1:5000".parse().unwrap();
    let remote: Addr = "192.0.2.1:5000".parse().unwrap();
    assert_eq!(gate.admit(&remote).unwrap_err(), Refusal::NotAllowed);
    let a = gate.admit(&local).unwrap();
    let _b = gate.admit(&Addr::Unix("".into())).unwrap();
    assert_eq!(gate.admit(&local).unwrap_err(), Refusal::TooManyConnections { max: 2 });
    assert_eq!(gate.open(), 2);
    drop(a);
    assert_eq!(gate.open(), 1);
    assert!(gate.admit(&local).is_ok());
}

#[test]
fn accept_admitted_closes_refused_peers() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let l = Listener::bind(&tcp0()).unwrap();
    let Addr::Tcp(sa) = l.local_addr().unwrap() else { unreachable!() };
    let gate = Gate::new(&Policy { max_connections: 1, ..Policy::default() });
    let first = std::net::TcpStream::connect(sa).unwrap();
    let admitted = block_on(l.accept_admitted(&gate));
    assert_eq!(admitted.peer, Addr::Tcp(first.local_addr().unwrap()));

    // Keep accepting on another thread while this one plays the refused peer.
    let done = Arc::new(AtomicBool::new(false));
    let done2 = done.clone();
    let acceptor = std::thread::spawn(move || {
        block_on(futures_lite::future::or(
            async {
                let _ = l.accept_admitted(&gate).await;
                panic!("nobody else connects");
            },
            async {
                while !done2.load(Ordering::SeqCst) {
                    async_io::Timer::after(Duration::from_millis(5)).await;
                }
            },
        ));
    });
    let mut second = std::net::TcpStream::connect(sa).unwrap();
    second.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut b = [0u8; 1];
    assert_eq!(blocking_read(&mut second, &mut b), 0, "the refused peer should see EOF");
    done.store(true, Ordering::SeqCst);
    acceptor.join().unwrap();
    drop(admitted);
}

fn blocking_read(s: &mut std::net::TcpStream, b: &mut [u8]) -> usize {
    match s.read(b) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn flush_now_hands_what_the_socket_refuses_to_the_flusher() {
    block_on(async {
        let l = Listener::bind(&tcp0()).unwrap();
        let addr = l.local_addr().unwrap();
        let producer = async {
            let s = connect(&addr).await.unwrap();
            let (w, flusher) = BatchWriter::with_stream(s.clone());
            let produce = async move {
                let big = "q".repeat(8 * 1024);
                for i in 0..3000u32 {
                    w.write_with(|b| encode_request(b, i, "n", &(i, &big))).unwrap();
                    if i % 7 == 0 {
                        // Far more than the socket buffer holds: some of it must be left
                        // to the flusher, in order.
                        w.flush_now();
                        futures_lite::future::yield_now().await;
                    }
                }
            };
            let (_, r) = zip(produce, flusher.run(s)).await;
            r.unwrap();
        };
        let consumer = async {
            let (stream, peer) = l.accept().await.unwrap();
            let mut reader = FrameReader::new(stream, peer, Limits::default());
            read_all(&mut reader).await.unwrap()
        };
        let ((), got) = zip(producer, consumer).await;
        assert_eq!(got.len(), 3000);
        assert!(got.iter().enumerate().all(|(i, g)| g.0 == i as u32));
    });
}

/// Counts wakes of the flusher's task.
struct CountWake(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountWake {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn hold_and_write_now_write_from_the_caller_without_waking_the_flusher() {
    use std::future::Future;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};

    let (a, mut peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let stream = svrkit_transport::Stream::from_std_unix(a).unwrap();
    let (writer, flusher) = BatchWriter::with_stream(stream.clone());
    let count = Arc::new(CountWake(Default::default()));
    let waker = Waker::from(count.clone());
    let mut flush = Box::pin(flusher.run(stream));
    // The flusher parks (nothing to write) and is never polled again below.
    assert!(flush.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());

    // Plain appends wake the parked flusher.
    writer.write(b"a");
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    // ... which writes them when it runs.
    assert!(flush.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
    let mut got = [0u8; 1];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"a");

    // Held: appends stay put, the flusher is not woken; flush_now writes them from here.
    writer.hold();
    writer.write(b"b");
    writer.write_with(|buf| buf.extend_from_slice(b"c"));
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert_eq!(writer.backlog(), 2);
    writer.flush_now();
    let mut got = [0u8; 2];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"bc");
    assert_eq!(count.0.load(Ordering::SeqCst), 1);

    // write_now_with: straight to the socket from the caller (another thread here).
    let w2 = writer.clone();
    std::thread::spawn(move || w2.write_now_with(|buf| buf.extend_from_slice(b"d")))
        .join()
        .unwrap();
    let mut got = [0u8; 1];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"d");
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert_eq!(writer.backlog(), 0);

    // Closing wakes the flusher, which finishes.
    drop(writer);
    assert_eq!(count.0.load(Ordering::SeqCst), 2);
    assert!(matches!(flush.as_mut().poll(&mut Context::from_waker(&waker)), Poll::Ready(Ok(()))));
}
