//! Roles of a process (master, rpc worker, self worker), told by environment variables
//! the master sets when it re-executes the binary, and the inherited listeners.

use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Error, ReadyNotifier, StopSource, StopToken};

/// `rpc` or `self`; absent in the master.
pub const ENV_ROLE: &str = "SVRKIT_ROLE";
/// The worker's id within its kind (rpc) or group (self), from 0.
pub const ENV_WORKER_ID: &str = "SVRKIT_WORKER_ID";
/// The self_server group of a self worker.
pub const ENV_GROUP: &str = "SVRKIT_GROUP";
/// Concurrent tasks of a `process_coroutine` self worker; 0 for a plain `process` one.
pub const ENV_COROUTINES: &str = "SVRKIT_COROUTINES";
/// Inherited listening sockets of an rpc worker: comma-separated `tcp:FD` / `unix:FD`.
pub const ENV_LISTEN_FDS: &str = "SVRKIT_LISTEN_FDS";
/// Pid of the master, to detect being orphaned at start-up.
pub const ENV_MASTER_PID: &str = "SVRKIT_MASTER_PID";
/// The worker's end of its start-up report socket (see [`crate::ReadyNotifier`]).
pub const ENV_READY_FD: &str = "SVRKIT_READY_FD";

/// A listening socket the master owns and its rpc workers share (one accept queue).
#[derive(Debug)]
pub enum Listener {
    /// A TCP listener.
    Tcp(std::net::TcpListener),
    /// A Unix-domain stream listener.
    Unix(std::os::unix::net::UnixListener),
}

impl Listener {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Listener::Tcp(_) => "tcp",
            Listener::Unix(_) => "unix",
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Listener::Tcp(l) => l.as_fd(),
            Listener::Unix(l) => l.as_fd(),
        }
    }
}

impl From<std::net::TcpListener> for Listener {
    fn from(l: std::net::TcpListener) -> Self {
        Listener::Tcp(l)
    }
}

impl From<std::os::unix::net::UnixListener> for Listener {
    fn from(l: std::os::unix::net::UnixListener) -> Self {
        Listener::Unix(l)
    }
}

/// What this process is, as decided by [`init`].
#[derive(Debug)]
pub enum Role {
    /// Started by the user: parse the config, maybe daemonize, bind, supervise.
    Master,
    /// An rpc worker process started by the master: serve the inherited listeners.
    Rpc(RpcWorker),
    /// A `process` / `process_coroutine` self_server worker started by the master.
    SelfWorker(SelfWorker),
}

/// An rpc worker process: its id, its listeners and its stop token.
#[derive(Debug)]
pub struct RpcWorker {
    id: usize,
    listeners: Vec<Listener>,
    stop: StopToken,
    ready: ReadyNotifier,
}

impl RpcWorker {
    /// The worker's id, `0..rpc_workers`.
    pub fn id(&self) -> usize {
        self.id
    }

    /// The listeners inherited from the master, in the order given to the
    /// [`crate::SupervisorConfig`]. Taken once; later calls return an empty vector.
    pub fn take_listeners(&mut self) -> Vec<Listener> {
        std::mem::take(&mut self.listeners)
    }

    /// Tripped by SIGTERM / SIGINT (the master forwards its stop) or by the master's death:
    /// stop accepting, answer what was accepted, return from main.
    pub fn stop_token(&self) -> StopToken {
        self.stop.clone()
    }

    /// Reports to the master whether this worker came up: call `ready` once it serves
    /// (init done, listeners adopted), or `failed` with the error before exiting. A
    /// worker that exits without reporting ready while the tree starts fails the
    /// start-up (see [`crate::Supervisor::run`]).
    pub fn notifier(&self) -> ReadyNotifier {
        self.ready.clone()
    }
}

/// A self_server worker running in its own process.
#[derive(Debug, Clone)]
pub struct SelfWorker {
    pub(crate) group: String,
    pub(crate) id: usize,
    pub(crate) coroutines: usize,
    pub(crate) stop: StopToken,
    pub(crate) ready: ReadyNotifier,
}

impl SelfWorker {
    /// Describes a self worker; [`init`] builds these from the environment. Public so a
    /// process-type handler can be run in-process (tests, one-process setups).
    pub fn new(group: impl Into<String>, id: usize, coroutines: usize, stop: StopToken) -> Self {
        SelfWorker { group: group.into(), id, coroutines, stop, ready: ReadyNotifier::none() }
    }

    /// The group name (`[self_groupN] group_name`).
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The worker's id within its group, `0..worker_sum`.
    pub fn id(&self) -> usize {
        self.id
    }

    /// `coroutine_sum` for a `process_coroutine` worker, 0 for a `process` worker.
    pub fn coroutines(&self) -> usize {
        self.coroutines
    }

    /// Tripped by SIGTERM / SIGINT or by the master's death.
    pub fn stop_token(&self) -> StopToken {
        self.stop.clone()
    }

