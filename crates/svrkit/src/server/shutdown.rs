//! [`ShutdownHandle`]: asks a running server to stop gracefully, from any thread or task,
//! or on SIGTERM / SIGINT.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use event_listener::{Event, EventListener};

/// Asks a server to stop: stop accepting, answer every request already read (bounded by
/// `drain_timeout`), close connections. Clones share the same stop; stopping twice is
/// harmless.
#[derive(Clone, Debug, Default)]
pub struct ShutdownHandle {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    stopped: AtomicBool,
    event: Event,
}

impl ShutdownHandle {
    /// A handle not yet stopped.
    pub fn new() -> ShutdownHandle {
        ShutdownHandle::default()
    }

    /// Request the stop.
    pub fn stop(&self) {
        if !self.inner.stopped.swap(true, Ordering::SeqCst) {
            log::info!("graceful stop requested");
        }
        self.inner.event.notify(usize::MAX);
    }

    /// Whether the stop was requested.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::SeqCst)
    }

    /// Wait until the stop is requested.
    pub async fn stopped(&self) {
        loop {
            if self.is_stopped() {
                return;
            }
            let l = self.inner.event.listen();
            if self.is_stopped() {
                return;
            }
            l.await;
        }
    }

    /// A listener that fires on stop; check [`ShutdownHandle::is_stopped`] after creating it.
    pub(crate) fn listen(&self) -> EventListener {
        self.inner.event.listen()
    }

    /// Stop on the first SIGTERM or SIGINT (a background thread waits for them). Uses
    /// `async-signal` (smol-rs): a self-pipe driven by the same reactor as everything else,
    /// with no handler code of ours running in signal context.
    pub fn stop_on_signals(&self) -> std::io::Result<()> {
        use async_signal::{Signal, Signals};
        use futures_lite::StreamExt;
        let mut signals = Signals::new([Signal::Term, Signal::Int])?;
        let handle = self.clone();
        std::thread::Builder::new().name("svrkit-signals".into()).spawn(move || {
            async_io::block_on(async {
                let stop = handle.stopped();
                let sig = async {
                    if let Some(Ok(s)) = signals.next().await {
                        log::info!("received {s:?}");
                    }
                };
                futures_lite::future::or(stop, sig).await;
            });
            handle.stop();
        })?;
        Ok(())
    }
}
