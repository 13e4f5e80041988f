//! [`App`]: a whole server process — command line, config, init hook, worker modes,
//! self_server groups, daemon and pid file, registry, graceful stop — behind one builder,
//! so a generated service's `main` is three lines.
//!
//! # What `App::main` does
//!
//! 1. [`svrkit_worker::init`] first, then branches on the process's
//!    [`Role`](svrkit_worker::Role): the process the user started is the *master*;
//!    `process` / `process_coroutine` workers are the same binary re-executed by the master
//!    with the same arguments.
//! 2. Master: parses `[-c CONF] [-d] [-h] [start|stop|restart|status]` (default config
//!    `<name>_svr.conf`), loads and validates the [`ServerConfig`]. Usage and config errors
//!    are printed as one line naming file, section and key, without a backtrace, and exit
//!    with code 2; start-up failures (bind, init hook, ZooKeeper) exit with 1.
//!    - `status` reads `[app] pid` and exits 0 (running), 1 (stale pid file) or 3 (not
//!      running); `stop` sends SIGTERM through the pid file and waits for the drain;
//!    - `start` / `-d` daemonize (detached, pid file claimed, output appended to the log
//!      file next to the pid file: `/run/echo.pid` → `/run/echo.log`) and **wait until
//!      the daemon serves**: listeners bound, init hooks done, every worker process
//!      ready, registered. Then `start` prints `echo: started (pid N; listening on
//!      ADDR; log FILE)` and exits 0; otherwise it prints the daemon's own error
//!      (`echo: did not start: cannot listen on 0.0.0.0:3000: Address in use ... (log:
//!      FILE)`, `... rpc#0 (pid N) failed to start: init hook failed: ...`), leaves no
//!      process and no pid file behind, and exits 1 (also after 60 s without a word:
//!      then the daemon is stopped). `restart` is `stop` then `start`; no command runs
//!      in the foreground (claiming the pid file when one is configured and writable,
//!      so `stop` and `status` work on it too). `stop` with nothing running says so and
//!      exits 0.
//! 3. Serving, by `[rpc_server] worker_type`:
//!    - `thread` / `coroutine`: one process. The master runs the init hook once, binds,
//!      and serves with [`Server`] ([`ServerOptions::from_config`]: `worker_sum` handler
//!      threads or executors, `coroutine_sum` in flight).
//!    - `process` / `process_coroutine`: the master binds the listeners and runs a
//!      [`Supervisor`](svrkit_worker::Supervisor) of `worker_sum` rpc worker processes
//!      sharing them (one accept queue; a dead worker is replaced). Each rpc worker runs
//!      the init hook, then serves the inherited listeners on **one** thread of its own
//!      kind: `process` = thread mode with one handler thread (plus its I/O thread), so
//!      each process runs one call at a time as the seed's processes did;
//!      `process_coroutine` = coroutine mode on one executor thread with `coroutine_sum`
//!      calls in flight. Total handler concurrency is `worker_sum` (process) or
//!      `worker_sum × coroutine_sum` (process_coroutine).
//!      **Start-up**: a worker process that fails before it was ever ready (its init
//!      hook returns `Err`, its config does not load) fails the whole start: the master
//!      stops the other workers and exits 1 with that worker's error, instead of
//!      restarting it forever. Once every worker was ready, a dead worker is replaced
//!      with back-off, whatever killed it. SIGHUP (process modes) starts a new generation
//!      of workers (re-reading the config file) and retires each old worker once its
//!      successor is ready; a successor that cannot start leaves the old one serving.
//! 4. self_server groups (`simple` = one group named [`SIMPLE_GROUP`], `custom` = the
//!    `[self_groupN]` groups) all run the one function given to [`App::self_worker`],
//!    which dispatches on [`WorkerContext::group`]. `thread` workers are threads of the
//!    master ([`SelfServer`]); `process` workers are supervised
//!    processes, each calling the function once ([`svrkit_worker::run_self_process`]);
//!    `process_coroutine` workers run `coroutine_sum` (default 1) tasks each
//!    ([`svrkit_worker::run_self_coroutines`]).
//!    A worker that returns or panics is restarted with back-off.
//! 5. `[registry] zk = ...`: once the server is ready (listeners bound, init done, in
//!    process modes every worker ready), the master (the process that lives as long as
//!    the listeners and forks no more) registers
//!    `<path>/<[app] name>/providers/<ip:port>` (the `advertise` address if set, else
//!    [`Advertise::Auto`](svrkit_discovery::Advertise::Auto) of the bound address) with the
//!    configured weight. A ZooKeeper that does not answer within
//!    [`ZkOptions::DEFAULT_CONNECT_TIMEOUT`](svrkit_discovery::ZkOptions::DEFAULT_CONNECT_TIMEOUT)
//!    is a start-up error naming its address.
//! 6. SIGTERM / SIGINT: **deregister first** (the node is gone from ZooKeeper when this
//!    returns), then stop accepting and answer every accepted call (bounded by
//!    `drain_timeout`), stop the self workers, remove the pid file, exit 0. In process
//!    modes the master deregisters before it forwards SIGTERM to its workers. (A Ctrl-C in
//!    a terminal signals the whole process group, workers included, at once.) In the
//!    one-process modes SIGHUP (a closed terminal) stops a foreground server the same
//!    way and is ignored by a daemon.
//!
//! # Where the init hook runs
//!
//! In every process that serves and needs the handlers' state: the single process of
//! `thread` / `coroutine`; each rpc worker process and each self worker process of the
//! process modes; and the master of a process-mode server only when it runs `thread`
//! self workers. It runs before that process takes any request.
//!
//! # Tests
//!
//! [`App::start_local`] serves the router in the calling process, with the self workers
//! on threads of it (no signals, no pid file, no registry), and returns a
//! [`LocalServer`] that stops gracefully — rpc server, then self workers — when dropped; [`App::start_local_file`] does the same from a config file, on a free
//! loopback port.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use svrkit::app::{App, BoxError};
//! use svrkit::config::ServerConfig;
//! use svrkit::server::Router;
//! use svrkit::RpcError;
//!
//! struct Handlers { greeting: String }
//!
//! fn init(config: &ServerConfig) -> Result<Handlers, BoxError> {
//!     Ok(Handlers { greeting: format!("hello from {}", config.app_name) })
//! }
//!
//! fn router(h: Arc<Handlers>) -> Router {
//!     Router::new().route("greet", move |(name,): (String,)| {
//!         let h = Arc::clone(&h);
//!         async move { Ok::<_, RpcError>(format!("{}, {name}", h.greeting)) }
//!     })
//! }
//!
//! fn app() -> App<Handlers> {
//!     App::new("demo", init, router).self_worker(|_h, ctx| async move {
//!         // Background work of group ctx.group(), worker ctx.id(), until stopped.
//!         ctx.stop().stopped().await;
//!     })
//! }
//!
//! // A generated `main` is `fn main() -> ExitCode { app().main() }`. Tests start it
//! // in-process instead:
//! let config = ServerConfig::from_str("demo_svr.conf", "
//! [app]
//! name = demo
//! [rpc_server]
//! ip = 127.0.0.1
//! port = 0
//! worker_type = coroutine
//! worker_sum = 1
//! ")?;
//! let server = app().start_local(&config)?;
//! let client = svrkit::client::BlockingClient::connect_to(server.local_addr().unwrap());
//! let answer: String = client.call("greet", &("you",))?;
//! assert_eq!(answer, "hello from demo, you");
//! server.stop()?;
//! # Ok::<(), BoxError>(())
//! ```

