//! Daemon mode and the pid file: detach, write the pid file atomically, and the
//! `start | stop | restart | status` helpers that work on it (stale files detected).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::process::Signal;

use crate::ready::{ReadyReader, Report};
use crate::sys::{argv0_of, exe_of, file_name, is_alive, send_signal, ExitReason};
use crate::{Error, ReadyNotifier};

/// Set in the environment of the detached daemon process: the pid of the process that
/// started it (see [`is_daemon_process`]).
pub const ENV_DAEMON: &str = "SVRKIT_DAEMON";
/// The daemon's end of its start-up report socket (see [`ReadyNotifier`]).
pub const ENV_DAEMON_READY_FD: &str = "SVRKIT_DAEMON_READY_FD";

/// The pid file of a service (`[app] pid`), and which program counts as "the service"
/// when deciding whether the pid it names is still ours.
#[derive(Debug, Clone)]
pub struct PidFile {
    path: PathBuf,
    program: Program,
}

/// Which program counts as the service.
#[derive(Debug, Clone)]
enum Program {
    /// This executable.
    ThisOne,
    /// The executable at this (canonical) path.
    Path(PathBuf),
    /// Any executable with this file name (a build in target/debug or target/release).
    Named(std::ffi::OsString),
}

/// What a pid file says about the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PidStatus {
    /// No pid file: not running.
    Missing,
    /// The pid names a live process running the service's program.
    Running {
        /// Its pid.
        pid: u32,
    },
    /// The pid file is left over from a process that is gone (or reused).
    Stale {
        /// The pid it names, if it parses.
        pid: Option<u32>,
        /// Why it is stale.
        reason: StaleReason,
    },
}

/// Why a pid file is stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaleReason {
    /// Its content is not a pid.
    Garbage(String),
    /// No such process (or a zombie).
    NoProcess,
    /// The pid was reused by a different program.
    OtherProgram {
        /// What that process runs.
        exe: String,
    },
}

impl fmt::Display for PidStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PidStatus::Missing => f.write_str("not running"),
            PidStatus::Running { pid } => write!(f, "running (pid {pid})"),
            PidStatus::Stale { pid, reason } => {
                f.write_str("not running (stale pid file")?;
                if let Some(pid) = pid {
                    write!(f, ": pid {pid}")?;
                }
                match reason {
                    StaleReason::Garbage(s) => write!(f, " unparseable content {s:?})"),
                    StaleReason::NoProcess => f.write_str(" is gone)"),
                    StaleReason::OtherProgram { exe } => write!(f, " now runs {exe})"),
                }
            }
        }
    }
}

/// What a running service looks like from outside: for `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessInfo {
    /// How long the master has run (`None` if `/proc` does not say).
    pub uptime: Option<Duration>,
    /// Pids of its rpc worker processes.
    pub rpc_workers: Vec<u32>,
    /// Pids of its self worker processes.
    pub self_workers: Vec<u32>,
}

impl ProcessInfo {
    /// Looks at the process `pid` (a master) and its worker children in `/proc`.
    pub fn of(pid: u32) -> ProcessInfo {
        let mut info = ProcessInfo {
            uptime: crate::sys::uptime_of(pid),
            rpc_workers: Vec::new(),
            self_workers: Vec::new(),
        };
        for (child, role) in crate::sys::worker_children(pid) {
            match role.as_str() {
                "rpc" => info.rpc_workers.push(child),
                "self" => info.self_workers.push(child),
                _ => {}
            }
        }
        info
    }
}

/// `up 2h 5m; 4 rpc workers, 2 self workers` (worker counts only when there are any).
impl fmt::Display for ProcessInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(up) = self.uptime {
            let s = up.as_secs();
            let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
            f.write_str("up ")?;
            if d > 0 {
                write!(f, "{d}d {h}h")?;
            } else if h > 0 {
                write!(f, "{h}h {m}m")?;
            } else if m > 0 {
                write!(f, "{m}m {s}s")?;
            } else {
                write!(f, "{s}s")?;
            }
            sep = "; ";
        }
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let (r, s) = (self.rpc_workers.len(), self.self_workers.len());
        match (r, s) {
            (0, 0) => Ok(()),
            (r, 0) => write!(f, "{sep}{r} rpc worker{}", plural(r)),
            (0, s) => write!(f, "{sep}{s} self worker{}", plural(s)),
            (r, s) => write!(f, "{sep}{r} rpc worker{}, {s} self worker{}", plural(r), plural(s)),
        }
    }
}

