//! The msgpack-rpc server: a [`Router`] of handlers served on TCP / Unix listeners by
//! worker threads, with graceful stop.
//!
//! # Threads
//!
//! - **coroutine** ([`Mode::Coroutine`]): `workers` threads, each running its own
//!   single-threaded executor on its own epoll reactor
//!   ([`svrkit_transport::reactor::block_on`]). The accept loop (on worker 0, accepting on
//!   its reactor) hands each connection to one worker, round robin, which registers the
//!   socket with its reactor, and the connection stays there: its reads, the dispatch of
//!   its calls and its writes never cross a thread, and neither do its socket events. A handler is polled once inline as soon as
//!   its request is decoded; only if it does not finish right away is it spawned as a task on
//!   the same executor. `max_in_flight` (`coroutine_sum`) caps the calls in flight per
//!   worker: at the cap, connections stop reading until a call finishes.
//! - **thread** ([`Mode::Thread`]): handlers may block. One I/O thread (on the same kind of
//!   reactor) reads and writes every connection; calls go through a bounded queue to
//!   `workers` handler threads, each running one call at a time. A full queue stops the
//!   readers (back-pressure).
//!
//! Process modes (`process`, `process_coroutine`) run one of these per worker process:
//! [`Server::start`] takes already bound listeners, so a supervisor can hand each worker an
//! inherited or `SO_REUSEPORT` socket.
//!
//! # Replies
//!
//! Replies are written as calls finish, in any order, through the connection's
//! [`svrkit_transport::BatchWriter`]: everything that finished since the last write goes out
//! in one syscall. The reader holds the writer while it dispatches a batch of requests and
//! writes their replies itself before it reads again (one `send` per batch, no flusher task
//! in between); in thread mode a handler thread writes its own reply when no other call is
//! queued (one thread hop per call instead of two), and leaves batching to the I/O thread
//! under load. Unknown methods, wrong params, handler errors and handler panics all
//! become `[code, "message"]` error replies ([`svrkit_codec::codes`]); a malformed stream or
//! an oversized frame closes only that connection, with a log line naming the peer.
//!
//! # Stopping
//!
//! [`ShutdownHandle::stop`] (or SIGTERM / SIGINT with [`Server::run`]): the listeners close,
//! each connection answers what it already received, stops reading, waits for its calls and
//! closes; whatever is still running after `drain_timeout` is dropped.
//!
//! # Performance
//!
//! `cargo run --release -p svrkit --example server_bench` measures the seed's echomsg echo
//! against a raw TCP echo baseline, server in a separate process, in each mode (1 conn 1 in
//! flight, 1 conn 128 in flight, 32 conns, notifications), with the server's CPU time per
//! message; `-- memory 10000` only holds 10,000 idle connections and prints the memory
//! per connection. Per request on one connection the I/O thread makes three syscalls
//! (`epoll_wait`, `recv`, `send`); per pipelined batch the same three. Each worker has its
//! own epoll, so no event is ever handled by a thread other than the connection's own.
//! Handlers that use async-io (its `Timer`, async-net sockets, svrkit's client) still
//! work: async-io's own thread drives those and wakes the worker through its eventfd.

mod conn;
mod limit;
mod logging;
mod router;
mod shutdown;

pub use logging::init_logging;
pub use router::{BoxFuture, Params, Reply, Router};
pub use shutdown::ShutdownHandle;

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;
use svrkit_codec::{Limits, DEFAULT_MAX_DEPTH};
use svrkit_transport::reactor::{self, Timer};
use svrkit_transport::{
    Accepted, Addr, Gate, Listener, LocalStream, Policy, StdStream, TransportError,
};

use crate::config::{RpcServerConfig, WorkerType};
use conn::{Call, ConnCtx, Exec};
use limit::Limiter;

/// How handlers run in this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Async handlers on `workers` single-threaded executors, connections pinned to one.
    Coroutine,
    /// Handlers may block: `workers` handler threads behind one I/O thread.
    Thread,
}

