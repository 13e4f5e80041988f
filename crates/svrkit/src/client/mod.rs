//! The msgpack-rpc client: multiplexed connections, routing, failover.
//!
//! # Design
//!
//! A [`Client`] holds a routing table built from a [`ClientConfig`] (the seed's
//! `echo_cli.conf`): a ketama ring (`mode = hashring`) or a shard table
//! (`mode = sharding`) over its servers. Each server has at most one connection, made on
//! first use and remade after it breaks, and every call to that server is multiplexed on
//! it: requests carry a u32 msgid (wrapping, never one still in flight), responses are
//! matched to their calls by msgid and may come back in any order.
//!
//! There are no background I/O tasks. The futures of the calls in flight drive their
//! connection themselves (see `conn.rs`): requests made in the same executor tick go out in
//! one `write`, and one waiting call reads and dispatches the responses of all the others.
//! With one call in flight no wake-up crosses threads, which on a two-core machine is most
//! of a round trip's cost, and a call costs one `write`, one reactor wait and one `read`
//! (no read that finds nothing). Notifications are appended to the connection's buffer
//! and written in bursts. It works on any executor. [`BlockingClient`] goes one step
//! further: its calling thread waits for the reply in `poll(2)` on the socket, so neither
//! the reactor nor its thread is involved (a per-call `block_on` of the async call would
//! hand every reply over from the async-io thread: about 2.5x slower here). A call future
//! that is created but not polled holds no lock; drop futures you no longer poll.
//!
//! [`Client::on_local_reactor`] puts the connections on the svrkit reactor of the thread
//! that opens them instead of async-io's ([`crate::reactor`]: one epoll per thread,
//! sockets registered once edge-triggered, timers without timerfd): a call driven inside
//! [`crate::reactor::block_on`] on that thread costs a `write`, an `epoll_wait` and a
//! `read`. Its calls are refused ([`ClientError::WrongThread`]) anywhere else.
//!
//! # Failure and failover
//!
//! Each attempt is bounded by the call timeout (default 3 s, connecting included) and a
//! call makes at most `retries` attempts (default 3). An attempt that fails because of the
//! server — it refused or did not accept the connection, did not answer in time, or the
//! connection broke with the call in flight — ejects the server and the call moves on to
//! the next one: the next live node clockwise on the ring (the ring keeps an ejected node's
//! weight, so no other key moves), or the shard's backup. Ejected servers are probed in the
//! background every `probe_interval` with a request (any reply proves liveness) and
//! readmitted when they answer. When every candidate is ejected the call still tries them,
//! so it ends with a real result or error.
//!
//! Retrying after a timeout or a lost connection means the request may run twice:
//! delivery is **at least once**, as with the seed's retries. A server's error reply
//! ([`ClientError::Remote`]) is never retried, nor is a result that does not decode.
//! Set `retries = 1` for at-most-once calls.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use svrkit::client::{Client, ClientError};
//! use svrkit::config::ClientConfig;
//!
//! # smol::block_on(async {
//! // A sharding client over two shard ranges, from the seed's INI format.
//! let config = ClientConfig::from_str("echo_cli.conf", "
//! [server]
//! sum = 2
//! mode = sharding
//! shardsum = 1000
//! timeout = 200ms
//! [server0]
//! ip = 127.0.0.1
//! port = 1
//! shardbegin = 0
//! shardend = 499
//! [server1]
//! ip = 127.0.0.1
//! port = 2
//! shardbegin = 500
//! shardend = 999
//! ")?;
//! let mut client = Client::new(config)?;
//!
//! // Sharding calls need an id...
//! let err = client.call::<String>("echo", &("hi",)).await.unwrap_err();
//! assert!(matches!(err, ClientError::NoNodeAvailable { .. }));
//!
//! // ...and nothing listens on ports 1 and 2: a typed error, not a hang.
//! client.set_sharding_id(1234);
//! let err = client.call::<String>("echo", &("hi",)).await.unwrap_err();
//! assert!(matches!(err, ClientError::Connect { .. }), "{err}");
//! # Ok::<(), ClientError>(())
//! # }).unwrap();
//! ```

