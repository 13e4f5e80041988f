//! Helpers for the server tests: a raw msgpack-rpc test client over std sockets, a test
//! service, a temp dir, and a server guard that stops the server when dropped.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use svrkit::codec::{self, Decoder, Message};
use svrkit::server::{bind_all, Mode, Router, RunningServer, Server, ServerOptions};
use svrkit::transport::Addr;
use svrkit::RpcError;

/// seeds/000's echomsg, declared as generated code does.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Echomsg {
    pub my_string: String,
    pub vec_int: Vec<i64>,
    pub dict_string: BTreeMap<i64, String>,
}

pub fn sample() -> Echomsg {
    Echomsg {
        my_string: "x".repeat(64),
        vec_int: (1..=8).collect(),
        dict_string: (1..=4).map(|i| (i, format!("v{i}"))).collect(),
    }
}

/// A reply as the test client sees it.
#[derive(Debug)]
pub struct Reply {
    pub msgid: u32,
    pub outcome: Result<Vec<u8>, RpcError>,
}

impl Reply {
    pub fn value<T: DeserializeOwned>(&self) -> T {
        let bytes = self.outcome.as_ref().expect("an ok reply");
        codec::from_slice(bytes).expect("a decodable result")
    }

    pub fn err(&self) -> &RpcError {
        self.outcome.as_ref().expect_err("an error reply")
    }
}

trait Sock: Read + Write + Send {}
impl<T: Read + Write + Send> Sock for T {}

/// A msgpack-rpc client written for the tests: encodes with the codec, reads with blocking
/// std sockets (10 s timeout so a bug fails instead of hanging).
pub struct RawClient {
    sock: Box<dyn Sock>,
    buf: Vec<u8>,
    dec: Decoder,
}

const TIMEOUT: Duration = Duration::from_secs(10);

impl RawClient {
    pub fn connect(addr: &Addr) -> RawClient {
        match addr {
            Addr::Tcp(sa) => {
                let s = TcpStream::connect(sa).expect("connect");
                s.set_read_timeout(Some(TIMEOUT)).unwrap();
                s.set_nodelay(true).unwrap();
                RawClient::new(Box::new(s))
            }
            Addr::Unix(p) => {
                let s = UnixStream::connect(p).expect("connect unix");
                s.set_read_timeout(Some(TIMEOUT)).unwrap();
                RawClient::new(Box::new(s))
            }
        }
    }

    fn new(sock: Box<dyn Sock>) -> RawClient {
        RawClient { sock, buf: Vec::new(), dec: Decoder::default() }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).expect("write");
    }

    pub fn request<P: Serialize + ?Sized>(&mut self, msgid: u32, method: &str, params: &P) {
        let mut out = Vec::new();
        codec::encode_request(&mut out, msgid, method, params).unwrap();
        self.send_raw(&out);
    }

    pub fn notify<P: Serialize + ?Sized>(&mut self, method: &str, params: &P) {
        let mut out = Vec::new();
        codec::encode_notification(&mut out, method, params).unwrap();
        self.send_raw(&out);
    }

    /// The next reply; panics on timeout or EOF.
    pub fn recv(&mut self) -> Reply {
        self.try_recv().expect("a reply before the connection closed")
    }

    /// The next reply, or `None` if the server closed the connection.
    pub fn try_recv(&mut self) -> Option<Reply> {
        loop {
            if let Some(d) = self.dec.decode(&self.buf).expect("server sent a valid stream") {
                let reply = match d.message.expect("a valid message") {
                    Message::Response { msgid, error, result } => Reply {
                        msgid,
                        outcome: match error {
                            Some(e) => Err(RpcError::from_raw(e)),
                            None => Ok(result.as_bytes().to_vec()),
                        },
                    },
                    other => panic!("server sent a non-response: {other:?}"),
                };
                let len = d.len;
                self.buf.drain(..len);
                return Some(reply);
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.sock.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read failed (timeout?): {e}"),
            }
        }
    }

    /// Call and wait for its reply (no other call may be in flight).
    pub fn call<P: Serialize + ?Sized>(&mut self, method: &str, params: &P) -> Reply {
        self.request(1, method, params);
        let r = self.recv();
        assert_eq!(r.msgid, 1);
        r
    }

    /// Whether the server closed the connection (reads until EOF, discarding replies).
    pub fn closed_by_server(&mut self) -> bool {
        for _ in 0..1000 {
            if self.try_recv().is_none() {
                return true;
            }
        }
        false
    }
}