/// Everything a [`Server`] needs besides its router.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Worker mode.
    pub mode: Mode,
    /// Executor threads (coroutine) or handler threads (thread).
    pub workers: usize,
    /// Cap on calls in flight per worker (coroutine) or per server (thread).
    pub max_in_flight: usize,
    /// Accept and connection policy.
    pub policy: Policy,
    /// Bound on answering in-flight calls at stop.
    pub drain_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions::from_config(&RpcServerConfig::default())
    }
}

impl ServerOptions {
    /// Options from `[rpc_server]`. `process` runs thread mode in each worker process and
    /// `process_coroutine` coroutine mode (the process supervisor lives elsewhere).
    pub fn from_config(cfg: &RpcServerConfig) -> ServerOptions {
        let mode = match cfg.worker_type {
            WorkerType::Thread | WorkerType::Process => Mode::Thread,
            _ => Mode::Coroutine,
        };
        ServerOptions {
            mode,
            workers: cfg.worker_sum.max(1),
            max_in_flight: cfg.coroutine_sum.max(1),
            policy: Policy {
                allow: cfg.allow_ip.clone(),
                max_connections: cfg.max_connections,
                idle_timeout: cfg.idle_timeout,
                max_frame: cfg.max_frame,
            },
            drain_timeout: cfg.drain_timeout,
        }
    }
}

/// Why a server could not start or did not stop cleanly.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// Binding a listen address failed.
    Bind(TransportError),
    /// Starting a thread or installing signal handling failed.
    Io {
        /// What was being done.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A server thread panicked (outside any handler).
    ThreadPanicked {
        /// The thread's name.
        thread: String,
    },
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Bind(e) => write!(f, "{e}"),
            ServerError::Io { what, source } => write!(f, "{what}: {source}"),
            ServerError::ThreadPanicked { thread } => write!(f, "server thread {thread} panicked"),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Bind(e) => Some(e),
            ServerError::Io { source, .. } => Some(source),
            ServerError::ThreadPanicked { .. } => None,
        }
    }
}

/// Bind every address (e.g. [`RpcServerConfig::listen_addrs`]).
pub fn bind_all(addrs: &[Addr]) -> Result<Vec<Listener>, ServerError> {
    addrs.iter().map(|a| Listener::bind(a).map_err(ServerError::Bind)).collect()
}

/// A configured server, not yet running.
///
/// ```
/// use svrkit::server::{Router, Server, bind_all};
/// use svrkit::RpcError;
///
/// let router = Router::new().route("add", |(a, b): (i64, i64)| async move {
///     Ok::<_, RpcError>(a + b)
/// });
/// let listeners = bind_all(&["127.0.0.1:0".parse().unwrap()]).unwrap();
/// let running = Server::new(router).start(listeners).unwrap();
/// let addr = running.local_addrs()[0].clone();
/// // ... clients call `addr` ...
/// running.stop().unwrap(); // graceful: answers what was received, then returns
/// # let _ = addr;
/// ```
#[derive(Debug)]
pub struct Server {
    router: Router,
    options: ServerOptions,
    shutdown: ShutdownHandle,
}

impl Server {
    /// A server with default options (coroutine mode, one worker per core).
    pub fn new(router: Router) -> Server {
        Server::with_options(router, ServerOptions::default())
    }

    /// A server with explicit options.
    pub fn with_options(router: Router, options: ServerOptions) -> Server {
        Server { router, options, shutdown: ShutdownHandle::new() }
    }

    /// A server configured from `[rpc_server]`.
    pub fn from_config(router: Router, cfg: &RpcServerConfig) -> Server {
        Server::with_options(router, ServerOptions::from_config(cfg))
    }

    /// Its options.
    pub fn options(&self) -> &ServerOptions {
        &self.options
    }

