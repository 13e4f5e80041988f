//! Seed 003's scenarios on a real ZooKeeper with servers as real processes
//! (`e2e-discovery-server`): one client and one server, four clients, servers appearing
//! under running clients, two of four killed with SIGKILL mid-load, a graceful stop under
//! load, ZooKeeper restarted, and seed 004's proxy in front of discovered backends.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use svrkit::client::ClientError;
use svrkit::config::ClientConfig;
use svrkit::discovery::{self, DiscoveryClient};
use svrkit::proxy::{Proxy, ProxyConfig};
use svrkit_discovery::testing::ZkServer;

const LIMIT: Duration = Duration::from_secs(20);

/// A server process; killed (SIGKILL) and reaped on drop.
struct ServerProc {
    name: String,
    addr: std::net::SocketAddr,
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl ServerProc {
    /// Starts a server registering as `name` in `app`; returns once it is registered.
    fn start(zk: &str, app: &str, name: &str, session_timeout_ms: u64) -> ServerProc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_e2e-discovery-server"))
            .args(["--zk", zk, "--app", app, "--name", name])
            .args(["--session-timeout-ms", &session_timeout_ms.to_string()])
            .env("SVRKIT_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn e2e-discovery-server");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut server =
            ServerProc { name: name.to_string(), addr: ([0, 0, 0, 0], 0).into(), child, lines };
        let ready = server.expect_line("READY ");
        server.addr = ready.trim_start_matches("READY ").parse().unwrap();
        server
    }

