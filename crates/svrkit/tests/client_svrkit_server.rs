//! The svrkit client against the svrkit server: echo of a proto, slow and fast calls on one
//! connection, notifications, errors, timeouts, a graceful stop under load with failover to
//! another server, and readmission when the server comes back on its port.

mod client_support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use svrkit::client::{BlockingClient, Client, ClientError, Endpoint};
use svrkit::config::{ClientConfig, RingNode, Routing};
use svrkit::server::{bind_all, Router, RunningServer, Server};
use svrkit::transport::Addr;
use svrkit::{codes, RpcError};

use client_support::{run_concurrently, TempDir};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Echomsg {
    my_string: String,
    vec_int: Vec<i64>,
    dict_string: BTreeMap<i64, String>,
}

fn router(name: &'static str, notes: Arc<AtomicU64>) -> Router {
    let count = Arc::clone(&notes);
    Router::new()
        .route("echo1", |(m,): (Echomsg,)| async move { Ok::<_, RpcError>(m) })
        .route("whoami", move |()| async move { Ok::<_, RpcError>(name) })
        .route("sleep", |(ms, x): (u64, u64)| async move {
            async_io::Timer::after(Duration::from_millis(ms)).await;
            Ok::<_, RpcError>(x)
        })
        .route("fail", |()| async move { Err::<(), _>(RpcError::new(7, "bad thing")) })
        .route("note", move |(_x,): (i64,)| {
            notes.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, RpcError>(()) }
        })
        .route("notes", move |()| {
            let n = count.load(Ordering::SeqCst);
            async move { Ok::<_, RpcError>(n) }
        })
}

fn start_on(name: &'static str, addr: &str) -> RunningServer {
    let addr: Addr = addr.parse().unwrap();
    // A restarted server may find its port briefly busy: retry for a bounded time.
    let deadline = Instant::now() + Duration::from_secs(5);
    let listeners = loop {
        match bind_all(std::slice::from_ref(&addr)) {
            Ok(l) => break l,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("bind {addr}: {e}"),
        }
    };
    Server::new(router(name, Arc::new(AtomicU64::new(0)))).start(listeners).unwrap()
}

fn endpoint(server: &RunningServer) -> Endpoint {
    Endpoint::from(server.local_addrs()[0].clone())
}

fn client(endpoint: Endpoint, timeout_ms: u64) -> Client {
    Client::new(ClientConfig::single(endpoint).with_timeout(Duration::from_millis(timeout_ms)))
        .unwrap()
}

fn echomsg() -> Echomsg {
    Echomsg {
        my_string: "x".repeat(64),
        vec_int: (1..=8).collect(),
        dict_string: (0..4).map(|i| (i, format!("v{i}"))).collect(),
    }
}

#[test]
fn echo_errors_notifications_over_tcp_and_unix() {
    let dir = TempDir::new("svrkit-unix");
    let tcp = start_on("tcp", "127.0.0.1:0");
    let unix = start_on("unix", &format!("unix:{}", dir.path().join("s.sock").display()));
    for server in [&tcp, &unix] {
        let client = client(endpoint(server), 2_000);
        smol::block_on(async {
            let back: Echomsg = client.call("echo1", &(echomsg(),)).await.unwrap();
            assert_eq!(back, echomsg());

            let err = client.call::<()>("fail", &()).await.unwrap_err();
            assert_eq!(err.remote(), Some((7, "bad thing")));
            let err = client.call::<()>("nope", &()).await.unwrap_err();
            assert_eq!(err.remote().map(|r| r.0), Some(codes::NO_SUCH_METHOD));
            let err = client.call::<()>("echo1", &(1, 2)).await.unwrap_err();
            assert_eq!(err.remote().map(|r| r.0), Some(codes::INVALID_PARAMS));

            for i in 0..50 {
                client.notify("note", &(i,)).await.unwrap();
            }
            // Notifications run as calls do; poll until all 50 are counted (bounded).
            let mut n = 0;
            for _ in 0..200 {
                n = client.call::<u64>("notes", &()).await.unwrap();
                if n == 50 {
                    break;
                }
                async_io::Timer::after(Duration::from_millis(10)).await;
            }
            assert_eq!(n, 50);
        });
    }
    tcp.stop().unwrap();
    unix.stop().unwrap();
}

