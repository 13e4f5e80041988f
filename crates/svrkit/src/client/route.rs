//! The routing table of a client: its servers, their connections and ejection state, and
//! how a call picks a server (ketama ring or shard table) and fails over.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use svrkit_ring::{Ring, ShardEntry, ShardTable};

use super::conn::Connection;
use super::error::ClientError;
use super::stream::Endpoint;
use crate::config::{ConfigError, Routing};

/// One server: its lazily (re)made connection and whether it is ejected.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) endpoint: Endpoint,
    pub(crate) name: Arc<str>,
    conn: Mutex<Option<Arc<Connection>>>,
    /// Serializes connecting, so concurrent first calls share one connection.
    connecting: smol::lock::Mutex<()>,
    ejected: AtomicBool,
}

impl Node {
    fn new(endpoint: Endpoint) -> Node {
        Node {
            name: endpoint.to_string().into(),
            endpoint,
            conn: Mutex::new(None),
            connecting: smol::lock::Mutex::new(()),
            ejected: AtomicBool::new(false),
        }
    }

    pub(crate) fn is_ejected(&self) -> bool {
        self.ejected.load(Ordering::SeqCst)
    }

    /// Marks the node ejected; true if it was live.
    pub(crate) fn eject(&self) -> bool {
        !self.ejected.swap(true, Ordering::SeqCst)
    }

    /// Readmits the node; true if it was ejected.
    pub(crate) fn readmit(&self) -> bool {
        self.ejected.swap(false, Ordering::AcqRel)
    }

    fn current(&self) -> Option<Arc<Connection>> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
        (!conn.is_dead()).then_some(conn)
    }

    /// The node's connection, connecting (within `timeout`) if there is none or it is
    /// known to be broken. (Whether an idle connection is still open is checked when a
    /// request is queued on it: `StartError::Stale`, then the caller asks again.)
    /// `local`: a new connection goes on the calling thread's svrkit reactor.
    pub(crate) async fn connection(
        &self,
        timeout: Duration,
        local: bool,
    ) -> Result<Arc<Connection>, ClientError> {
        if let Some(conn) = self.current() {
            return Ok(conn);
        }
        let _guard = self.connecting.lock().await;
        if let Some(conn) = self.current() {
            return Ok(conn);
        }
        let conn = Connection::connect(&self.endpoint, timeout, local)
            .await
            .map_err(|source| ClientError::Connect { peer: self.name.to_string(), source })?;
        let conn = Arc::new(conn);
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&conn));
        Ok(conn)
    }
}

/// How one call is routed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RouteKey<'a> {
    /// No key: round-robin over live servers (hashring); an error in sharding mode.
    Any,
    /// A hashring key.
    Key(&'a [u8]),
    /// A sharding id (in hashring mode its decimal digits are the key, as the seed's
    /// `Client(conf, 0)` did).
    Shard(u64),
}

#[derive(Debug)]
enum Kind {
    Ring(Ring<Arc<str>>),
    Shards(ShardTable<usize>),
}

/// An immutable snapshot of the server set; replaced as a whole by `set_nodes`.
#[derive(Debug)]
pub(crate) struct Topology {
    pub(crate) nodes: Vec<Arc<Node>>,
    kind: Kind,
}

fn config_error(key: &str, reason: impl ToString) -> ClientError {
    ClientError::Config(ConfigError::Invalid {
        file: "<client nodes>".to_string(),
        section: "server".to_string(),
        key: key.to_string(),
        value: String::new(),
        reason: reason.to_string(),
    })
}

