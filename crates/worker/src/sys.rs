//! Small OS helpers: signal names, exit reasons, `/proc` look-ups, sending signals.

use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

use rustix::process::{Pid, Signal};

/// The conventional name of a signal number ("SIGKILL"), or "signal N".
pub(crate) fn signal_name(sig: i32) -> String {
    let name = match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        17 => "SIGCHLD",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        31 => "SIGSYS",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

/// Why a child process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    /// It called `exit(code)` (or returned from `main`).
    Code(i32),
    /// A signal killed it.
    Signal {
        /// The signal number (9 for SIGKILL).
        signal: i32,
        /// Whether it dumped core.
        core_dumped: bool,
    },
}

impl ExitReason {
    pub(crate) fn from_status(status: ExitStatus) -> ExitReason {
        match (status.code(), status.signal()) {
            (Some(code), _) => ExitReason::Code(code),
            (None, Some(signal)) => {
                ExitReason::Signal { signal, core_dumped: status.core_dumped() }
            }
            // Stopped/continued statuses are never returned by wait without WUNTRACED.
            (None, None) => ExitReason::Code(-1),
        }
    }

    /// The signal that killed the process, if any.
    pub fn signal(&self) -> Option<i32> {
        match self {
            ExitReason::Signal { signal, .. } => Some(*signal),
            ExitReason::Code(_) => None,
        }
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Code(code) => write!(f, "exit code {code}"),
            ExitReason::Signal { signal, core_dumped } => {
                write!(f, "killed by signal {signal} ({})", signal_name(*signal))?;
                if *core_dumped {
                    f.write_str(", core dumped")?;
                }
                Ok(())
            }
        }
    }
}

pub(crate) fn pid_of(pid: u32) -> Option<Pid> {
    i32::try_from(pid).ok().and_then(Pid::from_raw)
}

/// Sends `sig` to `pid`; a process that is already gone is not an error.
pub(crate) fn send_signal(pid: u32, sig: Signal) -> std::io::Result<()> {
    let Some(pid) = pid_of(pid) else {
        return Ok(());
    };
    match rustix::process::kill_process(pid, sig) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Whether `pid` names a live process (zombies count as dead: they only wait to be reaped).
pub(crate) fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the parenthesised command name.
        Ok(stat) => match stat.rfind(')') {
            Some(i) => !matches!(stat[i + 1..].trim_start().chars().next(), Some('Z' | 'X')),
            None => true,
        },
        Err(_) => false,
    }
}

/// The executable of `pid`, without the " (deleted)" suffix a replaced binary gets.
pub(crate) fn exe_of(pid: &str) -> Option<PathBuf> {
    let link = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let s = link.to_string_lossy();
    Some(match s.strip_suffix(" (deleted)") {
        Some(stripped) => PathBuf::from(stripped),
        None => link,
    })
}

/// argv\[0\] of `pid`.
pub(crate) fn argv0_of(pid: u32) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let first = cmdline.split(|b| *b == 0).next()?;
    Some(String::from_utf8_lossy(first).into_owned())
}

pub(crate) fn file_name(p: &Path) -> Option<&std::ffi::OsStr> {
    p.file_name()
}

/// How long `pid` has been running, from `/proc/PID/stat` (start time in clock ticks
/// after boot) and `/proc/uptime`.
pub(crate) fn uptime_of(pid: u32) -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state is field 3, starttime field 22.
    let rest = &stat[stat.rfind(')')? + 1..];
    let start_ticks: u64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let boot: f64 =
        std::fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse().ok()?;
    let ticks = rustix::param::clock_ticks_per_second().max(1);
    let started = start_ticks as f64 / ticks as f64;
    Some(std::time::Duration::from_secs_f64((boot - started).max(0.0)))
}

/// Live children of `pid` with their `SVRKIT_ROLE` (`rpc` / `self`; empty when unset).
pub(crate) fn worker_children(pid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else { return out };
    for e in rd.flatten() {
        let Some(child) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else { continue };
        let Some(i) = stat.rfind(')') else { continue };
        let fields: Vec<&str> = stat[i + 1..].split_whitespace().collect();
        if fields.len() < 2 || matches!(fields[0], "Z" | "X") || fields[1] != pid.to_string() {
            continue;
        }
        let env = std::fs::read(format!("/proc/{child}/environ")).unwrap_or_default();
        let role = env
            .split(|b| *b == 0)
            .find_map(|kv| kv.strip_prefix(b"SVRKIT_ROLE="))
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        out.push((child, role));
    }
    out.sort();
    out
}
