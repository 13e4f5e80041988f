//! The lifecycle behind [`App::main`]: the master (commands, daemon, binding, supervisor,
//! registry, graceful stop) and the rpc and self worker processes.

use std::cell::RefCell;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use svrkit_discovery::Registration;
use svrkit_transport::Addr;
use svrkit_worker::{
    DaemonConfig, Daemonized, Event, GroupSpec, PidFile, PidFileGuard, ReadyNotifier, Role,
    RpcWorker, SelfServer, SelfWorker, StopOutcome, StopSource, Supervisor, SupervisorConfig,
    KILL_GRACE,
};

use super::args::{self, Args, Command};
use super::{log_file_for, registry, App, AppError, SelfFn, SIMPLE_GROUP};
use crate::config::{ConfigError, DispatchType, RpcServerConfig, ServerConfig, WorkerType};
use crate::server::{bind_all, Mode, Server, ServerError, ServerOptions};

pub(super) fn main<H: Send + Sync + 'static>(app: App<H>) -> ExitCode {
    let name = app.name;
    let role = match svrkit_worker::init() {
        Ok(role) => role,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    crate::init_logging();
    let outcome = args::parse(name, std::env::args().skip(1))
        .map_err(|e| AppError::Usage(format!("{e}\n\n{}", args::usage(name))))
        .and_then(|args| match role {
            Role::Master => master(app, &args),
            // A worker that cannot start tells the master why: the master fails the
            // start-up with this message instead of restarting the worker forever.
            Role::Rpc(worker) => {
                let notifier = worker.notifier();
                report_main_thread_panics(&notifier);
                rpc_worker(app, &args.conf, worker).inspect_err(|e| notifier.failed(&e.to_string()))
            }
            Role::SelfWorker(worker) => {
                report_main_thread_panics(&worker.notifier());
                self_worker(app, &args.conf, &worker)
                    .inspect_err(|e| worker.notifier().failed(&e.to_string()))
            }
        });
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// How long `start` waits for the daemon to serve (bind, init hooks, workers up,
/// registry) before it stops it and fails.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// SIGHUP's number on Linux.
const SIGHUP: i32 = 1;

/// Reports a panic of the main thread before the ready report (an init hook's `unwrap`)
/// as the start-up failure, with its message and place; the default hook still prints it.
/// Panics elsewhere (handler and self worker threads) and after the report change nothing.
fn report_main_thread_panics(notifier: &ReadyNotifier) {
    if !notifier.is_pending() {
        return;
    }
    let notifier = notifier.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("main") && notifier.is_pending() {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line()));
            notifier.failed(&format!("panicked{}: {message}", at.unwrap_or_default()));
        }
        previous(info);
    }));
}

fn is_process(w: WorkerType) -> bool {
    matches!(w, WorkerType::Process | WorkerType::ProcessCoroutine)
}

/// `[self_server]` as groups: `coroutines` > 0 only for `process_coroutine`.
pub(super) fn self_groups(config: &ServerConfig) -> Vec<GroupSpec> {
    let Some(s) = &config.self_server else { return Vec::new() };
    let co = |c: Option<usize>| match s.worker_type {
        WorkerType::ProcessCoroutine => c.unwrap_or(1).max(1),
        _ => 0,
    };
    match &s.dispatch {
        DispatchType::Simple { worker_sum, coroutine_sum } => {
            vec![GroupSpec {
                name: SIMPLE_GROUP.into(),
                workers: *worker_sum,
                coroutines: co(*coroutine_sum),
            }]
        }
        DispatchType::Custom { groups } => groups
            .iter()
            .map(|g| GroupSpec {
                name: g.name.clone(),
                workers: g.worker_sum,
                coroutines: co(g.coroutine_sum),
            })
            .collect(),
    }
}

/// Options of one rpc worker process: one thread of the configured kind (module docs).
fn worker_options(rpc: &RpcServerConfig) -> ServerOptions {
    let mut o = ServerOptions::from_config(rpc);
    o.mode = match rpc.worker_type {
        WorkerType::Process => Mode::Thread,
        _ => Mode::Coroutine,
    };
    o.workers = 1;
    o
}

