//! svrkit through its facade: the echo server (coroutine or thread mode) and svrkit's own
//! client driving it, plus the one-way notification workload counted at the server.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use svrkit::client::{BlockingClient, Client};
use svrkit::server::{bind_all, Mode, Server, ServerOptions};
use svrkit::transport::Addr;

use crate::echo;
use crate::measure::{Gate, Tally};
use crate::msg::{self, Echomsg, ECHO, NOTE, STATS};

/// Starts the echo server and prints `listening ADDR`; serves until killed.
pub(crate) fn serve(addr: SocketAddr, mode: Mode, workers: Option<usize>) -> Result<(), String> {
    let router = echo::router(Arc::new(echo::Counter::new()));
    let mut options = ServerOptions { mode, ..ServerOptions::default() };
    if let Some(w) = workers {
        options.workers = w;
    }
    let listeners = bind_all(&[Addr::Tcp(addr)]).map_err(|e| e.to_string())?;
    let running =
        Server::with_options(router, options).start(listeners).map_err(|e| e.to_string())?;
    let local = running.local_addrs().first().map(ToString::to_string).unwrap_or_default();
    crate::announce(&local);
    running.wait().map_err(|e| e.to_string())
}

/// The process worker modes: writes a config for `svrkit-bench-app` (the same echo
/// service as an [`svrkit::app::App`] binary, next to this one) with `worker_type`
/// and `workers` worker processes (default 2), runs it in the foreground, prints
/// `listening ADDR` once it accepts connections, and waits for it. The harness kills
/// this process's whole process group, workers included.
pub(crate) fn serve_app(
    addr: SocketAddr,
    worker_type: &str,
    workers: Option<usize>,
) -> Result<(), String> {
    // The App binds the configured port itself: pick a free one now.
    let addr = if addr.port() == 0 {
        let probe = std::net::TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
        probe.local_addr().map_err(|e| e.to_string())?
    } else {
        addr
    };
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let app = exe.with_file_name("svrkit-bench-app");
    let dir = std::env::temp_dir().join(format!("svrkit-bench-app-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let conf = dir.join("benchecho_svr.conf");
    let text = format!(
        "[app]\nname = benchecho\n\n[rpc_server]\nip = {}\nport = {}\nworker_type = {worker_type}\nworker_sum = {}\ncoroutine_sum = 256\n",
        addr.ip(),
        addr.port(),
        workers.unwrap_or(2)
    );
    std::fs::write(&conf, text).map_err(|e| format!("write {}: {e}", conf.display()))?;
    let mut child = std::process::Command::new(&app)
        .arg("-c")
        .arg(&conf)
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", app.display()))?;
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("{} exited before serving ({status})", app.display()));
        }
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            break;
        }
        if t.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{} not serving on {addr} after 10 s", app.display()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    crate::announce(&addr.to_string());
    let status = child.wait().map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} exited: {status}", app.display()))
    }
}

/// Which svrkit client I/O the bench drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClientIo {
    /// [`Client::on_local_reactor`] under `svrkit::reactor::block_on` (the default).
    Local,
    /// The default client under `smol::block_on` (async-io's reactor).
    AsyncIo,
}

impl ClientIo {
    pub(crate) fn parse(s: &str) -> Result<ClientIo, String> {
        match s {
            "local" => Ok(ClientIo::Local),
            "async-io" => Ok(ClientIo::AsyncIo),
            _ => Err(format!("--svrkit-client {s}: one of local, async-io")),
        }
    }

    fn client(self, addr: SocketAddr) -> Client {
        match self {
            ClientIo::Local => Client::connect_to(addr).on_local_reactor(),
            ClientIo::AsyncIo => Client::connect_to(addr),
        }
    }

    fn block_on<T>(self, fut: impl std::future::Future<Output = T>) -> T {
        match self {
            ClientIo::Local => svrkit::reactor::block_on(fut),
            ClientIo::AsyncIo => smol::block_on(fut),
        }
    }
}

/// Client: `conns` svrkit clients (one connection each), `depth` calls in flight on each,
/// all on one single-threaded executor.
pub(crate) fn client(
    addr: SocketAddr,
    conns: usize,
    depth: usize,
    io: ClientIo,
    gate: Arc<Gate>,
) -> std::thread::JoinHandle<Tally> {
    std::thread::spawn(move || {
        let ex = smol::LocalExecutor::new();
        let tally = Rc::new(RefCell::new(Tally::new()));
        let msg = Rc::new(msg::sample());
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let client = io.client(addr);
            for _ in 0..depth {
                let (client, gate, tally, msg) =
                    (client.clone(), Arc::clone(&gate), Rc::clone(&tally), Rc::clone(&msg));
                tasks.push(ex.spawn(async move {
                    while !gate.stopped() {
                        let start = Instant::now();
                        match client.call::<Echomsg>(ECHO, &(&*msg,)).await {
                            Ok(_) => tally.borrow_mut().done(&gate, start),
                            Err(_) => tally.borrow_mut().failed(&gate),
                        }
                    }
                }));
            }
        }
        io.block_on(ex.run(async {
            for t in tasks {
                t.await;
            }
        }));
        Rc::try_unwrap(tally).map(RefCell::into_inner).unwrap_or_else(|_| Tally::new())
    })
}

/// What the server counted during the recording window of a notification run.
#[derive(Debug, Default)]
pub(crate) struct Received {
    pub(crate) count: u64,
    pub(crate) server_secs: f64,
}

/// Notification client: `conns` connections with `depth` notify loops each; a separate
/// connection samples the server's counter when recording starts and when it stops.
pub(crate) fn notify_client(
    addr: SocketAddr,
    conns: usize,
    depth: usize,
    io: ClientIo,
    gate: Arc<Gate>,
) -> std::thread::JoinHandle<Result<Received, String>> {
    let sampler = {
        let gate = Arc::clone(&gate);
        std::thread::spawn(move || -> Result<Received, String> {
            let stats = BlockingClient::connect_to(addr);
            let sample = || stats.call::<(u64, u64)>(STATS, &()).map_err(|e| e.to_string());
            sample()?; // connect before the window
            wait_for(|| gate.recording() || gate.stopped());
            let (c0, t0) = sample()?;
            wait_for(|| gate.stopped());
            let (c1, t1) = sample()?;
            Ok(Received { count: c1 - c0, server_secs: (t1 - t0) as f64 / 1e9 })
        })
    };
    let senders = std::thread::spawn(move || {
        let ex = smol::LocalExecutor::new();
        let msg = Rc::new(msg::sample());
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let client = io.client(addr);
            for _ in 0..depth {
                let (client, gate, msg) = (client.clone(), Arc::clone(&gate), Rc::clone(&msg));
                tasks.push(ex.spawn(async move {
                    while !gate.stopped() {
                        if client.notify(NOTE, &(&*msg,)).await.is_err() {
                            return;
                        }
                    }
                }));
            }
        }
        io.block_on(ex.run(async {
            for t in tasks {
                t.await;
            }
        }));
    });
    std::thread::spawn(move || {
        let got = sampler.join().map_err(|_| "sampler panicked".to_string())?;
        senders.join().map_err(|_| "sender panicked".to_string())?;
        got
    })
}

fn wait_for(cond: impl Fn() -> bool) {
    while !cond() {
        std::thread::sleep(Duration::from_micros(500));
    }
}
