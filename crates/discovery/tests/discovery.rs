//! Registry and watcher against a real ZooKeeper started by `svrkit_discovery::testing`.
//!
//! Every wait is bounded: a change must show within [`CHANGE`] (ZooKeeper notifies in
//! milliseconds on loopback; the bound only keeps a broken build from hanging), and the
//! session-loss scenarios wait at most a few session timeouts.

use std::future::Future;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use smol::Timer;
use svrkit_discovery::testing::{Relay, ZkServer};
use svrkit_discovery::{
    Error, ProviderMeta, ProviderSet, Registration, RegistrationState, ShardRange, Updates,
    Watcher, ZkOptions,
};
use zookeeper_client::{Acls, Client, CreateMode};

/// Upper bound for a watcher to see a change.
const CHANGE: Duration = Duration::from_secs(5);
/// Upper bound for the session-loss scenarios (several session timeouts and a JVM start).
const RECOVERY: Duration = Duration::from_secs(30);

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn opts(hosts: &str, session_timeout_ms: u64) -> ZkOptions {
    ZkOptions::new(hosts)
        .unwrap()
        .with_session_timeout(Duration::from_millis(session_timeout_ms))
        .with_connect_timeout(Duration::from_secs(10))
}

/// `fut`, or `None` after `limit`.
async fn within<T>(limit: Duration, fut: impl Future<Output = T>) -> Option<T> {
    smol::future::or(async { Some(fut.await) }, async {
        Timer::after(limit).await;
        None
    })
    .await
}

/// Waits (bounded by [`CHANGE`]) until the watcher's list has exactly `want`.
async fn until_addrs(
    updates: &mut Updates,
    watcher: &Watcher,
    want: &[SocketAddr],
) -> Arc<ProviderSet> {
    let mut want = want.to_vec();
    want.sort();
    let deadline = Instant::now() + CHANGE;
    let mut current = watcher.current();
    while current.addrs() != want {
        let left = deadline.saturating_duration_since(Instant::now());
        current = within(left, updates.changed()).await.flatten().unwrap_or_else(|| {
            panic!("watcher did not reach {want:?} in {CHANGE:?}; has {:?}", watcher.current())
        });
    }
    current
}

/// Polls `cond` every 20 ms until it holds, at most `limit`.
async fn poll_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        Timer::after(Duration::from_millis(20)).await;
    }
}

/// The ephemeral owner of `path`, `None` when absent.
async fn owner(raw: &Client, path: &str) -> Option<i64> {
    raw.check_stat(path).await.unwrap().map(|s| s.ephemeral_owner)
}

async fn raw_client(zk: &ZkServer) -> Client {
    Client::connector()
        .with_session_timeout(Duration::from_secs(4))
        .connect(&zk.hosts())
        .await
        .unwrap()
}

#[test]
fn registered_provider_is_seen_with_its_metadata() {
    let zk = ZkServer::start().unwrap();
    smol::block_on(async {
        let o = opts(&zk.hosts(), 4000);
        let meta =
            ProviderMeta::new(7).with_shard(ShardRange { begin: 0, end: 3 }).with_version("9.9.9");
        let a = addr("127.0.0.1:7001");
        let reg = Registration::register(&o, "echo", a, &meta).await.unwrap();
        assert_eq!(reg.path(), "/svrkit/echo/providers/127.0.0.1:7001");

        let watcher = Watcher::watch(&o, "echo").await.unwrap();
        let set = watcher.current();
        assert_eq!(set.len(), 1);
        assert_eq!(set.providers()[0].addr, a);
        assert_eq!(set.providers()[0].meta, meta);

        let raw = raw_client(&zk).await;
        let status = reg.status();
        assert_eq!(status.state, RegistrationState::Registered);
        assert_eq!(
            owner(&raw, reg.path()).await,
            Some(status.session_id),
            "node is ephemeral, ours"
        );
        // The same folder named whole (a client's `path = /svrkit/echo/providers`).
        let by_folder = Watcher::watch_folder(&o, "/svrkit/echo/providers/").await.unwrap();
        assert_eq!(by_folder.current().providers(), set.providers());
        // Another app is a different folder.
        let other = Watcher::watch(&o, "other").await.unwrap();
        assert!(other.current().is_empty());
    });
}

