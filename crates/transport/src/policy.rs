//! Accept-time policy: `allow_ip` and `max_connections` ([`Gate`]), and the per-connection
//! settings (`idle_timeout`, `max_frame`) carried in [`Policy`].

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::{Addr, AllowList, Listener, Stream};

/// Connection policy of a server.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Who may connect over TCP (empty = everyone).
    pub allow: AllowList,
    /// Connections beyond this are accepted and closed at once.
    pub max_connections: usize,
    /// Close a connection that sent nothing and has no request pending for this long.
    pub idle_timeout: Option<Duration>,
    /// Largest message accepted from a peer; a larger one closes the connection.
    pub max_frame: usize,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            allow: AllowList::any(),
            max_connections: 100_000,
            idle_timeout: None,
            max_frame: svrkit_codec::DEFAULT_MAX_FRAME,
        }
    }
}

/// Why a connection was turned away.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The peer's IP is not in `allow_ip`.
    NotAllowed,
    /// `max_connections` are already open.
    TooManyConnections {
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotAllowed => f.write_str("address not in allow_ip"),
            Refusal::TooManyConnections { max } => {
                write!(f, "max_connections ({max}) reached")
            }
        }
    }
}

/// Admits or refuses connections and counts the open ones. Clones share the count.
#[derive(Clone, Debug)]
pub struct Gate {
    allow: AllowList,
    max: usize,
    open: Arc<AtomicUsize>,
}

/// Counts one open connection until dropped.
#[derive(Debug)]
pub struct ConnPermit {
    open: Arc<AtomicUsize>,
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Gate {
    /// A gate enforcing `policy.allow` and `policy.max_connections`.
    pub fn new(policy: &Policy) -> Gate {
        Gate {
            allow: policy.allow.clone(),
            max: policy.max_connections,
            open: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Admit a peer (taking a connection slot) or say why not.
    pub fn admit(&self, peer: &Addr) -> Result<ConnPermit, Refusal> {
        if !self.allow.allows(peer) {
            return Err(Refusal::NotAllowed);
        }
        let prev = self.open.fetch_add(1, Ordering::AcqRel);
        if prev >= self.max {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::TooManyConnections { max: self.max });
        }
        Ok(ConnPermit { open: self.open.clone() })
    }

    /// Connections currently admitted and not yet closed.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

/// An admitted connection: a [`Stream`] from [`Listener::accept_admitted`], a
/// [`crate::StdStream`] from [`crate::LocalListener::accept_admitted`].
#[derive(Debug)]
pub struct Accepted<S = Stream> {
    /// The socket.
    pub stream: S,
    /// The peer's address.
    pub peer: Addr,
    /// Holds the connection's slot until dropped.
    pub permit: ConnPermit,
}

impl Listener {
    /// Accept the next connection that `gate` admits. Refused peers are closed at once with
    /// a warning naming them; transient accept errors (e.g. out of file descriptors) are
    /// logged and retried after a short pause, so this never fails. The returned
    /// future is cancel-safe.
    pub async fn accept_admitted(&self, gate: &Gate) -> Accepted {
        loop {
            match self.accept().await {
                Ok((stream, peer)) => match gate.admit(&peer) {
                    Ok(permit) => return Accepted { stream, peer, permit },
                    Err(why) => {
                        log::warn!("refused connection from {peer}: {why}");
                        let _ = stream.shutdown(std::net::Shutdown::Both);
                    }
                },
                Err(e) => {
                    log::warn!("accept failed: {e}; retrying in 50ms");
                    async_io::Timer::after(Duration::from_millis(50)).await;
                }
            }
        }
    }
}