impl Topology {
    /// Builds the table for `routing`, reusing the nodes (connections, ejection state) of
    /// `old` whose endpoints are still listed.
    pub(crate) fn build(
        routing: &Routing,
        old: Option<&Topology>,
    ) -> Result<Topology, ClientError> {
        let mut reuse: HashMap<&Endpoint, &Arc<Node>> = HashMap::new();
        if let Some(old) = old {
            for node in &old.nodes {
                reuse.insert(&node.endpoint, node);
            }
        }
        let mut nodes: Vec<Arc<Node>> = Vec::new();
        let mut index: HashMap<Endpoint, usize> = HashMap::new();
        let mut intern = |endpoint: &Endpoint| -> usize {
            *index.entry(endpoint.clone()).or_insert_with(|| {
                let node = reuse
                    .get(endpoint)
                    .map(|n| Arc::clone(n))
                    .unwrap_or_else(|| Arc::new(Node::new(endpoint.clone())));
                nodes.push(node);
                nodes.len() - 1
            })
        };
        let kind = match routing {
            Routing::Hashring(list) => {
                // The seed's configs may list one server several times: one node, summed weight.
                let mut weights: Vec<u32> = Vec::new();
                for n in list {
                    if n.weight == 0 {
                        return Err(config_error("weight", format!("{} has weight 0", n.endpoint)));
                    }
                    let i = intern(&n.endpoint);
                    if i == weights.len() {
                        weights.push(n.weight);
                    } else {
                        log::warn!(
                            "server {} is listed more than once; its weights are summed",
                            n.endpoint
                        );
                        weights[i] = weights[i].saturating_add(n.weight);
                    }
                }
                let ring =
                    Ring::new(nodes.iter().zip(&weights).map(|(n, &w)| (Arc::clone(&n.name), w)))
                        .map_err(|e| config_error("weight", e))?;
                Kind::Ring(ring)
            }
            Routing::Sharding(config) => {
                let entries = config
                    .shards
                    .iter()
                    .map(|s| ShardEntry {
                        section: s.section.clone(),
                        begin: s.begin,
                        end: s.end,
                        primary: intern(&s.primary),
                        backup: s.backup.as_ref().map(&mut intern),
                    })
                    .collect();
                Kind::Shards(
                    ShardTable::new(config.shardsum, entries)
                        .map_err(|e| config_error("shardsum", e))?,
                )
            }
        };
        Ok(Topology { nodes, kind })
    }

    /// True for a shard table.
    pub(crate) fn is_sharding(&self) -> bool {
        matches!(self.kind, Kind::Shards(_))
    }

    /// An empty table (every call fails with `NoNodeAvailable`).
    pub(crate) fn empty() -> Topology {
        Topology {
            nodes: Vec::new(),
            kind: Kind::Ring(
                Ring::new(std::iter::empty::<(Arc<str>, u32)>()).expect("an empty ring is valid"),
            ),
        }
    }

    /// The node to try next for `route`, skipping the already `tried` ones: the first live
    /// candidate in failover order, else (every candidate ejected) the first untried one,
    /// so a call still gets a real answer or error. `Ok(None)`: every candidate was tried.
    pub(crate) fn pick(
        &self,
        route: RouteKey<'_>,
        tried: &[usize],
        rr: &AtomicUsize,
    ) -> Result<Option<usize>, ClientError> {
        if self.nodes.is_empty() {
            return Err(ClientError::NoNodeAvailable {
                detail: "the server list is empty".to_string(),
            });
        }
        let usable = |i: &usize| !tried.contains(i);
        let live = |i: &usize| !tried.contains(i) && !self.nodes[*i].is_ejected();
        let first = |candidates: &mut dyn Iterator<Item = usize>| -> Option<usize> {
            let mut fallback = None;
            for i in candidates {
                if live(&i) {
                    return Some(i);
                }
                if fallback.is_none() && usable(&i) {
                    fallback = Some(i);
                }
            }
            fallback
        };
        Ok(match (&self.kind, route) {
            (Kind::Ring(ring), RouteKey::Key(key)) => match ring.lookup(key) {
                Some(owner) if live(&owner) => Some(owner),
                _ => first(&mut ring.successors(key)),
            },
            (Kind::Ring(ring), RouteKey::Shard(id)) => {
                let key = id.to_string();
                match ring.lookup(&key) {
                    Some(owner) if live(&owner) => Some(owner),
                    _ => first(&mut ring.successors(&key)),
                }
            }
            (Kind::Ring(_), RouteKey::Any) => {
                let n = self.nodes.len();
                let start = rr.fetch_add(1, Ordering::Relaxed) % n;
                first(&mut (0..n).map(|k| (start + k) % n))
            }
            (Kind::Shards(table), RouteKey::Shard(id)) => {
                let entry = table.lookup(id);
                first(&mut std::iter::once(entry.primary).chain(entry.backup))
            }
            (Kind::Shards(_), RouteKey::Any) => {
                return Err(ClientError::NoNodeAvailable {
                    detail:
                        "mode = sharding needs a shard id: use set_sharding_id or call_with_shard"
                            .to_string(),
                })
            }
            (Kind::Shards(_), RouteKey::Key(_)) => {
                return Err(ClientError::NoNodeAvailable {
                    detail: "mode = sharding routes by shard id, not by key: use call_with_shard"
                        .to_string(),
                })
            }
        })
    }
}
