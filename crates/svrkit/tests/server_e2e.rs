//! End-to-end tests of the server over real loopback TCP and Unix sockets, driven by a raw
//! msgpack-rpc test client: echo, pipelining with out-of-order replies, notifications,
//! every error path, accept policy, back-pressure, idle timeout and graceful stop, in both
//! worker modes.

mod server_support;

use std::collections::HashSet;
use std::time::Duration;

use server_support::{options, router, sample, start, tcp0, Echomsg, RawClient, State, TempDir};
use svrkit::codes;
use svrkit::server::Mode;
use svrkit::transport::{Addr, AllowList};

/// Empty params: an empty array (`()` would encode as nil).
const NO_ARGS: [u8; 0] = [];

fn echo_roundtrip(addr: &Addr) {
    let mut c = RawClient::connect(addr);
    let r = c.call("echo1", &(sample(),));
    assert_eq!(r.value::<Echomsg>(), sample());
    let r = c.call("echo2", &NO_ARGS);
    assert_eq!(r.value::<Echomsg>(), sample());
    let r = c.call("echo3", &NO_ARGS);
    assert_eq!(r.value::<()>(), ());
    let r = c.call("add", &(40, 2));
    assert_eq!(r.value::<i64>(), 42);
}

#[test]
fn echo_over_tcp_and_unix_in_both_modes() {
    for mode in [Mode::Coroutine, Mode::Thread] {
        let dir = TempDir::new("echo");
        let unix = Addr::Unix(dir.path().join("echo.sock"));
        let s = start(router(State::new()), options(mode, 2), &[tcp0(), unix]);
        let addrs = s.local_addrs().to_vec();
        assert_eq!(addrs.len(), 2);
        for a in &addrs {
            echo_roundtrip(a);
        }
        s.stop().unwrap();
        // The Unix socket file is removed at stop.
        assert!(!dir.path().join("echo.sock").exists());
    }
}

#[test]
fn slow_call_does_not_block_fast_one_on_same_connection() {
    for mode in [Mode::Coroutine, Mode::Thread] {
        let state = State::new();
        let s = start(router(state.clone()), options(mode, 2), &[tcp0()]);
        let mut c = RawClient::connect(&s.local_addrs()[0]);
        // msgid 1 waits on a gate that only msgid 3 opens; msgid 2 must come back first.
        c.request(1, "wait", &(7,));
        c.request(2, "add", &(1, 2));
        let r = c.recv();
        assert_eq!(r.msgid, 2, "the fast call was not answered before the slow one");
        assert_eq!(r.value::<i64>(), 3);
        c.request(3, "open", &(1,));
        let mut got: Vec<(u32, bool)> = (0..2)
            .map(|_| {
                let r = c.recv();
                (r.msgid, r.outcome.is_ok())
            })
            .collect();
        got.sort();
        assert_eq!(got, [(1, true), (3, true)]);
        s.stop().unwrap();
    }
}

#[test]
fn many_pipelined_calls_each_answered_once() {
    let s = start(router(State::new()), options(Mode::Coroutine, 2), &[tcp0()]);
    let mut c = RawClient::connect(&s.local_addrs()[0]);
    let mut batch = Vec::new();
    for i in 0..2000u32 {
        if i % 3 == 0 {
            svrkit::codec::encode_request(&mut batch, i, "sleep", &(1, i64::from(i))).unwrap();
        } else {
            svrkit::codec::encode_request(&mut batch, i, "add", &(i64::from(i), 1)).unwrap();
        }
    }
    c.send_raw(&batch);
    let mut seen = HashSet::new();
    for _ in 0..2000 {
        let r = c.recv();
        let want =
            if r.msgid.is_multiple_of(3) { i64::from(r.msgid) } else { i64::from(r.msgid) + 1 };
        assert_eq!(r.value::<i64>(), want, "msgid {}", r.msgid);
        assert!(seen.insert(r.msgid), "msgid {} answered twice", r.msgid);
    }
    // msgid uses the whole u32 range.
    c.request(u32::MAX, "add", &(1, 1));
    assert_eq!(c.recv().msgid, u32::MAX);
}

