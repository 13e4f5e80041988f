//! The client config file (`echo_cli.conf`): the seed's `[server]` / `[serverN]` format,
//! parsed into a validated [`ClientConfig`].

use std::path::Path;
use std::time::Duration;

use super::{ConfigError, IniFile, Section};
use crate::client::Endpoint;

/// Default per-attempt call timeout (the seed's 3 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// Default number of attempts per call (the first try included).
pub const DEFAULT_RETRIES: u32 = 3;
/// Default pause between two probes of an ejected server.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// Weight of a hashring server whose `weight` key is absent.
pub const DEFAULT_WEIGHT: u32 = 100;

/// A parsed, validated client config.
///
/// ```ini
/// [server]
/// sum = 2
/// mode = sharding        ; or hashring
/// shardsum = 1000        ; sharding only
/// timeout = 3s           ; extension: per-attempt call timeout (bare number = seconds)
/// retries = 3            ; extension: attempts per call, the first included (>= 1)
/// probe_interval = 1s    ; extension: how often ejected servers are probed
/// discovery = zk         ; extension, with zk = host:port,... and path = /svrkit/echo/providers
///
/// [server0]
/// ip = 127.0.0.1         ; or unix_socket = /run/echo.sock (extension)
/// port = 3000
/// weight = 100           ; hashring (default 100)
/// ip_bak = 127.0.0.1     ; sharding: backup server (or unix_socket_bak)
/// port_bak = 3001
/// shardbegin = 0         ; sharding: the shards id % shardsum this server holds
/// shardend = 499
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Which servers there are and how calls pick one.
    pub routing: Routing,
    /// Per-attempt timeout of a call (connecting included).
    pub timeout: Duration,
    /// Attempts per call, the first included; at least 1.
    pub retries: u32,
    /// How often an ejected server is probed for readmission.
    pub probe_interval: Duration,
    /// Where to discover servers at run time, if anywhere.
    pub discovery: Option<DiscoveryConfig>,
}

/// The server set and how a call picks a server (`[server] mode`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Routing {
    /// `mode = hashring`: a ketama ring over the servers, by weight.
    Hashring(Vec<RingNode>),
    /// `mode = sharding`: `id % shardsum` picks a range, its primary then its backup.
    Sharding(ShardingConfig),
}

/// One server of a hashring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingNode {
    /// Where it listens; its `Display` (`ip:port`) is its name on the ring.
    pub endpoint: Endpoint,
    /// Its relative weight (>= 1).
    pub weight: u32,
}

/// The shard table of sharding mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardingConfig {
    /// Number of shards; a call's shard is `id % shardsum`.
    pub shardsum: u64,
    /// The ranges; together they cover `0..shardsum` exactly once.
    pub shards: Vec<ShardRange>,
}

/// One `[serverN]` section of a sharding config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardRange {
    /// The section it came from (`server1`), for error messages.
    pub section: String,
    /// First shard (`shardbegin`).
    pub begin: u64,
    /// Last shard, inclusive (`shardend`).
    pub end: u64,
    /// The primary server.
    pub primary: Endpoint,
    /// The backup server (`ip_bak`, `port_bak`).
    pub backup: Option<Endpoint>,
}

/// `discovery = zk`: servers registered in ZooKeeper.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// ZooKeeper ensemble, `host:port` each.
    pub zk: Vec<String>,
    /// The folder of provider nodes (`/svrkit/echo/providers`).
    pub path: String,
}

impl ClientConfig {
    /// A config of one server, hashring mode, default timeout and retries.
    pub fn single(endpoint: impl Into<Endpoint>) -> ClientConfig {
        ClientConfig::new(Routing::Hashring(vec![RingNode {
            endpoint: endpoint.into(),
            weight: DEFAULT_WEIGHT,
        }]))
    }

    /// A config for `routing` with default timeout, retries and probe interval.
    pub fn new(routing: Routing) -> ClientConfig {
        ClientConfig {
            routing,
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            probe_interval: DEFAULT_PROBE_INTERVAL,
            discovery: None,
        }
    }