mod args;
mod registry;
mod run;

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;

use svrkit_transport::Addr;
use svrkit_worker::{RestartPolicy, SelfServer, StopSource};

use crate::config::{ConfigError, ServerConfig};
use crate::server::{bind_all, RunningServer, Server, ServerError, ShutdownHandle};
use crate::server::{Router, ServerOptions};

use svrkit_worker::WorkerContext;

/// Any error, boxed: what an init hook returns.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The group name of a `simple` self_server (`dispatch_type = simple`): its
/// `worker_sum` workers all see `ctx.group() == "default"`.
pub const SIMPLE_GROUP: &str = "default";

type InitFn<H> = dyn Fn(&ServerConfig) -> Result<H, BoxError> + Send + Sync;
type RouterFn<H> = dyn Fn(Arc<H>) -> Router + Send + Sync;
type SelfFn<H> = dyn Fn(Arc<H>, WorkerContext) -> Pin<Box<dyn Future<Output = ()>>> + Send + Sync;

/// A server program: its name, its init hook, its router and its self workers. See the
/// [module docs](self) for everything [`App::main`] does.
pub struct App<H> {
    name: &'static str,
    init: Box<InitFn<H>>,
    router: Box<RouterFn<H>>,
    self_worker: Option<Arc<SelfFn<H>>>,
    known_groups: Option<&'static [&'static str]>,
    restart: RestartPolicy,
}