#[test]
fn notifications_run_without_reply() {
    for mode in [Mode::Coroutine, Mode::Thread] {
        let state = State::new();
        let s = start(router(state.clone()), options(mode, 1), &[tcp0()]);
        let mut c = RawClient::connect(&s.local_addrs()[0]);
        for _ in 0..100 {
            c.notify("bump", &(2,));
        }
        c.notify("no_such", &(1,));
        c.notify("bump", &("not an int",));
        // The first reply on the wire must be for this call: notifications sent none.
        let mut n = 0;
        for _ in 0..1000 {
            let r = c.call("count", &NO_ARGS);
            n = r.value::<i64>();
            if n == 200 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(n, 200);
        s.stop().unwrap();
    }
}

#[test]
fn error_replies_keep_the_connection() {
    for mode in [Mode::Coroutine, Mode::Thread] {
        let s = start(router(State::new()), options(mode, 2), &[tcp0()]);
        let mut c = RawClient::connect(&s.local_addrs()[0]);

        let r = c.call("nope", &(1,));
        assert_eq!(r.err().code, codes::NO_SUCH_METHOD);
        assert_eq!(r.err().message, "no such method: nope");

        let r = c.call("echo1", &(sample(), 2));
        assert_eq!(r.err().code, codes::INVALID_PARAMS);
        assert_eq!(r.err().message, "echo1: expected 1 param [Echomsg], got 2", "{mode:?}");

        let r = c.call("add", &("x", 1));
        assert_eq!(r.err().code, codes::INVALID_PARAMS);
        assert!(
            r.err().message.starts_with("add: invalid params (expected [i64, i64]): "),
            "{}",
            r.err().message
        );

        // Params that are not an array: [0, 7, "add", {}].
        c.send_raw(&[0x94, 0x00, 0x07, 0xa3, b'a', b'd', b'd', 0x80]);
        let r = c.recv();
        assert_eq!(r.msgid, 7);
        assert_eq!(r.err().code, codes::INVALID_PARAMS);

        // A request with the wrong arity: [0, 8, "add"].
        c.send_raw(&[0x93, 0x00, 0x08, 0xa3, b'a', b'd', b'd']);
        let r = c.recv();
        assert_eq!(r.msgid, 8);
        assert_eq!(r.err().code, codes::INVALID_REQUEST);

        let r = c.call("fail", &NO_ARGS);
        assert_eq!(r.err().code, 42);
        assert_eq!(r.err().message, "nope");

        let r = c.call("panic", &NO_ARGS);
        assert_eq!(r.err().code, codes::INTERNAL);
        assert!(r.err().message.contains("boom"), "{}", r.err().message);

        // The same connection still works after all of that.
        assert_eq!(c.call("add", &(2, 2)).value::<i64>(), 4);
        s.stop().unwrap();
    }
}

#[test]
fn malformed_stream_closes_only_that_connection() {
    let s = start(router(State::new()), options(Mode::Coroutine, 1), &[tcp0()]);
    let addr = s.local_addrs()[0].clone();
    let mut good = RawClient::connect(&addr);
    assert_eq!(good.call("add", &(1, 1)).value::<i64>(), 2);

    let mut bad = RawClient::connect(&addr);
    bad.request(5, "add", &(1, 2));
    assert_eq!(bad.recv().value::<i64>(), 3);
    bad.send_raw(&[0xc1, 0x00, 0x00]); // 0xc1 is never valid msgpack
    assert!(bad.closed_by_server());

    assert_eq!(good.call("add", &(2, 3)).value::<i64>(), 5);
}

#[test]
fn oversized_frame_closes_only_that_connection() {
    let mut opts = options(Mode::Coroutine, 1);
    opts.policy.max_frame = 1024;
    let s = start(router(State::new()), opts, &[tcp0()]);
    let addr = s.local_addrs()[0].clone();
    let mut good = RawClient::connect(&addr);

    let mut big = RawClient::connect(&addr);
    let m = Echomsg { my_string: "y".repeat(4096), ..Echomsg::default() };
    big.request(1, "echo1", &(m,));
    assert!(big.closed_by_server());

    // Just under the limit still works.
    let m = Echomsg { my_string: "y".repeat(900), ..Echomsg::default() };
    assert_eq!(good.call("echo1", &(m.clone(),)).value::<Echomsg>(), m);
}

#[test]
fn allow_ip_refuses_other_addresses() {
    let mut opts = options(Mode::Coroutine, 1);
    opts.policy.allow = AllowList::parse_list("10.0.0.0/8, ::1").unwrap();
    let s = start(router(State::new()), opts, &[tcp0()]);
    let mut c = RawClient::connect(&s.local_addrs()[0]);
    c.request(1, "add", &(1, 1));
    assert!(c.closed_by_server(), "127.0.0.1 is not in the allow list");
    drop(s);

    let mut opts = options(Mode::Coroutine, 1);
    opts.policy.allow = AllowList::parse_list("10.0.0.0/8, 127.0.0.0/8").unwrap();
    let s = start(router(State::new()), opts, &[tcp0()]);
    let mut c = RawClient::connect(&s.local_addrs()[0]);
    assert_eq!(c.call("add", &(1, 1)).value::<i64>(), 2);
}

#[test]
fn max_connections_refuses_the_extra_one() {
    let mut opts = options(Mode::Coroutine, 2);
    opts.policy.max_connections = 2;
    let s = start(router(State::new()), opts, &[tcp0()]);
    let addr = s.local_addrs()[0].clone();
    let mut a = RawClient::connect(&addr);
    let mut b = RawClient::connect(&addr);
    assert_eq!(a.call("add", &(1, 0)).value::<i64>(), 1);
    assert_eq!(b.call("add", &(2, 0)).value::<i64>(), 2);
    let mut extra = RawClient::connect(&addr);
    extra.request(1, "add", &(3, 0));
    assert!(extra.closed_by_server());
    // The admitted ones are unaffected, and a slot frees when one leaves.
    assert_eq!(a.call("add", &(4, 0)).value::<i64>(), 4);
    drop(b);
    let mut ok = false;
    for _ in 0..200 {
        let mut c = RawClient::connect(&addr);
        c.request(1, "add", &(5, 0));
        if let Some(r) = c.try_recv() {
            assert_eq!(r.value::<i64>(), 5);
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(ok, "a freed slot was never reused");
}

#[test]
fn in_flight_cap_applies_back_pressure() {
    let state = State::new();
    let mut opts = options(Mode::Coroutine, 1);
    opts.max_in_flight = 2;
    let s = start(router(state.clone()), opts, &[tcp0()]);
    let mut c = RawClient::connect(&s.local_addrs()[0]);
    c.request(1, "wait", &(1,));
    c.request(2, "wait", &(2,));
    c.request(3, "add", &(1, 2));
    // Two calls hold both slots: "add" is not read until one finishes. Open one gate from
    // outside the server; then everything completes.
    std::thread::sleep(Duration::from_millis(100));
    state.gate.0.send_blocking(()).unwrap();
    let first = c.recv();
    assert!(first.msgid == 1 || first.msgid == 2, "got {}", first.msgid);
    let second = c.recv();
    assert_eq!(second.msgid, 3, "add must wait for a free slot, then run");
    state.gate.0.send_blocking(()).unwrap();
    let third = c.recv();
    assert_eq!(first.msgid + third.msgid, 3);
}

#[test]
fn idle_connections_are_closed() {
    let mut opts = options(Mode::Coroutine, 1);
    opts.policy.idle_timeout = Some(Duration::from_millis(200));
    let s = start(router(State::new()), opts, &[tcp0()]);
    let mut c = RawClient::connect(&s.local_addrs()[0]);
    // A call longer than the idle timeout is not cut off: pending calls are activity.
    c.request(1, "sleep", &(500, 9));
    assert_eq!(c.recv().value::<i64>(), 9);
    assert!(c.closed_by_server());
}

#[test]
fn thread_mode_runs_blocking_handlers_in_parallel() {
    let s = start(router(State::new()), options(Mode::Thread, 4), &[tcp0()]);
    let mut c = RawClient::connect(&s.local_addrs()[0]);
    for i in 0..4 {
        c.request(i, "block", &(300,));
    }
    let mut names = HashSet::new();
    for _ in 0..4 {
        let name: String = c.recv().value();
        assert!(name.starts_with("svrkit-handler-"), "{name}");
        names.insert(name);
    }
    // Four blocking calls, four handler threads: each ran on a different one.
    assert_eq!(names.len(), 4);
}

#[test]
fn graceful_stop_answers_every_call_in_flight() {
    for mode in [Mode::Coroutine, Mode::Thread] {
        let s = start(router(State::new()), options(mode, 2), &[tcp0()]);
        let addr = s.local_addrs()[0].clone();
        let mut clients: Vec<RawClient> = (0..4).map(|_| RawClient::connect(&addr)).collect();
        for (k, c) in clients.iter_mut().enumerate() {
            let mut batch = Vec::new();
            for i in 0..50u32 {
                let tag = i64::from(i) + 1000 * k as i64;
                svrkit::codec::encode_request(
                    &mut batch,
                    i,
                    "sleep",
                    &(20 + u64::from(i % 5) * 10, tag),
                )
                .unwrap();
            }
            c.send_raw(&batch);
        }
        // Make sure every connection was read before stopping.
        for c in clients.iter_mut() {
            c.request(999, "add", &(0, 0));
        }
        std::thread::sleep(Duration::from_millis(50));
        let stopper = std::thread::spawn(move || s.stop());
        for (k, c) in clients.iter_mut().enumerate() {
            let mut got = HashSet::new();
            for _ in 0..51 {
                let r = c.recv();
                if r.msgid != 999 {
                    assert_eq!(r.value::<i64>(), i64::from(r.msgid) + 1000 * k as i64);
                }
                got.insert(r.msgid);
            }
            assert_eq!(got.len(), 51, "{mode:?}: lost replies");
            assert!(c.closed_by_server());
        }
        stopper.join().unwrap().unwrap();
        // And the port no longer accepts.
        let Addr::Tcp(sa) = addr else { unreachable!() };
        assert!(std::net::TcpStream::connect(sa).is_err());
    }
}

#[test]
fn graceful_stop_lets_notification_handlers_finish() {
    for mode in [Mode::Coroutine, Mode::Thread] {
        let state = State::new();
        let s = start(router(state.clone()), options(mode, 2), &[tcp0()]);
        let mut c = RawClient::connect(&s.local_addrs()[0]);
        for _ in 0..3 {
            c.notify("slow_bump", &(5,));
        }
        // A call after the notifications proves they were read before the stop.
        assert_eq!(c.call("add", &(1, 1)).value::<i64>(), 2);
        s.stop().unwrap();
        assert_eq!(state.count.load(std::sync::atomic::Ordering::SeqCst), 15, "{mode:?}");
    }
}

/// A peer that sends requests but does not read its replies: the server stops reading
/// from it once the replies it holds pass its high-water mark (the peer's writes block),
/// and answers everything once the peer reads again.
#[test]
fn a_peer_that_does_not_read_is_stopped_then_fully_answered() {
    use std::io::{Read, Write};
    use svrkit::server::Router;
    use svrkit::RpcError;

    const REPLY: usize = 32 * 1024;
    const MAX_REQUESTS: u32 = 10_000;
    for mode in [Mode::Coroutine, Mode::Thread] {
        let router = Router::new().route("blob", |(n, _pad): (usize, String)| async move {
            Ok::<_, RpcError>("x".repeat(n))
        });
        let s = start(router, options(mode, 1), &[tcp0()]);
        let Addr::Tcp(sa) = s.local_addrs()[0].clone() else { unreachable!() };
        let mut sock = std::net::TcpStream::connect(sa).unwrap();
        sock.set_nonblocking(true).unwrap();
        let pad = "p".repeat(8 * 1024);
        let mut req = Vec::new();
        let (mut sent, mut at) = (0u32, 0usize);
        let mut stalled_since = None;
        // Write until the server stops taking requests for 300 ms (bounded by MAX_REQUESTS).
        while sent < MAX_REQUESTS {
            if at == req.len() {
                req.clear();
                svrkit::codec::encode_request(&mut req, sent, "blob", &(REPLY, &pad)).unwrap();
                at = 0;
            }
            match sock.write(&req[at..]) {
                Ok(n) => {
                    at += n;
                    stalled_since = None;
                    if at == req.len() {
                        sent += 1;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let since = *stalled_since.get_or_insert_with(std::time::Instant::now);
                    if since.elapsed() > Duration::from_millis(300) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("{mode:?}: write: {e}"),
            }
        }
        assert!(
            sent < MAX_REQUESTS,
            "{mode:?}: the server kept reading from a peer that does not read"
        );
        // Finish the request in progress, then read every reply.
        sock.set_nonblocking(false).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let total = sent + u32::from(at > 0 && at < req.len());
        let mut reader = sock.try_clone().unwrap();
        let rest = req[at..].to_vec();
        let finisher = std::thread::spawn(move || sock.write_all(&rest).unwrap());
        let mut dec = svrkit::codec::Decoder::default();
        let (mut buf, mut got) = (Vec::new(), 0u32);
        let mut chunk = vec![0u8; 64 * 1024];
        while got < total {
            while let Some(d) = dec.decode(&buf).unwrap() {
                let len = d.len;
                match d.message.unwrap() {
                    svrkit::codec::Message::Response { msgid, error: None, result } => {
                        assert_eq!(msgid, got, "{mode:?}: replies in order");
                        assert_eq!(result.deserialize::<String>().unwrap().len(), REPLY);
                    }
                    other => panic!("{mode:?}: unexpected {other:?}"),
                }
                buf.drain(..len);
                got += 1;
            }
            if got == total {
                break;
            }
            let n = reader.read(&mut chunk).expect("replies keep coming");
            assert!(n > 0, "{mode:?}: closed after {got} of {total} replies");
            buf.extend_from_slice(&chunk[..n]);
        }
        finisher.join().unwrap();

        // Many small requests in one read whose replies pass the high-water mark within
        // that one batch: the server must write what it holds before it waits.
        let mut c = RawClient::connect(&s.local_addrs()[0]);
        c.request(0, "blob", &(1, ""));
        assert_eq!(c.recv().msgid, 0);
        let mut burst = Vec::new();
        for id in 1..=200u32 {
            svrkit::codec::encode_request(&mut burst, id, "blob", &(128 * 1024, "")).unwrap();
        }
        c.send_raw(&burst);
        for id in 1..=200u32 {
            assert_eq!(c.recv().msgid, id, "{mode:?}");
        }
    }
}
