//! The proxy end to end: thin clients (raw msgpack over a Unix socket, and Python with the
//! `msgpack` package alone) call services through it while its backends come and go in a
//! real ZooKeeper.

mod discovery_support;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde::Serialize;
use svrkit::codec::{self, codes, Decoder, Message, RpcError};
use svrkit::discovery::{DiscoveryOptions, ZkOptions};
use svrkit::proxy::{Proxy, ProxyConfig, ProxyError, UNAVAILABLE};
use svrkit::transport::Addr;
use svrkit_discovery::testing::ZkServer;

use discovery_support::{wait_for, Backend, TempDir};

const LIMIT: Duration = Duration::from_secs(15);
/// An empty params array (`()` would encode as nil).
const NO_PARAMS: [u8; 0] = [];

/// A client that knows nothing but msgpack-rpc framing.
struct Thin {
    stream: UnixStream,
    buf: Vec<u8>,
}

impl Thin {
    fn connect(path: &Path) -> Thin {
        let stream = UnixStream::connect(path).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Thin { stream, buf: Vec::new() }
    }

    fn send(&mut self, msgid: u32, method: &str, params: &impl Serialize) {
        let mut req = Vec::new();
        codec::encode_request(&mut req, msgid, method, params).unwrap();
        self.stream.write_all(&req).unwrap();
    }

    fn send_raw_params(&mut self, msgid: u32, method: &str, params: &[u8]) {
        let mut req = Vec::new();
        codec::encode_request_raw(
            &mut req,
            msgid,
            method,
            codec::RawValue::from_slice(params).unwrap(),
        );
        self.stream.write_all(&req).unwrap();
    }

