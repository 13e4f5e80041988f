//! Client-side discovery on a real ZooKeeper: servers appearing and vanishing while a
//! `discovery = zk` client runs, static lists plus discovery, sharding from registered
//! ranges, ZooKeeper down and back, ZooKeeper unreachable at start, and `client_from_file`.

mod discovery_support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use svrkit::client::Client;
use svrkit::config::ClientConfig;
use svrkit::discovery::{
    self, DiscoveryClient, DiscoveryError, DiscoveryOptions, ProviderMeta, ProviderShard, ZkOptions,
};
use svrkit_discovery::testing::ZkServer;

use discovery_support::{wait_for, Backend, TempDir};

const LIMIT: Duration = Duration::from_secs(15);

fn ring_config(zk: &str, app: &str, statics: &[&Backend]) -> ClientConfig {
    let mut text = format!(
        "[server]\nmode = hashring\ntimeout = 1s\nprobe_interval = 100ms\ndiscovery = zk\n\
         zk = {zk}\npath = /svrkit/{app}/providers\nsum = {}\n",
        statics.len()
    );
    for (i, b) in statics.iter().enumerate() {
        text += &format!("[server{i}]\nip = 127.0.0.1\nport = {}\n", b.addr.port());
    }
    ClientConfig::from_str("test_cli.conf", &text).unwrap()
}

fn whoami(client: &Client) -> String {
    smol::block_on(client.call::<String>("whoami", &())).unwrap()
}

/// The labels answering `n` round-robin calls.
fn answering(client: &Client, n: usize) -> HashSet<String> {
    (0..n).map(|_| whoami(client)).collect()
}

fn labels(names: &[&str]) -> HashSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn new_server_gets_traffic_and_a_vanished_one_stops_without_a_client_restart() {
    let zk = ZkServer::start().unwrap();
    let opts = ZkOptions::new(&zk.hosts()).unwrap();
    let mut a = Backend::registered("a", &opts, "grow");
    let client =
        smol::block_on(discovery::connect(&ring_config(&zk.hosts(), "grow", &[]))).unwrap();
    assert!(client.is_discovering());
    assert_eq!(answering(&client, 5), labels(&["a"]));
    let before = client.applied_version();

    let b = Backend::registered("b", &opts, "grow");
    let registered = Instant::now();
    wait_for("b gets traffic", LIMIT, || (whoami(&client) == "b").then_some(()));
    eprintln!("new server -> first call answered by it: {:?}", registered.elapsed());
    assert!(client.applied_version() > before);
    assert_eq!(answering(&client, 10), labels(&["a", "b"]));

    // `a` leaves ZooKeeper but keeps serving: only discovery can stop its traffic.
    a.deregister();
    wait_for("a is dropped from the table", LIMIT, || {
        (client.providers().len() == 1 && answering(&client, 10) == labels(&["b"])).then_some(())
    });
    assert_eq!(client.providers().addrs(), vec![b.addr]);
    drop(client);
    b.stop();
}

#[test]
fn a_static_list_stays_and_discovery_adds_to_it() {
    let zk = ZkServer::start().unwrap();
    let opts = ZkOptions::new(&zk.hosts()).unwrap();
    let fixed = Backend::start("fixed");
    let mut found = Backend::registered("found", &opts, "mixed");

    // A config with both a [server0] and discovery.
    let client =
        smol::block_on(discovery::connect(&ring_config(&zk.hosts(), "mixed", &[&fixed]))).unwrap();
    assert_eq!(answering(&client, 10), labels(&["fixed", "found"]));

    // A client started from a static list, discovery added later.
    let static_config = ClientConfig::from_str(
        "static_cli.conf",
        &format!(
            "[server]\nsum = 1\nmode = hashring\n[server0]\nip = 127.0.0.1\nport = {}\n",
            fixed.addr.port()
        ),
    )
    .unwrap();
    let plain = smol::block_on(discovery::connect(&static_config)).unwrap();
    assert!(!plain.is_discovering());
    assert_eq!(answering(&plain, 4), labels(&["fixed"]));
    let later = smol::block_on(DiscoveryClient::attach(
        plain.client().clone(),
        static_config.routing.clone(),
        ring_config(&zk.hosts(), "mixed", &[]).discovery.as_ref().unwrap(),
        &DiscoveryOptions::default(),
    ))
    .unwrap();
    assert_eq!(answering(&later, 10), labels(&["fixed", "found"]));

    // The registered one leaves; the static one stays in both.
    found.deregister();
    wait_for("found leaves both tables", LIMIT, || {
        (answering(&client, 6) == labels(&["fixed"]) && answering(&later, 6) == labels(&["fixed"]))
            .then_some(())
    });
}