    /// Reports start-up to the master. [`crate::run_self_process`] and
    /// [`crate::run_self_coroutines`] report ready before they call the handler; call
    /// `failed` when the worker cannot get that far (its init failed).
    pub fn notifier(&self) -> ReadyNotifier {
        self.ready.clone()
    }
}

static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// Decides this process's role from the environment the master set. Call it first thing
/// in `main`, once, before starting threads.
///
/// In the master (no `SVRKIT_ROLE`) it does nothing else. In a worker it also:
/// arms the parent-death signal (SIGTERM when the master dies, so no worker outlives it),
/// installs SIGTERM/SIGINT handlers that trip the worker's [`StopToken`], ignores SIGHUP
/// (the master handles it), and takes ownership of the inherited listeners.
pub fn init() -> Result<Role, Error> {
    if INITIALIZED.swap(true, Ordering::SeqCst) {
        return Err(Error::AlreadyInitialized);
    }
    let env = |k: &str| std::env::var(k).ok();
    let parsed = parse(env)?;
    let ParsedRole::Worker(w) = parsed else {
        return Ok(Role::Master);
    };
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))
        .map_err(|e| Error::io("arm parent-death signal", e.into()))?;
    // The master may have died between spawning us and the prctl above.
    let ppid = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get() as u32);
    if ppid != w.master_pid {
        return Err(Error::MasterGone { master_pid: w.master_pid });
    }
    let ready = match std::env::var(ENV_READY_FD) {
        Ok(v) => crate::ready::adopt(ENV_READY_FD, &v)?,
        Err(_) => ReadyNotifier::none(),
    };
    let stop = StopSource::new()?;
    stop.stop_on_signals()?;
    // The terminal's hang-up reaches the whole process group; only the master acts on it.
    signal_hook::flag::register(
        signal_hook::consts::SIGHUP,
        std::sync::Arc::new(AtomicBool::new(false)),
    )
    .map_err(|e| Error::io("ignore SIGHUP", e))?;
    Ok(match w.kind {
        WorkerKind::Rpc { fds } => {
            let mut listeners = Vec::with_capacity(fds.len());
            for (kind, fd) in fds {
                let l = adopt_listener(kind, fd).inspect_err(|e| ready.failed(&e.to_string()))?;
                listeners.push(l);
            }
            Role::Rpc(RpcWorker { id: w.id, listeners, stop: stop.token(), ready })
        }
        WorkerKind::SelfWorker { group, coroutines } => {
            Role::SelfWorker(SelfWorker { group, id: w.id, coroutines, stop: stop.token(), ready })
        }
    })
}

/// Whether this process was started by a master as a worker (pure: reads `SVRKIT_ROLE`).
pub fn is_worker_process() -> bool {
    std::env::var_os(ENV_ROLE).is_some()
}

#[derive(Debug, PartialEq, Eq)]
enum ParsedRole {
    Master,
    Worker(ParsedWorker),
}

#[derive(Debug, PartialEq, Eq)]
struct ParsedWorker {
    id: usize,
    master_pid: u32,
    kind: WorkerKind,
}

#[derive(Debug, PartialEq, Eq)]
enum WorkerKind {
    Rpc { fds: Vec<(ListenerKind, RawFd)> },
    SelfWorker { group: String, coroutines: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListenerKind {
    Tcp,
    Unix,
}

fn parse(env: impl Fn(&str) -> Option<String>) -> Result<ParsedRole, Error> {
    let Some(role) = env(ENV_ROLE) else {
        return Ok(ParsedRole::Master);
    };
    let bad = |var: &'static str, value: &str, reason: &str| Error::Env {
        var,
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let required = |var: &'static str| env(var).ok_or_else(|| bad(var, "", "missing"));
    let number = |var: &'static str| -> Result<usize, Error> {
        let v = required(var)?;
        v.parse().map_err(|_| bad(var, &v, "not a number"))
    };
    let id = number(ENV_WORKER_ID)?;
    let master_pid = number(ENV_MASTER_PID)? as u32;
    let kind = match role.as_str() {
        "rpc" => {
            let v = env(ENV_LISTEN_FDS).unwrap_or_default();
            let mut fds = Vec::new();
            for item in v.split(',').filter(|s| !s.is_empty()) {
                let (kind, fd) = item
                    .split_once(':')
                    .ok_or_else(|| bad(ENV_LISTEN_FDS, &v, "expected tcp:FD or unix:FD"))?;
                let kind = match kind {
                    "tcp" => ListenerKind::Tcp,
                    "unix" => ListenerKind::Unix,
                    _ => return Err(bad(ENV_LISTEN_FDS, &v, "kind must be tcp or unix")),
                };
                let fd: RawFd = fd
                    .parse()
                    .ok()
                    .filter(|fd| *fd > 2)
                    .ok_or_else(|| bad(ENV_LISTEN_FDS, &v, "fd must be a number above 2"))?;
                fds.push((kind, fd));
            }
            WorkerKind::Rpc { fds }
        }
        "self" => WorkerKind::SelfWorker {
            group: required(ENV_GROUP)?,
            coroutines: number(ENV_COROUTINES)?,
        },
        _ => return Err(bad(ENV_ROLE, &role, "expected rpc or self")),
    };
    Ok(ParsedRole::Worker(ParsedWorker { id, master_pid, kind }))
}

/// Takes ownership of an inherited listening socket, after checking that `fd` is one.
#[allow(unsafe_code)]
fn adopt_listener(kind: ListenerKind, fd: RawFd) -> Result<Listener, Error> {
    let what = || format!("inherited listener fd {fd}");
    let not_listening = |reason: &str| Error::Env {
        var: ENV_LISTEN_FDS,
        value: fd.to_string(),
        reason: reason.to_string(),
    };
    // Check that the number names an open socket before owning it (a worker started by
    // hand with a stale environment must fail cleanly, not adopt some other file).
    match std::fs::read_link(format!("/proc/self/fd/{fd}")) {
        Ok(target) if target.to_string_lossy().starts_with("socket:") => {}
        Ok(_) => return Err(not_listening("not a socket")),
        Err(_) => return Err(not_listening("not an open descriptor")),
    }
    // SAFETY: the descriptor is open (checked just above) and is a socket the master left
    // open, without close-on-exec, for this process to own: SVRKIT_LISTEN_FDS hands it
    // over. `init` runs once per process (INITIALIZED), so this crate creates no second
    // owner, and nothing else in a freshly exec'd process knows the number.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    if !rustix::net::sockopt::socket_acceptconn(&owned).unwrap_or(false) {
        return Err(not_listening("socket is not listening"));
    }
    // Our own children must not inherit it.
    rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC)
        .map_err(|e| Error::io(what(), e.into()))?;
    Ok(match kind {
        ListenerKind::Tcp => Listener::Tcp(owned.into()),
        ListenerKind::Unix => Listener::Unix(owned.into()),
    })
}