#[test]
fn a_slow_call_does_not_hold_back_fast_ones_and_times_out_alone() {
    let server = start_on("a", "127.0.0.1:0");
    let client = client(endpoint(&server), 300);
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let results = run_concurrently(21, |i| {
        let client = client.clone();
        let order = Arc::clone(&order);
        async move {
            // Call 0 takes longer than the timeout; the others answer at once.
            let ms = if i == 0 { 2_000 } else { 0 };
            let r = client.call::<u64>("sleep", &(ms, i as u64)).await;
            order.lock().unwrap().push(i);
            r
        }
    });
    for (i, r) in results.into_iter().enumerate() {
        if i == 0 {
            match r.unwrap_err() {
                ClientError::Timeout { method, .. } => assert_eq!(method, "sleep"),
                other => panic!("expected Timeout, got {other:?}"),
            }
        } else {
            assert_eq!(r.unwrap(), i as u64);
        }
    }
    assert_eq!(order.lock().unwrap().last(), Some(&0));
    server.stop().unwrap();
}

#[test]
fn pipelined_load_on_one_connection() {
    let server = start_on("a", "127.0.0.1:0");
    let client = client(endpoint(&server), 5_000);
    let results = run_concurrently(2_000, |i| {
        let client = client.clone();
        async move {
            client
                .call::<Echomsg>("echo1", &(Echomsg { my_string: i.to_string(), ..echomsg() },))
                .await
        }
    });
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r.unwrap().my_string, i.to_string());
    }
    server.stop().unwrap();
}

#[test]
fn a_server_stopped_under_load_fails_over_and_is_readmitted_on_restart() {
    let a = start_on("a", "127.0.0.1:0");
    let b = start_on("b", "127.0.0.1:0");
    let a_addr = a.local_addrs()[0].to_string();
    let nodes = vec![
        RingNode { endpoint: endpoint(&a), weight: 100 },
        RingNode { endpoint: endpoint(&b), weight: 100 },
    ];
    let client = BlockingClient::new(
        ClientConfig::new(Routing::Hashring(nodes))
            .with_timeout(Duration::from_secs(2))
            .with_probe_interval(Duration::from_millis(50)),
    )
    .unwrap();
    let keys: Vec<String> = (0..40).map(|i| format!("user{i}")).collect();
    let owner = |k: &str| client.call_with_key::<String>(k, "whoami", &()).unwrap();
    let a_key = keys.iter().find(|k| owner(k) == "a").expect("a owns a key").clone();

    let done = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let client = client.clone();
            let keys = keys.clone();
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                (0..200)
                    .map(|i| {
                        let key = &keys[(t * 11 + i) % keys.len()];
                        let r = client.call_with_key::<u64>(
                            key,
                            "sleep",
                            &(u64::from(i % 20 == 0) * 20, i as u64),
                        );
                        done.fetch_add(1, Ordering::SeqCst);
                        (i as u64, r)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while done.load(Ordering::SeqCst) < 150 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    a.stop().unwrap();
    for t in threads {
        for (i, r) in t.join().unwrap() {
            // Every call ends with its result: in-flight calls were answered before the
            // stop, later ones failed over to b.
            assert_eq!(r.unwrap(), i);
        }
    }
    assert_eq!(owner(&a_key), "b");
    assert_eq!(client.ejected().len(), 1);

    let a2 = start_on("a2", &a_addr);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !client.ejected().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(client.ejected().is_empty(), "a was not readmitted");
    assert_eq!(owner(&a_key), "a2");
    a2.stop().unwrap();
    b.stop().unwrap();
}
