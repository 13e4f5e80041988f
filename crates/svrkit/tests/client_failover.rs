//! Failover end to end: servers killed mid-load, hung servers, shard backups, and
//! readmission of servers that come back (hashring and sharding modes).

mod client_support;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use svrkit::client::{BlockingClient, ClientError, Endpoint};
use svrkit::config::{ClientConfig, RingNode, Routing, ShardRange, ShardingConfig};

use client_support::TestServer;

fn ring(endpoints: &[Endpoint], timeout_ms: u64) -> BlockingClient {
    let nodes = endpoints.iter().map(|e| RingNode { endpoint: e.clone(), weight: 100 }).collect();
    BlockingClient::new(
        ClientConfig::new(Routing::Hashring(nodes))
            .with_timeout(Duration::from_millis(timeout_ms))
            .with_probe_interval(Duration::from_millis(50)),
    )
    .unwrap()
}

fn owners(client: &BlockingClient, keys: &[String]) -> HashMap<String, String> {
    keys.iter()
        .map(|k| (k.clone(), client.call_with_key::<String>(k, "whoami", &()).unwrap()))
        .collect()
}

/// Polls `check` every 20 ms for at most 10 s.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for: {what}");
}

#[test]
fn hashring_server_killed_mid_load_fails_over_then_is_readmitted() {
    let a = TestServer::tcp("a");
    let b = TestServer::tcp("b");
    let c = TestServer::tcp("c");
    let b_port = b.port();
    let client = ring(&[a.endpoint(), b.endpoint(), c.endpoint()], 2_000);
    let keys: Vec<String> = (0..60).map(|i| format!("user{i}")).collect();
    let before = owners(&client, &keys);
    assert!(before.values().any(|o| o == "b"), "b owns no key: {before:?}");

    // Load from 4 threads; b is killed once 200 calls are done.
    let done = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let client = client.clone();
            let keys = keys.clone();
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut results = Vec::new();
                for i in 0..250 {
                    let key = &keys[(t * 7 + i) % keys.len()];
                    // Every 10th call waits on the server, so calls are in flight at the kill.
                    let r: Result<String, ClientError> = if i % 10 == 0 {
                        client.call_with_key(key, "sleep", &(30, "slow"))
                    } else {
                        client.call_with_key(key, "whoami", &())
                    };
                    results.push(r);
                    done.fetch_add(1, Ordering::SeqCst);
                }
                results
            })
        })
        .collect();
    eventually("200 calls done", || done.load(Ordering::SeqCst) >= 200);
    b.kill();
    let results: Vec<_> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert_eq!(results.len(), 1000);
    // Every call got an answer: the ones that hit the dead server were retried elsewhere.
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    assert_eq!(client.ejected(), vec![Endpoint::tcp("127.0.0.1", b_port)]);

    // b's keys moved to live servers; no other key moved.
    let during = owners(&client, &keys);
    for k in &keys {
        if before[k] == "b" {
            assert_ne!(during[k], "b");
        } else {
            assert_eq!(during[k], before[k], "key {k} moved");
        }
    }

    // b comes back on its port: the prober readmits it and its keys return.
    let b2 = TestServer::tcp_on("b", b_port).unwrap();
    eventually("b readmitted", || client.ejected().is_empty());
    assert_eq!(owners(&client, &keys), before);
    assert!(b2.requests() > 0);
}

#[test]
fn a_hung_server_times_out_is_ejected_and_not_readmitted_by_a_bare_connect() {
    // Accepts TCP connections (the kernel's backlog) but never reads or answers.
    let hung = TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_endpoint = Endpoint::from(hung.local_addr().unwrap());
    let good = TestServer::tcp("good");
    let client = ring(&[hung_endpoint.clone(), good.endpoint()], 200);
    // A key the hung server owns: nodes are named on the ring by their `ip:port`.
    let placement = svrkit_ring::Ring::new([
        (hung_endpoint.to_string(), 100),
        (good.endpoint().to_string(), 100),
    ])
    .unwrap();
    let key = (0..1000)
        .map(|i| format!("k{i}"))
        .find(|k| placement.lookup(k.as_str()) == Some(0))
        .unwrap();
    let who: String = client.call_with_key(&key, "whoami", &()).unwrap();
    assert_eq!(who, "good");
    assert_eq!(client.ejected(), vec![hung_endpoint.clone()]);
    // Probes connect but get no reply, so the hung server stays out.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(client.ejected(), vec![hung_endpoint]);
    let who: String = client.call_with_key(&key, "whoami", &()).unwrap();
    assert_eq!(who, "good");
}

#[test]
fn a_call_to_a_dead_shard_primary_is_served_by_its_backup_until_the_primary_returns() {
    let dead_port = {
        let s = TestServer::tcp("tmp");
        let p = s.port();
        s.kill();
        p
    };
    let backup = TestServer::tcp("backup");
    let other = TestServer::tcp("other");
    let routing = Routing::Sharding(ShardingConfig {
        shardsum: 1000,
        shards: vec![
            ShardRange {
                section: "server0".into(),
                begin: 0,
                end: 499,
                primary: Endpoint::tcp("127.0.0.1", dead_port),
                backup: Some(backup.endpoint()),
            },
            ShardRange {
                section: "server1".into(),
                begin: 500,
                end: 999,
                primary: other.endpoint(),
                backup: None,
            },
        ],
    });
    let mut client = BlockingClient::new(
        ClientConfig::new(routing)
            .with_timeout(Duration::from_millis(500))
            .with_probe_interval(Duration::from_millis(50)),
    )
    .unwrap();
    client.set_sharding_id(123_456); // shard 456: server0
    let who: String = client.call("whoami", &()).unwrap();
    assert_eq!(who, "backup");
    let who: String = client.call_with_shard(1_999, "whoami", &()).unwrap(); // shard 999
    assert_eq!(who, "other");
    assert_eq!(client.ejected(), vec![Endpoint::tcp("127.0.0.1", dead_port)]);

    let primary = TestServer::tcp_on("primary", dead_port).unwrap();
    eventually("primary readmitted", || client.ejected().is_empty());
    let who: String = client.call("whoami", &()).unwrap();
    assert_eq!(who, "primary");
    drop(primary);
}

#[test]
fn when_every_server_is_down_the_call_ends_with_a_typed_error() {
    let ports: Vec<u16> = (0..2)
        .map(|_| {
            let s = TestServer::tcp("tmp");
            let p = s.port();
            s.kill();
            p
        })
        .collect();
    let client =
        ring(&ports.iter().map(|p| Endpoint::tcp("127.0.0.1", *p)).collect::<Vec<_>>(), 300);
    for _ in 0..3 {
        let err = client.call::<String>("whoami", &()).unwrap_err();
        assert!(matches!(err, ClientError::Connect { .. }), "{err:?}");
    }
    assert_eq!(client.ejected().len(), 2);
}

#[test]
fn remote_errors_are_not_retried_on_other_servers() {
    let a = TestServer::tcp("a");
    let b = TestServer::tcp("b");
    let client = ring(&[a.endpoint(), b.endpoint()], 500);
    let err = client.call_with_key::<()>("k", "fail", &(7, "no")).unwrap_err();
    assert_eq!(err.remote(), Some((7, "no")));
    assert_eq!(a.requests() + b.requests(), 1);
    assert!(client.ejected().is_empty());
}