    fn expect_line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(e) => panic!("server {}: no {prefix:?} line: {e}", self.name),
            }
        }
    }

    fn sigkill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn sigterm(&self) {
        let status =
            Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server {} did not exit", self.name);
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(zk: &str, app: &str) -> DiscoveryClient {
    let config = ClientConfig::from_str(
        "e2e_cli.conf",
        &format!(
            "[server]\nmode = hashring\ntimeout = 2s\nretries = 3\nprobe_interval = 100ms\n\
             discovery = zk\nzk = {zk}\npath = /svrkit/{app}/providers\n"
        ),
    )
    .unwrap();
    smol::block_on(discovery::connect(&config)).unwrap()
}

fn whoami(c: &DiscoveryClient) -> String {
    smol::block_on(c.call::<String>("whoami", &())).unwrap()
}

fn answering(c: &DiscoveryClient, n: usize) -> HashSet<String> {
    (0..n).map(|_| whoami(c)).collect()
}

fn names(list: &[&str]) -> HashSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Polls `check` every 5 ms for at most `LIMIT`.
fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {LIMIT:?} waiting for: {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// How `threads` clients' calls ended while `Load` ran.
#[derive(Debug, Default)]
struct Outcome {
    ok: BTreeMap<String, usize>,
    failed: Vec<String>,
}

/// Background load: each client calls `work [ms]` in a loop until stopped (each call is
/// bounded by the client's timeout and retries, so the loop ends).
struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    threads: Vec<thread::JoinHandle<Outcome>>,
}

impl Load {
    fn start(clients: &[DiscoveryClient], work_ms: u64) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let threads = clients
            .iter()
            .map(|c| {
                let (c, stop, done) = (c.clone(), stop.clone(), done.clone());
                thread::spawn(move || {
                    let mut out = Outcome::default();
                    // Bounded: at most 100k calls even if never stopped.
                    for _ in 0..100_000 {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        match smol::block_on(c.call::<String>("work", &(work_ms,))) {
                            Ok(name) => *out.ok.entry(name).or_default() += 1,
                            Err(e) => {
                                // A typed error, never a hang.
                                assert!(
                                    matches!(
                                        e,
                                        ClientError::Timeout { .. }
                                            | ClientError::Connect { .. }
                                            | ClientError::ConnectionLost { .. }
                                            | ClientError::NoNodeAvailable { .. }
                                    ),
                                    "{e:?}"
                                );
                                out.failed.push(e.to_string());
                            }
                        }
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                    out
                })
            })
            .collect();
        Load { stop, done, threads }
    }

    /// Waits until `n` more calls have finished.
    fn wait_calls(&self, n: usize) {
        let target = self.done.load(Ordering::SeqCst) + n;
        wait_for("load progress", || (self.done.load(Ordering::SeqCst) >= target).then_some(()));
    }

    fn finish(self) -> Outcome {
        self.stop.store(true, Ordering::SeqCst);
        let mut total = Outcome::default();
        for t in self.threads {
            let out = t.join().unwrap();
            for (k, v) in out.ok {
                *total.ok.entry(k).or_default() += v;
            }
            total.failed.extend(out.failed);
        }
        total
    }
}

#[test]
fn seed_003_one_then_four_clients_servers_join_and_two_of_four_are_killed_mid_load() {
    let zk = ZkServer::start().unwrap();
    let hosts = zk.hosts();
    // Short sessions, so SIGKILLed servers leave ZooKeeper quickly.
    let s1 = ServerProc::start(&hosts, "seed3", "s1", 1_000);

    // Scenario 1: one client, one server.
    let first = client(&hosts, "seed3");
    assert_eq!(answering(&first, 20), names(&["s1"]));

    // Scenario 2: four clients, one server.
    let clients: Vec<DiscoveryClient> = (0..4).map(|_| client(&hosts, "seed3")).collect();
    for c in &clients {
        assert_eq!(answering(c, 10), names(&["s1"]));
    }

    // Scenario 3: a second server appears; every running client sends it traffic.
    let s2 = ServerProc::start(&hosts, "seed3", "s2", 1_000);
    let registered = Instant::now();
    for (i, c) in clients.iter().enumerate() {
        wait_for("s2 gets traffic", || (whoami(c) == "s2").then_some(()));
        eprintln!("client {i}: s2 registered -> answering it after {:?}", registered.elapsed());
    }
    for c in &clients {
        assert_eq!(answering(c, 10), names(&["s1", "s2"]));
    }

    // Scenario 4: four servers; each client spreads over all four.
    let mut s3 = ServerProc::start(&hosts, "seed3", "s3", 1_000);
    let s4 = ServerProc::start(&hosts, "seed3", "s4", 1_000);
    for c in &clients {
        wait_for("four servers in every client", || (c.providers().len() == 4).then_some(()));
        assert_eq!(answering(c, 20), names(&["s1", "s2", "s3", "s4"]));
    }

    // Scenario 5: two of the four are SIGKILLed mid-load: the clients carry on, calls on the
    // dead servers are retried on the live ones.
    let load = Load::start(&clients, 2);
    load.wait_calls(200);
    let mut s2 = s2;
    s2.sigkill();
    s3.sigkill();
    let killed = Instant::now();
    load.wait_calls(400);
    // The dead servers' sessions expire and they leave every client's list.
    for c in &clients {
        wait_for("dead servers leave the list", || (c.providers().len() == 2).then_some(()));
    }
    eprintln!("killed servers out of every client's list after {:?}", killed.elapsed());
    load.wait_calls(200);
    let outcome = load.finish();
    eprintln!("load over the kill: {:?} answered, {} failed", outcome.ok, outcome.failed.len());
    assert!(outcome.failed.is_empty(), "calls failed over the kill: {:?}", outcome.failed);
    for c in &clients {
        assert_eq!(answering(c, 20), names(&["s1", "s4"]));
    }
    drop((s1, s4, first));
}

#[test]
fn graceful_stop_of_a_server_under_load_loses_no_call() {
    let zk = ZkServer::start().unwrap();
    let hosts = zk.hosts();
    let servers: Vec<ServerProc> = ["g1", "g2", "g3"]
        .iter()
        .map(|n| ServerProc::start(&hosts, "graceful", n, 2_000))
        .collect();
    let clients: Vec<DiscoveryClient> = (0..4).map(|_| client(&hosts, "graceful")).collect();
    for c in &clients {
        assert_eq!(answering(c, 12), names(&["g1", "g2", "g3"]));
    }

    let load = Load::start(&clients, 5);
    load.wait_calls(200);
    let mut servers = servers;
    let mut g2 = servers.remove(1);
    g2.sigterm();
    g2.expect_line("STOPPED");
    let status = g2.wait_exit();
    assert!(status.success(), "graceful stop exits 0: {status:?}");
    // It deregistered before it stopped answering, so every client drops it.
    for c in &clients {
        wait_for("g2 leaves every list", || {
            (!c.providers().addrs().contains(&g2.addr)).then_some(())
        });
    }
    load.wait_calls(200);
    let outcome = load.finish();
    eprintln!("load over the graceful stop: {:?}", outcome.ok);
    assert!(outcome.failed.is_empty(), "calls failed over a graceful stop: {:?}", outcome.failed);
    assert!(outcome.ok.get("g2").copied().unwrap_or(0) > 0, "g2 served before it stopped");
    for c in &clients {
        assert_eq!(answering(c, 12), names(&["g1", "g3"]));
    }
}

#[test]
fn zookeeper_restarted_registrations_and_watches_recover() {
    let mut zk = ZkServer::start().unwrap();
    let hosts = zk.hosts();
    let z1 = ServerProc::start(&hosts, "zkrestart", "z1", 4_000);
    let c = client(&hosts, "zkrestart");
    assert_eq!(answering(&c, 5), names(&["z1"]));

    let load = Load::start(std::slice::from_ref(&c), 1);
    zk.restart().unwrap();
    load.wait_calls(100);
    let outcome = load.finish();
    assert!(
        outcome.failed.is_empty(),
        "calls failed while ZooKeeper restarted: {:?}",
        outcome.failed
    );

    // z1's registration survived (or was re-made), as a fresh watcher sees...
    let fresh = client(&hosts, "zkrestart");
    wait_for("z1 registered after the restart", || {
        (fresh.providers().addrs() == vec![z1.addr]).then_some(())
    });
    // ...and the old client's watch is live: a server registered now gets its traffic.
    let z2 = ServerProc::start(&hosts, "zkrestart", "z2", 4_000);
    let registered = Instant::now();
    wait_for("z2 seen by the old client", || (whoami(&c) == "z2").then_some(()));
    eprintln!("after a ZooKeeper restart: new server answering after {:?}", registered.elapsed());
    assert_eq!(answering(&c, 10), names(&["z1", "z2"]));
    drop((z1, z2));
}

#[test]
fn proxy_over_a_unix_socket_balances_a_python_client_across_discovered_processes() {
    let zk = ZkServer::start().unwrap();
    let hosts = zk.hosts();
    let mut servers: Vec<ServerProc> =
        ["p1", "p2", "p3"].iter().map(|n| ServerProc::start(&hosts, "pyproxy", n, 1_000)).collect();
    let dir = std::env::temp_dir().join(format!("svrkit-e2e-proxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("proxy.sock");
    let config = ProxyConfig::from_str(
        "proxy.conf",
        &format!(
            "[proxy]\nunix_socket = {}\ntimeout = 2s\nprobe_interval = 100ms\n\
             [service0]\nname = echo\nzk = {hosts}\npath = /svrkit/pyproxy/providers\n",
            sock.display()
        ),
    )
    .unwrap();
    let proxy = smol::block_on(Proxy::start(&config)).unwrap();

    // A Python client with only the msgpack package: no routing logic at all.
    let script = r#"
import json, socket, sys
import msgpack
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
s.connect(sys.argv[1])
n = int(sys.argv[2])
unpacker = msgpack.Unpacker(raw=False)
counts, errors = {}, []
for start in range(0, n, 10):
    for i in range(start, start + 10):
        s.sendall(msgpack.packb([0, i, "echo.work", [2]]))
    got = 0
    while got < 10:
        data = s.recv(65536)
        if not data:
            raise SystemExit("proxy closed the connection")
        unpacker.feed(data)
        for msg in unpacker:
            got += 1
            if msg[2] is None:
                counts[msg[3]] = counts.get(msg[3], 0) + 1
            else:
                errors.append(msg[2])
print(json.dumps({"counts": counts, "errors": errors}, sort_keys=True))
"#;
    let python = |n: usize| -> String {
        let out = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&sock)
            .arg(n.to_string())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "python client failed (needs python3 + msgpack: cargo xtask setup): {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let before = python(60);
    for n in ["p1", "p2", "p3"] {
        assert!(before.contains(&format!("\"{n}\":")), "{n} got no call: {before}");
    }
    assert!(before.contains("\"errors\": []"), "{before}");

    // One backend SIGKILLed: the proxy retries its calls elsewhere; the thin client sees
    // no error.
    servers[1].sigkill();
    let after = python(60);
    assert!(after.contains("\"errors\": []"), "{after}");
    assert!(!after.contains("\"p2\":"), "a dead backend answered: {after}");
    wait_for("p2 leaves the proxy's list", || {
        (proxy.providers("echo").unwrap().len() == 2).then_some(())
    });
    let settled = python(30);
    assert!(!settled.contains("\"p2\":"), "{settled}");
    proxy.stop().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
