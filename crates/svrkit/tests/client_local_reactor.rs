//! The client opted into the calling thread's svrkit reactor (`Client::on_local_reactor`)
//! against real svrkit servers over loopback: echo, pipelined calls with some dropped,
//! notification order and the lone notification's flush, timeouts against a hung server,
//! failover when a server stops, and the misuse errors (outside `reactor::block_on`, on
//! another thread) that leave the connection working.

mod client_support;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use svrkit::client::{Client, ClientError, Endpoint};
use svrkit::config::{ClientConfig, RingNode, Routing};
use svrkit::reactor;
use svrkit::server::{bind_all, Router, RunningServer, Server};
use svrkit::transport::Addr;
use svrkit::RpcError;

use client_support::TempDir;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Echomsg {
    my_string: String,
    vec_int: Vec<i64>,
    dict_string: BTreeMap<i64, String>,
}

fn echomsg() -> Echomsg {
    Echomsg {
        my_string: "x".repeat(64),
        vec_int: (1..=8).collect(),
        dict_string: (0..4).map(|i| (i, format!("v{i}"))).collect(),
    }
}

/// A server whose `note` notifications are recorded in arrival order in `notes`.
fn start_on(name: &'static str, addr: &str, notes: Arc<Mutex<Vec<i64>>>) -> RunningServer {
    let count = Arc::clone(&notes);
    let router = Router::new()
        .route("echo1", |(m,): (Echomsg,)| async move { Ok::<_, RpcError>(m) })
        .route("whoami", move |()| async move { Ok::<_, RpcError>(name) })
        .route("sleep", |(ms, x): (u64, u64)| async move {
            async_io::Timer::after(Duration::from_millis(ms)).await;
            Ok::<_, RpcError>(x)
        })
        .route("fail", |()| async move { Err::<(), _>(RpcError::new(7, "bad thing")) })
        .route("note", move |(x,): (i64,)| {
            notes.lock().unwrap().push(x);
            async move { Ok::<_, RpcError>(()) }
        })
        .route("notes", move |()| {
            let n = count.lock().unwrap().len() as u64;
            async move { Ok::<_, RpcError>(n) }
        });
    let addr: Addr = addr.parse().unwrap();
    let listeners = bind_all(std::slice::from_ref(&addr)).unwrap();
    Server::new(router).start(listeners).unwrap()
}

fn start(name: &'static str) -> RunningServer {
    start_on(name, "127.0.0.1:0", Arc::default())
}

fn endpoint(server: &RunningServer) -> Endpoint {
    Endpoint::from(server.local_addrs()[0].clone())
}

fn local_client(endpoint: Endpoint, timeout: Duration) -> Client {
    Client::new(ClientConfig::single(endpoint).with_timeout(timeout)).unwrap().on_local_reactor()
}

#[test]
fn echo_and_errors_over_tcp_and_unix_with_the_socket_on_this_threads_reactor() {
    let dir = TempDir::new("local-unix");
    let tcp = start("tcp");
    let unix =
        start_on("unix", &format!("unix:{}", dir.path().join("s.sock").display()), Arc::default());
    for server in [&tcp, &unix] {
        let client = local_client(endpoint(server), Duration::from_secs(10));
        assert!(client.is_on_local_reactor());
        reactor::block_on(async {
            let before = reactor::stats().sources;
            for _ in 0..50 {
                let back: Echomsg = client.call("echo1", &(echomsg(),)).await.unwrap();
                assert_eq!(back, echomsg());
            }
            // The connection is registered with this thread's reactor (not async-io's).
            assert_eq!(reactor::stats().sources, before + 1);
            let err = client.call::<()>("fail", &()).await.unwrap_err();
            assert_eq!(err.remote(), Some((7, "bad thing")));
            let raw = client.call_raw("whoami", &()).await.unwrap();
            let name: String =
                svrkit::codec::RawValue::from_slice(&raw).unwrap().deserialize().unwrap();
            assert!(name == "tcp" || name == "unix");
        });
    }
    tcp.stop().unwrap();
    unix.stop().unwrap();
}

