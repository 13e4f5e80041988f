//! Tests of the server INI file (`echo_svr.conf`): the seed's file as is, every extension,
//! and errors that name file, section and key.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use svrkit::config::{ConfigError, DispatchType, GroupConfig, ServerConfig, WorkerType};
use svrkit::server::{Mode, ServerOptions};
use svrkit::transport::Addr;

const SEED: &str = include_str!("data/echo_svr.conf");

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

#[test]
fn seed_file_parses() {
    let cfg = ServerConfig::load(data("echo_svr.conf")).unwrap();
    assert_eq!(cfg.app_name, "echo");
    assert_eq!(cfg.pid_file, Some(PathBuf::from("/var/run/echo.pid")));
    assert_eq!(cfg.rpc.tcp, Some("0.0.0.0:3000".parse::<SocketAddr>().unwrap()));
    assert_eq!(cfg.rpc.worker_type, WorkerType::Thread);
    assert_eq!(cfg.rpc.worker_sum, 4);
    assert_eq!(cfg.rpc.unix_socket, None);
    assert!(cfg.rpc.allow_ip.nets().is_empty());
    assert_eq!(cfg.rpc.idle_timeout, None);
    let ss = cfg.self_server.unwrap();
    assert_eq!(ss.worker_type, WorkerType::Thread);
    assert_eq!(
        ss.dispatch,
        DispatchType::Custom {
            groups: vec![
                GroupConfig { name: "event".into(), worker_sum: 2, coroutine_sum: None },
                GroupConfig { name: "value".into(), worker_sum: 2, coroutine_sum: None },
            ]
        }
    );
    assert_eq!(cfg.registry, None);
    let opts = ServerOptions::from_config(&cfg.rpc);
    assert_eq!(opts.mode, Mode::Thread);
    assert_eq!(opts.workers, 4);
}

#[test]
fn extensions_parse_to_values() {
    let text = "\
[app]
name = echo

[rpc_server]
ip = ::1
port = 0
unix_socket = /tmp/echo.sock
worker_type = coroutine
worker_sum = 2
coroutine_sum = 64
allow_ip = 127.0.0.1, 10.0.0.0/8, fe80::/10
max_connections = 10000
max_frame = 1M
idle_timeout = 30s
drain_timeout = 500ms

[self_server]
dispatch_type = simple
worker_sum = 3

[registry]
zk = 127.0.0.1:2181, 127.0.0.2:2181
path = /svrkit
weight = 50
advertise = 127.0.0.1:3000
";
    let cfg = ServerConfig::from_str("ext.conf", text).unwrap();
    let rpc = &cfg.rpc;
    assert_eq!(rpc.tcp, Some("[::1]:0".parse().unwrap()));
    assert_eq!(rpc.unix_socket, Some(PathBuf::from("/tmp/echo.sock")));
    assert_eq!(
        rpc.listen_addrs(),
        vec!["[::1]:0".parse::<Addr>().unwrap(), "unix:/tmp/echo.sock".parse().unwrap()]
    );
    assert_eq!(rpc.worker_type, WorkerType::Coroutine);
    assert_eq!((rpc.worker_sum, rpc.coroutine_sum), (2, 64));
    assert_eq!(rpc.allow_ip.nets().len(), 3);
    assert_eq!(rpc.max_connections, 10_000);
    assert_eq!(rpc.max_frame, 1 << 20);
    assert_eq!(rpc.idle_timeout, Some(Duration::from_secs(30)));
    assert_eq!(rpc.drain_timeout, Duration::from_millis(500));
    assert_eq!(
        cfg.self_server.unwrap().dispatch,
        DispatchType::Simple { worker_sum: 3, coroutine_sum: None }
    );
    let reg = cfg.registry.unwrap();
    assert_eq!(reg.zk, ["127.0.0.1:2181", "127.0.0.2:2181"]);
    assert_eq!(reg.weight, 50);
    assert_eq!(reg.advertise, Some("127.0.0.1:3000".parse().unwrap()));
    let opts = ServerOptions::from_config(rpc);
    assert_eq!(opts.mode, Mode::Coroutine);
    assert_eq!(opts.max_in_flight, 64);
    assert_eq!(opts.policy.max_frame, 1 << 20);
}

/// Replace `key=...` in the seed (or append to `[section]`) and return the error text.
/// Seed 001's `self_server` sample `{"dispatch_type": "simple", "worker_type":
/// "process_coroutine", "worker_sum": 2, "coroutine_sum": 100}`, as the generated INI says it.
#[test]
fn simple_process_coroutine_self_server_takes_coroutine_sum() {
    let text = "[app]\nname=echo\n\n[rpc_server]\nip=0.0.0.0\nport=3000\n\n[self_server]\n\
                dispatch_type=simple\nworker_type=process_coroutine\nworker_sum=2\n\
                coroutine_sum=100\n";
    let ss = ServerConfig::from_str("echo_svr.conf", text).unwrap().self_server.unwrap();
    assert_eq!(ss.worker_type, WorkerType::ProcessCoroutine);
    assert_eq!(ss.dispatch, DispatchType::Simple { worker_sum: 2, coroutine_sum: Some(100) });
    let err = ServerConfig::from_str("echo_svr.conf", &text.replace("=100", "=0")).unwrap_err();
    assert!(err.to_string().contains("[self_server] coroutine_sum"), "{err}");
}

