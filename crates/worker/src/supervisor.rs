//! The master: spawns rpc and self worker processes by re-executing this binary, hands
//! them the listeners, replaces the dead ones, and stops the tree on SIGTERM/SIGINT.

use std::ffi::OsString;
use std::fmt;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::process::Signal;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};

use crate::ready::{ReadyReader, Report};
use crate::restart::Backoff;
use crate::role::worker_env;
use crate::sys::{send_signal, ExitReason};
use crate::{Error, GroupSpec, Listener, RestartPolicy, StopSource, StopToken};

/// Extra time after `drain_timeout` before the master SIGKILLs a child that is still
/// alive: the worker itself drains for `drain_timeout`, then needs a moment to exit.
pub const KILL_GRACE: Duration = Duration::from_secs(1);

/// What the master runs. Plain data: build it with `..Default::default()` (no workers,
/// 5 s drain, the default [`RestartPolicy`]).
#[derive(Debug)]
pub struct SupervisorConfig {
    /// Number of rpc worker processes (`worker_sum` of a `process` /
    /// `process_coroutine` rpc_server). 0 for none.
    pub rpc_workers: usize,
    /// Listening sockets, bound by the master, shared by every rpc worker (they see
    /// them via [`crate::RpcWorker::take_listeners`], in this order).
    pub listeners: Vec<Listener>,
    /// self_server groups run as processes: `coroutines == 0` means `process`, more
    /// means `process_coroutine` with that many tasks per process.
    pub self_groups: Vec<GroupSpec>,
    /// How long workers may take to answer what they accepted once told to stop. The
    /// master SIGKILLs children still alive `drain_timeout + KILL_GRACE` after the stop.
    pub drain_timeout: Duration,
    /// Restart back-off for dead workers.
    pub restart: RestartPolicy,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            rpc_workers: 0,
            listeners: Vec::new(),
            self_groups: Vec::new(),
            drain_timeout: Duration::from_secs(5),
            restart: RestartPolicy::default(),
        }
    }
}

/// A duplicate of `fd` without close-on-exec, for one spawn.
fn dup(fd: &impl AsFd) -> std::io::Result<OwnedFd> {
    Ok(rustix::io::dup(fd.as_fd())?)
}

/// Names a worker slot: `rpc#2`, `self:event#1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WorkerId {
    /// The rpc worker with this id.
    Rpc(usize),
    /// A self worker process.
    SelfWorker {
        /// Its group.
        group: String,
        /// Its id within the group.
        id: usize,
    },
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkerId::Rpc(id) => write!(f, "rpc#{id}"),
            WorkerId::SelfWorker { group, id } => write!(f, "self:{group}#{id}"),
        }
    }
}

