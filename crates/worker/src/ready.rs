//! Start-up readiness: a socket inherited from the starting process, on which a daemon
//! or a worker reports once whether it came up ("ready") or why it did not ("failed").
//!
//! The wire format is one report per socket: `R` + detail or `F` + error text (UTF-8),
//! then the writer closes its end. The reader reads to end-of-file. A writer that dies
//! without reporting shows up as end-of-file with nothing read.

use std::io::{Read, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

use crate::Error;

/// Tells the process that started this one (the `start` command for a daemon, the
/// master for a worker) whether start-up succeeded. The first report wins; later ones
/// are ignored. Cheap to clone (clones share the one report). A notifier nobody waits
/// on ([`ReadyNotifier::none`]) ignores reports.
#[derive(Debug, Clone, Default)]
pub struct ReadyNotifier {
    stream: Arc<Mutex<Option<UnixStream>>>,
}

impl ReadyNotifier {
    /// A notifier that reports to nobody (a foreground master, an in-process test).
    pub fn none() -> ReadyNotifier {
        ReadyNotifier::default()
    }

    pub(crate) fn from_stream(stream: UnixStream) -> ReadyNotifier {
        ReadyNotifier { stream: Arc::new(Mutex::new(Some(stream))) }
    }

    /// Whether a report is still awaited by someone.
    pub fn is_pending(&self) -> bool {
        self.stream.lock().map(|s| s.is_some()).unwrap_or(false)
    }

    /// Reports success, with a short `detail` the starter may show ("listening on
    /// 127.0.0.1:3000"). Call it once serving: listeners bound, init done.
    pub fn ready(&self, detail: &str) {
        self.report(b'R', detail);
    }

    /// Reports that start-up failed with `error` (shown to the user by the starter).
    pub fn failed(&self, error: &str) {
        self.report(b'F', error);
    }

    fn report(&self, kind: u8, text: &str) {
        let Ok(mut guard) = self.stream.lock() else { return };
        if let Some(mut s) = guard.take() {
            let mut msg = Vec::with_capacity(text.len() + 1);
            msg.push(kind);
            msg.extend_from_slice(text.as_bytes());
            // The starter may be gone (it timed out); nothing to do about it then.
            let _ = s.write_all(&msg);
        }
    }
}

/// What a starter read from a readiness socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Report {
    /// Nothing yet (or the writer closed without reporting, when `closed`).
    None,
    Ready(String),
    Failed(String),
}

/// The starter's end: accumulates bytes until end-of-file (non-blocking reads).
#[derive(Debug)]
pub(crate) struct ReadyReader {
    stream: Option<UnixStream>,
    buf: Vec<u8>,
}

impl ReadyReader {
    /// A connected pair: the reader (non-blocking, close-on-exec) and the writer's end,
    /// close-on-exec too (dup it without close-on-exec only across the spawn).
    pub(crate) fn pair(what: &str) -> Result<(ReadyReader, UnixStream), Error> {
        let (read, write) = UnixStream::pair()
            .map_err(|e| Error::io(format!("create readiness socket for {what}"), e))?;
        read.set_nonblocking(true)
            .map_err(|e| Error::io(format!("create readiness socket for {what}"), e))?;
        // The writer only writes; the reader only reads.
        let _ = read.shutdown(std::net::Shutdown::Write);
        Ok((ReadyReader { stream: Some(read), buf: Vec::new() }, write))
    }

    /// The socket to poll while it is open.
    pub(crate) fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.stream.as_ref().map(|s| s.as_fd())
    }

    /// Reads what is available; true once the writer's end is closed.
    pub(crate) fn pump(&mut self) -> bool {
        let Some(s) = &mut self.stream else { return true };
        let mut chunk = [0u8; 1024];
        loop {
            match s.read(&mut chunk) {
                Ok(0) => {
                    self.stream = None;
                    return true;
                }
                Ok(n) => {
                    // A report is short; refuse to buffer a runaway writer.
                    if self.buf.len() < 64 * 1024 {
                        self.buf.extend_from_slice(&chunk[..n]);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
                Err(_) => {
                    self.stream = None;
                    return true;
                }
            }
        }
    }

    /// Whether the writer's end is closed (everything was read).
    #[cfg(test)]
    pub(crate) fn closed(&self) -> bool {
        self.stream.is_none()
    }

    /// The report so far. `R` counts as soon as its first byte arrived; `F` is
    /// complete once the writer closed.
    pub(crate) fn report(&self) -> Report {
        let text = || String::from_utf8_lossy(&self.buf[1..]).trim_end().to_string();
        match self.buf.first() {
            Some(b'R') => Report::Ready(text()),
            Some(b'F') => Report::Failed(text()),
            _ => Report::None,
        }
    }
}

/// Adopts an inherited readiness socket named by an environment variable's value
/// (`FD`): checks it is an open socket, owns it and sets close-on-exec.
#[allow(unsafe_code)]
pub(crate) fn adopt(var: &'static str, value: &str) -> Result<ReadyNotifier, Error> {
    let bad = |reason: &str| Error::Env { var, value: value.to_string(), reason: reason.into() };
    let fd: RawFd =
        value.parse().ok().filter(|fd| *fd > 2).ok_or_else(|| bad("not an fd above 2"))?;
    match std::fs::read_link(format!("/proc/self/fd/{fd}")) {
        Ok(target) if target.to_string_lossy().starts_with("socket:") => {}
        Ok(_) => return Err(bad("not a socket")),
        Err(_) => return Err(bad("not an open descriptor")),
    }
    // SAFETY: the descriptor is open (checked just above) and is a socket the starting
    // process left open, without close-on-exec, for this process to own; the variable
    // hands it over and the caller (init / daemonize, each run once per process after a
    // parent-pid check) creates no second owner.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC)
        .map_err(|e| Error::io(format!("readiness socket fd {fd}"), e.into()))?;
    Ok(ReadyNotifier::from_stream(UnixStream::from(owned)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_travel_once_and_close_the_socket() {
        let (mut reader, write) = ReadyReader::pair("test").unwrap();
        assert!(!reader.pump());
        assert_eq!(reader.report(), Report::None);
        let n = ReadyNotifier::from_stream(write);
        let clone = n.clone();
        assert!(n.is_pending());
        clone.failed("init hook failed: no database\n");
        n.ready("ignored: the first report wins");
        assert!(!n.is_pending());
        assert!(reader.pump(), "the writer closed after its report");
        assert_eq!(reader.report(), Report::Failed("init hook failed: no database".into()));
    }

    #[test]
    fn a_writer_gone_without_a_report_is_eof_with_nothing() {
        let (mut reader, write) = ReadyReader::pair("test").unwrap();
        drop(ReadyNotifier::from_stream(write));
        assert!(reader.pump());
        assert!(reader.closed());
        assert_eq!(reader.report(), Report::None);
        // A notifier for nobody accepts reports silently.
        let none = ReadyNotifier::none();
        assert!(!none.is_pending());
        none.ready("x");
    }
}