    /// A handle that stops this server (usable before it starts).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Serve `listeners` on new threads and return at once.
    pub fn start(self, listeners: Vec<Listener>) -> Result<RunningServer, ServerError> {
        let Server { router, options, shutdown } = self;
        let addrs = listeners.iter().filter_map(|l| l.local_addr().ok()).collect::<Vec<_>>();
        let workers = options.workers.max(1);
        let io_threads = match options.mode {
            Mode::Coroutine => workers,
            Mode::Thread => 1,
        };
        let mut threads = Vec::new();
        let spawn_err = |source| ServerError::Io { what: "cannot start a server thread", source };

        // Thread mode: the handler pool behind a bounded queue.
        let pool = match options.mode {
            Mode::Thread => {
                let (tx, rx) = async_channel::bounded::<Call>(
                    (workers * 64).min(options.max_in_flight.max(1)),
                );
                for i in 0..workers {
                    let rx = rx.clone();
                    let name = format!("svrkit-handler-{i}");
                    let t = std::thread::Builder::new()
                        .name(name.clone())
                        .spawn(move || conn::handler_thread(rx))
                        .map_err(spawn_err)?;
                    threads.push((name, t, false));
                }
                Some(tx)
            }
            Mode::Coroutine => None,
        };

        let (conn_txs, conn_rxs): (Vec<_>, Vec<_>) =
            (0..io_threads).map(|_| async_channel::unbounded::<Accepted<StdStream>>()).unzip();
        let limits = Limits { max_frame: options.policy.max_frame, max_depth: DEFAULT_MAX_DEPTH };
        let thread_limiter = Limiter::new(options.max_in_flight);
        let mut acceptor = Some((listeners, Gate::new(&options.policy), conn_txs));
        for (i, rx) in conn_rxs.into_iter().enumerate() {
            let worker = IoWorker {
                index: i,
                conns: rx,
                router: router.per_worker(),
                limiter: match options.mode {
                    Mode::Coroutine => Limiter::new(options.max_in_flight),
                    Mode::Thread => thread_limiter.clone(),
                },
                shutdown: shutdown.clone(),
                limits,
                idle_timeout: options.policy.idle_timeout,
                drain_timeout: options.drain_timeout,
                pool: pool.clone(),
                acceptor: acceptor.take(),
            };
            let name = format!("svrkit-worker-{i}");
            let t = std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || worker.run())
                .map_err(spawn_err)?;
            threads.push((name, t, true));
        }
        drop(pool);
        log::info!(
            "serving on {} ({:?} mode, {} workers)",
            addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            options.mode,
            workers
        );
        Ok(RunningServer { shutdown, threads, addrs, drain_timeout: options.drain_timeout })
    }

    /// Start, stop on SIGTERM / SIGINT, and return once stopped.
    pub fn run(self, listeners: Vec<Listener>) -> Result<(), ServerError> {
        self.shutdown.stop_on_signals().map_err(|source| ServerError::Io {
            what: "cannot install SIGTERM/SIGINT handling",
            source,
        })?;
        self.start(listeners)?.wait()
    }
}

/// A server that is running. Dropping it stops it gracefully and waits.
#[derive(Debug)]
pub struct RunningServer {
    shutdown: ShutdownHandle,
    /// (name, handle, must join): handler threads are joined only if they finish in time.
    threads: Vec<(String, JoinHandle<()>, bool)>,
    addrs: Vec<Addr>,
    drain_timeout: Duration,
}

impl RunningServer {
    /// The bound addresses (real ports when port 0 was asked for).
    pub fn local_addrs(&self) -> &[Addr] {
        &self.addrs
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Stop gracefully and wait.
    pub fn stop(self) -> Result<(), ServerError> {
        self.shutdown.stop();
        self.wait()
    }

    /// Wait until the server has stopped (someone called stop, or a signal came).
    pub fn wait(mut self) -> Result<(), ServerError> {
        self.join()
    }

    fn join(&mut self) -> Result<(), ServerError> {
        let mut result = Ok(());
        let threads = std::mem::take(&mut self.threads);
        // I/O workers first: they finish within drain_timeout.
        let (io, handlers): (Vec<_>, Vec<_>) = threads.into_iter().partition(|t| t.2);
        for (name, t, _) in io {
            if t.join().is_err() {
                result = Err(ServerError::ThreadPanicked { thread: name });
            }
        }
        // Handler threads exit once their queue is closed and their call is done; a handler
        // still blocked after the grace period is left behind rather than hanging the stop.
        let deadline = Instant::now() + self.drain_timeout.min(Duration::from_secs(1));
        for (name, t, _) in handlers {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            if t.is_finished() {
                if t.join().is_err() {
                    result = Err(ServerError::ThreadPanicked { thread: name });
                }
            } else {
                log::warn!("{name} still busy in a handler at stop; leaving it");
            }
        }
        if result.is_ok() {
            log::info!("server stopped");
        }
        result
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.shutdown.stop();
            let _ = self.join();
        }
    }
}