impl<H> fmt::Debug for App<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("name", &self.name)
            .field("self_worker", &self.self_worker.is_some())
            .field("known_groups", &self.known_groups)
            .finish_non_exhaustive()
    }
}

impl<H: Send + Sync + 'static> App<H> {
    /// An app named `name` (the IDL's `app`; the default config is `<name>_svr.conf`).
    /// `init` builds the state the handlers share from the loaded config (see "Where the
    /// init hook runs"); `router` builds the [`Router`] over that state.
    pub fn new(
        name: &'static str,
        init: impl Fn(&ServerConfig) -> Result<H, BoxError> + Send + Sync + 'static,
        router: impl Fn(Arc<H>) -> Router + Send + Sync + 'static,
    ) -> App<H> {
        App {
            name,
            init: Box::new(init),
            router: Box::new(router),
            self_worker: None,
            known_groups: None,
            restart: RestartPolicy::default(),
        }
    }

    /// The self_server worker: called for every worker of every group (`ctx.group()`,
    /// `ctx.id()`), in a thread, a process or a task depending on `[self_server]
    /// worker_type`. It should return once `ctx.stop()` fires; returning earlier or
    /// panicking gets it restarted with back-off. Without it, a config with
    /// `[self_server]` is refused.
    pub fn self_worker<F, Fut>(mut self, run: F) -> App<H>
    where
        F: Fn(Arc<H>, WorkerContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.self_worker = Some(Arc::new(move |h, ctx| Box::pin(run(h, ctx))));
        self
    }

    /// The group names the self worker knows (the IDL's `custom` groups). A config whose
    /// `[self_groupN] group_name` is not among them is refused at start (exit 2). Not
    /// checked when never called, nor for `simple` dispatch.
    pub fn self_groups(mut self, names: &'static [&'static str]) -> App<H> {
        self.known_groups = Some(names);
        self
    }

    /// The restart back-off of self workers and worker processes (default
    /// [`RestartPolicy::default`]: 100 ms doubling to 10 s).
    pub fn restart_policy(mut self, policy: RestartPolicy) -> App<H> {
        self.restart = policy;
        self
    }

    /// The app's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Runs the program: the whole of a server binary's `main` (see the module docs).
    /// Call it first thing in `main`, before starting any thread: worker processes and the
    /// daemon are this binary re-executed with the same arguments.
    pub fn main(self) -> ExitCode {
        run::main(self)
    }

    /// Serves the router in this process on `config`'s addresses (port 0 picks a free
    /// one), after checking the config as [`App::main`] does and running the init hook
    /// once. `process` modes run as thread mode and `process_coroutine` as coroutine
    /// mode, with `worker_sum` threads. The self_server workers run too, each on a
    /// thread of this process whatever their `worker_type` (a `process_coroutine`
    /// worker runs its `coroutine_sum` tasks on its thread), restarted with back-off
    /// when they return or panic, and stopped (their [`WorkerContext::stop`] trips, then
    /// they are joined) by [`LocalServer::stop`] or drop. No registry, no signal
    /// handling, no pid file. For tests.
    pub fn start_local(self, config: &ServerConfig) -> Result<LocalServer<H>, AppError> {
        let file = format!("{}_svr.conf", self.name);
        self.start_local_named(config, &file)
    }

    fn start_local_named(
        self,
        config: &ServerConfig,
        file: &str,
    ) -> Result<LocalServer<H>, AppError> {
        self.validate(config, file)?;
        let listeners = bind_all(&config.rpc.listen_addrs()).map_err(AppError::Server)?;
        let handlers = Arc::new((self.init)(config).map_err(AppError::Init)?);
        let server = Server::with_options(
            (self.router)(Arc::clone(&handlers)),
            ServerOptions::from_config(&config.rpc),
        );
        let running = server.start(listeners).map_err(AppError::Server)?;
        let addrs = running.local_addrs().to_vec();
        let mut local = LocalServer { running: Some(running), handlers, addrs, self_workers: None };
        if let Some(f) = &self.self_worker {
            let groups = run::self_groups(config);
            if !groups.is_empty() {
                let stop = StopSource::new()?;
                let run = run::local_runner(
                    Arc::clone(&local.handlers),
                    Arc::clone(f),
                    &groups,
                    self.restart,
                );
                let threads = SelfServer::start(&groups, self.restart, stop.token(), run)?;
                local.self_workers = Some((stop, threads));
            }
        }
        Ok(local)
    }

    /// [`App::start_local`] with the config file at `path` (say, the service's own
    /// `<name>_svr.conf`), listening on `127.0.0.1:0` instead of its addresses.
    pub fn start_local_file(self, path: impl AsRef<Path>) -> Result<LocalServer<H>, AppError> {
        let path = path.as_ref();
        let mut config = ServerConfig::load(path).map_err(AppError::Config)?;
        config.rpc.tcp = Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
        config.rpc.unix_socket = None;
        config.registry = None;
        self.start_local_named(&config, &path.display().to_string())
    }
}

