//! End-to-end tests of the client against a real msgpack-rpc server over loopback TCP and
//! Unix sockets: echo of every value shape, pipelining with out-of-order replies,
//! notifications, each error path, the blocking client.

mod client_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use svrkit::client::{BlockingClient, Client, ClientError, Endpoint};
use svrkit::config::{ClientConfig, Routing, ShardingConfig};
use svrkit_codec::codes;

use client_support::{run_concurrently, Bin, TempDir, TestServer};

/// seeds/000's echomsg, as generated code declares protos.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Echomsg {
    my_string: String,
    vec_int: Vec<i64>,
    dict_string: BTreeMap<i64, String>,
}

fn sample() -> Echomsg {
    Echomsg {
        my_string: "x".repeat(64),
        vec_int: (1..=8).collect(),
        dict_string: (0..4).map(|i| (i, format!("v{i}"))).collect(),
    }
}

/// A client for tests that expect answers: its timeout only bounds a broken test, so it is
/// generous enough for a loaded 2-core CI machine (timeout tests set their own).
fn quick(endpoint: Endpoint) -> Client {
    Client::new(ClientConfig::single(endpoint).with_timeout(Duration::from_secs(10))).unwrap()
}

fn check_echo(client: &Client) {
    smol::block_on(async {
        let msg = sample();
        let back: Echomsg = client.call("echo", &(&msg,)).await.unwrap();
        assert_eq!(back, msg);
        let s: String = client.call("echo", &("héllo",)).await.unwrap();
        assert_eq!(s, "héllo");
        let n: i64 = client.call("echo", &(-5_000_000_000_i64,)).await.unwrap();
        assert_eq!(n, -5_000_000_000);
        let big: u64 = client.call("echo", &(u64::MAX,)).await.unwrap();
        assert_eq!(big, u64::MAX);
        let bin: Bin = client.call("echo", &(Bin(vec![0, 159, 255]),)).await.unwrap();
        assert_eq!(bin, Bin(vec![0, 159, 255]));
        let map: BTreeMap<i64, String> =
            client.call("echo", &(BTreeMap::from([(7, "seven".to_string())]),)).await.unwrap();
        assert_eq!(map[&7], "seven");
        let none: Option<String> = client.call("echo", &(None::<String>,)).await.unwrap();
        assert_eq!(none, None);
        let sum: i64 = client.call("add", &(2, 40)).await.unwrap();
        assert_eq!(sum, 42);
    });
}

#[test]
fn echo_over_tcp() {
    let server = TestServer::tcp("a");
    check_echo(&quick(server.endpoint()));
}

#[test]
fn echo_over_unix_socket() {
    let dir = TempDir::new("unix");
    let server = TestServer::unix("u", &dir.path().join("echo.sock"));
    check_echo(&quick(server.endpoint()));
}

#[test]
fn raw_result_bytes() {
    let server = TestServer::tcp("a");
    let client = quick(server.endpoint());
    let raw = smol::block_on(client.call_raw("echo", &([1, 2],))).unwrap();
    assert_eq!(raw, [0x92, 0x01, 0x02]);
}

#[test]
fn slow_call_does_not_block_fast_calls_on_the_same_connection() {
    let server = TestServer::tcp("a");
    let client = quick(server.endpoint()).clone();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let results = run_concurrently(11, |i| {
        let client = client.clone();
        let order = Arc::clone(&order);
        async move {
            // Call 0 sleeps 300 ms on the server; the other ten answer at once.
            let ms = if i == 0 { 300 } else { 0 };
            let r: Result<u64, _> = client.call("sleep", &(ms, i as u64)).await;
            order.lock().unwrap().push(i);
            r
        }
    });
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r.unwrap(), i as u64);
    }
    let order = order.lock().unwrap();
    assert_eq!(order.last(), Some(&0), "the slow call finished before fast ones: {order:?}");
    // All eleven calls went over one connection.
    assert_eq!(server.requests(), 11);
}

#[test]
fn many_calls_in_flight_are_matched_to_their_replies() {
    let server = TestServer::tcp("a");
    let client = quick(server.endpoint());
    // Replies come back in reverse order of the requests' delays.
    let results = run_concurrently(500, |i| {
        let client = client.clone();
        async move { client.call::<u64>("sleep", &((500 - i as u64) % 7, i as u64)).await }
    });
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r.unwrap(), i as u64);
    }
}