/// What the master did or saw; every event is also logged (`log` crate, target
/// `svrkit_worker`). Observe them with [`Supervisor::on_event`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A worker process started.
    Started {
        /// Which slot.
        worker: WorkerId,
        /// Its pid.
        pid: u32,
    },
    /// A worker process ended.
    Exited {
        /// Which slot.
        worker: WorkerId,
        /// Its pid.
        pid: u32,
        /// Exit code or signal.
        reason: ExitReason,
        /// How long it ran.
        ran_for: Duration,
        /// When it will be replaced; `None` when the master is stopping or it was
        /// retired by a reload.
        restart_in: Option<Duration>,
    },
    /// Spawning a worker failed; retried after `restart_in`.
    SpawnFailed {
        /// Which slot.
        worker: WorkerId,
        /// The OS error.
        error: String,
        /// When the master tries again.
        restart_in: Duration,
    },
    /// Every worker reported ready once (see [`crate::ReadyNotifier`]): the tree is up.
    /// Emitted once, at start-up (at once when there are no workers).
    Ready,
    /// A worker ended before it ever reported ready while the tree was starting: the
    /// supervisor stops the tree and [`Supervisor::run`] returns [`Error::WorkerStart`].
    StartFailed {
        /// Which slot.
        worker: WorkerId,
        /// Its pid.
        pid: u32,
        /// The error it reported, or how it ended.
        error: String,
    },
    /// SIGHUP: a new generation of workers is starting; each old worker drains once its
    /// successor reported ready.
    Reloading,
    /// A reload's new worker ended before it was ready (or could not be spawned): the
    /// old one is kept serving and no further attempt is made until the next SIGHUP.
    ReloadFailed {
        /// Which slot.
        worker: WorkerId,
        /// Why the new process is not there.
        error: String,
        /// The old process, kept.
        kept_pid: u32,
    },
    /// The master is stopping the tree; `signal` is `None` for a [`StopHandle`].
    Stopping {
        /// The signal that asked for it.
        signal: Option<i32>,
    },
    /// A child outlived the drain deadline (or a second SIGTERM/SIGINT came) and was
    /// killed.
    ForceKilled {
        /// Which slot.
        worker: WorkerId,
        /// Its pid.
        pid: u32,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Started { worker, pid } => write!(f, "{worker} started, pid {pid}"),
            Event::Exited { worker, pid, reason, ran_for, restart_in } => {
                write!(
                    f,
                    "{worker} (pid {pid}) ended after {:.1}s: {reason}",
                    ran_for.as_secs_f64()
                )?;
                match restart_in {
                    Some(d) => write!(f, "; restarting in {} ms", d.as_millis()),
                    None => Ok(()),
                }
            }
            Event::SpawnFailed { worker, error, restart_in } => write!(
                f,
                "{worker} could not be started: {error}; retrying in {} ms",
                restart_in.as_millis()
            ),
            Event::Ready => f.write_str("every worker is ready"),
            Event::StartFailed { worker, pid, error } => {
                write!(f, "{worker} (pid {pid}) failed to start: {error}; stopping")
            }
            Event::Reloading => f.write_str("reloading: starting new workers, draining old ones"),
            Event::ReloadFailed { worker, error, kept_pid } => write!(
                f,
                "{worker}: reload failed: {error}; keeping the old process (pid {kept_pid})"
            ),
            Event::Stopping { signal: Some(s) } => {
                write!(f, "stopping on {}", crate::sys::signal_name(*s))
            }
            Event::Stopping { signal: None } => f.write_str("stopping on request"),
            Event::ForceKilled { worker, pid } => {
                write!(f, "{worker} (pid {pid}) killed: drain deadline passed")
            }
        }
    }
}

/// How the tree ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Children that had to be SIGKILLed because they outlived their drain deadline
    /// (at the stop or after a reload); 0 when every child drained in time.
    pub force_killed: usize,
}

/// Stops a running [`Supervisor`] from another thread, like SIGTERM does.
#[derive(Debug, Clone)]
pub struct StopHandle {
    requested: Arc<AtomicBool>,
    wake: Arc<UnixStream>,
}

impl StopHandle {
    /// Asks the supervisor to stop the tree gracefully. Idempotent.
    pub fn stop(&self) {
        self.requested.store(true, Ordering::SeqCst);
        let _ = (&*self.wake).write(&[1]);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SlotKind {
    Rpc,
    SelfWorker { group: String, coroutines: usize },
}

struct Running {
    child: Child,
    started: Instant,
    /// The worker's start-up report.
    ready: ReadyReader,
}

struct Slot {
    name: WorkerId,
    id: usize,
    kind: SlotKind,
    running: Option<Running>,
    next_start: Option<Instant>,
    backoff: Backoff,
    /// Some process of this slot reported ready once.
    ever_ready: bool,
}

/// A process replaced by a reload: it keeps serving until its successor (the process
/// now in `slots[slot]`) reports ready, then drains until `deadline`.
struct Retiring {
    name: WorkerId,
    run: Running,
    slot: usize,
    /// `None` while the successor is starting.
    deadline: Option<Instant>,
}

type EventSink = Box<dyn FnMut(&Event)>;

/// The master process's supervisor. See the crate docs for the process model.
pub struct Supervisor {
    config: SupervisorConfig,
    on_event: Option<EventSink>,
    stop_requested: Arc<AtomicBool>,
    stopping: StopSource,
    wake_read: UnixStream,
    wake_write: Arc<UnixStream>,
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor").field("config", &self.config).finish_non_exhaustive()
    }
}

struct Signals {
    term: Arc<AtomicBool>,
    int: Arc<AtomicBool>,
    hup: Arc<AtomicBool>,
}

impl Supervisor {
    /// A supervisor for `config`; nothing runs until [`run`](Self::run).
    pub fn new(config: SupervisorConfig) -> Result<Supervisor, Error> {
        let (wake_read, wake_write) =
            UnixStream::pair().map_err(|e| Error::io("create supervisor wake-up pipe", e))?;
        for s in [&wake_read, &wake_write] {
            s.set_nonblocking(true).map_err(|e| Error::io("create supervisor wake-up pipe", e))?;
        }
        Ok(Supervisor {
            config,
            on_event: None,
            stop_requested: Arc::new(AtomicBool::new(false)),
            stopping: StopSource::new()?,
            wake_read,
            wake_write: Arc::new(wake_write),
        })
    }

