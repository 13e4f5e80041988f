//! Worker processes, self_server groups, daemon mode, pid files and signals for svrkit
//! servers (Linux: it uses `/proc` and `prctl`). Knows nothing of msgpack, of what
//! flows over the sockets, or of executors beyond async-io's reactor.
//!
//! # Roles and re-execution
//!
//! A server binary plays one of three roles, decided by [`init`] from environment
//! variables: the **master** (started by the user), an **rpc worker** or a **self
//! worker** (started by the master). The master never `fork()`s a copy of itself — a
//! multi-threaded Rust process cannot safely do that — it re-executes its own binary
//! (`/proc/self/exe`, so workers always run the very same build) with the same
//! arguments, plus `SVRKIT_ROLE=rpc|self`, `SVRKIT_WORKER_ID`, `SVRKIT_GROUP`,
//! `SVRKIT_COROUTINES`, `SVRKIT_MASTER_PID` and `SVRKIT_LISTEN_FDS`. `main` calls
//! [`init`] first and branches on the [`Role`]; every role parses the same config file.
//!
//! # One listening socket, inherited
//!
//! The master binds the listeners once and rpc workers inherit them: for each spawn the
//! master `dup(2)`s them without close-on-exec (the duplicates live only across the
//! spawn, so no other child of the master inherits them) and names them in
//! `SVRKIT_LISTEN_FDS=tcp:5,unix:6`; the worker checks each is an open listening socket,
//! owns it and sets close-on-exec again. We chose this over `SO_REUSEPORT` because
//! all workers then share one accept queue: a SIGKILLed worker loses only the
//! connections it had accepted, never the ones still queued (with `SO_REUSEPORT` each
//! socket has its own queue and the kernel resets a dead one's backlog); bind errors
//! show once, in the master, before anything starts; port 0 works; no other process
//! can join the port group; and a SIGHUP reload can start new workers on the same
//! queue before the old ones stop, so the port never closes.
//!
//! # Supervision and restart policy
//!
//! [`Supervisor::run`] runs on the master's main thread and starts no thread: it sleeps
//! in `poll(2)` on a self-pipe that SIGCHLD, SIGTERM, SIGINT and SIGHUP write to, reaps
//! children with `try_wait`, logs why each died ([`ExitReason`]: exit code or signal)
//! and restarts it after the [`RestartPolicy`] delay: 100 ms, doubling per consecutive
//! failure up to 10 s, reset by a run of 10 s. Workers arm `PR_SET_PDEATHSIG` (SIGTERM),
//! so they never outlive a master killed with SIGKILL.
//!
//! # self_server
//!
//! `thread` workers: [`SelfServer::start`] runs each worker on its own thread, which
//! restarts its handler in place (with back-off) when it returns or panics — `N`
//! workers are exactly `N` threads. `process` workers: the master supervises them like
//! rpc workers; in the child, [`run_self_process`] calls the handler once.
//! `process_coroutine`: [`run_self_coroutines`] runs `coroutine_sum` async tasks on a
//! single-threaded executor, restarting each task in place. Every handler gets a
//! [`WorkerContext`]: group, id, coroutine index, restart count and a [`StopToken`].
//!
//! # Stopping
//!
//! A [`StopToken`] is a latch backed by a socket pair that is written once and never
//! read, so threads wait on it with `poll(2)` ([`StopToken::wait_timeout`]), tasks
//! await it ([`StopToken::stopped`]), event loops poll its descriptor (`StopToken: AsFd`), and a
//! signal handler trips it async-signal-safely. On SIGTERM/SIGINT the master forwards
//! SIGTERM to every child, waits for them up to `drain_timeout` + [`KILL_GRACE`],
//! SIGKILLs the rest, and `run` returns (exit 0). A second SIGTERM/SIGINT kills at once.
//! SIGHUP starts a fresh generation of workers (same binary and arguments: they re-read
//! the config file); each old
//! worker drains once its successor reported ready, and one whose successor cannot start
//! keeps serving ([`Event::ReloadFailed`]), so a bad config never takes the port down.
//!
//! # Start-up reports
//!
//! A start that "succeeds" must mean a server that answers. Each worker inherits one end
//! of a socket pair ([`ReadyNotifier`], `SVRKIT_READY_FD`) and reports once: ready
//! (serving) or failed (its error). A worker that ends before it was ever ready while
//! the tree starts (its init hook failed, its port is gone) fails the start: the
//! supervisor stops the others and [`Supervisor::run`] returns [`Error::WorkerStart`]
//! with the worker's own message, instead of restarting it forever. Once every worker
//! was ready ([`Event::Ready`]), a dead worker is restarted with back-off whatever
//! killed it. The daemon reports the same way to the `start` command that spawned it.
//!
//! # Daemon mode and the pid file
//!
//! [`daemonize`] re-executes the binary detached (`setsid`, stdio to the log file or
//! `/dev/null`) and returns in the starting process once the daemon has claimed the
//! [`PidFile`] and reported ready — or fails with the daemon's own error (bind, init),
//! its exit status, or a timeout, so `start` exits non-zero when the server does not
//! come up. The pid file is written atomically, refused while a live instance holds it, removed on
//! clean exit. [`PidFile::status`] tells a live instance from a stale file (no such
//! process, or the pid reused by another program, checked through `/proc/PID/exe`);
//! [`stop`] sends SIGTERM and waits.
//!
//! # A server's `main`
//!
//! Branch on the role first: workers are started with the master's arguments, including
//! `-d` or `start`, which only the master acts on. The single-process modes (`thread`,
//! `coroutine`) need no supervisor: trip a [`StopSource`] on signals and serve.
//!
//! ```no_run
//! use std::process::ExitCode;
//! use std::time::Duration;
//! use svrkit_worker::{
//!     DaemonConfig, Daemonized, Event, GroupSpec, PidFile, ReadyNotifier, RestartPolicy, Role,
//!     SelfServer, StopSource, Supervisor, SupervisorConfig,
//! };
//!
//! # fn serve(_: Vec<svrkit_worker::Listener>, _: svrkit_worker::StopToken) {}
//! fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
//!     let (daemon, process_mode) = (false, true); // from `-d` / `start` and the config
//!     match svrkit_worker::init()? {
//!         Role::Master => {
//!             let pid_file = PidFile::new("/tmp/echo.pid"); // `[app] pid`
//!             let (_guard, ready) = if daemon {
//!                 match svrkit_worker::daemonize(&DaemonConfig::new(pid_file))? {
//!                     Daemonized::Parent { pid, detail } => {
//!                         println!("started (pid {pid}; {detail})");
//!                         return Ok(ExitCode::SUCCESS);
//!                     }
//!                     Daemonized::Daemon { pid_file, ready } => (pid_file, ready),
//!                 }
//!             } else {
//!                 (pid_file.acquire()?, ReadyNotifier::none())
//!             };
//!             let listener = match std::net::TcpListener::bind("127.0.0.1:3000") {
//!                 Ok(l) => l,
//!                 Err(e) => {
//!                     ready.failed(&format!("cannot listen on 127.0.0.1:3000: {e}"));
//!                     return Err(e.into());
//!                 }
//!             };
//!             if !process_mode {
//!                 // thread / coroutine: one process.
//!                 let stop = StopSource::new()?;
//!                 stop.stop_on_signals()?;
//!                 ready.ready("listening on 127.0.0.1:3000");
//!                 serve(vec![listener.into()], stop.token());
//!                 return Ok(ExitCode::SUCCESS);
//!             }
//!             let supervisor = Supervisor::new(SupervisorConfig {
//!                 rpc_workers: 4,
//!                 listeners: vec![listener.into()],
//!                 // process / process_coroutine self workers (coroutines > 0):
//!                 self_groups: vec![GroupSpec { name: "event".into(), workers: 2, coroutines: 0 }],
//!                 drain_timeout: Duration::from_secs(5),
//!                 ..Default::default()
//!             })?
//!             // Up once every worker reported ready; a worker failing before that
//!             // makes `run` return its error (the others are stopped).
//!             .on_event(move |e| if let Event::Ready = e { ready.ready("listening") });
//!             // thread self workers would run here, in the master:
//!             // SelfServer::start(&groups, policy, supervisor.stop_token(), handler)?
//!             # let _: Option<SelfServer> = None;
//!             supervisor.run()?;
//!             Ok(ExitCode::SUCCESS)
//!         }
//!         Role::Rpc(mut worker) => {
//!             // Init here; on failure: worker.notifier().failed(&error) and exit 1.
//!             worker.notifier().ready("");
//!             // Stop accepting when the token trips, answer what was accepted (within
//!             // drain_timeout), return.
//!             serve(worker.take_listeners(), worker.stop_token());
//!             Ok(ExitCode::SUCCESS)
//!         }
//!         Role::SelfWorker(worker) if worker.coroutines() > 0 => Ok(
//!             svrkit_worker::run_self_coroutines(&worker, RestartPolicy::default(), |ctx| async move {
//!                 ctx.stop().stopped().await; // async work for ctx.group(), ctx.id()
//!             }),
//!         ),
//!         Role::SelfWorker(worker) => Ok(svrkit_worker::run_self_process(&worker, |ctx| {
//!             while !ctx.stop().wait_timeout(Duration::from_secs(1)) {
//!                 // background work for group ctx.group(), worker ctx.id()
//!             }
//!         })),
//!     }
//! }
//! ```
//!
//! # Example: thread self workers and a stop
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use svrkit_worker::{GroupSpec, RestartPolicy, SelfServer, StopSource};
//!
//! let stop = StopSource::new()?;
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let groups = [GroupSpec::new("event", 2), GroupSpec::new("value", 1)];
//! let server = SelfServer::start(&groups, RestartPolicy::default(), stop.token(), {
//!     let seen = Arc::clone(&seen);
//!     move |ctx| {
//!         seen.lock().unwrap().push(format!("{}#{}", ctx.group(), ctx.id()));
//!         ctx.stop().wait(); // work until stopped
//!     }
//! })?;
//! assert_eq!(server.threads(), 3);
//! while seen.lock().unwrap().len() < 3 {
//!     std::thread::sleep(Duration::from_millis(1));
//! }
//! stop.stop(); // what SIGTERM does, through StopSource::stop_on_signals
//! server.join();
//! let mut seen = seen.lock().unwrap().clone();
//! seen.sort();
//! assert_eq!(seen, ["event#0", "event#1", "value#0"]);
//! # Ok::<(), svrkit_worker::Error>(())
//! ```

mod daemon;
mod error;
mod ready;
mod restart;
mod role;
mod selfserver;
mod stop;
mod supervisor;
mod sys;

pub use daemon::{
    daemonize, is_daemon_process, stop, DaemonConfig, Daemonized, PidFile, PidFileGuard, PidStatus,
    ProcessInfo, StaleReason, StopOutcome, ENV_DAEMON, ENV_DAEMON_READY_FD,
};
pub use error::Error;
pub use ready::ReadyNotifier;
pub use restart::RestartPolicy;
pub use role::{
    init, is_worker_process, Listener, Role, RpcWorker, SelfWorker, ENV_COROUTINES, ENV_GROUP,
    ENV_LISTEN_FDS, ENV_MASTER_PID, ENV_READY_FD, ENV_ROLE, ENV_WORKER_ID,
};
pub use selfserver::{run_self_coroutines, run_self_process, GroupSpec, SelfServer, WorkerContext};
pub use stop::{StopSource, StopToken};
pub use supervisor::{
    Event, ShutdownReport, StopHandle, Supervisor, SupervisorConfig, WorkerId, KILL_GRACE,
};
pub use sys::ExitReason;