#[test]
fn notifications_arrive_in_order_before_a_later_call() {
    let server = TestServer::tcp("a");
    let client = quick(server.endpoint());
    smol::block_on(async {
        for i in 0..100 {
            client.notify("note", &(i,)).await.unwrap();
        }
        // Same connection, so the server has read all of them before this call.
        let n: u64 = client.call("notes", &()).await.unwrap();
        assert_eq!(n, 100);
    });
}

#[test]
fn remote_errors_of_any_shape_become_code_and_message() {
    let server = TestServer::tcp("a");
    let client = quick(server.endpoint());
    smol::block_on(async {
        let err = client.call::<()>("fail", &(42, "it broke")).await.unwrap_err();
        match &err {
            ClientError::Remote { method, code, message, .. } => {
                assert_eq!((method.as_str(), *code, message.as_str()), ("fail", 42, "it broke"));
            }
            other => panic!("expected Remote, got {other:?}"),
        }
        assert_eq!(err.remote(), Some((42, "it broke")));
        assert!(err.to_string().contains("it broke"), "{err}");

        let err = client.call::<()>("fail_str", &("plain text",)).await.unwrap_err();
        assert_eq!(err.remote(), Some((codes::APPLICATION, "plain text")));

        let err = client.call::<()>("nope", &()).await.unwrap_err();
        let (code, message) = err.remote().expect("a remote error");
        assert_eq!(code, codes::NO_SUCH_METHOD);
        assert!(message.contains("nope"), "{message}");
    });
    // A remote error is an answer: the server was asked once per call, no retries.
    assert_eq!(server.requests(), 3);
    assert!(client_ejected_nothing(&quick(server.endpoint())));
}

fn client_ejected_nothing(client: &Client) -> bool {
    client.ejected().is_empty()
}

#[test]
fn a_result_of_the_wrong_type_is_a_decode_error_naming_the_method() {
    let server = TestServer::tcp("a");
    let client = quick(server.endpoint());
    let err = smol::block_on(client.call::<i64>("echo", &("not a number",))).unwrap_err();
    match &err {
        ClientError::Decode { method, .. } => assert_eq!(method, "echo"),
        other => panic!("expected Decode, got {other:?}"),
    }
    assert_eq!(server.requests(), 1);
}

struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("refuses to encode"))
    }
}

#[test]
fn params_that_do_not_encode_are_an_encode_error_and_nothing_is_sent() {
    let server = TestServer::tcp("a");
    let client = quick(server.endpoint());
    smol::block_on(async {
        let err = client.call::<()>("echo", &(Unencodable,)).await.unwrap_err();
        assert!(matches!(&err, ClientError::Encode { method, .. } if method == "echo"), "{err:?}");
        // The connection's stream is intact: the next call works.
        let s: String = client.call("echo", &("after",)).await.unwrap();
        assert_eq!(s, "after");
    });
    assert_eq!(server.requests(), 1);
}

#[test]
fn a_call_without_reply_times_out_with_method_peer_and_msgid() {
    let server = TestServer::tcp("a");
    let client = Client::new(
        ClientConfig::single(server.endpoint()).with_timeout(Duration::from_millis(200)),
    )
    .unwrap();
    smol::block_on(async {
        let err = client.call::<()>("silent", &()).await.unwrap_err();
        match &err {
            ClientError::Timeout { method, peer, after, .. } => {
                assert_eq!(method, "silent");
                assert_eq!(peer, &server.endpoint().to_string());
                assert_eq!(*after, Duration::from_millis(200));
            }
            other => panic!("expected Timeout, got {other:?}"),
        }
        // The server is ejected, but as the only one it is still tried, and it answers.
        let s: String = client.call("echo", &("still there",)).await.unwrap();
        assert_eq!(s, "still there");
    });
}