#[test]
fn providers_come_and_go_live_and_deregister_removes_first() {
    let zk = ZkServer::start().unwrap();
    smol::block_on(async {
        let o = opts(&zk.hosts(), 4000).with_root("/t/live").unwrap();
        // Watching before anything exists: the folder is missing, the list empty.
        let watcher = Watcher::watch(&o, "echo").await.unwrap();
        assert!(watcher.current().is_empty());
        let mut updates = watcher.subscribe();
        let (a, b) = (addr("127.0.0.1:7001"), addr("127.0.0.1:7002"));

        let t = Instant::now();
        let reg_a = Registration::register(&o, "echo", a, &ProviderMeta::new(1)).await.unwrap();
        until_addrs(&mut updates, &watcher, &[a]).await;
        eprintln!("first provider seen {:?} after register() began", t.elapsed());

        let t = Instant::now();
        let reg_b = Registration::register(&o, "echo", b, &ProviderMeta::new(2)).await.unwrap();
        let set = until_addrs(&mut updates, &watcher, &[a, b]).await;
        eprintln!("second provider seen {:?} after register() began", t.elapsed());
        assert_eq!(set.providers()[1].meta.weight, 2);

        let raw = raw_client(&zk).await;
        let path_a = reg_a.path().to_owned();
        let t = Instant::now();
        reg_a.deregister().await.unwrap();
        assert_eq!(owner(&raw, &path_a).await, None, "node gone when deregister() returns");
        eprintln!("deregister() took {:?}", t.elapsed());
        let t = Instant::now();
        until_addrs(&mut updates, &watcher, &[b]).await;
        eprintln!("removal seen {:?} after deregister() returned", t.elapsed());

        // Dropping without deregistering closes the session in the background: the node goes.
        drop(reg_b);
        until_addrs(&mut updates, &watcher, &[]).await;

        // Dropping the watcher ends its updates.
        drop(watcher);
        assert_eq!(within(CHANGE, updates.changed()).await, Some(None));
    });
}

#[test]
fn unreachable_zookeeper_is_a_clear_start_error() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let hosts = format!("127.0.0.1:{port}");
    let o = ZkOptions::new(&hosts).unwrap().with_connect_timeout(Duration::from_millis(600));
    smol::block_on(async {
        let t = Instant::now();
        let err = Watcher::watch(&o, "echo").await.err().expect("no ZooKeeper there");
        let waited = t.elapsed();
        match &err {
            Error::Unreachable { hosts: h, attempts, .. } => {
                assert_eq!(h, &hosts);
                assert!(*attempts >= 2, "{err}");
            }
            other => panic!("expected Unreachable, got {other:?}"),
        }
        assert!(err.to_string().contains(&hosts), "{err}");
        eprintln!("gave up after {waited:?} (connect timeout 600 ms): {err}");
        let err = Registration::register(&o, "echo", addr("127.0.0.1:7001"), &ProviderMeta::new(1))
            .await
            .err()
            .expect("no ZooKeeper there");
        assert!(matches!(err, Error::Unreachable { .. }), "{err}");

        // A host that accepts connections and never answers (a hung ZooKeeper).
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let hosts = silent.local_addr().unwrap().to_string();
        let o = ZkOptions::new(&hosts).unwrap().with_connect_timeout(Duration::from_millis(600));
        let err = Watcher::watch(&o, "echo").await.err().expect("nothing answers there");
        match &err {
            Error::Unreachable { hosts: h, source: zookeeper_client::Error::Timeout, .. } => {
                assert_eq!(h, &hosts)
            }
            other => panic!("expected Unreachable with a timeout, got {other:?}"),
        }
        eprintln!("{err}");
    });
}

#[test]
fn leftover_node_of_an_old_session_is_replaced() {
    let zk = ZkServer::start().unwrap();
    smol::block_on(async {
        let o = opts(&zk.hosts(), 4000);
        let a = addr("127.0.0.1:7001");
        // A crashed predecessor on the same address: its session is still alive.
        let old = raw_client(&zk).await;
        old.mkdir("/svrkit/echo/providers", &CreateMode::Persistent.with_acls(Acls::anyone_all()))
            .await
            .unwrap();
        let path = "/svrkit/echo/providers/127.0.0.1:7001";
        old.create(path, b"{\"weight\":99}", &CreateMode::Ephemeral.with_acls(Acls::anyone_all()))
            .await
            .unwrap();
        assert_eq!(owner(&old, path).await, Some(old.session_id().0));

        let reg = Registration::register(&o, "echo", a, &ProviderMeta::new(5)).await.unwrap();
        let status = reg.status();
        assert_ne!(status.session_id, old.session_id().0);
        assert_eq!(
            owner(&old, path).await,
            Some(status.session_id),
            "re-created under the new session"
        );
        let watcher = Watcher::watch(&o, "echo").await.unwrap();
        assert_eq!(watcher.current().providers()[0].meta.weight, 5);

        // Nodes written by other tools: a bad name or bad JSON is skipped, empty data is weight 1.
        let mut updates = watcher.subscribe();
        let eph = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
        old.create("/svrkit/echo/providers/not-an-address", b"{}", &eph).await.unwrap();
        old.create("/svrkit/echo/providers/127.0.0.1:7009", b"weight=3", &eph).await.unwrap();
        old.create("/svrkit/echo/providers/127.0.0.1:7010", b"", &eph).await.unwrap();
        let set = until_addrs(&mut updates, &watcher, &[a, addr("127.0.0.1:7010")]).await;
        assert_eq!(set.providers()[1].meta.weight, 1);
    });
}