fn error_with(section: &str, key: &str, value: &str) -> String {
    let mut out = String::new();
    let mut cur = String::new();
    let mut done = false;
    for line in SEED.lines() {
        if let Some(s) = line.strip_prefix('[') {
            if cur == section && !done {
                out.push_str(&format!("{key}={value}\n"));
                done = true;
            }
            cur = s.trim_end_matches(']').to_string();
        }
        if cur == section && line.split('=').next() == Some(key) {
            out.push_str(&format!("{key}={value}\n"));
            done = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !done {
        out.push_str(&format!("{key}={value}\n"));
    }
    ServerConfig::from_str("echo_svr.conf", &out).expect_err("an invalid config").to_string()
}

#[test]
fn errors_name_file_section_and_key() {
    let cases = [
        (
            ("rpc_server", "port", "70000"),
            "echo_svr.conf: [rpc_server] port: invalid value \"70000\": expected a port number 0-65535",
        ),
        (
            ("rpc_server", "worker_type", "fiber"),
            "echo_svr.conf: [rpc_server] worker_type: invalid value \"fiber\": expected thread, coroutine, process or process_coroutine",
        ),
        (
            ("rpc_server", "worker_sum", "0"),
            "echo_svr.conf: [rpc_server] worker_sum: invalid value \"0\": must be at least 1",
        ),
        (
            ("rpc_server", "idle_timeout", "5 fortnights"),
            "echo_svr.conf: [rpc_server] idle_timeout: invalid value \"5 fortnights\": unknown duration unit \"fortnights\"; expected a number with ms, s, m or h (e.g. \"30s\", \"500ms\")",
        ),
        (
            ("rpc_server", "allow_ip", "127.0.0.1, 10.0.0.0/40"),
            "echo_svr.conf: [rpc_server] allow_ip: invalid value \"127.0.0.1, 10.0.0.0/40\": bad address \"10.0.0.0/40\": prefix length 40 exceeds 32",
        ),
        (
            ("rpc_server", "max_frame", "lots"),
            "echo_svr.conf: [rpc_server] max_frame: invalid value \"lots\": expected a size like \"65536\", \"64k\" or \"16M\"",
        ),
        (
            ("rpc_server", "worker_summ", "4"),
            "echo_svr.conf: [rpc_server] worker_summ: unknown key; did you mean \"worker_sum\"?",
        ),
        (
            ("self_server", "group_sum", "3"),
            "echo_svr.conf: missing section [self_group2]",
        ),
        (
            ("self_server", "dispatch_type", "fancy"),
            "echo_svr.conf: [self_server] dispatch_type: invalid value \"fancy\": expected simple or custom",
        ),
        (
            ("self_group1", "group_name", "event"),
            "echo_svr.conf: [self_group1] group_name: invalid value \"event\": duplicate group name",
        ),
    ];
    for ((section, key, value), want) in cases {
        assert_eq!(error_with(section, key, value), want, "{section}.{key}={value}");
    }
}

#[test]
fn structural_errors() {
    let e = ServerConfig::from_str("a.conf", "[rpc_server]\nport=1\n").unwrap_err();
    assert_eq!(e.to_string(), "a.conf: missing section [app]");

    let e =
        ServerConfig::from_str("a.conf", "[app]\nname=x\n[rpc_server]\nip=1.2.3.4\n").unwrap_err();
    assert_eq!(e.to_string(), "a.conf: [rpc_server] port: missing required key");

    let e = ServerConfig::from_str("a.conf", "[app]\nname=x\n[rpc_server]\nport=1\n[regsitry]\n")
        .unwrap_err();
    assert_eq!(e.to_string(), "a.conf: [regsitry]: unknown section; did you mean [registry]?");

    let e = ServerConfig::load(data("no_such.conf")).unwrap_err();
    assert!(matches!(e, ConfigError::Io { .. }));
    assert!(e.to_string().contains("no_such.conf: cannot read"), "{e}");

    // A Unix socket alone is enough to listen.
    let cfg =
        ServerConfig::from_str("a.conf", "[app]\nname=x\n[rpc_server]\nunix_socket=/tmp/x.sock\n")
            .unwrap();
    assert_eq!(cfg.rpc.tcp, None);
    assert_eq!(cfg.rpc.listen_addrs(), vec![Addr::Unix("/tmp/x.sock".into())]);
}