mod blocking;
mod conn;
mod error;
mod probe;
mod route;
mod stream;

pub use blocking::BlockingClient;
pub use error::ClientError;
pub use probe::PROBE_METHOD;
pub use stream::Endpoint;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use svrkit_codec::RawValueBuf;

use crate::config::{ClientConfig, Routing};
use conn::{CallError, Deadline, StartError};
pub(crate) use route::RouteKey;
use route::{Node, Topology};

/// A routing msgpack-rpc client. Cheap to clone; clones share connections and routing
/// state but each has its own default route key (see [`Client::set_key`]).
#[derive(Clone, Debug)]
pub struct Client {
    shared: Arc<Shared>,
    route: DefaultRoute,
}

#[derive(Clone, Debug)]
enum DefaultRoute {
    Any,
    Key(Arc<[u8]>),
    Shard(u64),
}

/// How a call waits for its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Drive {
    /// As a future, woken by the reactor.
    Async,
    /// By blocking the calling thread in `poll(2)` on the socket when it can (the
    /// blocking client, inside its own `block_on`).
    Blocking,
}

/// State shared by the clones of a client and its prober thread.
#[derive(Debug)]
pub(crate) struct Shared {
    topology: RwLock<Arc<Topology>>,
    timeout: Duration,
    retries: u32,
    probe_interval: Duration,
    round_robin: AtomicUsize,
    prober_running: AtomicBool,
    /// New connections go on the calling thread's svrkit reactor
    /// ([`Client::on_local_reactor`]).
    local: AtomicBool,
}