/// A server started by [`App::start_local`]. Dropping it stops it gracefully (the rpc
/// server, then the self workers).
pub struct LocalServer<H> {
    running: Option<RunningServer>,
    handlers: Arc<H>,
    addrs: Vec<Addr>,
    self_workers: Option<(StopSource, SelfServer)>,
}

impl<H> fmt::Debug for LocalServer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalServer").field("addrs", &self.addrs).finish_non_exhaustive()
    }
}

impl<H> LocalServer<H> {
    /// The TCP address it listens on (with the real port), if it has one.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.addrs.iter().find_map(|a| match a {
            Addr::Tcp(sa) => Some(*sa),
            _ => None,
        })
    }

    /// Every address it listens on.
    pub fn local_addrs(&self) -> &[Addr] {
        &self.addrs
    }

    /// The state the init hook built, shared with the handlers.
    pub fn handlers(&self) -> &Arc<H> {
        &self.handlers
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> Option<ShutdownHandle> {
        self.running.as_ref().map(RunningServer::shutdown_handle)
    }

    /// How many self worker threads run (the sum of the groups' `worker_sum`).
    pub fn self_workers(&self) -> usize {
        self.self_workers.as_ref().map_or(0, |(_, t)| t.threads())
    }

    /// Stops gracefully: stop accepting, answer what was received, then stop the self
    /// workers and wait for them to return.
    pub fn stop(mut self) -> Result<(), AppError> {
        let stopped = match self.running.take() {
            Some(r) => r.stop().map_err(AppError::Server),
            None => Ok(()),
        };
        self.stop_self_workers();
        stopped
    }

    fn stop_self_workers(&mut self) {
        if let Some((stop, threads)) = self.self_workers.take() {
            stop.stop();
            threads.join();
        }
    }
}

impl<H> Drop for LocalServer<H> {
    fn drop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.stop();
        }
        self.stop_self_workers();
    }
}