#[test]
fn lost_server_vanishes_at_session_timeout_and_comes_back_with_a_new_session() {
    let zk = ZkServer::start().unwrap();
    let relay = Relay::start(zk.addr()).unwrap();
    smol::block_on(async {
        // The server reaches ZooKeeper through the relay; the client directly.
        let server_side = opts(&relay.hosts(), 1000);
        let a = addr("127.0.0.1:7001");
        let reg =
            Registration::register(&server_side, "echo", a, &ProviderMeta::new(1)).await.unwrap();
        let first = reg.status().session_id;
        let watcher = Watcher::watch(&opts(&zk.hosts(), 4000), "echo").await.unwrap();
        let mut updates = watcher.subscribe();
        assert_eq!(watcher.current().addrs(), vec![a]);

        // Like a SIGKILLed server: no goodbye, its session just stops.
        let t = Instant::now();
        relay.cut();
        within(RECOVERY, until_addrs(&mut updates, &watcher, &[])).await.expect("node expired");
        eprintln!("lost server's node gone {:?} after the cut (session timeout 1 s)", t.elapsed());
        poll_until(RECOVERY, "registration to notice expiry", || {
            reg.status().state == RegistrationState::Reconnecting
        })
        .await;

        let t = Instant::now();
        relay.heal();
        poll_until(RECOVERY, "re-registration", || {
            let s = reg.status();
            s.state == RegistrationState::Registered && s.sessions == 2
        })
        .await;
        until_addrs(&mut updates, &watcher, &[a]).await;
        eprintln!("re-registered and seen {:?} after the heal", t.elapsed());
        let raw = raw_client(&zk).await;
        let status = reg.status();
        assert_ne!(status.session_id, first);
        assert_eq!(owner(&raw, reg.path()).await, Some(status.session_id));
        reg.deregister().await.unwrap();
        assert_eq!(owner(&raw, "/svrkit/echo/providers/127.0.0.1:7001").await, None);
    });
}

#[test]
fn zookeeper_restart_keeps_registration_and_watches() {
    let mut zk = ZkServer::start().unwrap();
    smol::block_on(async {
        // A session timeout well above a JVM restart, even on a loaded machine.
        let o = opts(&zk.hosts(), 20_000);
        let (a, b) = (addr("127.0.0.1:7001"), addr("127.0.0.1:7002"));
        let reg_a = Registration::register(&o, "echo", a, &ProviderMeta::new(1)).await.unwrap();
        let session = reg_a.status().session_id;
        let watcher = Watcher::watch(&o, "echo").await.unwrap();
        let mut updates = watcher.subscribe();

        let t = Instant::now();
        zk.restart().unwrap();
        eprintln!("ZooKeeper restarted in {:?}", t.elapsed());
        // The list is kept throughout; the session (and the node) survive the short outage.
        assert_eq!(watcher.current().addrs(), vec![a]);
        poll_until(RECOVERY, "registration reconnected", || {
            reg_a.status().state == RegistrationState::Registered
        })
        .await;
        assert_eq!(reg_a.status().session_id, session, "same session after a short outage");

        // Watches were re-armed: a new provider shows up, a removed one goes.
        let t = Instant::now();
        let reg_b = Registration::register(&o, "echo", b, &ProviderMeta::new(1)).await.unwrap();
        until_addrs(&mut updates, &watcher, &[a, b]).await;
        eprintln!("new provider seen {:?} after register() began, post-restart", t.elapsed());
        reg_a.deregister().await.unwrap();
        until_addrs(&mut updates, &watcher, &[b]).await;
        reg_b.deregister().await.unwrap();
        until_addrs(&mut updates, &watcher, &[]).await;
    });
}