/// Hands an accepted socket to the I/O thread that will register and serve it.
type ConnSender = async_channel::Sender<Accepted<StdStream>>;

struct IoWorker {
    index: usize,
    conns: async_channel::Receiver<Accepted<StdStream>>,
    router: Router,
    limiter: Limiter,
    shutdown: ShutdownHandle,
    limits: Limits,
    idle_timeout: Option<Duration>,
    drain_timeout: Duration,
    pool: Option<async_channel::Sender<Call>>,
    acceptor: Option<(Vec<Listener>, Gate, Vec<ConnSender>)>,
}

impl IoWorker {
    fn run(self) {
        let ex = Rc::new(LocalExecutor::new());
        let exec = match self.pool {
            Some(tx) => Exec::Pool(tx),
            None => Exec::Local(Rc::downgrade(&ex)),
        };
        let direct_replies = matches!(exec, Exec::Pool(_));
        let ctx = Rc::new(ConnCtx {
            direct_replies,
            router: self.router,
            limiter: self.limiter,
            shutdown: self.shutdown.clone(),
            limits: self.limits,
            idle_timeout: self.idle_timeout,
            exec,
            local: Rc::downgrade(&ex),
        });
        let shutdown = self.shutdown;
        let conns = self.conns;
        let live = Rc::new(Cell::new(0usize));
        if let Some((listeners, gate, txs)) = self.acceptor {
            let txs = Rc::new(txs);
            let next = Rc::new(Cell::new(0usize));
            for l in listeners {
                let (gate, txs, next, shutdown) =
                    (gate.clone(), txs.clone(), next.clone(), shutdown.clone());
                ex.spawn(async move {
                    let local = match l.local() {
                        Ok(local) => local,
                        Err(e) => {
                            log::error!("cannot watch listener {:?}: {e}", l.local_addr().ok());
                            return;
                        }
                    };
                    loop {
                        let accepted = futures_lite::future::or(
                            async { Some(local.accept_admitted(&gate).await) },
                            async {
                                shutdown.stopped().await;
                                None
                            },
                        )
                        .await;
                        let Some(conn) = accepted else { break };
                        log::debug!("accepted {}", conn.peer);
                        let i = next.get();
                        next.set((i + 1) % txs.len());
                        let _ = txs[i].try_send(conn);
                    }
                    drop(local);
                    // `l` drops here: the port closes (and a Unix socket file goes away).
                })
                .detach();
            }
        }
        let index = self.index;
        let drain = self.drain_timeout;
        let limiter = ctx.limiter.clone();
        reactor::block_on(ex.run(async {
            loop {
                let next = futures_lite::future::or(async { conns.recv().await.ok() }, async {
                    shutdown.stopped().await;
                    None
                })
                .await;
                let Some(Accepted { stream, peer, permit }) = next else { break };
                // The connection joins this thread's reactor, where it stays.
                let stream = match LocalStream::new(stream) {
                    Ok(s) => s,
                    Err(e) => {
                        log::warn!("connection {peer}: cannot register with the reactor: {e}");
                        continue;
                    }
                };
                let conn = Accepted { stream, peer, permit };
                live.set(live.get() + 1);
                let (ctx, live) = (ctx.clone(), live.clone());
                ex.spawn(async move {
                    conn::serve(ctx, conn).await;
                    live.set(live.get() - 1);
                })
                .detach();
            }
            drop(conns);
            let deadline = Instant::now() + drain;
            // Connections finish once their calls are answered; notification handlers hold
            // only a permit, so wait for those too.
            while (live.get() > 0 || limiter.used() > 0) && Instant::now() < deadline {
                Timer::after(Duration::from_millis(2)).await;
            }
            if live.get() > 0 {
                log::warn!(
                    "worker {index}: drain_timeout ({drain:?}) passed; dropping {} connections with calls still running",
                    live.get()
                );
            }
        }));
        drop(ctx);
        drop(ex);
    }
}
