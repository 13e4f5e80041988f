//! The crate's one error type.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong in svrkit-worker, with the context needed to act on it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An OS call failed; `what` says which and on what.
    Io {
        /// What was being done ("spawn rpc#2", "write pid file /run/echo.pid", ...).
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// A `SVRKIT_*` environment variable set by the master holds a value this process
    /// cannot use (a worker started by hand, or by a different svrkit version).
    Env {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// [`crate::init`] was called twice in one process.
    AlreadyInitialized,
    /// The master that started this worker is gone (the worker was orphaned before it
    /// could arm its parent-death signal).
    MasterGone {
        /// The pid the worker was started by.
        master_pid: u32,
    },
    /// A live process already holds the pid file.
    AlreadyRunning {
        /// The pid file.
        pid_file: PathBuf,
        /// The pid it names, which is alive and runs this program.
        pid: u32,
    },
    /// The detached daemon did not come up: it reported a start-up failure, exited, or
    /// was not ready in time (then it was stopped).
    DaemonStart {
        /// The pid file it was to write.
        pid_file: PathBuf,
        /// What happened: the daemon's own error ("cannot listen on 0.0.0.0:3000:
        /// Address already in use"), "exited with exit code 1 before it was ready", ...
        reason: String,
        /// Where its output went, to read why.
        log_file: Option<PathBuf>,
    },
    /// A worker process ended before it reported ready while the tree was starting
    /// (say, its init hook failed): [`crate::Supervisor::run`] stopped the other workers
    /// and returns this instead of restarting it forever.
    WorkerStart {
        /// Which worker (`rpc#0`, `self:event#1`).
        worker: String,
        /// Its pid.
        pid: u32,
        /// How it ended.
        exit: crate::ExitReason,
        /// The error it reported, if it reported one.
        message: Option<String>,
    },
    /// A stop request was sent but the process outlived the timeout.
    StopTimedOut {
        /// The process that is still alive.
        pid: u32,
        /// How long we waited after SIGTERM.
        waited: Duration,
    },
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Error {
        Error::Io { what: what.into(), source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { what, source } => write!(f, "{what}: {source}"),
            Error::Env { var, value, reason } => {
                write!(f, "environment variable {var}={value:?}: {reason}")
            }
            Error::AlreadyInitialized => {
                f.write_str("svrkit_worker::init() called twice in one process")
            }
            Error::MasterGone { master_pid } => {
                write!(f, "the master process {master_pid} that started this worker is gone")
            }
            Error::AlreadyRunning { pid_file, pid } => {
                write!(f, "already running as pid {pid} (pid file {})", pid_file.display())
            }
            Error::DaemonStart { pid_file: _, reason, log_file } => {
                write!(f, "did not start: {reason}")?;
                if let Some(log) = log_file {
                    write!(f, " (log: {})", log.display())?;
                }
                Ok(())
            }
            Error::WorkerStart { worker, pid, exit, message } => match message {
                Some(m) => write!(f, "{worker} (pid {pid}) failed to start: {m}"),
                None => write!(f, "{worker} (pid {pid}) ended with {exit} before it was ready"),
            },
            Error::StopTimedOut { pid, waited } => {
                write!(f, "process {pid} still alive {:.1}s after SIGTERM", waited.as_secs_f64())
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