/// The environment of a spawned worker (used by the supervisor).
pub(crate) fn worker_env(
    id: usize,
    kind: &crate::supervisor::SlotKind,
    listener_fds: &[(&'static str, RawFd)],
    ready_fd: RawFd,
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        (ENV_WORKER_ID, id.to_string()),
        (ENV_MASTER_PID, std::process::id().to_string()),
        (ENV_READY_FD, ready_fd.to_string()),
    ];
    match kind {
        crate::supervisor::SlotKind::Rpc => {
            env.push((ENV_ROLE, "rpc".into()));
            let fds: Vec<String> = listener_fds.iter().map(|(k, fd)| format!("{k}:{fd}")).collect();
            env.push((ENV_LISTEN_FDS, fds.join(",")));
        }
        crate::supervisor::SlotKind::SelfWorker { group, coroutines } => {
            env.push((ENV_ROLE, "self".into()));
            env.push((ENV_GROUP, group.clone()));
            env.push((ENV_COROUTINES, coroutines.to_string()));
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse_map(pairs: &[(&str, &str)]) -> Result<ParsedRole, Error> {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse(|k| map.get(k).cloned())
    }

    #[test]
    fn no_role_is_master() {
        assert_eq!(parse_map(&[]).unwrap(), ParsedRole::Master);
    }

    #[test]
    fn rpc_worker_with_two_listeners() {
        let r = parse_map(&[
            (ENV_ROLE, "rpc"),
            (ENV_WORKER_ID, "2"),
            (ENV_MASTER_PID, "77"),
            (ENV_LISTEN_FDS, "tcp:5,unix:9"),
        ])
        .unwrap();
        assert_eq!(
            r,
            ParsedRole::Worker(ParsedWorker {
                id: 2,
                master_pid: 77,
                kind: WorkerKind::Rpc {
                    fds: vec![(ListenerKind::Tcp, 5), (ListenerKind::Unix, 9)]
                }
            })
        );
    }

    #[test]
    fn self_worker() {
        let r = parse_map(&[
            (ENV_ROLE, "self"),
            (ENV_WORKER_ID, "1"),
            (ENV_MASTER_PID, "77"),
            (ENV_GROUP, "event"),
            (ENV_COROUTINES, "3"),
        ])
        .unwrap();
        assert_eq!(
            r,
            ParsedRole::Worker(ParsedWorker {
                id: 1,
                master_pid: 77,
                kind: WorkerKind::SelfWorker { group: "event".into(), coroutines: 3 }
            })
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = parse_map(&[(ENV_ROLE, "rpc"), (ENV_MASTER_PID, "1")]).unwrap_err();
        assert!(e.to_string().contains(ENV_WORKER_ID), "{e}");
        let e = parse_map(&[
            (ENV_ROLE, "rpc"),
            (ENV_WORKER_ID, "0"),
            (ENV_MASTER_PID, "1"),
            (ENV_LISTEN_FDS, "tcp:1"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("above 2"), "{e}");
        let e = parse_map(&[(ENV_ROLE, "boss"), (ENV_WORKER_ID, "0"), (ENV_MASTER_PID, "1")])
            .unwrap_err();
        assert!(e.to_string().contains("rpc or self"), "{e}");
    }
}