impl PidStatus {
    /// The text of `status`: like `Display`, plus the uptime and worker processes of a
    /// running service (`running (pid 7; up 2m 5s; 4 rpc workers)`, see
    /// [`ProcessInfo`]).
    pub fn with_details(&self) -> String {
        match self {
            PidStatus::Running { pid } => {
                let info = ProcessInfo::of(*pid).to_string();
                if info.is_empty() {
                    self.to_string()
                } else {
                    format!("running (pid {pid}; {info})")
                }
            }
            other => other.to_string(),
        }
    }

    /// The LSB init-script exit code of `status`: 0 running, 1 stale pid file,
    /// 3 not running.
    pub fn lsb_exit_code(&self) -> u8 {
        match self {
            PidStatus::Running { .. } => 0,
            PidStatus::Stale { .. } => 1,
            PidStatus::Missing => 3,
        }
    }
}

impl PidFile {
    /// The pid file at `path`; "the service" is a process whose executable has this
    /// executable's file name (any build or copy of it: `target/debug/echo` stops what
    /// `target/release/echo` started, and a redeployed binary stops the running one).
    pub fn new(path: impl Into<PathBuf>) -> PidFile {
        PidFile { path: path.into(), program: Program::ThisOne }
    }

    /// Counts a process as the service when it runs `exe` (for tools like
    /// `cargo svrkit stop` that are not the server binary themselves).
    pub fn with_program(mut self, exe: impl Into<PathBuf>) -> PidFile {
        let exe = exe.into();
        self.program = Program::Path(std::fs::canonicalize(&exe).unwrap_or(exe));
        self
    }

    /// Counts a process as the service when its executable's file name is `name`
    /// (`cargo svrkit stop` knows the package's binary name, not which build of it, debug
    /// or release, runs).
    pub fn with_program_name(mut self, name: impl Into<std::ffi::OsString>) -> PidFile {
        self.program = Program::Named(name.into());
        self
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The exact executable expected (`with_program`), or the file name any build of it
    /// has (this executable's, or `with_program_name`'s).
    fn expected_program(&self) -> (Option<PathBuf>, Option<std::ffi::OsString>) {
        match &self.program {
            Program::ThisOne => {
                (None, exe_of("self").and_then(|e| file_name(&e).map(ToOwned::to_owned)))
            }
            Program::Path(p) => (Some(p.clone()), file_name(p).map(ToOwned::to_owned)),
            Program::Named(n) => (None, Some(n.clone())),
        }
    }

    /// Reads the pid file and checks the process it names.
    pub fn status(&self) -> Result<PidStatus, Error> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(PidStatus::Missing),
            Err(e) => return Err(Error::io(format!("read pid file {}", self.path.display()), e)),
        };
        let Ok(pid) = text.trim().parse::<u32>() else {
            return Ok(PidStatus::Stale {
                pid: None,
                reason: StaleReason::Garbage(text.chars().take(40).collect()),
            });
        };
        if pid == 0 || !is_alive(pid) {
            return Ok(PidStatus::Stale { pid: Some(pid), reason: StaleReason::NoProcess });
        }
        let (expected, expected_name) = self.expected_program();
        let Some(expected_name) = expected_name.as_deref() else {
            return Ok(PidStatus::Running { pid });
        };
        let same = match exe_of(&pid.to_string()) {
            Some(exe) => {
                let ok = match &expected {
                    Some(expected) => exe == *expected,
                    None => file_name(&exe) == Some(expected_name),
                };
                if ok {
                    Ok(())
                } else {
                    Err(exe.display().to_string())
                }
            }
            // Another user's process: /proc/PID/exe is unreadable, cmdline is not.
            None => match argv0_of(pid) {
                Some(argv0) if file_name(Path::new(&argv0)) == Some(expected_name) => Ok(()),
                Some(argv0) => Err(argv0),
                None => Ok(()),
            },
        };
        Ok(match same {
            Ok(()) => PidStatus::Running { pid },
            Err(exe) => {
                PidStatus::Stale { pid: Some(pid), reason: StaleReason::OtherProgram { exe } }
            }
        })
    }

    /// Claims the pid file for this process: fails with [`Error::AlreadyRunning`] if a
    /// live instance holds it, replaces a stale one, and writes atomically (a reader
    /// never sees a partial file; two racing starters cannot both win). The guard
    /// removes the file when dropped (if it still names this process).
    pub fn acquire(&self) -> Result<PidFileGuard, Error> {
        let pid = std::process::id();
        let what = |op: &str| format!("{op} pid file {}", self.path.display());
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(what("create folder of"), e))?;
        }
        let tmp = self.path.with_file_name(format!(
            ".{}.{pid}.tmp",
            self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        ));
        {
            let mut f = File::create(&tmp).map_err(|e| Error::io(what("write"), e))?;
            writeln!(f, "{pid}")
                .and_then(|()| f.sync_all())
                .map_err(|e| Error::io(what("write"), e))?;
        }
        let result = (|| {
            for _ in 0..3 {
                // link(2) is atomic and refuses to replace: the exclusive "create with
                // content" that rename(2) is not.
                match std::fs::hard_link(&tmp, &self.path) {
                    Ok(()) => return Ok(PidFileGuard { path: self.path.clone(), pid }),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(Error::io(what("write"), e)),
                }
                match self.status()? {
                    PidStatus::Running { pid: other } => {
                        return Err(Error::AlreadyRunning {
                            pid_file: self.path.clone(),
                            pid: other,
                        })
                    }
                    status @ PidStatus::Stale { .. } => {
                        log::warn!(target: "svrkit_worker", "{}: {status}; replacing it", self.path.display());
                        remove_if_unchanged(&self.path, &status)?;
                    }
                    PidStatus::Missing => {}
                }
            }
            Err(Error::io(
                what("claim"),
                std::io::Error::other("another process keeps recreating it"),
            ))
        })();
        let _ = std::fs::remove_file(&tmp);
        result
    }
}