    /// The next response: its msgid and its result bytes or error.
    fn recv(&mut self) -> (u32, Result<Vec<u8>, RpcError>) {
        loop {
            if let Some(decoded) = Decoder::default().decode(&self.buf).unwrap() {
                let out = match decoded.message.unwrap() {
                    Message::Response { msgid, error: Some(e), .. } => {
                        (msgid, Err(RpcError::from_raw(e)))
                    }
                    Message::Response { msgid, error: None, result } => {
                        (msgid, Ok(result.as_bytes().to_vec()))
                    }
                    other => panic!("not a response: {other:?}"),
                };
                let len = decoded.len;
                self.buf.drain(..len);
                return out;
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).expect("a reply within 10 s");
            assert!(n > 0, "the proxy closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn call<R: serde::de::DeserializeOwned>(
        &mut self,
        method: &str,
        params: &impl Serialize,
    ) -> Result<R, RpcError> {
        self.send(1, method, params);
        let (msgid, outcome) = self.recv();
        assert_eq!(msgid, 1);
        outcome.map(|bytes| codec::RawValue::from_slice(&bytes).unwrap().deserialize().unwrap())
    }

    /// `n` pipelined calls of `method` (msgids 100..100+n); the labels of the answers.
    fn labels(&mut self, method: &str, n: u32) -> HashSet<String> {
        for i in 0..n {
            self.send(100 + i, method, &NO_PARAMS);
        }
        let mut ids = HashSet::new();
        let mut labels = HashSet::new();
        for _ in 0..n {
            let (msgid, outcome) = self.recv();
            ids.insert(msgid);
            let bytes = outcome.unwrap_or_else(|e| panic!("{method}: {e:?}"));
            labels.insert(codec::RawValue::from_slice(&bytes).unwrap().deserialize().unwrap());
        }
        assert_eq!(ids, (100..100 + n).collect(), "every msgid answered once");
        labels
    }
}

fn set(names: &[&str]) -> HashSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn proxy_config(text: &str) -> ProxyConfig {
    ProxyConfig::from_str("proxy.conf", text).unwrap()
}

#[test]
fn proxy_balances_over_a_unix_socket_across_backends_that_come_and_go() {
    let zk = ZkServer::start().unwrap();
    let opts = ZkOptions::new(&zk.hosts()).unwrap();
    let a = Backend::registered("a", &opts, "echo");
    let b = Backend::registered("b", &opts, "echo");
    let mut c = Backend::registered("c", &opts, "echo");
    let dir = TempDir::new("proxy");
    let sock = dir.0.join("proxy.sock");
    let config = proxy_config(&format!(
        "[proxy]\nunix_socket = {}\ntimeout = 2s\n[service0]\nname = echo\nzk = {}\n",
        sock.display(),
        zk.hosts()
    ));
    let proxy = smol::block_on(Proxy::start(&config)).unwrap();
    assert_eq!(proxy.local_addrs(), vec![Addr::Unix(sock.clone())]);
    let mut thin = Thin::connect(&sock);

    // Every request is balanced: 30 pipelined calls reach all three backends.
    assert_eq!(thin.labels("echo.whoami", 30), set(&["a", "b", "c"]));
    // One service: the prefix may be left out.
    assert_eq!(thin.labels("whoami", 6), set(&["a", "b", "c"]));

    // Results are relayed byte for byte; errors keep their code and message.
    let mut params = Vec::new();
    codec::encode_value(&mut params, &("héllo", -5i64, u64::MAX, 1.5f64, vec![1u8, 2], (true, ())))
        .unwrap();
    thin.send_raw_params(9, "echo.echo_params", &params);
    assert_eq!(thin.recv(), (9, Ok(params.clone())));
    let err = thin.call::<()>("echo.fail", &NO_PARAMS).unwrap_err();
    assert_eq!(err.code, 42);
    assert!(err.message.starts_with("boom from "), "{err:?}");
    let err = thin.call::<()>("echo.nosuch", &NO_PARAMS).unwrap_err();
    assert_eq!(err.code, codes::NO_SUCH_METHOD, "{err:?}");
    assert!(err.message.contains("nosuch"), "{err:?}");

    // A new backend gets traffic, a deregistered one (still running) gets none.
    let d = Backend::registered("d", &opts, "echo");
    wait_for("d behind the proxy", LIMIT, || {
        thin.labels("echo.whoami", 12).contains("d").then_some(())
    });
    c.deregister();
    wait_for("c no longer behind the proxy", LIMIT, || {
        (thin.labels("echo.whoami", 12) == set(&["a", "b", "d"])).then_some(())
    });
    assert_eq!(proxy.providers("echo").unwrap().len(), 3);

    proxy.stop().unwrap();
    assert!(UnixStream::connect(&sock).is_err(), "the socket is closed after stop");
    drop((a, b, c, d));
}

#[test]
fn a_python_client_with_only_the_msgpack_package_is_balanced_by_the_proxy() {
    let zk = ZkServer::start().unwrap();
    let opts = ZkOptions::new(&zk.hosts()).unwrap();
    let backends: Vec<Backend> =
        ["p1", "p2", "p3"].iter().map(|l| Backend::registered(l, &opts, "pyecho")).collect();
    let dir = TempDir::new("proxy-py");
    let sock = dir.0.join("proxy.sock");
    let config = proxy_config(&format!(
        "[proxy]\nunix_socket = {}\n[service0]\nname = pyecho\nzk = {}\n",
        sock.display(),
        zk.hosts()
    ));
    let proxy = smol::block_on(Proxy::start(&config)).unwrap();

    let script = r#"
import json, socket, sys
import msgpack
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
n = 30
for i in range(n):
    s.sendall(msgpack.packb([0, i, "pyecho.whoami", []]))
s.sendall(msgpack.packb([0, n, "pyecho.fail", []]))
unpacker = msgpack.Unpacker(raw=False)
replies = {}
while len(replies) < n + 1:
    data = s.recv(65536)
    if not data:
        raise SystemExit("proxy closed the connection")
    unpacker.feed(data)
    for msg in unpacker:
        assert msg[0] == 1, msg
        replies[msg[1]] = (msg[2], msg[3])
labels = sorted(set(replies[i][1] for i in range(n) if replies[i][0] is None))
print(json.dumps({"labels": labels, "ok": sum(1 for i in range(n) if replies[i][0] is None),
                  "error": replies[n][0]}))
"#;
    let out = Command::new("python3").arg("-c").arg(script).arg(&sock).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python client failed (needs python3 + msgpack: cargo xtask setup): {}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(r#""labels": ["p1", "p2", "p3"]"#), "{stdout}");
    assert!(stdout.contains(r#""ok": 30"#), "{stdout}");
    assert!(stdout.contains(r#""error": [42, "boom from p"#), "{stdout}");
    proxy.stop().unwrap();
    drop(backends);
}

#[test]
fn services_by_prefix_and_by_own_socket_and_typed_errors_when_no_backend_serves() {
    let zk = ZkServer::start().unwrap();
    let calc = Backend::start("calc-1");
    let dir = TempDir::new("proxy-multi");
    let shared = dir.0.join("shared.sock");
    let own = dir.0.join("calc.sock");
    let config = proxy_config(&format!(
        "[proxy]\nunix_socket = {}\nlisten = 127.0.0.1:0\ntimeout = 500ms\nretries = 2\n\
         [service0]\nname = calc\nservers = {}\nunix_socket = {}\n\
         [service1]\nname = echo\nzk = {}\n",
        shared.display(),
        calc.addr,
        own.display(),
        zk.hosts()
    ));
    let proxy = smol::block_on(Proxy::start(&config)).unwrap();
    assert_eq!(proxy.service_addrs("calc"), vec![Addr::Unix(own.clone())]);

    let mut thin = Thin::connect(&shared);
    assert_eq!(thin.call::<String>("calc.whoami", &NO_PARAMS).unwrap(), "calc-1");
    // The shared TCP listener routes the same way (a svrkit client as the thin client).
    let tcp = proxy.local_addrs().into_iter().find(|a| matches!(a, Addr::Tcp(_))).unwrap();
    let over_tcp = svrkit::client::Client::connect_to(svrkit::client::Endpoint::from(tcp));
    assert_eq!(smol::block_on(over_tcp.call::<String>("calc.whoami", &())).unwrap(), "calc-1");
    // Two services and no default: a method needs its prefix.
    let err = thin.call::<String>("whoami", &NO_PARAMS).unwrap_err();
    assert_eq!(err.code, codes::NO_SUCH_METHOD);
    assert!(err.message.contains("calc, echo"), "{err:?}");
    // echo has no backend registered: a typed error, not a hang.
    let err = thin.call::<String>("echo.whoami", &NO_PARAMS).unwrap_err();
    assert_eq!(err.code, UNAVAILABLE, "{err:?}");

    // calc's own socket: methods unprefixed.
    let mut direct = Thin::connect(&own);
    assert_eq!(direct.call::<String>("whoami", &NO_PARAMS).unwrap(), "calc-1");

    // The only calc backend dies: calls fail with UNAVAILABLE (after the retries).
    drop(calc);
    let err = direct.call::<String>("whoami", &NO_PARAMS).unwrap_err();
    assert_eq!(err.code, UNAVAILABLE, "{err:?}");
    proxy.stop().unwrap();
}

#[test]
fn proxy_start_names_the_service_and_the_zookeeper_it_cannot_reach() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = TempDir::new("proxy-nozk");
    let config = proxy_config(&format!(
        "[proxy]\nunix_socket = {}\n[service0]\nname = echo\nzk = 127.0.0.1:{port}\n",
        dir.0.join("p.sock").display()
    ))
    .with_discovery_options(
        DiscoveryOptions::default().with_connect_timeout(Duration::from_millis(800)),
    );
    let err = smol::block_on(Proxy::start(&config)).unwrap_err();
    assert!(matches!(err, ProxyError::Discovery { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("service echo") && text.contains(&format!("127.0.0.1:{port}")), "{text}");
}
