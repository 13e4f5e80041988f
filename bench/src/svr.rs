//! svrkit through its facade: the echo server (coroutine or thread mode) and svrkit's own
//! client driving it, plus the one-way notification workload counted at the server.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use svrkit::client::{BlockingClient, Client};
use svrkit::server::{bind_all, Mode, Router, Server, ServerOptions};
use svrkit::transport::Addr;
use svrkit::RpcError;

use crate::measure::{Gate, Tally};
use crate::msg::{self, Echomsg, ECHO, NOTE, STATS};

/// Starts the echo server and prints `listening ADDR`; serves until killed.
pub(crate) fn serve(addr: SocketAddr, mode: Mode, workers: Option<usize>) -> Result<(), String> {
    let received = Arc::new(AtomicU64::new(0));
    let born = Instant::now();
    let (r1, r2) = (Arc::clone(&received), Arc::clone(&received));
    let router = Router::new()
        .route(ECHO, |(m,): (Echomsg,)| async move { Ok::<_, RpcError>(m) })
        .route(NOTE, move |(_m,): (Echomsg,)| {
            r1.fetch_add(1, Ordering::Relaxed);
            async { Ok::<_, RpcError>(()) }
        })
        .route(STATS, move |(): ()| {
            let now = (r2.load(Ordering::Relaxed), born.elapsed().as_nanos() as u64);
            async move { Ok::<_, RpcError>(now) }
        });
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

/// Client: `conns` svrkit clients (one connection each), `depth` calls in flight on each,
/// all on one single-threaded executor.
pub(crate) fn client(
    addr: SocketAddr,
    conns: usize,
    depth: usize,
    gate: Arc<Gate>,
) -> std::thread::JoinHandle<Tally> {
    std::thread::spawn(move || {
        let ex = smol::LocalExecutor::new();
        let tally = Rc::new(RefCell::new(Tally::new()));
        let msg = Rc::new(msg::sample());
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let client = Client::connect_to(addr);
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
        smol::block_on(ex.run(async {
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
            let client = Client::connect_to(addr);
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
        smol::block_on(ex.run(async {
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