impl Shared {
    pub(crate) fn topology(&self) -> Arc<Topology> {
        Arc::clone(&self.topology.read().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Client {
    /// A client for `config`'s servers. Nothing connects until the first call.
    ///
    /// A `discovery` section is parsed but not acted on here: whatever discovers servers
    /// feeds them to [`Client::set_nodes`].
    pub fn new(config: ClientConfig) -> Result<Client, ClientError> {
        let topology = match (&config.routing, &config.discovery) {
            (Routing::Hashring(nodes), Some(_)) if nodes.is_empty() => Topology::empty(),
            (Routing::Sharding(s), Some(_)) if s.shards.is_empty() => Topology::empty(),
            (routing, _) => Topology::build(routing, None)?,
        };
        Ok(Client {
            shared: Arc::new(Shared {
                topology: RwLock::new(Arc::new(topology)),
                timeout: config.timeout,
                retries: config.retries.max(1),
                probe_interval: config.probe_interval,
                round_robin: AtomicUsize::new(0),
                prober_running: AtomicBool::new(false),
                local: AtomicBool::new(false),
            }),
            route: DefaultRoute::Any,
        })
    }

    /// A client for the config file at `path` ([`ClientConfig::load`]).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Client, ClientError> {
        Client::new(ClientConfig::load(path)?)
    }

    /// A client of one server with the default timeout and retries.
    pub fn connect_to(endpoint: impl Into<Endpoint>) -> Client {
        Client::new(ClientConfig::single(endpoint)).expect("a one-server hashring is valid")
    }

    /// Opts into the calling thread's svrkit reactor: connections this client opens from
    /// now on (it and its clones share them) are registered with the svrkit reactor of
    /// the thread that opens them ([`crate::reactor`]), edge-triggered and once, and
    /// their deadlines are that reactor's timers. Drive its calls on that thread inside
    /// [`crate::reactor::block_on`]: a call then costs a `write`, an `epoll_wait` and a
    /// `read`, where async-io's reactor needs about five more syscalls per wait.
    ///
    /// A call or notification polled outside `reactor::block_on`, or on another thread
    /// than the one whose reactor holds the server's connection, fails with
    /// [`ClientError::WrongThread`] (no hang, no panic; the connection is left as it was).
    /// Routing, multiplexing, timeouts, failover and notification batching are as
    /// without it. Connections opened before this call stay on async-io's reactor.
    ///
    /// ```
    /// use svrkit::client::{Client, ClientError};
    ///
    /// let client = Client::connect_to(("127.0.0.1:1").parse::<std::net::SocketAddr>().unwrap())
    ///     .on_local_reactor();
    /// // Outside reactor::block_on: refused, whatever the server.
    /// let err = smol::block_on(client.call::<String>("echo", &("hi",))).unwrap_err();
    /// assert!(matches!(err, ClientError::WrongThread { .. }), "{err}");
    /// // Inside it: a real attempt (nothing listens on port 1).
    /// let err = svrkit::reactor::block_on(client.call::<String>("echo", &("hi",))).unwrap_err();
    /// assert!(matches!(err, ClientError::Connect { .. }), "{err}");
    /// ```
    pub fn on_local_reactor(self) -> Client {
        self.shared.local.store(true, Ordering::Relaxed);
        self
    }

    /// Whether [`Client::on_local_reactor`] was called (on this client or a clone).
    pub fn is_on_local_reactor(&self) -> bool {
        self.shared.local.load(Ordering::Relaxed)
    }

    /// Routes this handle's calls by `key` on the hash ring (the seed's
    /// `Client(conf, key)`). In sharding mode an all-digits key is a shard id.
    pub fn set_key(&mut self, key: impl AsRef<[u8]>) {
        let key = key.as_ref();
        self.route = match std::str::from_utf8(key).ok().and_then(|s| s.parse::<u64>().ok()) {
            Some(id) if self.is_sharding() => DefaultRoute::Shard(id),
            _ => DefaultRoute::Key(key.into()),
        };
    }

    /// [`Client::set_key`], by value.
    pub fn with_key(mut self, key: impl AsRef<[u8]>) -> Client {
        self.set_key(key);
        self
    }

    /// Routes this handle's calls to shard `id % shardsum` (sharding mode). In hashring
    /// mode the id's decimal digits are the ring key.
    pub fn set_sharding_id(&mut self, id: u64) {
        self.route = DefaultRoute::Shard(id);
    }

    /// Replaces the server set (static config, discovery), rebuilding the ring or shard
    /// table. Servers still listed keep their connection and ejection state; calls in
    /// flight finish on the connections they use. An empty list makes calls fail with
    /// [`ClientError::NoNodeAvailable`].
    pub fn set_nodes(&self, routing: &Routing) -> Result<(), ClientError> {
        let mut slot = self.shared.topology.write().unwrap_or_else(|p| p.into_inner());
        let topology = match routing {
            Routing::Hashring(nodes) if nodes.is_empty() => Topology::empty(),
            Routing::Sharding(s) if s.shards.is_empty() => Topology::empty(),
            routing => Topology::build(routing, Some(&slot))?,
        };
        *slot = Arc::new(topology);
        Ok(())
    }

    /// The servers currently ejected (failed and not yet answering a probe).
    pub fn ejected(&self) -> Vec<Endpoint> {
        let topology = self.shared.topology();
        topology.nodes.iter().filter(|n| n.is_ejected()).map(|n| n.endpoint.clone()).collect()
    }

    /// The per-attempt call timeout.
    pub fn timeout(&self) -> Duration {
        self.shared.timeout
    }

    /// Calls `method` with `params` (a tuple or other sequence: the msgpack-rpc params
    /// array) on the server this handle routes to, and decodes the result as `R`.
    ///
    /// ```no_run
    /// # async fn f(client: svrkit::client::Client) -> Result<(), svrkit::client::ClientError> {
    /// let sum: i64 = client.call("add", &(1, 2)).await?;
    /// let echoed = client.call::<String>("echo", &("hi",)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn call<R: DeserializeOwned>(
        &self,
        method: &str,
        params: &(impl Serialize + ?Sized),
    ) -> Result<R, ClientError> {
        self.call_routed(self.default_route(), method, params, Drive::Async).await
    }

    /// [`Client::call`] routed by `key` on the hash ring.
    pub async fn call_with_key<R: DeserializeOwned>(
        &self,
        key: impl AsRef<[u8]>,
        method: &str,
        params: &(impl Serialize + ?Sized),
    ) -> Result<R, ClientError> {
        self.call_routed(RouteKey::Key(key.as_ref()), method, params, Drive::Async).await
    }

    /// [`Client::call`] routed to shard `id % shardsum`.
    pub async fn call_with_shard<R: DeserializeOwned>(
        &self,
        id: u64,
        method: &str,
        params: &(impl Serialize + ?Sized),
    ) -> Result<R, ClientError> {
        self.call_routed(RouteKey::Shard(id), method, params, Drive::Async).await
    }

    /// [`Client::call`] returning the result's raw msgpack bytes (one value), for
    /// proxies and tools that do not know the result type.
    pub async fn call_raw(
        &self,
        method: &str,
        params: &(impl Serialize + ?Sized),
    ) -> Result<Vec<u8>, ClientError> {
        let route = self.default_route();
        self.call_routed_raw(route, method, params, Drive::Async)
            .await
            .map(|(raw, ..)| raw.into_bytes())
    }

    /// Sends `method` as a notification (no response, so no remote error either). It
    /// finishes once the bytes are handed to the connection; it is not retried.
    pub async fn notify(
        &self,
        method: &str,
        params: &(impl Serialize + ?Sized),
    ) -> Result<(), ClientError> {
        self.notify_with(method, params, Drive::Async).await
    }

    pub(crate) async fn notify_with(
        &self,
        method: &str,
        params: &(impl Serialize + ?Sized),
        drive: Drive,
    ) -> Result<(), ClientError> {
        let topology = self.shared.topology();
        let route = self.default_route();
        let Some(index) = topology.pick(route, &[], &self.shared.round_robin)? else {
            return Err(ClientError::NoNodeAvailable { detail: "no server to notify".to_string() });
        };
        let node = &topology.nodes[index];
        let result = async {
            let timeout = self.shared.timeout;
            let local = self.local_checked(node)?;
            let mut conn = node.connection(timeout, local).await?;
            let mut notify = conn.notify(method, params, timeout, drive);
            if let Err(StartError::Stale(_)) = notify {
                // Found closed before anything was sent: once more on a new connection.
                conn = node.connection(timeout, local).await?;
                notify = conn.notify(method, params, timeout, drive);
            }
            let notify = notify.map_err(|e| start_error(e, method, &node.name))?;
            notify.await.map_err(|e| call_error(e, method, &node.name, self.shared.timeout))
        }
        .await;
        if let Err(e) = &result {
            if e.is_node_failure() {
                self.eject(node, e);
            }
        }
        result
    }

    fn is_sharding(&self) -> bool {
        self.shared.topology().is_sharding()
    }

    pub(crate) fn default_route(&self) -> RouteKey<'_> {
        match &self.route {
            DefaultRoute::Any => RouteKey::Any,
            DefaultRoute::Key(key) => RouteKey::Key(key),
            DefaultRoute::Shard(id) => RouteKey::Shard(*id),
        }
    }

