//! The client INI format: the seeds' files parse as they are, the extensions parse, and
//! every mistake is reported with its file, section and key.

use std::time::Duration;

use svrkit::client::{Client, ClientError, Endpoint};
use svrkit::config::{
    ClientConfig, DiscoveryConfig, RingNode, Routing, ShardRange, ShardingConfig,
};

fn data(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/client_data").join(name)
}

#[test]
fn seed_000_sharding_file_parses() {
    let config = ClientConfig::load(data("seed000_echo_rpc_cli.conf")).unwrap();
    let tcp = |port| Endpoint::tcp("127.0.0.1", port);
    assert_eq!(
        config.routing,
        Routing::Sharding(ShardingConfig {
            shardsum: 1000,
            shards: vec![
                ShardRange {
                    section: "server0".into(),
                    begin: 0,
                    end: 499,
                    primary: tcp(3000),
                    backup: Some(tcp(3001))
                },
                ShardRange {
                    section: "server1".into(),
                    begin: 500,
                    end: 999,
                    primary: tcp(3002),
                    backup: Some(tcp(3003))
                },
            ],
        })
    );
    assert_eq!(config.timeout, Duration::from_secs(3));
    assert_eq!(config.retries, 3);
    assert_eq!(config.discovery, None);
    Client::new(config).unwrap();
}

#[test]
fn seed_001_hashring_file_parses_and_its_repeated_server_is_one_node() {
    let config = ClientConfig::load(data("seed001_echo_cli.conf")).unwrap();
    let node = RingNode { endpoint: Endpoint::tcp("127.0.0.1", 3000), weight: 100 };
    assert_eq!(config.routing, Routing::Hashring(vec![node.clone(), node.clone(), node]));
    // The ring refuses duplicate nodes; the client merges them instead of failing.
    Client::from_file(data("seed001_echo_cli.conf")).unwrap();
}

#[test]
fn extensions_parse() {
    let text = "
[server]
sum = 2
mode = hashring
timeout = 250ms
retries = 5
probe_interval = 2s
discovery = zk
zk = 127.0.0.1:2181, 127.0.0.2:2181
path = /svrkit/echo/providers/

[server0]
unix_socket = /run/echo.sock

[server1]
ip = ::1
port = 3001
";
    let config = ClientConfig::from_str("echo_cli.conf", text).unwrap();
    assert_eq!(config.timeout, Duration::from_millis(250));
    assert_eq!(config.retries, 5);
    assert_eq!(config.probe_interval, Duration::from_secs(2));
    assert_eq!(
        config.discovery,
        Some(DiscoveryConfig {
            zk: vec!["127.0.0.1:2181".into(), "127.0.0.2:2181".into()],
            path: "/svrkit/echo/providers".into()
        })
    );
    assert_eq!(
        config.routing,
        Routing::Hashring(vec![
            RingNode { endpoint: Endpoint::unix("/run/echo.sock"), weight: 100 },
            RingNode { endpoint: Endpoint::tcp("::1", 3001), weight: 100 },
        ])
    );
    assert_eq!(Endpoint::tcp("::1", 3001).to_string(), "[::1]:3001");
}

#[test]
fn discovery_alone_needs_no_static_servers() {
    let text = "[server]\nmode = hashring\ndiscovery = zk\nzk = 127.0.0.1:2181\npath = /svrkit/echo/providers\n";
    let config = ClientConfig::from_str("c.conf", text).unwrap();
    assert_eq!(config.routing, Routing::Hashring(vec![]));
    let client = Client::new(config).unwrap();
    let err = smol::block_on(client.call::<()>("echo", &(1,))).unwrap_err();
    assert!(matches!(err, ClientError::NoNodeAvailable { .. }), "{err:?}");
}

/// Parses `text` and returns the error message, which must name the file.
fn error(text: &str) -> String {
    let err = ClientConfig::from_str("echo_cli.conf", text).unwrap_err().to_string();
    assert!(err.starts_with("echo_cli.conf"), "{err}");
    err
}