impl<H: Send + Sync + 'static> App<H> {
    /// Checks what only the app knows: self workers exist, group names, registry needs TCP.
    pub(super) fn validate(&self, config: &ServerConfig, file: &str) -> Result<(), AppError> {
        let invalid = |section: String, key: &str, value: String, reason: String| {
            AppError::Config(ConfigError::Invalid {
                file: file.to_string(),
                section,
                key: key.to_string(),
                value,
                reason,
            })
        };
        if let Some(s) = &config.self_server {
            if self.self_worker.is_none() {
                let kind = match s.dispatch {
                    DispatchType::Simple { .. } => "simple",
                    _ => "custom",
                };
                return Err(invalid(
                    "self_server".into(),
                    "dispatch_type",
                    kind.into(),
                    format!("`{}` has no self_server workers; remove [self_server]", self.name),
                ));
            }
            if let (Some(known), DispatchType::Custom { groups }) = (self.known_groups, &s.dispatch)
            {
                for (i, g) in groups.iter().enumerate() {
                    if !known.contains(&g.name.as_str()) {
                        return Err(invalid(
                            format!("self_group{i}"),
                            "group_name",
                            g.name.clone(),
                            format!(
                                "not a self_server group of `{}` (known: {})",
                                self.name,
                                known.join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        if let Some(r) = &config.registry {
            if config.rpc.tcp.is_none() {
                return Err(invalid(
                    "registry".into(),
                    "zk",
                    r.zk.join(","),
                    "registration needs a TCP listener ([rpc_server] port)".into(),
                ));
            }
        }
        Ok(())
    }

    fn handlers(&self, config: &ServerConfig) -> Result<Arc<H>, AppError> {
        (self.init)(config).map(Arc::new).map_err(AppError::Init)
    }
}

fn master<H: Send + Sync + 'static>(app: App<H>, args: &Args) -> Result<ExitCode, AppError> {
    let name = app.name;
    if args.command == Command::Help {
        println!("{}", args::usage(name));
        return Ok(ExitCode::SUCCESS);
    }
    let config = ServerConfig::load(&args.conf)?;
    app.validate(&config, &args.conf)?;
    let pid_file = |command| {
        config
            .pid_file
            .as_ref()
            .map(PidFile::new)
            .ok_or_else(|| AppError::NeedsPidFile { file: args.conf.clone(), command })
    };
    let in_daemon = svrkit_worker::is_daemon_process();
    let stop_wait = config.rpc.drain_timeout + KILL_GRACE + Duration::from_secs(5);
    match args.command {
        Command::Status => {
            let status = pid_file("status")?.status()?;
            println!("{name}: {}", status.with_details());
            return Ok(ExitCode::from(status.lsb_exit_code()));
        }
        Command::Stop => {
            stop_running(name, &pid_file("stop")?, stop_wait)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Restart if !in_daemon => stop_running(name, &pid_file("restart")?, stop_wait)?,
        _ => {}
    }
    let guard = match args.command {
        Command::Start | Command::Restart => {
            let pid_file =
                pid_file(if args.command == Command::Start { "start" } else { "restart" })?;
            let log_file = log_file_for(pid_file.path());
            let daemon = DaemonConfig {
                pid_file,
                log_file: Some(log_file.clone()),
                ready_timeout: START_TIMEOUT,
            };
            match svrkit_worker::daemonize(&daemon)? {
                Daemonized::Parent { pid, detail } => {
                    println!("{name}: started (pid {pid}; {detail}; log {})", log_file.display());
                    return Ok(ExitCode::SUCCESS);
                }
                Daemonized::Daemon { pid_file, ready } => {
                    report_main_thread_panics(&ready);
                    (Some(pid_file), ready)
                }
            }
        }
        _ => match config.pid_file.as_ref().map(PidFile::new) {
            None => (None, ReadyNotifier::none()),
            Some(pf) => match pf.acquire() {
                Ok(guard) => (Some(guard), ReadyNotifier::none()),
                Err(e @ svrkit_worker::Error::AlreadyRunning { .. }) => return Err(e.into()),
                Err(e) => {
                    log::warn!("running without a pid file: {e}");
                    (None, ReadyNotifier::none())
                }
            },
        },
    };
    let (guard, ready) = guard;
    // The `start` command waits for this report: it prints the error and exits 1.
    serve(app, &config, guard, &ready).inspect_err(|e| ready.failed(&e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}

fn stop_running(name: &str, pid_file: &PidFile, wait: Duration) -> Result<(), AppError> {
    match svrkit_worker::stop(pid_file, wait)? {
        StopOutcome::Stopped { pid } => println!("{name}: stopped (pid {pid})"),
        StopOutcome::NotRunning => println!("{name}: not running"),
        StopOutcome::Stale(status) => println!("{name}: {status}; removed the pid file"),
    }
    Ok(())
}

/// What the master bound for its rpc worker processes.
struct Bound {
    listeners: Vec<svrkit_worker::Listener>,
    addrs: Vec<Addr>,
    /// Unix socket files to remove at exit.
    files: Vec<PathBuf>,
}

/// Binds for worker processes (plain std sockets, so they can be inherited). A stale Unix
/// socket file (nobody accepting) is replaced, a live one is "address in use".
fn bind_for_workers(addrs: &[Addr]) -> Result<Bound, AppError> {
    let mut bound = Bound { listeners: Vec::new(), addrs: Vec::new(), files: Vec::new() };
    for addr in addrs {
        let err = |source| AppError::Bind { addr: addr.to_string(), source };
        match addr {
            Addr::Tcp(sa) => {
                let l = std::net::TcpListener::bind(sa).map_err(err)?;
                bound.addrs.push(Addr::Tcp(l.local_addr().map_err(err)?));
                bound.listeners.push(l.into());
            }
            Addr::Unix(path) => {
                let l = match UnixListener::bind(path) {
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                        match UnixStream::connect(path) {
                            Err(c) if c.kind() == std::io::ErrorKind::ConnectionRefused => {
                                std::fs::remove_file(path).map_err(err)?;
                                UnixListener::bind(path).map_err(err)?
                            }
                            _ => return Err(err(e)),
                        }
                    }
                    r => r.map_err(err)?,
                };
                bound.addrs.push(addr.clone());
                bound.files.push(path.clone());
                bound.listeners.push(l.into());
            }
        }
    }
    Ok(bound)
}

/// The master's serving life: bind, (init), serve or supervise, register, report ready,
/// wait for the stop, deregister, drain. `ready` is the daemon's start-up report (a
/// no-op in the foreground); the caller reports an `Err` through it.
fn serve<H: Send + Sync + 'static>(
    app: App<H>,
    config: &ServerConfig,
    pid_guard: Option<PidFileGuard>,
    ready: &ReadyNotifier,
) -> Result<(), AppError> {
    // Before any thread: SIGTERM during start-up is a graceful stop too.
    let stop = StopSource::new()?;
    stop.stop_on_signals()?;
    let rpc_process = is_process(config.rpc.worker_type);
    let groups = self_groups(config);
    let self_process = config.self_server.as_ref().is_some_and(|s| is_process(s.worker_type));
    let self_threads_here = !groups.is_empty() && !self_process;
    if !rpc_process && !self_process {
        // One process, nothing to reload: SIGHUP must not kill it unannounced (its
        // default action). A terminal hang-up stops a foreground server gracefully; a
        // daemon has no terminal and ignores it.
        if svrkit_worker::is_daemon_process() {
            // A latch nobody watches: the handler swallows the signal.
            StopSource::new()?.stop_on_signal(SIGHUP)?;
        } else {
            stop.stop_on_signal(SIGHUP)?;
        }
    }

    // Bind first: a taken port is reported before an init hook spends time (and before
    // any worker starts).
    let (bound_here, bound) = if rpc_process {
        (Vec::new(), bind_for_workers(&config.rpc.listen_addrs())?)
    } else {
        let listeners = bind_all(&config.rpc.listen_addrs()).map_err(AppError::Server)?;
        (listeners, Bound { listeners: Vec::new(), addrs: Vec::new(), files: Vec::new() })
    };
    let handlers =
        if !rpc_process || self_threads_here { Some(app.handlers(config)?) } else { None };
    let (running, Bound { listeners, mut addrs, files }) = match &handlers {
        Some(h) if !rpc_process => {
            let server = Server::with_options(
                (app.router)(Arc::clone(h)),
                ServerOptions::from_config(&config.rpc),
            );
            let running = server.start(bound_here).map_err(AppError::Server)?;
            (Some(running), bound)
        }
        _ => (None, bound),
    };
    if let Some(r) = &running {
        addrs = r.local_addrs().to_vec();
    }
    let shown: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    let detail = format!("listening on {}", shown.join(", "));
    log::info!(
        "{} {detail} ({} mode, {} workers)",
        app.name,
        config.rpc.worker_type,
        config.rpc.worker_sum
    );
    let tcp = addrs.iter().find_map(|a| match a {
        Addr::Tcp(sa) => Some(*sa),
        _ => None,
    });
    let (registry_config, app_name) = (config.registry.clone(), config.app_name.clone());
    let register = move || -> Result<Option<Registration>, AppError> {
        match &registry_config {
            Some(r) => {
                let tcp = tcp.expect("validate() requires a TCP listener with [registry]");
                Ok(Some(registry::register(&app_name, r, tcp)?))
            }
            None => Ok(None),
        }
    };

    let thread_workers = |token| -> Result<Option<SelfServer>, AppError> {
        match (&handlers, &app.self_worker) {
            (Some(h), Some(f)) if self_threads_here => {
                let run = thread_runner(Arc::clone(h), Arc::clone(f));
                Ok(Some(SelfServer::start(&groups, app.restart, token, run)?))
            }
            _ => Ok(None),
        }
    };

    if rpc_process || self_process {
        let supervisor = Supervisor::new(SupervisorConfig {
            rpc_workers: if rpc_process { config.rpc.worker_sum } else { 0 },
            listeners,
            self_groups: if self_process { groups.clone() } else { Vec::new() },
            drain_timeout: config.rpc.drain_timeout,
            restart: app.restart,
        })?;
        let self_threads = thread_workers(supervisor.stop_token())?;
        let server_stop = running.as_ref().map(|r| r.shutdown_handle());
        let stop_handle = supervisor.stop_handle();
        let failed: Rc<RefCell<Option<AppError>>> = Rc::default();
        let mut registration = None;
        let ready_cb = ready.clone();
        let failed_cb = Rc::clone(&failed);
        let name = app.name;
        // Every worker is ready (init done, serving): join the registry, report ready.
        // The supervisor emits `Stopping` before it signals any worker: leave the
        // registry there, so clients drop us before anything stops answering.
        let supervisor = supervisor.on_event(move |event| match event {
            Event::Ready => match register() {
                Ok(reg) => {
                    registration = reg;
                    log::info!("{name} ready");
                    ready_cb.ready(&detail);
                }
                Err(e) => {
                    *failed_cb.borrow_mut() = Some(e);
                    stop_handle.stop();
                }
            },
            Event::Stopping { .. } => {
                if let Some(reg) = registration.take() {
                    registry::deregister(reg);
                }
                if let Some(s) = &server_stop {
                    s.stop();
                }
            }
            _ => {}
        });
        if stop.token().is_stopped() {
            supervisor.stop_handle().stop();
        }
        let outcome = supervisor.run();
        if let Some(r) = running {
            r.wait().map_err(AppError::Server)?;
        }
        if let Some(t) = self_threads {
            t.join();
        }
        for f in &files {
            let _ = std::fs::remove_file(f);
        }
        let report = outcome?;
        if let Some(e) = failed.borrow_mut().take() {
            return Err(e);
        }
        if report.force_killed > 0 {
            log::warn!("{} worker(s) outlived drain_timeout and were killed", report.force_killed);
        }
    } else {
        let registration = match register() {
            Ok(r) => r,
            Err(e) => {
                if let Some(r) = running {
                    let _ = r.stop();
                }
                return Err(e);
            }
        };
        let self_threads = thread_workers(stop.token())?;
        log::info!("{} ready", app.name);
        ready.ready(&detail);
        stop.token().wait();
        if let Some(reg) = registration {
            registry::deregister(reg);
        }
        if let Some(r) = running {
            r.stop().map_err(AppError::Server)?;
        }
        if let Some(t) = self_threads {
            t.join();
        }
    }
    log::info!("{} stopped", app.name);
    drop(pid_guard);
    Ok(())
}

/// A thread self worker: the async worker function driven on its own thread.
fn thread_runner<H: Send + Sync + 'static>(
    h: Arc<H>,
    f: Arc<SelfFn<H>>,
) -> impl Fn(&svrkit_worker::WorkerContext) + Send + Sync + 'static {
    move |ctx| async_io::block_on(f(Arc::clone(&h), ctx.clone()))
}

/// A self worker of [`App::start_local`] on its thread: the worker function once, or its
/// group's `coroutine_sum` tasks on a local executor for `process_coroutine` groups.
pub(super) fn local_runner<H: Send + Sync + 'static>(
    h: Arc<H>,
    f: Arc<SelfFn<H>>,
    groups: &[GroupSpec],
    restart: svrkit_worker::RestartPolicy,
) -> impl Fn(&svrkit_worker::WorkerContext) + Send + Sync + 'static {
    let coroutines: Vec<(String, usize)> =
        groups.iter().map(|g| (g.name.clone(), g.coroutines)).collect();
    move |ctx| {
        let n = coroutines.iter().find(|(g, _)| g == ctx.group()).map_or(0, |(_, n)| *n);
        if n == 0 {
            async_io::block_on(f(Arc::clone(&h), ctx.clone()));
            return;
        }
        let worker = SelfWorker::new(ctx.group(), ctx.id(), n, ctx.stop().clone());
        let (h, f) = (Arc::clone(&h), Arc::clone(&f));
        svrkit_worker::run_self_coroutines(&worker, restart, move |c| f(Arc::clone(&h), c));
    }
}

fn rpc_worker<H: Send + Sync + 'static>(
    app: App<H>,
    conf: &str,
    mut worker: RpcWorker,
) -> Result<ExitCode, AppError> {
    let config = ServerConfig::load(conf)?;
    let handlers = app.handlers(&config)?;
    let mut listeners = Vec::new();
    for l in worker.take_listeners() {
        let l = match l {
            svrkit_worker::Listener::Tcp(t) => svrkit_transport::Listener::from_std_tcp(t),
            svrkit_worker::Listener::Unix(u) => svrkit_transport::Listener::from_std_unix(u),
        };
        listeners.push(l.map_err(|source| {
            AppError::Server(ServerError::Io { what: "cannot adopt an inherited listener", source })
        })?);
    }
    let server = Server::with_options((app.router)(handlers), worker_options(&config.rpc));
    let running = server.start(listeners).map_err(AppError::Server)?;
    worker.notifier().ready("");
    worker.stop_token().wait();
    running.stop().map_err(AppError::Server)?;
    Ok(ExitCode::SUCCESS)
}

fn self_worker<H: Send + Sync + 'static>(
    app: App<H>,
    conf: &str,
    worker: &SelfWorker,
) -> Result<ExitCode, AppError> {
    let config = ServerConfig::load(conf)?;
    let Some(f) = app.self_worker.clone() else {
        return Err(AppError::Usage(format!("`{}` has no self_server workers", app.name)));
    };
    let h = app.handlers(&config)?;
    if worker.coroutines() > 0 {
        Ok(svrkit_worker::run_self_coroutines(worker, app.restart, move |ctx| {
            f(Arc::clone(&h), ctx)
        }))
    } else {
        Ok(svrkit_worker::run_self_process(worker, |ctx| {
            async_io::block_on(f(Arc::clone(&h), ctx.clone()))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups_of(text: &str) -> Vec<GroupSpec> {
        let base = "[app]\nname = x\n[rpc_server]\nport = 0\n";
        self_groups(&ServerConfig::from_str("x.conf", &format!("{base}{text}")).unwrap())
    }

    #[test]
    fn self_groups_from_config() {
        assert_eq!(groups_of(""), vec![]);
        assert_eq!(
            groups_of("[self_server]\nworker_sum = 3\n"),
            vec![GroupSpec { name: SIMPLE_GROUP.into(), workers: 3, coroutines: 0 }]
        );
        assert_eq!(
            groups_of("[self_server]\nworker_type = process_coroutine\nworker_sum = 2\n"),
            vec![GroupSpec { name: SIMPLE_GROUP.into(), workers: 2, coroutines: 1 }]
        );
        // Seed 001's simple process_coroutine sample.
        assert_eq!(
            groups_of(
                "[self_server]
dispatch_type = simple
worker_type = process_coroutine
                 worker_sum = 2
coroutine_sum = 100
"
            ),
            vec![GroupSpec { name: SIMPLE_GROUP.into(), workers: 2, coroutines: 100 }]
        );
        let custom = "dispatch_type = custom\ngroup_sum = 2\n\
                      [self_group0]\ngroup_name = a\nworker_sum = 1\ncoroutine_sum = 5\n\
                      [self_group1]\ngroup_name = b\nworker_sum = 2\n";
        assert_eq!(
            groups_of(&format!("[self_server]\nworker_type = process_coroutine\n{custom}")),
            vec![
                GroupSpec { name: "a".into(), workers: 1, coroutines: 5 },
                GroupSpec { name: "b".into(), workers: 2, coroutines: 1 },
            ]
        );
        assert_eq!(
            groups_of(&format!("[self_server]\nworker_type = process\n{custom}")),
            vec![GroupSpec::new("a", 1), GroupSpec::new("b", 2)]
        );
    }

    #[test]
    fn worker_processes_run_one_thread_of_their_kind() {
        let mut rpc = RpcServerConfig { worker_sum: 8, coroutine_sum: 32, ..Default::default() };
        rpc.worker_type = WorkerType::Process;
        let o = worker_options(&rpc);
        assert_eq!((o.mode, o.workers), (Mode::Thread, 1));
        rpc.worker_type = WorkerType::ProcessCoroutine;
        let o = worker_options(&rpc);
        assert_eq!((o.mode, o.workers, o.max_in_flight), (Mode::Coroutine, 1, 32));
    }
}