/// Why an [`App`] could not start or run. [`AppError::exit_code`] maps it to the
/// process's exit code.
#[derive(Debug)]
#[non_exhaustive]
pub enum AppError {
    /// A bad command line.
    Usage(String),
    /// The config file is unreadable or invalid (names file, section and key).
    Config(ConfigError),
    /// A command needs `[app] pid` and the config has none.
    NeedsPidFile {
        /// The config file.
        file: String,
        /// The command (`start`, `stop`...).
        command: &'static str,
    },
    /// The init hook failed.
    Init(BoxError),
    /// The rpc server could not bind or start.
    Server(ServerError),
    /// Binding a listener in the master failed.
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        source: io::Error,
    },
    /// Process management (signals, workers, pid file, daemon) failed.
    Worker(svrkit_worker::Error),
    /// ZooKeeper registration failed (unreachable, refused, bad address).
    Registry {
        /// The `[registry] zk` hosts.
        hosts: String,
        /// What failed.
        source: svrkit_discovery::Error,
    },
}

impl AppError {
    /// 2 for usage and config errors, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Usage(_) | AppError::Config(_) | AppError::NeedsPidFile { .. } => 2,
            _ => 1,
        }
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Usage(s) => f.write_str(s),
            AppError::Config(e) => write!(f, "{e}"),
            AppError::NeedsPidFile { file, command } => {
                write!(f, "{file}: [app] pid: missing; `{command}` needs a pid file")
            }
            AppError::Init(e) => write!(f, "init hook failed: {e}"),
            AppError::Server(e) => write!(f, "{e}"),
            AppError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            AppError::Worker(e) => write!(f, "{e}"),
            AppError::Registry { hosts, source } => {
                write!(f, "cannot register in ZooKeeper {hosts}: {source}")
            }
        }
    }
}

impl std::error::Error for AppError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AppError::Config(e) => Some(e),
            AppError::Init(e) => Some(&**e),
            AppError::Server(e) => Some(e),
            AppError::Bind { source, .. } => Some(source),
            AppError::Worker(e) => Some(e),
            AppError::Registry { source, .. } => Some(source),
            AppError::Usage(_) | AppError::NeedsPidFile { .. } => None,
        }
    }
}

impl From<svrkit_worker::Error> for AppError {
    fn from(e: svrkit_worker::Error) -> AppError {
        AppError::Worker(e)
    }
}

impl From<ConfigError> for AppError {
    fn from(e: ConfigError) -> AppError {
        AppError::Config(e)
    }
}

