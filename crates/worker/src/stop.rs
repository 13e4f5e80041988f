//! The stop signal: a latch that threads, async tasks and signal handlers can all use.
//!
//! A [`StopSource`] owns a Unix socket pair that is written once and never read: once
//! stopped, the read end stays readable forever, so any number of waiters can `poll(2)`
//! it (blocking, with a timeout) or await it (async-io), and a signal handler can trip
//! it with one async-signal-safe `send(2)`. No thread is started for any of this.

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};

use crate::Error;

#[derive(Debug)]
struct Inner {
    flag: Arc<AtomicBool>,
    read: UnixStream,
    write: UnixStream,
    /// Created on the first `stopped().await`, so blocking users never touch a reactor.
    async_read: OnceLock<Option<async_io::Async<OwnedFd>>>,
}

/// The side that triggers a stop. Cloning shares the same latch.
#[derive(Debug, Clone)]
pub struct StopSource {
    inner: Arc<Inner>,
}

/// The side that observes a stop: cheap to clone, `Send + Sync`.
#[derive(Debug, Clone)]
pub struct StopToken {
    inner: Arc<Inner>,
}

impl StopSource {
    /// A new, untriggered latch (two file descriptors, close-on-exec).
    pub fn new() -> Result<StopSource, Error> {
        let (read, write) = UnixStream::pair().map_err(|e| Error::io("create stop latch", e))?;
        write.set_nonblocking(true).map_err(|e| Error::io("create stop latch", e))?;
        Ok(StopSource {
            inner: Arc::new(Inner {
                flag: Arc::new(AtomicBool::new(false)),
                read,
                write,
                async_read: OnceLock::new(),
            }),
        })
    }

    /// A token observing this source.
    pub fn token(&self) -> StopToken {
        StopToken { inner: Arc::clone(&self.inner) }
    }

    /// Trips the latch: every waiter wakes, `is_stopped()` is true from now on.
    /// Idempotent.
    pub fn stop(&self) {
        if !self.inner.flag.swap(true, Ordering::SeqCst) {
            // Non-blocking; one byte in an empty socket buffer cannot fail for lack of room.
            let _ = (&self.inner.write).write(&[1]);
        }
    }

    /// Trips the latch when this process receives SIGTERM or SIGINT (for the rest of the
    /// process's life). Installs async-signal-safe handlers only; starts no thread.
    pub fn stop_on_signals(&self) -> Result<(), Error> {
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            self.stop_on_signal(sig)?;
        }
        Ok(())
    }

    /// Trips the latch when this process receives the signal `sig` (a `libc` number).
    pub fn stop_on_signal(&self, sig: i32) -> Result<(), Error> {
        let what = || format!("install handler for signal {}", crate::sys::signal_name(sig));
        // Flag first, then the wake-up byte: a waiter woken by the byte sees the flag.
        signal_hook::flag::register(sig, Arc::clone(&self.inner.flag))
            .map_err(|e| Error::io(what(), e))?;
        let write = self.inner.write.try_clone().map_err(|e| Error::io(what(), e))?;
        signal_hook::low_level::pipe::register(sig, write).map_err(|e| Error::io(what(), e))?;
        Ok(())
    }
}

impl StopToken {
    /// Whether the stop was requested. One atomic load.
    pub fn is_stopped(&self) -> bool {
        self.inner.flag.load(Ordering::SeqCst)
    }

    /// Blocks the calling thread until stopped or `timeout` elapsed; returns
    /// [`is_stopped()`](Self::is_stopped). Use it as an interruptible sleep.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.is_stopped() {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let ts =
                Timespec { tv_sec: left.as_secs() as i64, tv_nsec: i64::from(left.subsec_nanos()) };
            let mut fds = [PollFd::new(&self.inner.read, PollFlags::IN)];
            // EINTR or readiness: loop and re-check the flag (set before the byte is sent).
            if let Ok(n) = poll(&mut fds, Some(&ts)) {
                if n > 0 && !self.is_stopped() {
                    // The byte arrived a hair before the flag store became visible.
                    std::thread::yield_now();
                }
            }
        }
    }

    /// Blocks the calling thread until stopped.
    pub fn wait(&self) {
        while !self.wait_timeout(Duration::from_secs(3600)) {}
    }

    /// Resolves once stopped. Runs on any executor whose thread drives async-io's reactor
    /// (smol, `async_io::block_on`); the reactor is only touched on the first call.
    pub async fn stopped(&self) {
        if self.is_stopped() {
            return;
        }
        let source = self.inner.async_read.get_or_init(|| {
            let fd = self.inner.read.as_fd().try_clone_to_owned().ok()?;
            async_io::Async::new(fd).ok()
        });
        match source {
            Some(source) => {
                while !self.is_stopped() {
                    if source.readable().await.is_err() {
                        break;
                    }
                    if !self.is_stopped() {
                        futures_lite::future::yield_now().await;
                    }
                }
                // On a reactor error fall back to polling so we never return early.
                while !self.is_stopped() {
                    async_io::Timer::after(Duration::from_millis(20)).await;
                }
            }
            None => {
                while !self.is_stopped() {
                    async_io::Timer::after(Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// Sleeps for `timeout` unless stopped first; returns `is_stopped()`.
    pub async fn stopped_or_timeout(&self, timeout: Duration) -> bool {
        futures_lite::future::or(
            async {
                self.stopped().await;
                true
            },
            async {
                async_io::Timer::after(timeout).await;
                false
            },
        )
        .await;
        self.is_stopped()
    }
}

/// A descriptor that becomes (and stays) readable once stopped: poll it together with
/// your own descriptors (a listener, say) to wait for "work or stop". Never read it.
impl AsFd for StopToken {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.read.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_timeout_times_out_then_sees_stop_from_another_thread() {
        let source = StopSource::new().unwrap();
        let token = source.token();
        assert!(!token.wait_timeout(Duration::from_millis(10)));
        let t = std::thread::spawn({
            let token = token.clone();
            move || token.wait_timeout(Duration::from_secs(30))
        });
        source.stop();
        assert!(t.join().unwrap());
        assert!(token.is_stopped());
        // Latched: waiting again returns at once, many times.
        for _ in 0..3 {
            assert!(token.wait_timeout(Duration::from_secs(30)));
        }
    }

    #[test]
    fn async_waiters_wake_on_stop() {
        let source = StopSource::new().unwrap();
        let token = source.token();
        let ex = async_executor::LocalExecutor::new();
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let token = token.clone();
                ex.spawn(async move { token.stopped().await })
            })
            .collect();
        let stopper = {
            let source = source.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                source.stop();
            })
        };
        async_io::block_on(ex.run(async {
            for t in tasks {
                t.await;
            }
        }));
        stopper.join().unwrap();
        assert!(token.is_stopped());
        assert!(async_io::block_on(token.stopped_or_timeout(Duration::from_secs(30))));
    }

    #[test]
    fn stopped_or_timeout_returns_false_when_not_stopped() {
        let source = StopSource::new().unwrap();
        assert!(!async_io::block_on(source.token().stopped_or_timeout(Duration::from_millis(10))));
    }
}