/// Removes the stale pid file unless another process rewrote it meanwhile.
fn remove_if_unchanged(path: &Path, seen: &PidStatus) -> Result<(), Error> {
    let pid_then = match seen {
        PidStatus::Stale { pid, .. } => *pid,
        _ => return Ok(()),
    };
    let now = std::fs::read_to_string(path).ok();
    let pid_now = now.as_deref().and_then(|t| t.trim().parse::<u32>().ok());
    if now.is_some() && pid_now == pid_then {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::io(format!("remove stale pid file {}", path.display()), e))
            }
        }
    }
    Ok(())
}

/// Holds the pid file; removes it on drop if it still names this process. (Drops do
/// not run on `std::process::exit`: return from `main` instead.)
#[derive(Debug)]
pub struct PidFileGuard {
    path: PathBuf,
    pid: u32,
}

impl PidFileGuard {
    /// The pid written (this process).
    pub fn pid(&self) -> u32 {
        self.pid
    }
}

impl Drop for PidFileGuard {
    fn drop(&mut self) {
        let ours =
            std::fs::read_to_string(&self.path).ok().and_then(|t| t.trim().parse::<u32>().ok())
                == Some(self.pid);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// How to detach.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// The pid file the daemon claims (`[app] pid`).
    pub pid_file: PidFile,
    /// Where the daemon's stdout and stderr go (appended); `/dev/null` when `None`.
    pub log_file: Option<PathBuf>,
    /// How long the starting process waits for the daemon to report ready (or failed)
    /// through its [`ReadyNotifier`]. A daemon not ready by then is stopped (SIGTERM,
    /// then SIGKILL to its process group) and the start fails.
    pub ready_timeout: Duration,
}

impl DaemonConfig {
    /// Detach with this pid file, output to `/dev/null`, 60 s to come up.
    pub fn new(pid_file: PidFile) -> DaemonConfig {
        DaemonConfig { pid_file, log_file: None, ready_timeout: Duration::from_secs(60) }
    }
}

/// Which side of [`daemonize`] this process is on.
#[derive(Debug)]
#[must_use]
pub enum Daemonized {
    /// The process the user started: the daemon reported ready; exit 0.
    Parent {
        /// The daemon's pid (also in the pid file).
        pid: u32,
        /// What the daemon said with its ready report ("listening on ...").
        detail: String,
    },
    /// The daemon: carry on as the master, holding the pid file; report through
    /// `ready` once serving, or with the error that stops the start.
    Daemon {
        /// The claimed pid file (removed when dropped).
        pid_file: PidFileGuard,
        /// The starting process waits on it: call [`ReadyNotifier::ready`] once the
        /// service serves (listeners bound, init done, workers up) or
        /// [`ReadyNotifier::failed`] with the error before exiting.
        ready: ReadyNotifier,
    },
}

/// Whether this process is the daemon a [`daemonize`] call started (it then returns
/// [`Daemonized::Daemon`]). Checked against the parent's pid, so a program the daemon
/// starts does not take itself for the daemon through the inherited environment.
pub fn is_daemon_process() -> bool {
    static IS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *IS.get_or_init(|| {
        let Some(v) = std::env::var_os(ENV_DAEMON) else { return false };
        let ppid = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get() as u32);
        v.to_str().and_then(|v| v.parse::<u32>().ok()) == Some(ppid)
    })
}