#[test]
fn pipelined_calls_with_some_dropped_mid_flight_all_get_their_own_replies() {
    let server = start("p");
    let client = local_client(endpoint(&server), Duration::from_secs(10));
    reactor::block_on(async {
        let ex = async_executor::LocalExecutor::new();
        let tasks: Vec<_> = (0..90u64)
            .map(|i| {
                let client = client.clone();
                ex.spawn(async move {
                    // Replies come back out of order: later calls sleep less.
                    let ms = (90 - i) % 7;
                    let params = (ms, i);
                    let mut call = Box::pin(client.call::<u64>("sleep", &params));
                    if i % 3 == 0 {
                        // Sent (maybe driving the connection), then given up.
                        let _ = futures_lite::future::poll_once(&mut call).await;
                        return None;
                    }
                    Some((i, call.await))
                })
            })
            .collect();
        let results = ex
            .run(async {
                let mut out = Vec::new();
                for t in tasks {
                    out.push(t.await);
                }
                out
            })
            .await;
        let answered: Vec<_> = results.into_iter().flatten().collect();
        assert_eq!(answered.len(), 60);
        for (i, r) in answered {
            assert_eq!(r.unwrap(), i);
        }
        // The connection still serves calls, one at a time too.
        for i in 0..20u64 {
            assert_eq!(client.call::<u64>("sleep", &(0, i)).await.unwrap(), i);
        }
        // On this thread's reactor.
        assert_eq!(reactor::stats().sources, 1);
    });
    assert!(client.ejected().is_empty());
    server.stop().unwrap();
}

#[test]
fn notifications_arrive_in_order_and_a_lone_one_is_flushed_without_a_later_call() {
    let notes = Arc::new(Mutex::new(Vec::new()));
    let server = start_on("n", "127.0.0.1:0", Arc::clone(&notes));
    let client = local_client(endpoint(&server), Duration::from_secs(10));
    reactor::block_on(async {
        for i in 0..200i64 {
            client.notify("note", &(i,)).await.unwrap();
            if i % 50 == 49 {
                // A call goes out after the notifications before it.
                let n: u64 = client.call("notes", &()).await.unwrap();
                assert!(n <= i as u64 + 1);
            }
        }
        // A burst from concurrent tasks, each in its own order.
        let ex = async_executor::LocalExecutor::new();
        let tasks: Vec<_> = (0..4i64)
            .map(|t| {
                let client = client.clone();
                ex.spawn(async move {
                    for k in 0..50i64 {
                        client.notify("note", &(1000 * (t + 1) + k,)).await.unwrap();
                    }
                })
            })
            .collect();
        ex.run(async {
            for t in tasks {
                t.await;
            }
        })
        .await;
        // The last one: no call follows it on this thread.
        client.notify("note", &(-1,)).await.unwrap();
        assert_eq!(reactor::stats().sources, 1);
    });
    // Nothing runs this thread's reactor now: the flusher sent the tail.
    let deadline = Instant::now() + Duration::from_secs(20);
    while notes.lock().unwrap().len() < 401 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let seen = notes.lock().unwrap().clone();
    assert_eq!(seen.len(), 401);
    assert_eq!(seen[..200], (0..200).collect::<Vec<_>>()[..]);
    for t in 0..4 {
        let order: Vec<i64> =
            seen.iter().copied().filter(|x| (1000 * (t + 1)..1000 * (t + 2)).contains(x)).collect();
        assert_eq!(order, (0..50).map(|k| 1000 * (t + 1) + k).collect::<Vec<_>>());
    }
    assert_eq!(seen[400], -1);
    server.stop().unwrap();
}

#[test]
fn calls_to_a_hung_server_or_a_slow_handler_time_out_on_the_reactor_timer() {
    // Accepts nothing and answers nothing (the kernel completes the connect).
    let hung = TcpListener::bind("127.0.0.1:0").unwrap();
    let client =
        local_client(Endpoint::from(hung.local_addr().unwrap()), Duration::from_millis(200));
    reactor::block_on(async {
        let err = client.call::<u64>("sleep", &(0, 1)).await.unwrap_err();
        match &err {
            ClientError::Timeout { method, after, .. } => {
                assert_eq!(method, "sleep");
                assert_eq!(*after, Duration::from_millis(200));
            }
            other => panic!("expected Timeout, got {other:?}"),
        }
        assert_eq!(reactor::stats().sources, 1);
    });
    drop(hung);

    let server = start("slow");
    let client = local_client(endpoint(&server), Duration::from_millis(200));
    reactor::block_on(async {
        // Two calls in flight, the slow one expires alone.
        let slow = client.call::<u64>("sleep", &(1_000, 1));
        let fast = async {
            async_io::Timer::after(Duration::from_millis(20)).await;
            client.call::<u64>("sleep", &(0, 2)).await
        };
        let (slow, fast) = futures_lite::future::zip(slow, fast).await;
        assert!(matches!(slow, Err(ClientError::Timeout { .. })), "{slow:?}");
        assert_eq!(fast.unwrap(), 2);
        // The only server is still tried, and answers.
        assert_eq!(client.call::<u64>("sleep", &(0, 3)).await.unwrap(), 3);
    });
    server.stop().unwrap();
}