    /// Calls `f` on the supervisor's thread for every [`Event`] (after logging it).
    pub fn on_event(mut self, f: impl FnMut(&Event) + 'static) -> Supervisor {
        self.on_event = Some(Box::new(f));
        self
    }

    /// A handle that stops [`run`](Self::run) from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            requested: Arc::clone(&self.stop_requested),
            wake: Arc::clone(&self.wake_write),
        }
    }

    /// A token tripped when the tree starts stopping (signal or [`StopHandle`]): give
    /// it to what else runs in the master, such as a thread [`crate::SelfServer`], so
    /// it stops together with the workers.
    pub fn stop_token(&self) -> StopToken {
        self.stopping.token()
    }

    /// Runs the tree on the calling thread until SIGTERM/SIGINT (or a [`StopHandle`]),
    /// then stops it gracefully and returns once every child is gone. Starts no thread.
    ///
    /// Start-up: each worker reports ready through its [`crate::ReadyNotifier`] (rpc
    /// workers once serving; [`crate::run_self_process`] and
    /// [`crate::run_self_coroutines`] before calling the handler). When all have,
    /// [`Event::Ready`] fires. A worker that ends before it ever reported ready while the
    /// tree is starting fails the start-up: the others are stopped (as on SIGTERM) and
    /// `run` returns [`Error::WorkerStart`] with the worker's own error. Once the tree
    /// was ready, dead workers are restarted with back-off, whatever the cause.
    ///
    /// Installs handlers for SIGTERM, SIGINT, SIGHUP and SIGCHLD for the rest of the
    /// process's life. Call it on the thread that outlives the workers (their
    /// parent-death signal is tied to the spawning thread): normally `main`.
    pub fn run(mut self) -> Result<ShutdownReport, Error> {
        let signals = self.install_signals()?;
        let mut slots = self.slots();
        let mut retiring: Vec<Retiring> = Vec::new();
        let mut stop_deadline: Option<Instant> = None;
        let mut force_killed = 0;
        let mut starting = true;
        let mut failure: Option<Error> = None;
        let now = Instant::now();
        for slot in &mut slots {
            slot.next_start = Some(now);
        }
        loop {
            // 1. Signals and stop requests.
            let term = signals.term.swap(false, Ordering::SeqCst);
            let int = signals.int.swap(false, Ordering::SeqCst);
            let handle = self.stop_requested.swap(false, Ordering::SeqCst);
            if term || int || handle {
                let signal = if term {
                    Some(SIGTERM)
                } else if int {
                    Some(SIGINT)
                } else {
                    None
                };
                if stop_deadline.is_some() && signal.is_some() {
                    // A second signal while draining: stop waiting.
                    stop_deadline = Some(Instant::now());
                } else if stop_deadline.is_none() {
                    stop_deadline = Some(self.begin_stop(signal, &mut slots, &retiring));
                }
            }
            if signals.hup.swap(false, Ordering::SeqCst) && stop_deadline.is_none() {
                self.emit(&Event::Reloading);
                for (i, slot) in slots.iter_mut().enumerate() {
                    // New generation first; the old one drains once its successor is
                    // ready: the shared accept queue never lacks a reader, the port never
                    // closes, and a new generation that cannot start (a broken config)
                    // leaves the old one serving.
                    let old = slot.running.take();
                    self.start(slot);
                    if let Some(run) = old {
                        let name = slot.name.clone();
                        retiring.push(Retiring { name, run, slot: i, deadline: None });
                    }
                }
            }

            // 2. Reap.
            let stopping = stop_deadline.is_some();
            for (idx, slot) in slots.iter_mut().enumerate() {
                let Some(run) = &mut slot.running else {
                    continue;
                };
                let status = match run.child.try_wait() {
                    Ok(Some(status)) => status,
                    Ok(None) => continue,
                    Err(e) => {
                        log::error!(target: "svrkit_worker", "wait for {}: {e}", slot.name);
                        continue;
                    }
                };
                let pid = run.child.id();
                let ran_for = run.started.elapsed();
                // What it said before it died: a report is in the socket by now.
                run.ready.pump();
                let report = run.ready.report();
                if matches!(report, Report::Ready(_)) {
                    slot.ever_ready = true;
                }
                slot.running = None;
                let reason = ExitReason::from_status(status);
                let predecessor =
                    retiring.iter().rposition(|r| r.slot == idx && r.deadline.is_none());
                if let (Some(pos), false, false) =
                    (predecessor, stopping, matches!(report, Report::Ready(_)))
                {
                    // A reload's new process failed to start: keep the old one.
                    self.emit(&Event::Exited {
                        worker: slot.name.clone(),
                        pid,
                        reason,
                        ran_for,
                        restart_in: None,
                    });
                    let error = match report {
                        Report::Failed(m) if !m.is_empty() => m,
                        _ => format!("pid {pid} ended with {reason} before it was ready"),
                    };
                    let old = retiring.remove(pos);
                    let kept_pid = old.run.child.id();
                    slot.running = Some(old.run);
                    slot.next_start = None;
                    self.emit(&Event::ReloadFailed { worker: slot.name.clone(), error, kept_pid });
                    continue;
                }
                if starting && !slot.ever_ready && !stopping && failure.is_none() {
                    let message = match report {
                        Report::Failed(m) if !m.is_empty() => Some(m),
                        _ => None,
                    };
                    let error = match &message {
                        Some(m) => m.clone(),
                        None => format!("ended with {reason} before it was ready"),
                    };
                    self.emit(&Event::Exited {
                        worker: slot.name.clone(),
                        pid,
                        reason,
                        ran_for,
                        restart_in: None,
                    });
                    self.emit(&Event::StartFailed { worker: slot.name.clone(), pid, error });
                    failure = Some(Error::WorkerStart {
                        worker: slot.name.to_string(),
                        pid,
                        exit: reason,
                        message,
                    });
                    continue;
                }
                let restart_in = if stopping || failure.is_some() {
                    None
                } else {
                    let delay = slot.backoff.on_exit(ran_for);
                    slot.next_start = Some(Instant::now() + delay);
                    Some(delay)
                };
                let ev =
                    Event::Exited { worker: slot.name.clone(), pid, reason, ran_for, restart_in };
                self.emit(&ev);
            }
            // Start-up reports of the living.
            for slot in &mut slots {
                if let Some(run) = &mut slot.running {
                    run.ready.pump();
                    if matches!(run.ready.report(), Report::Ready(_)) {
                        slot.ever_ready = true;
                    }
                }
            }
            // Reloads: drain a predecessor once its successor is ready; keep it when
            // there is no successor (its spawn failed).
            if !stopping {
                let now = Instant::now();
                for r in retiring.iter_mut().filter(|r| r.deadline.is_none()) {
                    let successor = slots[r.slot].running.as_ref();
                    if successor.is_some_and(|s| matches!(s.ready.report(), Report::Ready(_))) {
                        let _ = send_signal(r.run.child.id(), Signal::TERM);
                        r.deadline = Some(now + self.config.drain_timeout + KILL_GRACE);
                    }
                }
                for (idx, slot) in slots.iter_mut().enumerate() {
                    if slot.running.is_some() {
                        continue;
                    }
                    let Some(pos) =
                        retiring.iter().rposition(|r| r.slot == idx && r.deadline.is_none())
                    else {
                        continue;
                    };
                    let old = retiring.remove(pos);
                    let kept_pid = old.run.child.id();
                    slot.running = Some(old.run);
                    slot.next_start = None;
                    let error = "the new process could not be started".to_string();
                    self.emit(&Event::ReloadFailed { worker: slot.name.clone(), error, kept_pid });
                }
            }
            if failure.is_some() && stop_deadline.is_none() {
                stop_deadline = Some(self.begin_stop(None, &mut slots, &retiring));
            }
            if starting && stop_deadline.is_none() && slots.iter().all(|s| s.ever_ready) {
                starting = false;
                self.emit(&Event::Ready);
            }
            let mut i = 0;
            while i < retiring.len() {
                match retiring[i].run.child.try_wait() {
                    Ok(Some(status)) => {
                        let r = retiring.swap_remove(i);
                        self.emit(&Event::Exited {
                            worker: r.name,
                            pid: r.run.child.id(),
                            reason: ExitReason::from_status(status),
                            ran_for: r.run.started.elapsed(),
                            restart_in: None,
                        });
                    }
                    _ => i += 1,
                }
            }

            // 3. Deadlines: kill what outlived its drain.
            let now = Instant::now();
            let mut i = 0;
            while i < retiring.len() {
                let due = retiring[i].deadline.is_some_and(|d| now >= d);
                if due || stop_deadline.is_some_and(|d| now >= d) {
                    let mut r = retiring.swap_remove(i);
                    force_killed += 1;
                    self.kill_and_reap(&r.name, &mut r.run);
                } else {
                    i += 1;
                }
            }
            if let Some(deadline) = stop_deadline {
                if now >= deadline {
                    for slot in &mut slots {
                        if let Some(mut run) = slot.running.take() {
                            force_killed += 1;
                            self.kill_and_reap(&slot.name, &mut run);
                        }
                    }
                }
                if slots.iter().all(|s| s.running.is_none()) && retiring.is_empty() {
                    return match failure {
                        Some(e) => Err(e),
                        None => Ok(ShutdownReport { force_killed }),
                    };
                }
            }

            // 4. (Re)start what is due.
            if stop_deadline.is_none() {
                for slot in slots.iter_mut() {
                    if slot.running.is_none()
                        && slot.next_start.is_some_and(|t| t <= Instant::now())
                    {
                        self.start(slot);
                    }
                }
            }

            // 5. Sleep until a signal, a child's death or the next deadline.
            let mut next = Instant::now() + Duration::from_secs(1);
            for slot in &slots {
                if slot.running.is_none() {
                    if let Some(t) = slot.next_start {
                        next = next.min(t);
                    }
                }
            }
            for r in &retiring {
                if let Some(d) = r.deadline {
                    next = next.min(d);
                }
            }
            if let Some(d) = stop_deadline {
                next = next.min(d);
            }
            self.sleep_until(next, &slots);
        }
    }

    /// Starts the graceful stop of the tree; returns the kill deadline.
    fn begin_stop(
        &mut self,
        signal: Option<i32>,
        slots: &mut [Slot],
        retiring: &[Retiring],
    ) -> Instant {
        self.emit(&Event::Stopping { signal });
        self.stopping.stop();
        // Close the master's copy: once the workers close theirs, new connections are
        // refused instead of queueing for nobody.
        self.config.listeners.clear();
        for slot in slots.iter_mut() {
            slot.next_start = None;
            if let Some(run) = &slot.running {
                let _ = send_signal(run.child.id(), Signal::TERM);
            }
        }
        for r in retiring {
            let _ = send_signal(r.run.child.id(), Signal::TERM);
        }
        Instant::now() + self.config.drain_timeout + KILL_GRACE
    }

    fn slots(&self) -> Vec<Slot> {
        let mut slots = Vec::new();
        for id in 0..self.config.rpc_workers {
            slots.push(Slot {
                name: WorkerId::Rpc(id),
                id,
                kind: SlotKind::Rpc,
                running: None,
                next_start: None,
                backoff: Backoff::new(self.config.restart),
                ever_ready: false,
            });
        }
        for g in &self.config.self_groups {
            for id in 0..g.workers {
                slots.push(Slot {
                    name: WorkerId::SelfWorker { group: g.name.clone(), id },
                    id,
                    kind: SlotKind::SelfWorker { group: g.name.clone(), coroutines: g.coroutines },
                    running: None,
                    next_start: None,
                    backoff: Backoff::new(self.config.restart),
                    ever_ready: false,
                });
            }
        }
        slots
    }

    fn install_signals(&self) -> Result<Signals, Error> {
        let signals = Signals {
            term: Arc::new(AtomicBool::new(false)),
            int: Arc::new(AtomicBool::new(false)),
            hup: Arc::new(AtomicBool::new(false)),
        };
        let err = |sig: i32, e| {
            Error::io(format!("install handler for {}", crate::sys::signal_name(sig)), e)
        };
        for (sig, flag) in
            [(SIGTERM, &signals.term), (SIGINT, &signals.int), (SIGHUP, &signals.hup)]
        {
            signal_hook::flag::register(sig, Arc::clone(flag)).map_err(|e| err(sig, e))?;
        }
        for sig in [SIGTERM, SIGINT, SIGHUP, SIGCHLD] {
            let w = self.wake_write.try_clone().map_err(|e| err(sig, e))?;
            signal_hook::low_level::pipe::register(sig, w).map_err(|e| err(sig, e))?;
        }
        Ok(signals)
    }

    fn start(&mut self, slot: &mut Slot) {
        match self.spawn(slot) {
            Ok((child, ready)) => {
                let pid = child.id();
                slot.running = Some(Running { child, started: Instant::now(), ready });
                slot.next_start = None;
                self.emit(&Event::Started { worker: slot.name.clone(), pid });
            }
            Err(e) => {
                let delay = slot.backoff.on_exit(Duration::ZERO);
                slot.next_start = Some(Instant::now() + delay);
                self.emit(&Event::SpawnFailed {
                    worker: slot.name.clone(),
                    error: e.to_string(),
                    restart_in: delay,
                });
            }
        }
    }

    fn spawn(&self, slot: &Slot) -> Result<(Child, ReadyReader), Error> {
        let what = || format!("spawn {}", slot.name);
        let (reader, writer) = ReadyReader::pair(&slot.name.to_string())?;
        // Duplicates of the listeners without close-on-exec, alive only across this
        // spawn, so that only workers inherit them (not every child of this process).
        let mut dups: Vec<(&'static str, OwnedFd)> = Vec::new();
        if slot.kind == SlotKind::Rpc {
            for l in &self.config.listeners {
                dups.push((l.kind(), dup(l).map_err(|e| Error::io(what(), e))?));
            }
        }
        let ready_fd = dup(&writer).map_err(|e| Error::io(what(), e))?;
        drop(writer);
        let fds: Vec<(&'static str, i32)> =
            dups.iter().map(|(k, fd)| (*k, fd.as_raw_fd())).collect();
        let mut args = std::env::args_os();
        let argv0 = args.next().unwrap_or_else(|| OsString::from("svrkit-worker"));
        // /proc/self/exe: the very binary the master runs, even if the file on disk was
        // replaced by a rebuild since.
        let mut cmd = Command::new("/proc/self/exe");
        cmd.arg0(argv0)
            .args(args)
            .envs(worker_env(slot.id, &slot.kind, &fds, ready_fd.as_raw_fd()))
            .stdin(Stdio::null());
        let child = cmd.spawn();
        drop(dups);
        drop(ready_fd);
        Ok((child.map_err(|e| Error::io(what(), e))?, reader))
    }

    fn kill_and_reap(&mut self, name: &WorkerId, run: &mut Running) {
        let pid = run.child.id();
        let _ = run.child.kill();
        let status = run.child.wait();
        self.emit(&Event::ForceKilled { worker: name.clone(), pid });
        if let Ok(status) = status {
            self.emit(&Event::Exited {
                worker: name.clone(),
                pid,
                reason: ExitReason::from_status(status),
                ran_for: run.started.elapsed(),
                restart_in: None,
            });
        }
    }

    fn sleep_until(&mut self, deadline: Instant, slots: &[Slot]) {
        let left = deadline.saturating_duration_since(Instant::now());
        if !left.is_zero() {
            let ts =
                Timespec { tv_sec: left.as_secs() as i64, tv_nsec: i64::from(left.subsec_nanos()) };
            let mut fds = vec![PollFd::new(&self.wake_read, PollFlags::IN)];
            // Start-up reports not yet read wake us too.
            for slot in slots {
                if let Some(fd) = slot.running.as_ref().and_then(|r| r.ready.fd()) {
                    fds.push(PollFd::from_borrowed_fd(fd, PollFlags::IN));
                }
            }
            // EINTR is as good as a wake-up: the loop re-checks everything.
            let _ = poll(&mut fds, Some(&ts));
        }
        let mut buf = [0u8; 64];
        while matches!((&self.wake_read).read(&mut buf), Ok(n) if n > 0) {}
    }

    fn emit(&mut self, ev: &Event) {
        match ev {
            Event::Exited { restart_in: Some(_), .. }
            | Event::ReloadFailed { .. }
            | Event::SpawnFailed { .. }
            | Event::ForceKilled { .. } => log::warn!(target: "svrkit_worker", "{ev}"),
            Event::StartFailed { .. } => log::error!(target: "svrkit_worker", "{ev}"),
            _ => log::info!(target: "svrkit_worker", "{ev}"),
        }
        if let Some(f) = &mut self.on_event {
            f(ev);
        }
    }
}
