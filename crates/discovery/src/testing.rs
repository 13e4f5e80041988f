//! Test harness (feature `testing`): a real ZooKeeper on loopback, and a cuttable TCP relay.
//!
//! [`ZkServer`] runs Debian's ZooKeeper 3.8 (`apt-get install zookeeper`, or
//! `cargo xtask setup`) as a child JVM with its own `zoo.cfg` in a temporary folder:
//! `clientPortAddress=127.0.0.1`, a free port, `tickTime=200` and `maxSessionTimeout=60000`
//! (so session timeouts from 0.4 s to 60 s are allowed), no admin server, `4lw.commands.whitelist=ruok,srvr`. It is ready
//! when `ruok` answers `imok` and `srvr` reports a serving standalone server (each probe has
//! its own timeout: a probe sent during start-up can go unanswered). Drop kills it, waits for
//! it and removes the folder.
//!
//! [`Relay`] forwards a loopback port to ZooKeeper and can [`cut`](Relay::cut) every
//! connection and refuse new ones, which is how a test makes ZooKeeper "unreachable" for one
//! client (a killed or partitioned server) while others still reach it.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The jars of Debian's `zookeeper` package (3.8): the server, logging binding, log4j.
pub const CLASSPATH: &str = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:\
/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar";

/// How long [`ZkServer::start`] waits for the JVM to serve.
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// Per-probe connect and read timeout.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// A ZooKeeper server on `127.0.0.1:<port>`, killed on drop.
pub struct ZkServer {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl ZkServer {
    /// Starts a fresh server (empty data directory) and waits until it serves.
    pub fn start() -> io::Result<ZkServer> {
        let jar = Path::new("/usr/share/java/zookeeper.jar");
        if !jar.exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "ZooKeeper is not installed (/usr/share/java/zookeeper.jar missing): run \
                 `cargo xtask setup` or `apt-get install zookeeper`",
            ));
        }
        let dir = unique_temp_dir()?;
        std::fs::create_dir_all(dir.join("data"))?;
        let port = free_port()?;
        let cfg = format!(
            "tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir={data}\nclientPort={port}\n\
             clientPortAddress=127.0.0.1\nadmin.enableServer=false\n\
             4lw.commands.whitelist=ruok,srvr\nmaxClientCnxns=0\nmaxSessionTimeout=60000\n",
            data = dir.join("data").display()
        );
        std::fs::write(dir.join("zoo.cfg"), cfg)?;
        let mut server = ZkServer { dir, port, child: None };
        server.launch()?;
        Ok(server)
    }

    /// The connect string, `127.0.0.1:<port>`.
    pub fn hosts(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The client address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Kills the server (SIGKILL: no clean shutdown) and waits for it. Sessions and nodes
    /// stay in the data directory for [`start_again`](Self::start_again).
    pub fn stop(&mut self) -> io::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts the stopped server again on the same port with the same data: its sessions
    /// come back, and expire if their clients do not reconnect within the session timeout.
    pub fn start_again(&mut self) -> io::Result<()> {
        self.stop()?;
        self.launch()
    }

    /// [`stop`](Self::stop) then [`start_again`](Self::start_again).
    pub fn restart(&mut self) -> io::Result<()> {
        self.start_again()
    }

    /// Whether the JVM is running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Sends a four-letter command and returns the answer (`ruok`, `srvr`).
    pub fn four_letter(&self, cmd: &str) -> io::Result<String> {
        four_letter(self.addr(), cmd)
    }

    fn launch(&mut self) -> io::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("zookeeper.log"))?;
        let child = Command::new("java")
            .args(["-Xms32m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
            .arg("-Dzookeeper.root.logger=INFO,CONSOLE")
            .args(["-cp", CLASSPATH, "org.apache.zookeeper.server.ZooKeeperServerMain"])
            .arg(self.dir.join("zoo.cfg"))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("starting java for ZooKeeper: {e}")))?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let started = Instant::now();
        let addr = self.addr();
        let mut last = String::from("no probe yet");
        while started.elapsed() < READY_DEADLINE {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None;
                return Err(io::Error::other(format!(
                    "ZooKeeper exited during start-up ({status}); log tail:\n{}",
                    self.log_tail()
                )));
            }
            match four_letter(addr, "ruok") {
                Ok(answer) if answer == "imok" => match four_letter(addr, "srvr") {
                    Ok(srvr) if srvr.contains("Mode: standalone") => return Ok(()),
                    Ok(srvr) => last = format!("srvr: {}", srvr.trim()),
                    Err(e) => last = format!("srvr: {e}"),
                },
                Ok(answer) => last = format!("ruok: {answer:?}"),
                Err(e) => last = format!("ruok: {e}"),
            }
            thread::sleep(Duration::from_millis(50));
        }
        self.stop()?;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "ZooKeeper on {addr} not serving after {} s (last probe: {last}); log tail:\n{}",
                READY_DEADLINE.as_secs(),
                self.log_tail()
            ),
        ))
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("zookeeper.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for ZkServer {
    fn drop(&mut self) {
        let _ = self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn four_letter(addr: SocketAddr, cmd: &str) -> io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT)?;
    stream.set_read_timeout(Some(PROBE_TIMEOUT))?;
    stream.set_write_timeout(Some(PROBE_TIMEOUT))?;
    stream.write_all(cmd.as_bytes())?;
    let mut answer = String::new();
    stream.take(64 * 1024).read_to_string(&mut answer)?;
    Ok(answer)
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn unique_temp_dir() -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("svrkit-zk-{}-{n}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A loopback TCP relay to a target (ZooKeeper) whose connections can be cut.
///
/// While cut, accepted connections are closed at once, so a client sees ZooKeeper as down;
/// [`heal`](Relay::heal) lets connections through again. Drop stops the relay threads.
pub struct Relay {
    addr: SocketAddr,
    inner: Arc<RelayInner>,
    acceptor: Option<thread::JoinHandle<()>>,
}

struct RelayInner {
    target: SocketAddr,
    cut: AtomicBool,
    closing: AtomicBool,
    live: Mutex<Vec<TcpStream>>,
}

impl Relay {
    /// Starts relaying a new loopback port to `target`.
    pub fn start(target: SocketAddr) -> io::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(RelayInner {
            target,
            cut: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            live: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let inner = inner.clone();
            thread::Builder::new()
                .name("zk-relay".into())
                .spawn(move || accept_loop(listener, inner))?
        };
        Ok(Relay { addr, inner, acceptor: Some(acceptor) })
    }

    /// The connect string of the relay, `127.0.0.1:<port>`.
    pub fn hosts(&self) -> String {
        self.addr.to_string()
    }

    /// Closes every relayed connection and refuses new ones until [`heal`](Self::heal).
    pub fn cut(&self) {
        self.inner.cut.store(true, Ordering::SeqCst);
        self.inner.close_all();
    }

    /// Relays new connections again.
    pub fn heal(&self) {
        self.inner.cut.store(false, Ordering::SeqCst);
    }
}

impl RelayInner {
    fn close_all(&self) {
        for stream in self.live.lock().expect("lock").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.inner.closing.store(true, Ordering::SeqCst);
        self.inner.close_all();
        // Wake the acceptor with a connection of our own.
        let _ = TcpStream::connect_timeout(&self.addr, PROBE_TIMEOUT);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: TcpListener, inner: Arc<RelayInner>) {
    for stream in listener.incoming() {
        if inner.closing.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = stream else { continue };
        if inner.cut.load(Ordering::SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(server) = TcpStream::connect_timeout(&inner.target, PROBE_TIMEOUT) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else { continue };
        {
            let mut live = inner.live.lock().expect("lock");
            live.retain(|s| s.peer_addr().is_ok());
            if let (Ok(a), Ok(b)) = (client.try_clone(), server.try_clone()) {
                live.push(a);
                live.push(b);
            }
        }
        // The copy threads end when either side closes (or the relay cuts both).
        let _ =
            thread::Builder::new().name("zk-relay-up".into()).spawn(move || pump(client, server));
        let _ = thread::Builder::new().name("zk-relay-down".into()).spawn(move || pump(s2, c2));
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