#[test]
fn a_connection_closed_mid_call_fails_every_call_on_it_then_reconnects() {
    let server = TestServer::tcp("a");
    let client = quick(server.endpoint());
    let results = run_concurrently(20, |i| {
        let client = client.clone();
        async move {
            if i == 0 {
                // Let the other calls get in flight, then have the server hang up.
                async_io::Timer::after(Duration::from_millis(50)).await;
                client.call::<u64>("drop", &()).await
            } else {
                client.call::<u64>("sleep", &(2_000, i as u64)).await
            }
        }
    });
    for r in results {
        let err = r.unwrap_err();
        assert!(matches!(err, ClientError::ConnectionLost { .. }), "{err:?}");
    }
    // Reconnects on the next call.
    let s: String = smol::block_on(client.call("echo", &("again",))).unwrap();
    assert_eq!(s, "again");
}

#[test]
fn a_server_restarted_while_the_connection_was_idle_is_reconnected_to_without_an_error() {
    let server = TestServer::tcp("old");
    let port = server.port();
    let config = ClientConfig::single(server.endpoint())
        .with_timeout(Duration::from_secs(10))
        .with_retries(1);
    let client = Client::new(config.clone()).unwrap();
    let blocking = BlockingClient::new(config).unwrap();
    let who = || smol::block_on(client.call::<String>("whoami", &()));
    assert_eq!(who().unwrap(), "old");
    assert_eq!(blocking.call::<String>("whoami", &()).unwrap(), "old");
    // The server goes away and comes back on the same port: both idle connections now
    // hold an EOF. Give the reactor (async-io's thread) a moment to see it.
    server.kill();
    let server = TestServer::tcp_on("new", port).expect("the port is free again");
    std::thread::sleep(Duration::from_millis(100));
    // With one attempt per call, only a connection known dead before the request was
    // written lets these succeed; nothing is ejected.
    assert_eq!(who().unwrap(), "new");
    assert_eq!(blocking.call::<String>("whoami", &()).unwrap(), "new");
    assert!(client.ejected().is_empty());
    assert_eq!(server.requests(), 2);
}