    pub(crate) async fn call_routed<R: DeserializeOwned>(
        &self,
        route: RouteKey<'_>,
        method: &str,
        params: &(impl Serialize + ?Sized),
        drive: Drive,
    ) -> Result<R, ClientError> {
        let (raw, topology, index) = self.call_routed_raw(route, method, params, drive).await?;
        // Checked by the frame decoder when it arrived: deserialized without a second walk.
        raw.as_raw().deserialize::<R>().map_err(|source| {
            let peer = topology.nodes[index].name.to_string();
            ClientError::Decode { method: method.to_string(), peer, source }
        })
    }

    /// Routes, attempts and fails over; the result bytes and the server that answered
    /// (its index in the topology used).
    async fn call_routed_raw(
        &self,
        route: RouteKey<'_>,
        method: &str,
        params: &(impl Serialize + ?Sized),
        drive: Drive,
    ) -> Result<(RawValueBuf, Arc<Topology>, usize), ClientError> {
        let topology = self.shared.topology();
        let mut tried: Vec<usize> = Vec::new();
        let mut last_error = None;
        for _ in 0..self.shared.retries {
            let Some(index) = topology.pick(route, &tried, &self.shared.round_robin)? else {
                break;
            };
            let node = &topology.nodes[index];
            match self.attempt(node, method, params, drive).await {
                Ok(bytes) => {
                    // An answer proves the server is up, whatever the prober last saw.
                    if node.is_ejected() && node.readmit() {
                        log::info!("server {} answers again: readmitted", node.name);
                    }
                    return Ok((bytes, topology, index));
                }
                Err(e) if e.is_node_failure() => {
                    self.eject(node, &e);
                    tried.push(index);
                    last_error = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| ClientError::NoNodeAvailable {
            detail: format!("no server left to try {method} on"),
        }))
    }

    /// One attempt on one server: connect if needed, send, wait for the reply; the whole
    /// attempt is bounded by the call timeout.
    async fn attempt(
        &self,
        node: &Node,
        method: &str,
        params: &(impl Serialize + ?Sized),
        drive: Drive,
    ) -> Result<RawValueBuf, ClientError> {
        let timeout = self.shared.timeout;
        // One clock read per attempt: connecting and the call share the deadline.
        let deadline = Deadline::after(timeout);
        // A connection found closed before anything was sent on it (`Stale`) is replaced
        // once; a second one is a failure of the server.
        let mut fresh = false;
        let local = self.local_checked(node)?;
        loop {
            let conn = node.connection(timeout, local).await?;
            if drive == Drive::Blocking {
                match conn.call_blocking(method, params, deadline) {
                    Ok(Some(outcome)) => {
                        return outcome.map_err(|e| call_error(e, method, &node.name, timeout))
                    }
                    Ok(None) => {}
                    Err(StartError::Stale(_)) if !fresh => {
                        fresh = true;
                        continue;
                    }
                    Err(e) => return Err(start_error(e, method, &node.name)),
                }
            }
            match conn.call(method, params, deadline) {
                Ok(call) => {
                    return call.await.map_err(|e| call_error(e, method, &node.name, timeout))
                }
                Err(StartError::Stale(_)) if !fresh => fresh = true,
                Err(e) => return Err(start_error(e, method, &node.name)),
            }
        }
    }

    /// Whether connections go on this thread's reactor; for such a client, an error when
    /// this thread is not inside `reactor::block_on` (where they could not be driven).
    fn local_checked(&self, node: &Node) -> Result<bool, ClientError> {
        let local = self.shared.local.load(Ordering::Relaxed);
        if local && !svrkit_transport::reactor::is_running() {
            return Err(ClientError::WrongThread { peer: node.name.to_string() });
        }
        Ok(local)
    }

    fn eject(&self, node: &Node, error: &ClientError) {
        if node.eject() {
            log::warn!("server {} ejected: {error}", node.name);
        }
        probe::ensure_running(&self.shared);
    }
}

fn start_error(e: StartError, method: &str, peer: &str) -> ClientError {
    match e {
        StartError::Lost(reason) | StartError::Stale(reason) => {
            ClientError::ConnectionLost { peer: peer.to_string(), reason }
        }
        StartError::Encode(source) => ClientError::Encode { method: method.to_string(), source },
        StartError::WrongThread => ClientError::WrongThread { peer: peer.to_string() },
    }
}

fn call_error(e: CallError, method: &str, peer: &str, timeout: Duration) -> ClientError {
    match e {
        CallError::Timeout { msgid } => ClientError::Timeout {
            method: method.to_string(),
            peer: peer.to_string(),
            msgid,
            after: timeout,
        },
        CallError::Lost(reason) => ClientError::ConnectionLost { peer: peer.to_string(), reason },
        CallError::WrongThread => ClientError::WrongThread { peer: peer.to_string() },
        CallError::Remote(err) => ClientError::Remote {
            method: method.to_string(),
            peer: peer.to_string(),
            code: err.code,
            message: err.message,
        },
    }
}