#[test]
fn zookeeper_down_past_the_session_timeout_means_a_new_session_and_registration() {
    let mut zk = ZkServer::start().unwrap();
    smol::block_on(async {
        let o = opts(&zk.hosts(), 800);
        let a = addr("127.0.0.1:7001");
        let reg = Registration::register(&o, "echo", a, &ProviderMeta::new(1)).await.unwrap();
        let first = reg.status().session_id;
        let watcher = Watcher::watch(&o, "echo").await.unwrap();
        let mut updates = watcher.subscribe();

        zk.stop().unwrap();
        // The client side gives the session up (7/5 of its timeout without an answer)...
        poll_until(RECOVERY, "client-side expiry", || {
            reg.status().state == RegistrationState::Reconnecting
        })
        .await;
        // ...while the watcher keeps the last known list.
        assert_eq!(watcher.current().addrs(), vec![a]);

        // ZooKeeper comes back with the old session still on file: the new session meets its
        // leftover node, replaces it, and the watcher (on a new session too) lists it.
        zk.start_again().unwrap();
        poll_until(RECOVERY, "re-registration", || {
            let s = reg.status();
            s.state == RegistrationState::Registered && s.sessions == 2
        })
        .await;
        let raw = raw_client(&zk).await;
        let status = reg.status();
        assert_ne!(status.session_id, first);
        assert_eq!(owner(&raw, reg.path()).await, Some(status.session_id));
        // After the old session's expiry on the server, the node is still there, ours.
        let expiry = Instant::now() + Duration::from_millis(2 * 800 + 400);
        while Instant::now() < expiry {
            assert_eq!(owner(&raw, reg.path()).await, Some(status.session_id));
            Timer::after(Duration::from_millis(200)).await;
        }
        let set = until_addrs(&mut updates, &watcher, &[a]).await;
        assert_eq!(set.len(), 1);
        // The watcher follows changes on its new session.
        let b = addr("127.0.0.1:7002");
        let _reg_b = Registration::register(&o, "echo", b, &ProviderMeta::new(1)).await.unwrap();
        until_addrs(&mut updates, &watcher, &[a, b]).await;
    });
}

#[test]
fn kazoo_reads_what_was_registered() {
    let zk = ZkServer::start().unwrap();
    let (reg_session, pid) = smol::block_on(async {
        let o = opts(&zk.hosts(), 4000);
        let meta = ProviderMeta::new(42)
            .with_shard(ShardRange { begin: 8, end: 15 })
            .with_version("1.0.0");
        let reg = Registration::register(&o, "echo", addr("127.0.0.1:7001"), &meta).await.unwrap();
        let out = kazoo_list(&zk.hosts(), "/svrkit/echo/providers");
        let rows: Vec<serde_json::Value> =
            out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(rows.len(), 1, "{out}");
        let row = &rows[0];
        assert_eq!(row["node"], "127.0.0.1:7001");
        assert_eq!(row["meta"]["weight"], 42);
        assert_eq!(row["meta"]["shard"]["begin"], 8);
        assert_eq!(row["meta"]["shard"]["end"], 15);
        assert_eq!(row["meta"]["version"], "1.0.0");
        assert!(row["meta"]["start_time"].as_u64().unwrap() > 1_600_000_000);
        (reg.status().session_id, row.clone())
    });
    assert_eq!(pid["owner"].as_i64(), Some(reg_session));
    assert_eq!(pid["meta"]["pid"].as_u64(), Some(u64::from(std::process::id())));
}

/// Lists a providers folder with Python's kazoo: one JSON line per node.
fn kazoo_list(hosts: &str, path: &str) -> String {
    const SCRIPT: &str = r#"
import json, sys
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1])
zk.start(timeout=10)
try:
    for child in sorted(zk.get_children(sys.argv[2])):
        data, stat = zk.get(sys.argv[2] + "/" + child)
        print(json.dumps({"node": child, "owner": stat.ephemeralOwner, "meta": json.loads(data.decode("utf-8"))}))
finally:
    zk.stop()
    zk.close()
"#;
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT, hosts, path])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("kazoo script did not finish in 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kazoo failed (it is required: `cargo xtask setup` installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn deregister_with_zookeeper_down_reports_and_returns() {
    let mut zk = ZkServer::start().unwrap();
    smol::block_on(async {
        let o = opts(&zk.hosts(), 1000);
        let reg = Registration::register(&o, "echo", addr("127.0.0.1:7001"), &ProviderMeta::new(1))
            .await
            .unwrap();
        zk.stop().unwrap();
        // Bounded by the session timeout per step; the outer bound only keeps a bug from hanging.
        let t = Instant::now();
        let result = within(RECOVERY, reg.deregister()).await.expect("deregister() returned");
        match result {
            Err(Error::Zk { op: "delete", path, .. }) => {
                assert_eq!(path, "/svrkit/echo/providers/127.0.0.1:7001")
            }
            other => panic!("expected a delete error, got {other:?}"),
        }
        eprintln!("deregister() with ZooKeeper down returned after {:?}", t.elapsed());
    });
}
