//! ZooKeeper service registry and live watcher for svrkit servers and clients.
//!
//! # What
//!
//! A server announces itself with a [`Registration`]: an *ephemeral* node
//! `<root>/<app>/providers/<ip:port>` (root `/svrkit` by default) holding JSON metadata
//! ([`ProviderMeta`]: weight, shard range, pid, start time, version; the format is documented
//! on that type so any ZooKeeper client, e.g. Python's kazoo, can read it). A client follows
//! one app with a [`Watcher`]: the current [`ProviderSet`] plus [`Updates`] that fire within
//! ZooKeeper's notification latency of any change. Nothing here knows about rings, shards or
//! connections: the runtime turns a `ProviderSet` into its routing table.
//!
//! # How
//!
//! Both sides use `zookeeper-client` 0.11 without tokio (its `smol` feature: its session task
//! runs on smol's global executor, and so do the one background task of each `Registration`
//! and `Watcher`; the caller's executor is not involved, so any executor or a plain
//! `smol::block_on` can drive the API). The pitfalls of that client are handled here:
//!
//! - **No awaitable close.** [`Registration::deregister`] deletes the node, drops the client
//!   and waits on the session's state watcher until it reports `Closed`, so the node is gone
//!   before the server stops answering.
//! - **Expiry kills the client.** After `Expired`, both sides open a *new* session (retrying
//!   until ZooKeeper answers). The registry then creates its node again; a leftover node of
//!   the old session (`NodeExists`, owned by another session id) is deleted and re-created.
//! - **Watches across reconnects.** The watcher uses only one-shot watches (children of the
//!   providers folder, or its existence while it is missing), which the client library re-arms
//!   after a reconnect, with the server replaying missed changes. Persistent watches, which
//!   0.11.2 does not restore, are not used, and one-shot and persistent watches are never
//!   mixed on one path.
//! - **ZooKeeper down.** A running server keeps its session through short outages (the node
//!   survives); a client keeps its last known list until ZooKeeper answers again.
//! - **Unreachable at start.** [`Registration::register`] and [`Watcher::watch`] give up after
//!   [`ZkOptions::connect_timeout`] with [`Error::Unreachable`], which names the hosts, the
//!   rounds tried, the time waited and the last error.
//!
//! The address registered must be one clients can dial: [`Advertise`] picks it from the
//! listen address (a configured IP, the listen IP, or for `0.0.0.0` the first non-loopback
//! interface address, optionally the first matching an `ip_prefix` like rpc_proxy's).
//!
//! # Wiring into the svrkit runtime
//!
//! Server (`[registry] zk, path, weight`, optional `advertise = ip:port` / `ip_prefix`):
//!
//! 1. bind and listen; then `let addr = advertise.resolve(listener.local_addr()?)?` with
//!    `advertise` = `Advertise::Addr(a)` for a configured address, `Advertise::IpPrefix(p)`
//!    for an `ip_prefix`, else `Advertise::Auto`; the options are
//!    `ZkOptions::new(&zk.join(","))?.with_root(&path)?`;
//! 2. `let reg = Registration::register(&opts, app, addr, &ProviderMeta::new(weight)).await?`
//!    (plus `.with_shard(..)` in sharding mode): a failure here is a start-up error.
//!    Register in the process that lives as long as the listener and does not fork
//!    afterwards (with worker processes, the supervisor after spawning them): a forked child
//!    does not inherit the background threads that keep the session alive;
//! 3. on graceful stop, **first** `reg.deregister().await` (log an error, do not abort the
//!    stop), then stop accepting and drain: clients have dropped the server before it
//!    stops answering.
//!
//! Client (`discovery = zk`, `zk`, `path`):
//!
//! 1. `let watcher = Watcher::watch(&opts, app).await?` (or, when the config names the
//!    folder whole, `Watcher::watch_folder(&ZkOptions::new(&zk.join(","))?, &path).await?`); build the ring or shard table from
//!    `watcher.current()` (merged with a static INI list if one is configured): each
//!    [`Provider`] gives the address to dial, `meta.weight` for the ketama ring and
//!    `meta.shard` (inclusive `[begin, end]`) for the shard table;
//! 2. spawn a task looping on `updates.changed().await` (from `watcher.subscribe()`), which
//!    rebuilds the table from each new [`ProviderSet`] and swaps it in; connections to
//!    providers no longer listed are closed after their in-flight calls;
//! 3. keep the `Watcher` alive as long as the client: dropping it ends the updates.
//!
//! # Example
//!
//! A server registers, a client sees it, the server leaves, against a real ZooKeeper started
//! by the `testing` harness (feature `testing`; `examples/register_and_watch.rs` does the same
//! in a loop and prints the latencies).
//!
//! ```
//! use svrkit_discovery::{Advertise, ProviderMeta, Registration, Watcher, ZkOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A ZooKeeper on loopback from the `testing` harness; a server would use its
//! // `[registry] zk` setting, e.g. ZkOptions::new("10.0.0.1:2181,10.0.0.2:2181").
//! let zk = svrkit_discovery::testing::ZkServer::start()?;
//! smol::block_on(async {
//!     let opts = ZkOptions::new(&zk.hosts())?;
//!     let listen: std::net::SocketAddr = "127.0.0.1:7000".parse()?;
//!     let addr = Advertise::Auto.resolve(listen)?;
//!     let reg = Registration::register(&opts, "echo", addr, &ProviderMeta::new(100)).await?;
//!
//!     let watcher = Watcher::watch(&opts, "echo").await?;
//!     assert_eq!(watcher.current().addrs(), vec![addr]);
//!     assert_eq!(watcher.current().providers()[0].meta.weight, 100);
//!     let mut updates = watcher.subscribe();
//!
//!     reg.deregister().await?;
//!     let now = updates.changed().await.expect("watcher alive");
//!     assert!(now.is_empty());
//!     Ok(())
//! })
//! # }
//! ```

mod advertise;
mod error;
mod meta;
mod options;
mod registry;
mod session;
#[cfg(feature = "testing")]
pub mod testing;
mod watcher;

pub use advertise::Advertise;
pub use error::Error;
pub use meta::{Provider, ProviderMeta, ShardRange};
pub use options::ZkOptions;
pub use registry::{Registration, RegistrationState, Status};
pub use watcher::{ProviderSet, Updates, Watcher};