const HASH_HEAD: &str = "[server]\nsum = 1\nmode = hashring\n";

#[test]
fn mistakes_name_file_section_and_key() {
    let cases: &[(String, &[&str])] = &[
        ("[server]\nsum = 1\n[server0]\nip=a\nport=1\n".into(), &["[server]", "mode"]),
        ("[server]\nsum = 1\nmode = ring\n[server0]\nip=a\nport=1\n".into(), &["[server]", "mode", "ring", "hashring"]),
        (format!("{HASH_HEAD}[server0]\nip = 127.0.0.1\n"), &["[server0]", "port"]),
        (format!("{HASH_HEAD}[server0]\nip = 127.0.0.1\nport = 70000\n"), &["[server0]", "port", "70000"]),
        (format!("{HASH_HEAD}[server0]\nip = 127.0.0.1\nport = 1\nweight = 0\n"), &["[server0]", "weight"]),
        (format!("{HASH_HEAD}[server0]\nip = 127.0.0.1\nport = 1\nwieght = 5\n"), &["[server0]", "wieght", "weight"]),
        (format!("{HASH_HEAD}timeout = soon\n[server0]\nip = a\nport = 1\n"), &["[server]", "timeout", "soon"]),
        (format!("{HASH_HEAD}retries = 0\n[server0]\nip = a\nport = 1\n"), &["[server]", "retries"]),
        ("[server]\nsum = 2\nmode = hashring\n[server0]\nip = a\nport = 1\n".into(), &["server1"]),
        (format!("{HASH_HEAD}[server0]\nip = a\nport = 1\n[server1]\nip = b\nport = 2\n"), &["[server1]", "sum=1"]),
        (format!("{HASH_HEAD}[servers]\n[server0]\nip = a\nport = 1\n"), &["servers"]),
        (format!("{HASH_HEAD}discovery = etcd\n[server0]\nip = a\nport = 1\n"), &["[server]", "discovery", "etcd"]),
        (format!("{HASH_HEAD}discovery = zk\npath = /x\n[server0]\nip = a\nport = 1\n"), &["[server]", "zk"]),
        (
            "[server]\nsum = 2\nmode = sharding\nshardsum = 1000\n\
             [server0]\nip = a\nport = 1\nshardbegin = 0\nshardend = 499\n\
             [server1]\nip = b\nport = 2\nshardbegin = 400\nshardend = 999\n"
                .into(),
            &["[server1]", "shardbegin", "overlaps [server0]"],
        ),
        (
            "[server]\nsum = 1\nmode = sharding\nshardsum = 1000\n\
             [server0]\nip = a\nport = 1\nshardbegin = 0\nshardend = 499\n"
                .into(),
            &["[server0]", "shardend", "500..999"],
        ),
        (
            "[server]\nsum = 1\nmode = sharding\n[server0]\nip = a\nport = 1\nshardbegin = 0\nshardend = 9\n".into(),
            &["[server]", "shardsum"],
        ),
        (
            "[server]\nsum = 1\nmode = sharding\nshardsum = 10\n\
             [server0]\nip = a\nport = 1\nip_bak = b\nshardbegin = 0\nshardend = 9\n"
                .into(),
            &["[server0]", "port_bak"],
        ),
    ];
    for (text, needles) in cases {
        let err = error(text);
        for needle in *needles {
            assert!(err.contains(needle), "{err:?} should mention {needle:?}\n--- config:\n{text}");
        }
    }
}

#[test]
fn a_missing_file_names_it() {
    let err = ClientConfig::load("/nonexistent/echo_cli.conf").unwrap_err().to_string();
    assert!(err.contains("/nonexistent/echo_cli.conf"), "{err}");
    let err = Client::from_file("/nonexistent/echo_cli.conf").unwrap_err();
    assert!(matches!(err, ClientError::Config(_)), "{err:?}");
}