#[test]
fn sharding_table_is_built_from_registered_ranges_and_a_gap_keeps_the_last_table() {
    let zk = ZkServer::start().unwrap();
    let opts = ZkOptions::new(&zk.hosts()).unwrap();
    let shard = |begin, end| ProviderMeta::new(1).with_shard(ProviderShard { begin, end });
    let mut low = Backend::start("low");
    low.register(&opts, "shards", shard(0, 1));
    let mut high = Backend::start("high");
    high.register(&opts, "shards", shard(2, 3));

    let config = ClientConfig::from_str(
        "shard_cli.conf",
        &format!(
            "[server]\nmode = sharding\nshardsum = 4\ntimeout = 1s\ndiscovery = zk\nzk = {}\n\
             path = /svrkit/shards/providers\n",
            zk.hosts()
        ),
    )
    .unwrap();
    let client = smol::block_on(discovery::connect(&config)).unwrap();
    // A client started while only part of the table is registered is not refused: its
    // calls fail until the table is complete.
    let mut lonely = Backend::start("lonely");
    lonely.register(&opts, "partial", shard(0, 1));
    let partial_config = ClientConfig::from_str(
        "partial_cli.conf",
        &format!(
            "[server]\nmode = sharding\nshardsum = 4\ndiscovery = zk\nzk = {}\n\
             path = /svrkit/partial/providers\n",
            zk.hosts()
        ),
    )
    .unwrap();
    let partial = smol::block_on(discovery::connect(&partial_config)).unwrap();
    assert!(partial.apply_error().unwrap().contains("incomplete shard table"));
    let err = smol::block_on(partial.call_with_shard::<String>(0, "whoami", &())).unwrap_err();
    assert!(matches!(err, svrkit::client::ClientError::NoNodeAvailable { .. }), "{err:?}");
    let mut rest = Backend::start("rest");
    rest.register(&opts, "partial", shard(2, 3));
    wait_for("the partial table completes", LIMIT, || {
        partial.apply_error().is_none().then_some(())
    });
    assert_eq!(
        smol::block_on(partial.call_with_shard::<String>(0, "whoami", &())).unwrap(),
        "lonely"
    );
    drop((partial, lonely, rest));

    let owner =
        |id: u64| smol::block_on(client.call_with_shard::<String>(id, "whoami", &())).unwrap();
    assert_eq!(
        (owner(0), owner(1), owner(2), owner(3)),
        ("low".into(), "low".into(), "high".into(), "high".into())
    );
    assert_eq!(owner(7), "high", "7 % 4 = 3");

    // A second provider of 2..=3 arrives (primary or backup, by address); when the first
    // leaves, the range is served by the newcomer.
    let mut spare = Backend::start("spare");
    spare.register(&opts, "shards", shard(2, 3));
    wait_for("three providers", LIMIT, || (client.providers().len() == 3).then_some(()));
    high.deregister();
    wait_for("high's departure applied", LIMIT, || {
        (client.providers().len() == 2 && client.applied_version() == client.providers().version())
            .then_some(())
    });
    assert_eq!(owner(3), "spare");
    assert_eq!(owner(0), "low");

    // The only provider of 0..=1 leaves: the table would have a gap, so the last complete
    // table stays (low still serves, as it was not stopped) and the reason is kept.
    let version = client.applied_version();
    low.deregister();
    wait_for("the gap is reported", LIMIT, || client.apply_error());
    assert_eq!(client.applied_version(), version);
    assert!(client.apply_error().unwrap().contains("incomplete shard table"));
    assert_eq!(owner(0), "low");

    // Registered again: complete again.
    low.register(&opts, "shards", shard(0, 1));
    wait_for("table complete again", LIMIT, || client.apply_error().is_none().then_some(()));
    assert_eq!((owner(1), owner(2)), ("low".into(), "spare".into()));
    drop(spare);
}

