//! Client-side discovery: a [`Client`] whose servers follow the providers registered in
//! ZooKeeper (`discovery = zk`).
//!
//! # Design
//!
//! A client config with `discovery = zk`, `zk = host:port[,...]` and
//! `path = /svrkit/<app>/providers` (the providers folder, given whole) is turned into a
//! [`DiscoveryClient`] by [`connect`]: an ordinary [`Client`] plus a
//! [`svrkit_discovery::Watcher`] on that folder and one background task (on smol's global
//! executor, like the watcher's own) that rebuilds the client's ring or shard table through
//! [`Client::set_nodes`] each time the provider list changes. ZooKeeper delivers the change
//! in milliseconds, so a new server gets traffic, and a vanished one stops getting it,
//! without a client restart. Servers still listed keep their connections and ejection
//! state across a rebuild; calls in flight finish where they are.
//!
//! What the table is built from ([`routing_for`], a pure function):
//!
//! - **hashring**: the static `[serverN]` nodes of the config (possibly none) plus every
//!   provider, weighted by its registered `weight`. A server both listed and registered
//!   counts once, with its registered weight; a provider registered with weight 0 gets no
//!   traffic.
//! - **sharding**: every provider whose metadata carries a shard range `[begin, end]`
//!   (`ProviderMeta::shard`) owns that range: the first provider of a range (by address) is
//!   the primary, the second its backup, further ones are ignored with a warning. Static
//!   `[serverN]` ranges that no provider overlaps are kept. A table that does not cover
//!   `0..shardsum` exactly (a server of a range vanished with no backup) is **not** applied:
//!   the last complete table stays, its dead server is ejected by failover as usual, and the
//!   gap is logged.
//!
//! ZooKeeper being down changes nothing for calls: the watcher keeps the last known list and
//! re-lists when ZooKeeper answers again. ZooKeeper unreachable **at start** is an error
//! ([`DiscoveryError::Zk`] with `svrkit_discovery::Error::Unreachable`, naming the hosts, the
//! rounds tried and the last error), after [`DiscoveryOptions::connect_timeout`].
//!
//! Static lists remain the default: [`connect`] on a config without `discovery` returns a
//! plain static client, and [`DiscoveryClient::attach`] adds discovery to a client that
//! started from a static list.
//!
//! The watch lives as long as the [`DiscoveryClient`] (and its clones): it derefs to
//! [`Client`], so every call method is there. [`DiscoveryClient::detach`] hands out a plain
//! `Client` and lets the watch run until the process exits (for generated code that stores
//! a `Client`). [`client_from_file`] is that in one call, from a client config file: the
//! generated clients' `from_conf` use it, so `discovery = zk` works there too.
//!
//! # Example
//!
//! A server registers in a real ZooKeeper (the `svrkit-discovery` test harness), a client
//! configured with `discovery = zk` finds and calls it:
//!
//! ```
//! use svrkit::discovery::{self, ProviderMeta, Registration, ZkOptions};
//! use svrkit::server::{bind_all, Router, Server};
//! use svrkit::config::ClientConfig;
//! use svrkit::RpcError;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let zk = svrkit_discovery::testing::ZkServer::start()?;
//! let router = Router::new().route("add", |(a, b): (i64, i64)| async move {
//!     Ok::<_, RpcError>(a + b)
//! });
//! let server = Server::new(router).start(bind_all(&["127.0.0.1:0".parse()?])?)?;
//! let svrkit::transport::Addr::Tcp(addr) = server.local_addrs()[0].clone() else { unreachable!() };
//!
//! smol::block_on(async {
//!     let opts = ZkOptions::new(&zk.hosts())?;
//!     let reg = Registration::register(&opts, "calc", addr, &ProviderMeta::new(100)).await?;
//!
//!     let config = ClientConfig::from_str("calc_cli.conf", &format!(
//!         "[server]\nmode = hashring\ndiscovery = zk\nzk = {}\npath = /svrkit/calc/providers\n",
//!         zk.hosts()
//!     ))?;
//!     let client = discovery::connect(&config).await?;
//!     assert_eq!(client.call::<i64>("add", &(2, 3)).await?, 5);
//!
//!     reg.deregister().await?;
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! server.stop()?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use svrkit_discovery::Watcher;
pub use svrkit_discovery::{
    Advertise, Provider, ProviderMeta, ProviderSet, Registration, ShardRange as ProviderShard,
    Updates, ZkOptions,
};