    /// Sets the per-attempt call timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> ClientConfig {
        self.timeout = timeout;
        self
    }

    /// Sets the attempts per call (at least 1).
    pub fn with_retries(mut self, retries: u32) -> ClientConfig {
        self.retries = retries.max(1);
        self
    }

    /// Sets how often ejected servers are probed.
    pub fn with_probe_interval(mut self, interval: Duration) -> ClientConfig {
        self.probe_interval = interval;
        self
    }

    /// Reads and validates a client config file.
    pub fn load(path: impl AsRef<Path>) -> Result<ClientConfig, ConfigError> {
        ClientConfig::from_ini(&IniFile::load(path)?)
    }

    /// Parses config text; `file` is the name errors carry.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(file: &str, text: &str) -> Result<ClientConfig, ConfigError> {
        ClientConfig::from_ini(&IniFile::from_str(file, text)?)
    }

    /// Validates a loaded INI file.
    pub fn from_ini(ini: &IniFile) -> Result<ClientConfig, ConfigError> {
        ini.check_sections(&["server"], &["server"])?;
        let server = ini.section("server")?;
        server.check_keys(&[
            "sum",
            "mode",
            "shardsum",
            "timeout",
            "retries",
            "probe_interval",
            "discovery",
            "zk",
            "path",
        ])?;
        let mode = server.str("mode")?;
        let sharding = match mode {
            "hashring" => false,
            "sharding" => true,
            _ => return Err(server.invalid("mode", mode, "expected hashring or sharding")),
        };
        let discovery = match server.opt_str("discovery") {
            None | Some("") | Some("none") | Some("static") => None,
            Some("zk") => {
                let zk: Vec<String> = server
                    .opt_list("zk")
                    .ok_or_else(|| server.missing("zk"))?
                    .into_iter()
                    .map(String::from)
                    .collect();
                if zk.is_empty() {
                    return Err(server.invalid("zk", "", "expected host:port[,host:port...]"));
                }
                let path = server.str("path")?;
                if !path.starts_with('/') || path.len() < 2 {
                    return Err(server.invalid(
                        "path",
                        path,
                        "expected an absolute ZooKeeper path",
                    ));
                }
                Some(DiscoveryConfig { zk, path: path.trim_end_matches('/').to_string() })
            }
            Some(other) => return Err(server.invalid("discovery", other, "expected zk (or none)")),
        };
        // With discovery the static list is only a starting point and may be empty.
        let sum: u32 = match (server.opt::<u32>("sum")?, &discovery) {
            (Some(sum), _) => sum,
            (None, Some(_)) => 0,
            (None, None) => return Err(server.missing("sum")),
        };
        if sum == 0 && discovery.is_none() {
            return Err(server.invalid(
                "sum",
                "0",
                "at least one [serverN] is needed without discovery",
            ));
        }
        for name in ini.section_names() {
            if let Some(n) = name.strip_prefix("server").and_then(|n| n.parse::<u32>().ok()) {
                if n >= sum {
                    let s = ini.section(name)?;
                    return Err(s.invalid(
                        "ip",
                        s.opt_str("ip").unwrap_or(""),
                        format!("[{name}] is beyond [server] sum={sum} (sections are server0..server{})", sum.saturating_sub(1)),
                    ));
                }
            }
        }
        let sections: Vec<Section<'_>> =
            (0..sum).map(|i| ini.section(&format!("server{i}"))).collect::<Result<_, _>>()?;

        let routing = if sharding {
            let shardsum: u64 = server.get("shardsum")?;
            if shardsum == 0 {
                return Err(server.invalid("shardsum", "0", "there must be at least one shard"));
            }
            let mut shards = Vec::with_capacity(sections.len());
            for s in &sections {
                s.check_keys(&[
                    "ip",
                    "port",
                    "ip_bak",
                    "port_bak",
                    "unix_socket",
                    "unix_socket_bak",
                    "shardbegin",
                    "shardend",
                ])?;
                shards.push(ShardRange {
                    section: s.name().to_string(),
                    begin: s.get("shardbegin")?,
                    end: s.get("shardend")?,
                    primary: endpoint(s, "ip", "port", "unix_socket")?
                        .ok_or_else(|| s.missing("ip"))?,
                    backup: endpoint(s, "ip_bak", "port_bak", "unix_socket_bak")?,
                });
            }
            let config = ShardingConfig { shardsum, shards };
            if discovery.is_none() || !config.shards.is_empty() {
                config.validate().map_err(|e| shard_error(ini, &server, e))?;
            }
            Routing::Sharding(config)
        } else {
            if server.opt_str("shardsum").is_some() {
                return Err(server.invalid(
                    "shardsum",
                    server.opt_str("shardsum").unwrap_or(""),
                    "shardsum only applies to mode = sharding",
                ));
            }
            let mut nodes = Vec::with_capacity(sections.len());
            for s in &sections {
                s.check_keys(&["ip", "port", "unix_socket", "weight"])?;
                let weight = s
                    .opt_with("weight", |raw| match raw.parse::<u32>() {
                        Ok(0) => Err("weights must be at least 1".to_string()),
                        Ok(w) => Ok(w),
                        Err(e) => Err(e.to_string()),
                    })?
                    .unwrap_or(DEFAULT_WEIGHT);
                let endpoint =
                    endpoint(s, "ip", "port", "unix_socket")?.ok_or_else(|| s.missing("ip"))?;
                nodes.push(RingNode { endpoint, weight });
            }
            Routing::Hashring(nodes)
        };

        let timeout = server.opt_duration("timeout")?.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            return Err(server.invalid(
                "timeout",
                server.opt_str("timeout").unwrap_or(""),
                "must be above 0",
            ));
        }
        let retries = server
            .opt_with("retries", |raw| match raw.parse::<u32>() {
                Ok(0) => Err("at least 1 attempt is needed".to_string()),
                Ok(n) => Ok(n),
                Err(e) => Err(e.to_string()),
            })?
            .unwrap_or(DEFAULT_RETRIES);
        let probe_interval =
            server.opt_duration("probe_interval")?.unwrap_or(DEFAULT_PROBE_INTERVAL);
        if probe_interval.is_zero() {
            return Err(server.invalid(
                "probe_interval",
                server.opt_str("probe_interval").unwrap_or(""),
                "must be above 0",
            ));
        }
        Ok(ClientConfig { routing, timeout, retries, probe_interval, discovery })
    }
}