#[test]
fn zookeeper_down_keeps_the_last_list_and_watches_recover_when_it_returns() {
    let mut zk = ZkServer::start().unwrap();
    let opts = ZkOptions::new(&zk.hosts()).unwrap();
    let a = Backend::registered("a", &opts, "outage");
    let client =
        smol::block_on(discovery::connect(&ring_config(&zk.hosts(), "outage", &[]))).unwrap();
    assert_eq!(answering(&client, 3), labels(&["a"]));

    zk.stop().unwrap();
    // Calls keep working on the last known list while ZooKeeper is down.
    assert_eq!(answering(&client, 50), labels(&["a"]));
    assert_eq!(client.providers().addrs(), vec![a.addr]);

    zk.start_again().unwrap();
    // The watch is live again: a server registered after the restart gets traffic.
    let b = Backend::registered("b", &opts, "outage");
    wait_for("b seen after the restart", LIMIT, || {
        (answering(&client, 6) == labels(&["a", "b"])).then_some(())
    });
    assert_eq!(client.providers().len(), 2, "a's registration survived the restart");
    drop(client);
    drop((a, b));
}

#[test]
fn zookeeper_unreachable_at_start_is_an_error_naming_the_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = ClientConfig::from_str(
        "cli.conf",
        &format!(
            "[server]\nmode = hashring\ndiscovery = zk\nzk = 127.0.0.1:{port}\n\
             path = /svrkit/none/providers\n"
        ),
    )
    .unwrap();
    let options = DiscoveryOptions::default().with_connect_timeout(Duration::from_millis(800));
    let err = smol::block_on(discovery::connect_with(&config, &options)).unwrap_err();
    assert!(matches!(err, DiscoveryError::Zk(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("unreachable"), "{text}");
}

#[test]
fn client_from_file_follows_zookeeper_for_good_and_reads_static_files_without_it() {
    let zk = ZkServer::start().unwrap();
    let opts = ZkOptions::new(&zk.hosts()).unwrap();
    let a = Backend::registered("a", &opts, "fromfile");
    let dir = TempDir::new("fromfile");
    let zk_conf = dir.0.join("zk_cli.conf");
    std::fs::write(
        &zk_conf,
        format!(
            "[server]\nmode = hashring\ntimeout = 1s\ndiscovery = zk\nzk = {}\n\
             path = /svrkit/fromfile/providers\n",
            zk.hosts()
        ),
    )
    .unwrap();
    // A plain `Client` (the DiscoveryClient is gone) whose servers still follow ZooKeeper.
    let client = discovery::client_from_file(&zk_conf).unwrap();
    assert_eq!(answering(&client, 3), labels(&["a"]));
    let b = Backend::registered("b", &opts, "fromfile");
    wait_for("b gets traffic through the detached watch", LIMIT, || {
        (answering(&client, 10) == labels(&["a", "b"])).then_some(())
    });

    // Without `discovery`, the file's static list and no ZooKeeper.
    let static_conf = dir.0.join("static_cli.conf");
    std::fs::write(
        &static_conf,
        format!(
            "[server]\nmode = hashring\nsum = 1\n[server0]\nip = 127.0.0.1\nport = {}\n",
            b.addr.port()
        ),
    )
    .unwrap();
    let fixed = discovery::client_from_file(&static_conf).unwrap();
    assert_eq!(answering(&fixed, 5), labels(&["b"]));

    // A broken file is an error naming it.
    std::fs::write(dir.0.join("bad_cli.conf"), "[server]\nmode = nonsense\n").unwrap();
    let err = discovery::client_from_file(dir.0.join("bad_cli.conf")).unwrap_err();
    assert!(err.to_string().contains("bad_cli.conf"), "{err}");
    drop((client, fixed));
    drop((a, b));
}