#[test]
fn a_server_stopped_under_load_fails_over_to_the_other() {
    let a = start("a");
    let b = start("b");
    let nodes = vec![
        RingNode { endpoint: endpoint(&a), weight: 100 },
        RingNode { endpoint: endpoint(&b), weight: 100 },
    ];
    let client = Client::new(
        ClientConfig::new(Routing::Hashring(nodes))
            .with_timeout(Duration::from_secs(2))
            .with_probe_interval(Duration::from_millis(50)),
    )
    .unwrap()
    .on_local_reactor();
    let keys: Vec<String> = (0..40).map(|i| format!("user{i}")).collect();
    let done = Arc::new(AtomicUsize::new(0));
    let stopper = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            while done.load(Ordering::SeqCst) < 150 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            a.stop().unwrap();
        })
    };
    let a_key = reactor::block_on(async {
        let mut a_key = None;
        for k in &keys {
            if client.call_with_key::<String>(k, "whoami", &()).await.unwrap() == "a" {
                a_key = Some(k.clone());
                break;
            }
        }
        let a_key = a_key.expect("a owns a key");
        let ex = async_executor::LocalExecutor::new();
        let tasks: Vec<_> = (0..4usize)
            .map(|t| {
                let client = client.clone();
                let keys = keys.clone();
                let done = Arc::clone(&done);
                ex.spawn(async move {
                    let mut out = Vec::new();
                    for i in 0..200usize {
                        let key = &keys[(t * 11 + i) % keys.len()];
                        let ms = u64::from(i % 20 == 0) * 20;
                        let r = client.call_with_key::<u64>(key, "sleep", &(ms, i as u64)).await;
                        done.fetch_add(1, Ordering::SeqCst);
                        out.push((i as u64, r));
                    }
                    out
                })
            })
            .collect();
        let results = ex
            .run(async {
                let mut all = Vec::new();
                for t in tasks {
                    all.extend(t.await);
                }
                all
            })
            .await;
        for (i, r) in results {
            assert_eq!(r.unwrap(), i);
        }
        // Both connections were on this thread's reactor (a's is gone with its server).
        assert!(reactor::stats().sources >= 1);
        a_key
    });
    stopper.join().unwrap();
    reactor::block_on(async {
        assert_eq!(client.call_with_key::<String>(&a_key, "whoami", &()).await.unwrap(), "b");
    });
    assert_eq!(client.ejected().len(), 1);
    b.stop().unwrap();
}

#[test]
fn polled_outside_block_on_or_on_another_thread_is_a_wrong_thread_error() {
    let server = start("m");
    let client = local_client(endpoint(&server), Duration::from_secs(10));

    // Not inside reactor::block_on at all: refused before connecting.
    let err = smol::block_on(client.call::<u64>("sleep", &(0, 1))).unwrap_err();
    assert!(matches!(err, ClientError::WrongThread { .. }), "{err:?}");
    assert!(err.to_string().contains("reactor::block_on"), "{err}");
    let err = smol::block_on(client.notify("note", &(1,))).unwrap_err();
    assert!(matches!(err, ClientError::WrongThread { .. }), "{err:?}");

    // The connection is made on this thread's reactor...
    reactor::block_on(async {
        assert_eq!(client.call::<u64>("sleep", &(0, 2)).await.unwrap(), 2);
    });
    // ...so another thread, even inside its own reactor, may not use it.
    let other = client.clone();
    let err = std::thread::spawn(move || {
        reactor::block_on(async {
            let call = other.call::<u64>("sleep", &(0, 3)).await.unwrap_err();
            let note = other.notify("note", &(3,)).await.unwrap_err();
            (call, note)
        })
    })
    .join()
    .unwrap();
    assert!(matches!(err.0, ClientError::WrongThread { .. }), "{:?}", err.0);
    assert!(matches!(err.1, ClientError::WrongThread { .. }), "{:?}", err.1);

    // A call sent here, then moved to another thread before its reply: it fails there.
    let mut moved = Box::pin({
        let client = client.clone();
        async move { client.call::<u64>("sleep", &(100, 4)).await }
    });
    reactor::block_on(async {
        assert!(futures_lite::future::poll_once(&mut moved).await.is_none());
    });
    let err = std::thread::spawn(move || smol::block_on(moved)).join().unwrap().unwrap_err();
    assert!(matches!(err, ClientError::WrongThread { .. }), "{err:?}");

    // Nothing was broken or ejected: the same connection serves calls here again.
    reactor::block_on(async {
        let before = reactor::stats().sources;
        for i in 0..10u64 {
            assert_eq!(client.call::<u64>("sleep", &(0, i)).await.unwrap(), i);
        }
        assert_eq!(reactor::stats().sources, before);
    });
    assert!(client.ejected().is_empty());
    server.stop().unwrap();
}