/// Detaches the service: call it in the master, before starting any thread.
///
/// The process the user started re-executes this binary with the same arguments and
/// `SVRKIT_DAEMON=<its pid>`, stdin from `/dev/null`, stdout/stderr to the log file, and
/// an inherited socket on which the daemon reports once: ready (it serves) or failed
/// (why not). The starter returns [`Daemonized::Parent`] on the ready report and
/// [`Error::DaemonStart`] with the daemon's error, its exit status when it died
/// without a word, or the timeout (then it stops the daemon), so a `start` that
/// succeeds means a server that answers. The daemon calls `setsid()` (new session, no
/// controlling terminal) and claims the pid file. The working directory is kept, so
/// relative paths in the arguments (`-c echo_svr.conf`) mean the same to the daemon.
pub fn daemonize(config: &DaemonConfig) -> Result<Daemonized, Error> {
    if is_daemon_process() {
        let ready = match std::env::var(ENV_DAEMON_READY_FD) {
            Ok(v) => crate::ready::adopt(ENV_DAEMON_READY_FD, &v)?,
            Err(_) => ReadyNotifier::none(),
        };
        let claimed = rustix::process::setsid()
            .map_err(|e| Error::io("setsid", e.into()))
            .and_then(|_| config.pid_file.acquire());
        return match claimed {
            Ok(pid_file) => Ok(Daemonized::Daemon { pid_file, ready }),
            Err(e) => {
                ready.failed(&e.to_string());
                Err(e)
            }
        };
    }
    let pid_file = &config.pid_file;
    match pid_file.status()? {
        PidStatus::Running { pid } => {
            return Err(Error::AlreadyRunning { pid_file: pid_file.path.clone(), pid })
        }
        PidStatus::Stale { .. } | PidStatus::Missing => {}
    }
    let (out, err) = match &config.log_file {
        Some(path) => {
            // Its folder may not exist yet (the pid file's is created when claimed).
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    Error::io(format!("create folder of log file {}", path.display()), e)
                })?;
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| Error::io(format!("open log file {}", path.display()), e))?;
            let f2 = f
                .try_clone()
                .map_err(|e| Error::io(format!("open log file {}", path.display()), e))?;
            (Stdio::from(f), Stdio::from(f2))
        }
        None => (Stdio::null(), Stdio::null()),
    };
    let (mut reader, writer) = ReadyReader::pair("the daemon")?;
    // Without close-on-exec, alive only across the spawn: only the daemon inherits it.
    let inherited =
        rustix::io::dup(&writer).map_err(|e| Error::io("spawn the daemon", e.into()))?;
    drop(writer);
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let spawned = Command::new("/proc/self/exe")
        .arg0(argv0)
        .args(args)
        .env(ENV_DAEMON, std::process::id().to_string())
        .env(ENV_DAEMON_READY_FD, inherited.as_raw_fd().to_string())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn();
    drop(inherited);
    let mut child = spawned.map_err(|e| Error::io("spawn the daemon", e))?;
    let fail = |reason: String| Error::DaemonStart {
        pid_file: pid_file.path.clone(),
        reason,
        log_file: config.log_file.clone(),
    };
    let deadline = Instant::now() + config.ready_timeout;
    loop {
        let closed = reader.pump();
        match reader.report() {
            // The report is complete once the daemon closed its end (right after writing).
            Report::Ready(detail) if closed => {
                return Ok(Daemonized::Parent { pid: child.id(), detail })
            }
            Report::Failed(error) if closed => {
                // It exits on its own now; wait (bounded) so the pid file is gone and a
                // retry can start at once.
                finish(&mut child, pid_file, Duration::from_secs(5));
                return Err(fail(error));
            }
            _ => {}
        }
        if closed {
            // Closed without a word: it died (panic, signal) or dropped its notifier.
            let reason = match wait_exit(&mut child, Duration::from_secs(2)) {
                Some(reason) => format!("exited with {reason} before it was ready"),
                None => {
                    finish(&mut child, pid_file, Duration::ZERO);
                    "closed its start-up report without a word; stopped it".to_string()
                }
            };
            return Err(fail(reason));
        }
        let now = Instant::now();
        if now >= deadline {
            if let Report::Ready(detail) = reader.report() {
                // Ready, though its end is still open somewhere: take its word.
                return Ok(Daemonized::Parent { pid: child.id(), detail });
            }
            finish(&mut child, pid_file, Duration::ZERO);
            return Err(fail(format!(
                "not ready after {:.0}s; stopped it",
                config.ready_timeout.as_secs_f64()
            )));
        }
        let left = (deadline - now).min(Duration::from_millis(500));
        let ts =
            Timespec { tv_sec: left.as_secs() as i64, tv_nsec: i64::from(left.subsec_nanos()) };
        if let Some(fd) = reader.fd() {
            let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
            let _ = poll(&mut fds, Some(&ts));
        }
    }
}