#[test]
fn a_refused_connection_is_a_connect_error() {
    let port = {
        let s = TestServer::tcp("gone");
        let p = s.port();
        s.kill();
        p
    };
    let client = quick(Endpoint::tcp("127.0.0.1", port));
    let err = smol::block_on(client.call::<()>("echo", &(1,))).unwrap_err();
    match &err {
        ClientError::Connect { peer, .. } => assert_eq!(peer, &format!("127.0.0.1:{port}")),
        other => panic!("expected Connect, got {other:?}"),
    }
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn no_node_available_for_an_empty_list_or_a_sharding_call_without_id() {
    let server = TestServer::tcp("a");
    let client = quick(server.endpoint());
    client.set_nodes(&Routing::Hashring(vec![])).unwrap();
    let err = smol::block_on(client.call::<()>("echo", &(1,))).unwrap_err();
    assert!(matches!(err, ClientError::NoNodeAvailable { .. }), "{err:?}");

    let sharding = Routing::Sharding(ShardingConfig {
        shardsum: 10,
        shards: vec![svrkit::config::ShardRange {
            section: "server0".into(),
            begin: 0,
            end: 9,
            primary: server.endpoint(),
            backup: None,
        }],
    });
    client.set_nodes(&sharding).unwrap();
    let err = smol::block_on(client.call::<()>("echo", &(1,))).unwrap_err();
    assert!(
        matches!(&err, ClientError::NoNodeAvailable { detail } if detail.contains("shard")),
        "{err:?}"
    );
    let n: i64 = smol::block_on(client.call_with_shard(3, "echo", &(1,))).unwrap();
    assert_eq!(n, 1);
}

#[test]
fn blocking_client_from_many_threads_shares_one_connection() {
    let server = TestServer::tcp("a");
    let client = BlockingClient::connect_to(server.endpoint());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let client = client.clone();
            std::thread::spawn(move || {
                for i in 0..200_u64 {
                    let v = t * 1000 + i;
                    // Some calls wait on the server so that threads overlap.
                    let ms = u64::from(i % 50 == 0) * 20;
                    let back: u64 = client.call("sleep", &(ms, v)).unwrap();
                    assert_eq!(back, v);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    client.notify("note", &()).unwrap();
    let n: u64 = client.call("notes", &()).unwrap();
    assert_eq!(n, 1);
    assert_eq!(server.requests(), 8 * 200 + 1);
}

#[test]
fn a_dropped_call_future_does_not_stall_the_others() {
    let server = TestServer::tcp("a");
    let client = quick(server.endpoint());
    smol::block_on(async {
        // Start a slow call, poll it once or twice (it may become the connection's
        // driver), then drop it.
        let slow = client.call::<u64>("sleep", &(1_000, 1));
        let _ = futures_lite::future::poll_once(Box::pin(slow)).await;
        let fast: u64 = client.call("sleep", &(0, 2)).await.unwrap();
        assert_eq!(fast, 2);
    });
}

#[test]
fn a_server_that_stops_reading_gets_its_connection_dropped_after_a_timeout() {
    // Accepts connections and never reads from them.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = Endpoint::from(listener.local_addr().unwrap());
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    std::thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept() {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(s);
            if held.len() == 3 {
                return;
            }
        }
    });
    // (No probe during the test: probes would connect too.)
    let config = ClientConfig::single(endpoint)
        .with_timeout(Duration::from_millis(300))
        .with_probe_interval(Duration::from_secs(60));
    let client = Client::new(config).unwrap();
    // More bytes than the socket buffers hold: the write stalls.
    let big = Bin(vec![7; 32 << 20]);
    let err = smol::block_on(client.call::<()>("echo", &(&big,))).unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err:?}");
    // The stuck connection was dropped: the next call connects anew.
    let err = smol::block_on(client.call::<()>("echo", &(1,))).unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err:?}");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[test]
fn client_and_its_futures_are_send_and_sync() {
    fn send<T: Send>(_: T) {}
    fn shared<T: Send + Sync>() {}
    shared::<Client>();
    shared::<BlockingClient>();
    shared::<ClientError>();
    let client = Client::connect_to(Endpoint::tcp("127.0.0.1", 1));
    send(client.call::<String>("m", &(1,)));
    send(client.call_with_key::<String>("k", "m", &(1,)));
    send(client.notify("m", &(1,)));
}

#[test]
fn calls_from_a_multi_threaded_executor_share_the_connection() {
    let server = TestServer::tcp("a");
    let client = quick(server.endpoint());
    let ex = Arc::new(async_executor::Executor::new());
    let tasks: Vec<_> = (0..200_u64)
        .map(|t| {
            let client = client.clone();
            ex.spawn(async move {
                for i in 0..20_u64 {
                    let v = t * 100 + i;
                    let ms = u64::from(i % 7 == 0) * 5;
                    let back: u64 = client.call("sleep", &(ms, v)).await.unwrap();
                    assert_eq!(back, v);
                }
                t
            })
        })
        .collect();
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let runners: Vec<_> = (0..2)
        .map(|_| {
            let ex = Arc::clone(&ex);
            let stopped = stopped.clone();
            std::thread::spawn(move || futures_lite::future::block_on(ex.run(stopped.recv())))
        })
        .collect();
    let done: Vec<u64> = futures_lite::future::block_on(async {
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await);
        }
        out
    });
    drop(stop);
    for r in runners {
        let _ = r.join().unwrap();
    }
    assert_eq!(done, (0..200).collect::<Vec<_>>());
    assert_eq!(server.requests(), 200 * 20);
}

#[test]
fn blocking_client_errors_timeouts_and_lost_connections() {
    let server = TestServer::tcp("a");
    let config = ClientConfig::single(server.endpoint()).with_timeout(Duration::from_millis(200));
    let client = BlockingClient::new(config).unwrap();
    let err = client.call::<()>("fail", &(3, "three")).unwrap_err();
    assert_eq!(err.remote(), Some((3, "three")));
    match client.call::<()>("silent", &()).unwrap_err() {
        ClientError::Timeout { method, after, .. } => {
            assert_eq!((method.as_str(), after), ("silent", Duration::from_millis(200)))
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    let err = client.call::<()>("drop", &()).unwrap_err();
    assert!(matches!(err, ClientError::ConnectionLost { .. }), "{err:?}");
    // A late reply to the timed-out call is ignored; the next calls reconnect and match.
    for i in 0..20_u64 {
        assert_eq!(client.call::<u64>("echo", &(i,)).unwrap(), i);
    }
    let err = client.call::<i64>("echo", &("text",)).unwrap_err();
    assert!(matches!(err, ClientError::Decode { .. }), "{err:?}");
}