use crate::client::{Client, ClientError, Endpoint};
use crate::config::{ClientConfig, DiscoveryConfig, RingNode, Routing, ShardRange, ShardingConfig};

/// Why a discovering client could not be set up.
#[derive(Debug)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// ZooKeeper could not be reached at start, or the settings were refused (the error
    /// names the hosts and the path).
    Zk(svrkit_discovery::Error),
    /// The client itself could not be built (e.g. an invalid static list).
    Client(ClientError),
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoveryError::Zk(e) => write!(f, "discovery: {e}"),
            DiscoveryError::Client(e) => write!(f, "discovery: {e}"),
        }
    }
}

impl std::error::Error for DiscoveryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DiscoveryError::Zk(e) => Some(e),
            DiscoveryError::Client(e) => Some(e),
        }
    }
}

impl From<svrkit_discovery::Error> for DiscoveryError {
    fn from(e: svrkit_discovery::Error) -> DiscoveryError {
        DiscoveryError::Zk(e)
    }
}

impl From<ClientError> for DiscoveryError {
    fn from(e: ClientError) -> DiscoveryError {
        DiscoveryError::Client(e)
    }
}

/// ZooKeeper session settings of a discovering client (the INI has no keys for them).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoveryOptions {
    /// How long the first connection to ZooKeeper may take before
    /// `svrkit_discovery::Error::Unreachable`.
    pub connect_timeout: Duration,
    /// The session timeout asked of ZooKeeper.
    pub session_timeout: Duration,
}

impl Default for DiscoveryOptions {
    fn default() -> DiscoveryOptions {
        DiscoveryOptions {
            connect_timeout: ZkOptions::DEFAULT_CONNECT_TIMEOUT,
            session_timeout: ZkOptions::DEFAULT_SESSION_TIMEOUT,
        }
    }
}

impl DiscoveryOptions {
    /// Sets the first-connection timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> DiscoveryOptions {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the session timeout.
    pub fn with_session_timeout(mut self, timeout: Duration) -> DiscoveryOptions {
        self.session_timeout = timeout;
        self
    }

    fn zk_options(&self, discovery: &DiscoveryConfig) -> Result<ZkOptions, DiscoveryError> {
        Ok(ZkOptions::new(&discovery.zk.join(","))?
            .with_connect_timeout(self.connect_timeout)
            .with_session_timeout(self.session_timeout))
    }
}

/// A client for `config`: with `discovery = zk`, its servers follow ZooKeeper (on top of any
/// static `[serverN]` list); without, a plain static client.
///
/// Fails with [`DiscoveryError::Zk`] when ZooKeeper does not answer within the default
/// [`DiscoveryOptions::connect_timeout`] (10 s), naming the hosts tried.
pub async fn connect(config: &ClientConfig) -> Result<DiscoveryClient, DiscoveryError> {
    connect_with(config, &DiscoveryOptions::default()).await
}

/// [`connect`] with explicit ZooKeeper session settings.
pub async fn connect_with(
    config: &ClientConfig,
    options: &DiscoveryOptions,
) -> Result<DiscoveryClient, DiscoveryError> {
    let client = Client::new(config.clone())?;
    match &config.discovery {
        None => Ok(DiscoveryClient { client, follower: None }),
        Some(discovery) => {
            DiscoveryClient::attach(client, config.routing.clone(), discovery, options).await
        }
    }
}

/// A plain [`Client`] for the client config file at `path`: with `discovery = zk` its
/// servers follow ZooKeeper for the life of the process ([`connect`], then
/// [`DiscoveryClient::detach`]); without, a static client and no ZooKeeper at all.
///
/// It blocks the calling thread while ZooKeeper is first listed (up to the default
/// [`DiscoveryOptions::connect_timeout`]), so call it at start-up, not from async code
/// (there, use [`connect`]). Errors name the file (config) or the ZooKeeper hosts.
pub fn client_from_file(path: impl AsRef<Path>) -> Result<Client, DiscoveryError> {
    let config = ClientConfig::load(path).map_err(ClientError::from)?;
    if config.discovery.is_none() {
        return Ok(Client::new(config)?);
    }
    Ok(smol::block_on(connect(&config))?.detach())
}