/// The daemon's log file: the pid file's path with the extension `log`.
fn log_file_for(pid_file: &Path) -> PathBuf {
    pid_file.with_extension("log")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::BlockingClient;
    use crate::RpcError;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Counter {
        calls: AtomicUsize,
    }

    fn counting_app() -> App<Counter> {
        App::new(
            "counter",
            |_: &ServerConfig| Ok(Counter::default()),
            |h: Arc<Counter>| {
                Router::new().route("bump", move |(): ()| {
                    let n = h.calls.fetch_add(1, Ordering::SeqCst) + 1;
                    async move { Ok::<_, RpcError>(n) }
                })
            },
        )
    }

    const CONF: &str = "[app]\nname = counter\n[rpc_server]\nip = 127.0.0.1\nport = 0\n\
                        worker_type = thread\nworker_sum = 2\n";

    #[test]
    fn start_local_serves_the_router_over_the_init_state_and_stops() {
        let config = ServerConfig::from_str("counter_svr.conf", CONF).unwrap();
        let server = counting_app().start_local(&config).unwrap();
        let addr = server.local_addr().unwrap();
        assert_ne!(addr.port(), 0);
        let client = BlockingClient::connect_to(addr);
        assert_eq!(client.call::<usize>("bump", &()).unwrap(), 1);
        assert_eq!(client.call::<usize>("bump", &()).unwrap(), 2);
        assert_eq!(server.handlers().calls.load(Ordering::SeqCst), 2);
        server.stop().unwrap();
        assert!(std::net::TcpStream::connect(addr).is_err(), "stopped servers refuse");
    }

    #[test]
    fn start_local_file_moves_to_a_free_loopback_port_without_registry() {
        let dir = std::env::temp_dir().join(format!("svrkit-app-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("counter_svr.conf");
        let text = CONF.replace("port = 0", "port = 1\nunix_socket = /nonexistent/x.sock")
            + "[registry]\nzk = 127.0.0.1:1\n";
        std::fs::write(&path, text).unwrap();
        // Neither port 1, the socket path nor the ZooKeeper are touched.
        let server = counting_app().start_local_file(&path).unwrap();
        assert_eq!(server.local_addrs().len(), 1);
        let addr = server.local_addr().unwrap();
        assert_eq!(addr.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert!(addr.port() > 1);
        assert_eq!(BlockingClient::connect_to(addr).call::<usize>("bump", &()).unwrap(), 1);
        drop(server); // stops gracefully
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn init_errors_and_config_errors_have_their_exit_codes() {
        let config = ServerConfig::from_str("x.conf", CONF).unwrap();
        let app =
            App::new("x", |_: &ServerConfig| Err::<(), _>("no database".into()), |_| Router::new());
        let err = app.start_local(&config).unwrap_err();
        assert_eq!(err.to_string(), "init hook failed: no database");
        assert_eq!(err.exit_code(), 1);
        let err = counting_app().start_local_file("/nonexistent/counter_svr.conf").unwrap_err();
        assert!(err.to_string().starts_with("/nonexistent/counter_svr.conf: cannot read"));
        assert_eq!(err.exit_code(), 2);
    }

    /// Records `group#id/coroutine` at each start and counts returns after the stop.
    fn self_worker_app(
        seen: &Arc<std::sync::Mutex<Vec<String>>>,
        returned: &Arc<AtomicUsize>,
    ) -> App<Counter> {
        let (seen, returned) = (Arc::clone(seen), Arc::clone(returned));
        counting_app()
            .self_worker(move |_h: Arc<Counter>, ctx: WorkerContext| {
                let co = ctx.coroutine().map_or("-".to_string(), |c| c.to_string());
                seen.lock().unwrap().push(format!("{}#{}/{co}", ctx.group(), ctx.id()));
                let returned = Arc::clone(&returned);
                async move {
                    ctx.stop().stopped().await;
                    returned.fetch_add(1, Ordering::SeqCst);
                }
            })
            .self_groups(&["event", "value"])
    }

    fn wait_for_starts(seen: &std::sync::Mutex<Vec<String>>, n: usize) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let now = seen.lock().unwrap().clone();
            if now.len() >= n {
                let mut now = now;
                now.sort();
                return now;
            }
            assert!(std::time::Instant::now() < deadline, "self workers started: {now:?}");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    const GROUPS_CONF: &str = "[self_server]\ndispatch_type = custom\nworker_type = TYPE\n\
                               group_sum = 2\n[self_group0]\ngroup_name = event\nworker_sum = 2\n\
                               coroutine_sum = 2\n[self_group1]\ngroup_name = value\n\
                               worker_sum = 1\n";

    #[test]
    fn start_local_runs_the_self_workers_and_stop_ends_them() {
        let text = format!("{CONF}{}", GROUPS_CONF.replace("TYPE", "process_coroutine"));
        let config = ServerConfig::from_str("counter_svr.conf", &text).unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let returned = Arc::new(AtomicUsize::new(0));
        let server = self_worker_app(&seen, &returned).start_local(&config).unwrap();
        assert_eq!(server.self_workers(), 3, "one thread per worker");
        // process_coroutine: each worker runs its group's coroutine_sum tasks.
        assert_eq!(
            wait_for_starts(&seen, 5),
            ["event#0/0", "event#0/1", "event#1/0", "event#1/1", "value#0/0"]
        );
        let client = BlockingClient::connect_to(server.local_addr().unwrap());
        assert_eq!(client.call::<usize>("bump", &()).unwrap(), 1, "rpc served meanwhile");
        assert_eq!(returned.load(Ordering::SeqCst), 0, "they run until stopped");
        server.stop().unwrap();
        assert_eq!(returned.load(Ordering::SeqCst), 5, "every worker saw the stop and returned");
    }

    #[test]
    fn dropping_a_local_server_stops_its_self_workers() {
        let text = format!("{CONF}{}", GROUPS_CONF.replace("TYPE", "thread"));
        let config = ServerConfig::from_str("counter_svr.conf", &text).unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let returned = Arc::new(AtomicUsize::new(0));
        let server = self_worker_app(&seen, &returned).start_local(&config).unwrap();
        assert_eq!(wait_for_starts(&seen, 3), ["event#0/-", "event#1/-", "value#0/-"]);
        drop(server);
        assert_eq!(returned.load(Ordering::SeqCst), 3);
        // A config the app cannot run is refused as `main` refuses it.
        let err = counting_app().start_local(&config).unwrap_err();
        assert!(err.to_string().contains("has no self_server workers"), "{err}");
        assert_eq!(err.exit_code(), 2);
    }

    // The shape generated code has: a service trait, a generic `router`, a generic async
    // `run_worker` dispatching on the group, a `GROUPS` table.
    trait Shapes: Send + Sync + 'static {
        fn hello(&self) -> impl Future<Output = Result<String, RpcError>> + Send;
        fn event(&self, ctx: WorkerContext) -> impl Future<Output = ()> + Send;
    }
    #[derive(Debug, Default)]
    struct Handlers;
    impl Shapes for Handlers {
        async fn hello(&self) -> Result<String, RpcError> {
            Ok("hello".into())
        }
        async fn event(&self, ctx: WorkerContext) {
            ctx.stop().stopped().await;
        }
    }
    fn generated_router<S: Shapes>(service: Arc<S>) -> Router {
        Router::new().route("hello", move |(): ()| {
            let s = Arc::clone(&service);
            async move { s.hello().await }
        })
    }
    async fn run_worker<S: Shapes>(workers: &S, ctx: WorkerContext) {
        match ctx.group() {
            "event" => workers.event(ctx.clone()).await,
            _ => ctx.stop().stopped().await,
        }
    }
    const GROUPS: &[&str] = &["event"];
    fn user_init(_config: &ServerConfig) -> Result<Handlers, BoxError> {
        Ok(Handlers)
    }

    #[test]
    fn the_generated_code_shape_fits_the_builder() {
        let app = App::new("shapes", user_init, generated_router)
            .self_worker(|h, ctx| async move { run_worker(&*h, ctx).await })
            .self_groups(GROUPS);
        let config = ServerConfig::from_str("shapes_svr.conf", CONF).unwrap();
        let server = app.start_local(&config).unwrap();
        let client = BlockingClient::connect_to(server.local_addr().unwrap());
        assert_eq!(client.call::<String>("hello", &()).unwrap(), "hello");
    }

    #[test]
    fn validate_refuses_what_the_app_cannot_run() {
        let with_self = format!(
            "{CONF}[self_server]\ndispatch_type = custom\ngroup_sum = 1\n\
             [self_group0]\ngroup_name = evnt\nworker_sum = 1\n"
        );
        let config = ServerConfig::from_str("c.conf", &with_self).unwrap();
        let err = counting_app().validate(&config, "c.conf").unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.conf: [self_server] dispatch_type: invalid value \"custom\": `counter` has no \
             self_server workers; remove [self_server]"
        );
        assert_eq!(err.exit_code(), 2);
        let app = counting_app()
            .self_worker(|_, ctx| async move { ctx.stop().stopped().await })
            .self_groups(&["event", "value"]);
        let err = app.validate(&config, "c.conf").unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.conf: [self_group0] group_name: invalid value \"evnt\": not a self_server group \
             of `counter` (known: event, value)"
        );

        let unix_only = CONF.replace("port = 0", "unix_socket = /tmp/x.sock")
            + "[registry]\nzk = 10.0.0.1:2181\n";
        let config = ServerConfig::from_str("c.conf", &unix_only).unwrap();
        let err = counting_app().validate(&config, "c.conf").unwrap_err();
        assert!(err.to_string().starts_with("c.conf: [registry] zk: "), "{err}");
    }
}