/// Waits up to `timeout` for `child` to exit; its exit reason if it did.
fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitReason> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(ExitReason::from_status(status));
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Lets a failed daemon exit for `grace`, then stops it: SIGTERM (a graceful stop of the
/// tree), and SIGKILL to its whole process group (its session: the workers too) if it
/// is still there after [`KILL_GRACE`](crate::KILL_GRACE) + 2 s. Removes a pid file it
/// left behind.
fn finish(child: &mut Child, pid_file: &PidFile, grace: Duration) {
    let pid = child.id();
    if wait_exit(child, grace).is_none() {
        let _ = send_signal(pid, Signal::TERM);
        if wait_exit(child, crate::KILL_GRACE + Duration::from_secs(2)).is_none() {
            if let Some(p) = crate::sys::pid_of(pid) {
                let _ = rustix::process::kill_process_group(p, Signal::KILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    let left =
        std::fs::read_to_string(&pid_file.path).ok().and_then(|t| t.trim().parse::<u32>().ok());
    if left == Some(pid) {
        let _ = std::fs::remove_file(&pid_file.path);
    }
}

/// What [`stop`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopOutcome {
    /// The service was running and has exited.
    Stopped {
        /// Its pid.
        pid: u32,
    },
    /// There was no pid file.
    NotRunning,
    /// The pid file was stale; it was removed.
    Stale(PidStatus),
}

/// Stops the service named by the pid file: SIGTERM, then waits up to `timeout` for the
/// process to exit (the master drains its workers meanwhile). A stale pid file is
/// removed and reported. Fails with [`Error::StopTimedOut`] if the process outlives the
/// timeout (nothing is killed: that is the caller's call).
pub fn stop(pid_file: &PidFile, timeout: Duration) -> Result<StopOutcome, Error> {
    let status = pid_file.status()?;
    let pid = match status {
        PidStatus::Missing => return Ok(StopOutcome::NotRunning),
        PidStatus::Stale { .. } => {
            remove_if_unchanged(&pid_file.path, &status)?;
            return Ok(StopOutcome::Stale(status));
        }
        PidStatus::Running { pid } => pid,
    };
    send_signal(pid, Signal::TERM).map_err(|e| Error::io(format!("send SIGTERM to {pid}"), e))?;
    let start = Instant::now();
    while is_alive(pid) {
        if start.elapsed() >= timeout {
            return Err(Error::StopTimedOut { pid, waited: start.elapsed() });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // A clean exit removed the file; a crash left it behind.
    let left =
        std::fs::read_to_string(&pid_file.path).ok().and_then(|t| t.trim().parse::<u32>().ok());
    if left == Some(pid) {
        let _ = std::fs::remove_file(&pid_file.path);
    }
    Ok(StopOutcome::Stopped { pid })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("svrkit-worker-unit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn acquire_writes_pid_then_guard_removes_it() {
        let dir = temp_dir("acquire");
        let pf = PidFile::new(dir.join("run/app.pid"));
        assert_eq!(pf.status().unwrap(), PidStatus::Missing);
        let guard = pf.acquire().unwrap();
        let text = std::fs::read_to_string(pf.path()).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
        assert_eq!(pf.status().unwrap(), PidStatus::Running { pid: std::process::id() });
        // A second claim while we run is refused, naming us.
        match pf.acquire() {
            Err(Error::AlreadyRunning { pid, .. }) => assert_eq!(pid, std::process::id()),
            other => panic!("expected AlreadyRunning, got {other:?}"),
        }
        drop(guard);
        assert!(!pf.path().exists());
        // No temp files left behind.
        assert_eq!(std::fs::read_dir(dir.join("run")).unwrap().count(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn garbage_and_dead_pids_are_stale_and_replaced() {
        let dir = temp_dir("stale");
        let pf = PidFile::new(dir.join("app.pid"));
        std::fs::write(pf.path(), "hello\n").unwrap();
        assert!(matches!(
            pf.status().unwrap(),
            PidStatus::Stale { pid: None, reason: StaleReason::Garbage(_) }
        ));
        let mut child = Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        std::fs::write(pf.path(), format!("{dead}\n")).unwrap();
        let status = pf.status().unwrap();
        assert_eq!(status, PidStatus::Stale { pid: Some(dead), reason: StaleReason::NoProcess });
        assert_eq!(status.lsb_exit_code(), 1);
        let guard = pf.acquire().unwrap();
        assert_eq!(
            std::fs::read_to_string(pf.path()).unwrap().trim(),
            std::process::id().to_string()
        );
        drop(guard);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn live_pid_of_another_program_is_stale() {
        let dir = temp_dir("reused");
        let pf = PidFile::new(dir.join("app.pid"));
        let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
        std::fs::write(pf.path(), format!("{}\n", sleeper.id())).unwrap();
        let status = pf.status();
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        match status.unwrap() {
            PidStatus::Stale { reason: StaleReason::OtherProgram { exe }, .. } => {
                assert!(exe.contains("sleep"), "{exe}")
            }
            other => panic!("expected OtherProgram, got {other:?}"),
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn with_program_name_matches_any_build_of_the_binary() {
        let dir = temp_dir("program-name");
        let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
        let pf = PidFile::new(dir.join("app.pid")).with_program_name("sleep");
        let other = PidFile::new(dir.join("app.pid")).with_program_name("echo");
        std::fs::write(pf.path(), format!("{}\n", sleeper.id())).unwrap();
        let (status, other) = (pf.status(), other.status());
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        assert_eq!(status.unwrap(), PidStatus::Running { pid: sleeper.id() });
        assert!(
            matches!(
                other.unwrap(),
                PidStatus::Stale { reason: StaleReason::OtherProgram { .. }, .. }
            ),
            "a process of another name is not the service"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn process_info_of_a_live_process_and_its_text() {
        let me = ProcessInfo::of(std::process::id());
        assert!(me.uptime.is_some_and(|u| u < Duration::from_secs(3600)), "{me:?}");
        assert!(me.rpc_workers.is_empty() && me.self_workers.is_empty());
        let info = |secs: Option<u64>, r: usize, s: usize| ProcessInfo {
            uptime: secs.map(Duration::from_secs),
            rpc_workers: (0..r as u32).collect(),
            self_workers: (0..s as u32).collect(),
        };
        assert_eq!(info(Some(5), 0, 0).to_string(), "up 5s");
        assert_eq!(info(Some(125), 1, 0).to_string(), "up 2m 5s; 1 rpc worker");
        assert_eq!(info(Some(7500), 4, 2).to_string(), "up 2h 5m; 4 rpc workers, 2 self workers");
        assert_eq!(info(Some(90_000), 0, 3).to_string(), "up 1d 1h; 3 self workers");
        assert_eq!(info(None, 2, 0).to_string(), "2 rpc workers");
    }

    #[test]
    fn with_program_names_the_service_binary() {
        let dir = temp_dir("program");
        let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
        let exe = exe_of(&sleeper.id().to_string()).unwrap();
        let pf = PidFile::new(dir.join("app.pid")).with_program(&exe);
        std::fs::write(pf.path(), format!("{}\n", sleeper.id())).unwrap();
        let status = pf.status();
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        assert_eq!(status.unwrap(), PidStatus::Running { pid: sleeper.id() });
        std::fs::remove_dir_all(dir).unwrap();
    }
}