/// A [`Client`] whose server set follows ZooKeeper. Derefs to [`Client`]; clones share the
/// client and the watch, which ends when the last clone is dropped.
#[derive(Clone)]
pub struct DiscoveryClient {
    client: Client,
    follower: Option<Arc<Follower>>,
}

impl fmt::Debug for DiscoveryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscoveryClient")
            .field("client", &self.client)
            .field("folder", &self.follower.as_ref().map(|f| &f.folder))
            .finish()
    }
}

/// The watch of one client: the watcher, the task applying its changes, what was applied.
struct Follower {
    folder: String,
    watcher: Watcher,
    state: Arc<Mutex<Applied>>,
    _task: smol::Task<()>,
}

#[derive(Clone, Debug, Default)]
struct Applied {
    /// Version of the provider list last turned into the table.
    version: u64,
    /// Why the last list could not be applied, if it could not.
    error: Option<String>,
}

impl DiscoveryClient {
    /// Adds discovery to `client`, which may have started from a static list: from now on
    /// its server set is `base` (the static list, possibly empty) merged with the providers
    /// in `discovery.path`. Returns once the first listing is applied (or, for a sharding
    /// table with a gap, refused: see [`apply_error`](Self::apply_error)).
    pub async fn attach(
        client: Client,
        base: Routing,
        discovery: &DiscoveryConfig,
        options: &DiscoveryOptions,
    ) -> Result<DiscoveryClient, DiscoveryError> {
        let opts = options.zk_options(discovery)?;
        let watcher = Watcher::watch_folder(&opts, &discovery.path).await?;
        let mut updates = watcher.subscribe();
        let state = Arc::new(Mutex::new(Applied::default()));
        // A first list that cannot be applied (a sharding table with a gap while servers
        // are still starting) is not fatal: the client starts from its static table and
        // follows the next lists; `apply_error` says why.
        if let Err(e) = apply(&client, &base, &watcher.current(), &state, &discovery.path) {
            log::warn!("{}: {e}", discovery.path);
        }
        let task = {
            let client = client.clone();
            let state = state.clone();
            let folder = discovery.path.clone();
            smol::spawn(async move {
                while let Some(set) = updates.changed().await {
                    if let Err(e) = apply(&client, &base, &set, &state, &folder) {
                        log::warn!("{folder}: {e}");
                    }
                }
            })
        };
        log::info!(
            "discovery: following {} on {} ({} provider(s))",
            discovery.path,
            opts.hosts(),
            watcher.current().len()
        );
        Ok(DiscoveryClient {
            client,
            follower: Some(Arc::new(Follower {
                folder: discovery.path.clone(),
                watcher,
                state,
                _task: task,
            })),
        })
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// True when the server set follows ZooKeeper (false for a static config).
    pub fn is_discovering(&self) -> bool {
        self.follower.is_some()
    }

    /// The providers last seen in ZooKeeper (empty for a static client).
    pub fn providers(&self) -> Arc<ProviderSet> {
        match &self.follower {
            Some(f) => f.watcher.current(),
            None => Arc::new(ProviderSet::default()),
        }
    }

    /// A subscription to changes of the provider list (`None` for a static client).
    pub fn subscribe(&self) -> Option<Updates> {
        self.follower.as_ref().map(|f| f.watcher.subscribe())
    }

    /// The version ([`ProviderSet::version`]) of the provider list that the routing table
    /// was last built from (0 for a static client). It trails [`providers`](Self::providers)
    /// by the time a rebuild takes, or stays behind while a list cannot be applied.
    pub fn applied_version(&self) -> u64 {
        self.follower.as_ref().map_or(0, |f| f.state.lock().expect("lock").version)
    }

    /// Why the latest provider list could not be turned into a table (a sharding gap), if so.
    pub fn apply_error(&self) -> Option<String> {
        self.follower.as_ref().and_then(|f| f.state.lock().expect("lock").error.clone())
    }

    /// The plain [`Client`]; the watch keeps running (on smol's global executor) until the
    /// process exits. For code that stores a `Client` for the life of the process.
    pub fn detach(self) -> Client {
        if let Some(follower) = self.follower {
            // Leaking one Arc keeps the watcher and its task alive for good.
            std::mem::forget(follower);
        }
        self.client
    }
}

impl Deref for DiscoveryClient {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for DiscoveryClient {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

/// Builds the table for `set` and swaps it into `client`; records the outcome.
fn apply(
    client: &Client,
    base: &Routing,
    set: &ProviderSet,
    state: &Mutex<Applied>,
    folder: &str,
) -> Result<(), ClientError> {
    let outcome = routing_for(base, set.providers()).and_then(|routing| {
        client.set_nodes(&routing).map_err(|e| e.to_string())?;
        Ok(routing)
    });
    let mut applied = state.lock().expect("lock");
    match outcome {
        Ok(routing) => {
            log::info!(
                "{folder}: provider list v{} applied ({} server(s))",
                set.version(),
                server_count(&routing)
            );
            applied.version = set.version();
            applied.error = None;
            Ok(())
        }
        Err(reason) => {
            applied.error = Some(reason.clone());
            Err(ClientError::NoNodeAvailable {
                detail: format!(
                    "provider list v{} not applied, keeping the previous table: {reason}",
                    set.version()
                ),
            })
        }
    }
}

fn server_count(routing: &Routing) -> usize {
    match routing {
        Routing::Hashring(nodes) => nodes.len(),
        Routing::Sharding(s) => s.shards.len(),
    }
}

/// The routing table for the static `base` list plus the discovered `providers` (see the
/// module docs for the rules). Errors say why a sharding table would be incomplete.
pub fn routing_for(base: &Routing, providers: &[Provider]) -> Result<Routing, String> {
    match base {
        Routing::Hashring(statics) => {
            let registered: BTreeMap<Endpoint, u32> =
                providers.iter().map(|p| (Endpoint::from(p.addr), p.meta.weight)).collect();
            let mut nodes: Vec<RingNode> =
                statics.iter().filter(|n| !registered.contains_key(&n.endpoint)).cloned().collect();
            nodes.extend(
                registered
                    .into_iter()
                    .filter(|&(_, weight)| weight > 0)
                    .map(|(endpoint, weight)| RingNode { endpoint, weight }),
            );
            Ok(Routing::Hashring(nodes))
        }
        Routing::Sharding(statics) => {
            let mut ranges: BTreeMap<(u64, u64), Vec<Endpoint>> = BTreeMap::new();
            for p in providers {
                match p.meta.shard {
                    Some(r) => ranges
                        .entry((u64::from(r.begin), u64::from(r.end)))
                        .or_default()
                        .push(Endpoint::from(p.addr)),
                    None => log::warn!(
                        "provider {} registered no shard range; a sharding client ignores it",
                        p.addr
                    ),
                }
            }
            let mut shards: Vec<ShardRange> = Vec::new();
            for ((begin, end), mut servers) in ranges {
                if servers.len() > 2 {
                    log::warn!(
                        "shards {begin}..={end}: {} providers; using {} and backup {}, ignoring \
                         the rest",
                        servers.len(),
                        servers[0],
                        servers[1]
                    );
                }
                let mut servers = servers.drain(..);
                let primary = servers.next().expect("a range has a provider");
                shards.push(ShardRange {
                    section: format!("provider {primary}"),
                    begin,
                    end,
                    primary,
                    backup: servers.next(),
                });
            }
            let discovered = shards.clone();
            shards.extend(
                statics
                    .shards
                    .iter()
                    .filter(|s| !discovered.iter().any(|d| d.begin <= s.end && s.begin <= d.end))
                    .cloned(),
            );
            shards.sort_by_key(|s| s.begin);
            let config = ShardingConfig { shardsum: statics.shardsum, shards };
            if !config.shards.is_empty() {
                config.validate().map_err(|e| format!("incomplete shard table: {e}"))?;
            }
            Ok(Routing::Sharding(config))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(addr: &str, weight: u32, shard: Option<(u32, u32)>) -> Provider {
        let mut meta = ProviderMeta::new(weight);
        if let Some((begin, end)) = shard {
            meta = meta.with_shard(ProviderShard { begin, end });
        }
        Provider { addr: addr.parse().unwrap(), meta }
    }

    fn ring_of(routing: &Routing) -> Vec<(String, u32)> {
        let Routing::Hashring(nodes) = routing else { panic!("not a ring") };
        let mut v: Vec<_> = nodes.iter().map(|n| (n.endpoint.to_string(), n.weight)).collect();
        v.sort();
        v
    }

    #[test]
    fn hashring_merges_static_and_registered_with_registered_weight() {
        let base = Routing::Hashring(vec![
            RingNode { endpoint: Endpoint::tcp("127.0.0.1", 1), weight: 100 },
            RingNode { endpoint: Endpoint::tcp("127.0.0.1", 2), weight: 100 },
        ]);
        let providers = [
            provider("127.0.0.1:2", 7, None),
            provider("127.0.0.1:3", 50, None),
            provider("127.0.0.1:4", 0, None),
        ];
        let routing = routing_for(&base, &providers).unwrap();
        assert_eq!(
            ring_of(&routing),
            vec![
                ("127.0.0.1:1".to_string(), 100),
                ("127.0.0.1:2".to_string(), 7),
                ("127.0.0.1:3".to_string(), 50)
            ]
        );
        // No provider left: the static list remains.
        assert_eq!(ring_of(&routing_for(&base, &[]).unwrap()).len(), 2);
    }

    #[test]
    fn sharding_table_from_registered_ranges_with_backups() {
        let base = Routing::Sharding(ShardingConfig { shardsum: 10, shards: Vec::new() });
        let providers = [
            provider("127.0.0.1:1", 1, Some((0, 4))),
            provider("127.0.0.1:2", 1, Some((5, 9))),
            provider("127.0.0.1:3", 1, Some((0, 4))),
            provider("127.0.0.1:9", 1, None),
        ];
        let Routing::Sharding(table) = routing_for(&base, &providers).unwrap() else { panic!() };
        assert_eq!(table.shards.len(), 2);
        assert_eq!((table.shards[0].begin, table.shards[0].end), (0, 4), "sorted by first shard");
        assert_eq!(table.shards[0].primary, Endpoint::tcp("127.0.0.1", 1));
        assert_eq!(table.shards[0].backup, Some(Endpoint::tcp("127.0.0.1", 3)));
        assert_eq!(table.shards[1].primary, Endpoint::tcp("127.0.0.1", 2));
        assert_eq!(table.shards[1].backup, None);
    }

    #[test]
    fn sharding_gap_is_refused_and_static_ranges_fill_in() {
        let base = Routing::Sharding(ShardingConfig { shardsum: 10, shards: Vec::new() });
        let err = routing_for(&base, &[provider("127.0.0.1:1", 1, Some((0, 4)))]).unwrap_err();
        assert!(err.contains("incomplete shard table"), "{err}");

        let statics = Routing::Sharding(ShardingConfig {
            shardsum: 10,
            shards: vec![
                ShardRange {
                    section: "server0".into(),
                    begin: 0,
                    end: 4,
                    primary: Endpoint::tcp("10.0.0.1", 1),
                    backup: None,
                },
                ShardRange {
                    section: "server1".into(),
                    begin: 5,
                    end: 9,
                    primary: Endpoint::tcp("10.0.0.2", 1),
                    backup: None,
                },
            ],
        });
        let routing = routing_for(&statics, &[provider("127.0.0.1:1", 1, Some((0, 4)))]).unwrap();
        let Routing::Sharding(table) = routing else { panic!() };
        let primaries: Vec<String> = table.shards.iter().map(|s| s.primary.to_string()).collect();
        assert_eq!(primaries, vec!["127.0.0.1:1", "10.0.0.2:1"]);
    }
}