impl ShardingConfig {
    /// Checks that the ranges cover `0..shardsum` exactly once.
    pub fn validate(&self) -> Result<(), svrkit_ring::Error> {
        let entries = self
            .shards
            .iter()
            .map(|s| svrkit_ring::ShardEntry {
                section: s.section.clone(),
                begin: s.begin,
                end: s.end,
                primary: (),
                backup: None,
            })
            .collect();
        svrkit_ring::ShardTable::new(self.shardsum, entries).map(|_| ())
    }
}

/// Reads `ip` + `port` (or `unix_socket`) of a section; `None` when neither is set.
fn endpoint(
    s: &Section<'_>,
    ip: &str,
    port: &str,
    unix: &str,
) -> Result<Option<Endpoint>, ConfigError> {
    match (s.opt_str(ip), s.opt_str(unix)) {
        (Some(_), Some(path)) => {
            Err(s.invalid(unix, path, format!("give either {ip} + {port} or {unix}, not both")))
        }
        (None, Some(path)) if path.is_empty() => {
            Err(s.invalid(unix, path, "expected a socket path"))
        }
        (None, Some(path)) => Ok(Some(Endpoint::unix(path))),
        (Some(host), None) => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() || host.contains(char::is_whitespace) {
                return Err(s.invalid(ip, host, "expected an IP address or host name"));
            }
            let port = s.get_with(port, |raw| match raw.parse::<u16>() {
                Ok(0) => Err("port 0 cannot be connected to".to_string()),
                Ok(p) => Ok(p),
                Err(e) => Err(format!("expected a port 1..65535 ({e})")),
            })?;
            Ok(Some(Endpoint::tcp(host, port)))
        }
        (None, None) => {
            if let Some(p) = s.opt_str(port) {
                return Err(s.invalid(port, p, format!("{port} without {ip}")));
            }
            Ok(None)
        }
    }
}

/// Names the file, section and key of a shard-table error.
fn shard_error(ini: &IniFile, server: &Section<'_>, e: svrkit_ring::Error) -> ConfigError {
    use svrkit_ring::Error as E;
    let (section, key, value) = match &e {
        E::ShardRangeReversed { section, begin, .. } => {
            (section.clone(), "shardbegin", begin.to_string())
        }
        E::ShardOutOfRange { section, end, .. } => (section.clone(), "shardend", end.to_string()),
        E::ShardOverlap { section, begin, .. } => {
            (section.clone(), "shardbegin", begin.to_string())
        }
        E::ShardGap { before: Some((section, end)), .. } => {
            (section.clone(), "shardend", end.to_string())
        }
        E::ShardGap { after: Some((section, begin)), .. } => {
            (section.clone(), "shardbegin", begin.to_string())
        }
        _ => return server.invalid("shardsum", server.opt_str("shardsum").unwrap_or(""), &e),
    };
    match ini.opt_section(&section) {
        Some(s) => s.invalid(key, &value, &e),
        None => server.invalid("shardsum", server.opt_str("shardsum").unwrap_or(""), &e),
    }
}