/// Shared state of the test service.
pub struct State {
    pub count: AtomicI64,
    /// Calls to "wait" block until the test sends on this.
    pub gate: (async_channel::Sender<()>, async_channel::Receiver<()>),
}

impl State {
    pub fn new() -> Arc<State> {
        Arc::new(State { count: AtomicI64::new(0), gate: async_channel::unbounded() })
    }
}

/// The test service: echo1, add, sleep, wait, open, fail, panic, bump (for
/// notifications), count, block (blocking sleep for thread mode).
pub fn router(state: Arc<State>) -> Router {
    let (s1, s2, s3, s4) = (state.clone(), state.clone(), state.clone(), state.clone());
    let s5 = state.clone();
    Router::new()
        .route("echo1", |(m,): (Echomsg,)| async move { Ok::<_, RpcError>(m) })
        .route("echo2", |(): ()| async { Ok::<_, RpcError>(sample()) })
        .route("echo3", |(): ()| async { Ok::<_, RpcError>(()) })
        .route("add", |(a, b): (i64, i64)| async move { Ok::<_, RpcError>(a + b) })
        .route("sleep", |(ms, tag): (u64, i64)| async move {
            async_io::Timer::after(Duration::from_millis(ms)).await;
            Ok::<_, RpcError>(tag)
        })
        .route("wait", move |(tag,): (i64,)| {
            let rx = s1.gate.1.clone();
            async move {
                let _ = rx.recv().await;
                Ok::<_, RpcError>(tag)
            }
        })
        .route("open", move |(n,): (usize,)| {
            let tx = s2.gate.0.clone();
            async move {
                for _ in 0..n {
                    let _ = tx.send(()).await;
                }
                Ok::<_, RpcError>(())
            }
        })
        .route("fail", |(): ()| async { Err::<(), _>(RpcError::new(42, "nope")) })
        .route("panic", |(): ()| async {
            if true {
                panic!("boom");
            }
            Ok::<(), RpcError>(())
        })
        .route("bump", move |(n,): (i64,)| {
            s3.count.fetch_add(n, Ordering::SeqCst);
            async { Ok::<_, RpcError>(()) }
        })
        .route("slow_bump", move |(n,): (i64,)| {
            let st = s5.clone();
            async move {
                async_io::Timer::after(Duration::from_millis(200)).await;
                st.count.fetch_add(n, Ordering::SeqCst);
                Ok::<_, RpcError>(())
            }
        })
        .route("count", move |(): ()| {
            let n = s4.count.load(Ordering::SeqCst);
            async move { Ok::<_, RpcError>(n) }
        })
        .route("block", |(ms,): (u64,)| async move {
            std::thread::sleep(Duration::from_millis(ms));
            Ok::<_, RpcError>(std::thread::current().name().unwrap_or("").to_string())
        })
}

pub fn options(mode: Mode, workers: usize) -> ServerOptions {
    ServerOptions {
        mode,
        workers,
        drain_timeout: Duration::from_secs(10),
        ..ServerOptions::default()
    }
}

/// Start a server on `addrs` (port 0 / temp paths).
pub fn start(router: Router, options: ServerOptions, addrs: &[Addr]) -> RunningServer {
    Server::with_options(router, options).start(bind_all(addrs).expect("bind")).expect("start")
}

pub fn tcp0() -> Addr {
    "127.0.0.1:0".parse().unwrap()
}

/// A temporary directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicI64 = AtomicI64::new(0);
        let p = std::env::temp_dir().join(format!(
            "svrkit-server-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
