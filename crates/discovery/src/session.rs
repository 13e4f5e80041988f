//! Opening ZooKeeper sessions (with a deadline and a clear error) and following their state.

use std::future::Future;
use std::time::{Duration, Instant};

use smol::Timer;
use zookeeper_client::{Client, SessionState, StateWatcher};

use crate::{Error, ZkOptions};

/// First pause between connection rounds; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Opens a session, trying the whole host list in rounds until one answers.
///
/// With a deadline, gives up with [`Error::Unreachable`] naming the hosts, the rounds and the
/// last error; without one, keeps trying (the caller cancels it by dropping the future).
pub(crate) async fn connect(opts: &ZkOptions, deadline: Option<Instant>) -> Result<Client, Error> {
    let started = Instant::now();
    let mut backoff = MIN_BACKOFF;
    let mut attempts = 0u32;
    let mut last: Option<zookeeper_client::Error> = None;
    loop {
        attempts += 1;
        let attempt = Client::connector()
            .with_session_timeout(opts.session_timeout())
            .with_fail_eagerly()
            .connect(opts.hosts());
        let result = match deadline {
            Some(deadline) => within(deadline, attempt).await,
            None => Some(attempt.await),
        };
        match result {
            Some(Ok(client)) => return Ok(client),
            Some(Err(err)) => last = Some(err),
            // Cut short by the deadline: keep the previous round's error, if any.
            None => {}
        }
        let last_text = last.as_ref().map_or_else(|| "no answer".to_owned(), |e| e.to_string());
        log::debug!("ZooKeeper {}: connection round {attempts} failed: {last_text}", opts.hosts());
        let pause = match deadline {
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(Error::Unreachable {
                        hosts: opts.hosts().to_owned(),
                        attempts,
                        waited: started.elapsed(),
                        source: last.unwrap_or(zookeeper_client::Error::Timeout),
                    });
                }
                backoff.min(deadline - now)
            }
            None => backoff,
        };
        Timer::after(pause).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Runs `fut` until `deadline`; `None` when the deadline came first.
pub(crate) async fn within<T>(deadline: Instant, fut: impl Future<Output = T>) -> Option<T> {
    smol::future::or(async { Some(fut.await) }, async {
        Timer::at(deadline).await;
        None
    })
    .await
}

pub(crate) fn is_connected(state: SessionState) -> bool {
    matches!(state, SessionState::SyncConnected | SessionState::ConnectedReadOnly)
}

/// Waits until the session is connected (`Ok`) or has ended (`Err` with the terminal state).
pub(crate) async fn wait_connected(states: &mut StateWatcher) -> Result<(), SessionState> {
    loop {
        let state = states.peek_state();
        if is_connected(state) {
            return Ok(());
        }
        if state.is_terminated() {
            return Err(state);
        }
        states.changed().await;
    }
}

/// Waits until the session has ended (closed, expired or refused), at most `timeout`.
pub(crate) async fn wait_terminated(
    states: &mut StateWatcher,
    timeout: Duration,
) -> Option<SessionState> {
    within(Instant::now() + timeout, async {
        loop {
            let state = states.peek_state();
            if state.is_terminated() {
                return state;
            }
            states.changed().await;
        }
    })
    .await
}
