//! Test support for the client tests: a small msgpack-rpc server on std threads and
//! sockets (TCP on loopback or a Unix socket), built on the codec only, with methods that
//! misbehave on purpose, and a `kill` that drops every connection like a crashed server.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use svrkit::client::Endpoint;
use svrkit_codec::{codes, Decoder, Limits, Message, RawValue, RpcError};

/// Either kind of accepted connection.
enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Conn {
    fn try_clone(&self) -> io::Result<Conn> {
        Ok(match self {
            Conn::Tcp(s) => Conn::Tcp(s.try_clone()?),
            Conn::Unix(s) => Conn::Unix(s.try_clone()?),
        })
    }
    fn shutdown(&self) {
        let _ = match self {
            Conn::Tcp(s) => s.shutdown(Shutdown::Both),
            Conn::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write(buf),
            Conn::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

struct Inner {
    name: String,
    stop: AtomicBool,
    conns: Mutex<Vec<Conn>>,
    notifications: AtomicUsize,
    requests: AtomicUsize,
}

/// A msgpack-rpc server for tests. Methods:
///
/// - `echo [x]` -> `x`; `whoami []` -> the server's name; `add [a, b]` -> `a + b`;
/// - `sleep [ms, x]` -> `x` after `ms` milliseconds (answered from another thread, so
///   replies go out of order);
/// - `fail [code, msg]` -> error `[code, msg]`; `fail_str [msg]` -> error `msg` (a string);
/// - `notes []` -> how many notifications this server received;
/// - `drop []` -> closes the connection without answering; `silent []` -> never answers;
/// - anything else -> error `[-32601, "no such method: NAME"]`.
pub(crate) struct TestServer {
    inner: Arc<Inner>,
    endpoint: Endpoint,
    accept: Option<JoinHandle<()>>,
}

impl TestServer {
    /// On 127.0.0.1, a free port.
    pub(crate) fn tcp(name: &str) -> TestServer {
        TestServer::tcp_on(name, 0).expect("bind 127.0.0.1:0")
    }

    /// On 127.0.0.1:`port` (0 = any), e.g. to restart a killed server on its port.
    pub(crate) fn tcp_on(name: &str, port: u16) -> io::Result<TestServer> {
        // A restarted server may find its port briefly busy: retry for a bounded time.
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline && e.kind() == io::ErrorKind::AddrInUse => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => return Err(e),
            }
        };
        let addr: SocketAddr = listener.local_addr()?;
        Ok(TestServer::start(name, Listener::Tcp(listener), Endpoint::from(addr)))
    }

    /// On a Unix socket at `path`.
    pub(crate) fn unix(name: &str, path: &Path) -> TestServer {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).expect("bind unix socket");
        TestServer::start(name, Listener::Unix(listener, path.to_path_buf()), Endpoint::unix(path))
    }

    fn start(name: &str, listener: Listener, endpoint: Endpoint) -> TestServer {
        let inner = Arc::new(Inner {
            name: name.to_string(),
            stop: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
            notifications: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
        });
        let accept_inner = Arc::clone(&inner);
        let accept = std::thread::spawn(move || accept_loop(accept_inner, listener));
        TestServer { inner, endpoint, accept: Some(accept) }
    }

    pub(crate) fn endpoint(&self) -> Endpoint {
        self.endpoint.clone()
    }

    pub(crate) fn port(&self) -> u16 {
        match &self.endpoint {
            Endpoint::Tcp { port, .. } => *port,
            _ => panic!("not a TCP server"),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.inner.name
    }

    /// Requests received so far (probes included).
    pub(crate) fn requests(&self) -> usize {
        self.inner.requests.load(Ordering::SeqCst)
    }

    /// Stops accepting and closes every connection, like a crash.
    pub(crate) fn kill(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for conn in self.inner.conns.lock().unwrap().drain(..) {
            conn.shutdown();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(inner: Arc<Inner>, listener: Listener) {
    match &listener {
        Listener::Tcp(l) => l.set_nonblocking(true).unwrap(),
        Listener::Unix(l, _) => l.set_nonblocking(true).unwrap(),
    }
    while !inner.stop.load(Ordering::SeqCst) {
        let accepted = match &listener {
            Listener::Tcp(l) => l.accept().map(|(s, _)| {
                s.set_nonblocking(false).unwrap();
                s.set_nodelay(true).unwrap();
                Conn::Tcp(s)
            }),
            Listener::Unix(l, _) => l.accept().map(|(s, _)| {
                s.set_nonblocking(false).unwrap();
                Conn::Unix(s)
            }),
        };
        match accepted {
            Ok(conn) => {
                inner.conns.lock().unwrap().push(conn.try_clone().unwrap());
                let inner = Arc::clone(&inner);
                std::thread::spawn(move || serve(inner, conn));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
    if let Listener::Unix(_, path) = &listener {
        let _ = std::fs::remove_file(path);
    }
}

fn serve(inner: Arc<Inner>, mut conn: Conn) {
    let writer = Arc::new(Mutex::new(conn.try_clone().unwrap()));
    let mut decoder = Decoder::new(Limits::default());
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        let mut out = Vec::new();
        loop {
            let decoded = match decoder.decode(&buf[start..]) {
                Ok(Some(d)) => d,
                Ok(None) => break,
                Err(_) => return,
            };
            match decoded.message {
                Ok(Message::Request { msgid, method, params }) => {
                    inner.requests.fetch_add(1, Ordering::SeqCst);
                    if !handle(&inner, &writer, &mut out, msgid, method, params) {
                        conn.shutdown();
                        return;
                    }
                }
                Ok(Message::Notification { .. }) => {
                    inner.notifications.fetch_add(1, Ordering::SeqCst);
                }
                Ok(Message::Response { .. }) => {}
                Err(e) => {
                    if let Some(msgid) = e.msgid() {
                        svrkit_codec::encode_error(
                            &mut out,
                            msgid,
                            &RpcError::new(codes::INVALID_REQUEST, e.to_string()),
                        );
                    }
                }
            }
            start += decoded.len;
        }
        buf.drain(..start);
        if !out.is_empty() && writer.lock().unwrap().write_all(&out).is_err() {
            return;
        }
    }
}

fn item(params: RawValue<'_>, i: usize) -> Option<RawValue<'_>> {
    params.array_items()?.nth(i)
}

/// Answers one request into `out` (or later, from a thread). False: close the connection.
fn handle(
    inner: &Arc<Inner>,
    writer: &Arc<Mutex<Conn>>,
    out: &mut Vec<u8>,
    msgid: u32,
    method: &str,
    params: RawValue<'_>,
) -> bool {
    match method {
        "echo" => match item(params, 0) {
            Some(x) => svrkit_codec::encode_response_raw(out, msgid, x),
            None => svrkit_codec::encode_error(
                out,
                msgid,
                &RpcError::new(codes::INVALID_PARAMS, "echo takes 1 argument"),
            ),
        },
        "whoami" => svrkit_codec::encode_response(out, msgid, inner.name.as_str()).unwrap(),
        "add" => {
            let (a, b): (i64, i64) = params.deserialize().unwrap();
            svrkit_codec::encode_response(out, msgid, &(a + b)).unwrap();
        }
        "sleep" => {
            let ms = item(params, 0).and_then(|v| v.as_int()).unwrap_or(0) as u64;
            let value = item(params, 1).map(|v| v.as_bytes().to_vec()).unwrap_or(vec![0xc0]);
            let writer = Arc::clone(writer);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(ms));
                let mut reply = Vec::new();
                svrkit_codec::encode_response_raw(
                    &mut reply,
                    msgid,
                    RawValue::from_slice(&value).unwrap(),
                );
                let _ = writer.lock().unwrap().write_all(&reply);
            });
        }
        "fail" => {
            let (code, message): (i64, String) = params.deserialize().unwrap();
            svrkit_codec::encode_error(out, msgid, &RpcError::new(code, message));
        }
        "fail_str" => {
            // The error slot as a bare string, as msgpack-rpc-python sends it.
            let (message,): (String,) = params.deserialize().unwrap();
            let mut error = Vec::new();
            svrkit_codec::encode_value(&mut error, &message).unwrap();
            svrkit_codec::encode_reply_raw(
                out,
                msgid,
                Some(RawValue::from_slice(&error).unwrap()),
                RawValue::NIL,
            );
        }
        "notes" => svrkit_codec::encode_response(
            out,
            msgid,
            &(inner.notifications.load(Ordering::SeqCst) as u64),
        )
        .unwrap(),
        "drop" => return false,
        "silent" => {}
        _ => svrkit_codec::encode_error(
            out,
            msgid,
            &RpcError::new(codes::NO_SUCH_METHOD, format!("no such method: {method}")),
        ),
    }
    true
}

/// A temp dir removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "svrkit-client-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Bytes that travel as msgpack bin (serde's `Vec<u8>` is an array of ints).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bin(pub(crate) Vec<u8>);

impl serde::Serialize for Bin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Bin {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Bin, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Bin;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bin, E> {
                Ok(Bin(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bin, E> {
                Ok(Bin(v))
            }
        }
        d.deserialize_bytes(V)
    }
}

/// Runs `n` futures made by `make` concurrently on one thread; results in index order.
pub(crate) fn run_concurrently<T, F, Fut>(n: usize, make: F) -> Vec<T>
where
    T: 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + 'static,
{
    let ex = async_executor::LocalExecutor::new();
    let tasks: Vec<_> = (0..n).map(|i| ex.spawn(make(i))).collect();
    futures_lite::future::block_on(ex.run(async {
        let mut out = Vec::with_capacity(n);
        for t in tasks {
            out.push(t.await);
        }
        out
    }))
}
