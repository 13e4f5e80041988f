//! `svrkit proxy`: a local msgpack-rpc proxy that discovers the backends of one or more
//! services and balances each request across them, so thin clients need no routing logic.
//!
//! # Design
//!
//! The proxy is a [`Server`] whose [`Router`](crate::server::Router) has a single *fallback* route: every request,
//! whatever its method, is handed over with its params as raw msgpack bytes. The proxy picks
//! the service, forwards the call with that service's [`Client`](crate::client::Client)
//! (round robin over the live backends, failover and ejection as any svrkit client: a
//! backend that fails is skipped and the call retried on the next one), and relays the
//! backend's result bytes unchanged, or its error as `[code, "message"]`. Message ids are
//! the client's own on each backend connection, so they are remapped for free; many calls
//! from many thin clients are multiplexed on one connection per backend.
//!
//! Each service's backends come from ZooKeeper (`zk` + `path`, followed live through
//! [`crate::discovery`]), from a static list (`servers`), or both.
//!
//! # Which service a request goes to
//!
//! - On the proxy's **shared** sockets (`[proxy] listen`, `unix_socket`) a method is
//!   `service.method`: `echo.echo1` calls `echo1` on a backend of service `echo`. A method
//!   without a known `service.` prefix goes whole to the **default** service (`[proxy]
//!   default`, or the only service when there is one), so a one-service proxy is transparent;
//!   otherwise it is answered with "no such method" listing the services.
//! - A service may also have **its own** sockets (`[serviceN] listen`, `unix_socket`): there
//!   methods are forwarded as they are, with no prefix (one service per socket).
//!
//! # Configuration (INI, the seed's numbered-section style)
//!
//! ```ini
//! [proxy]
//! unix_socket = /run/svrkit/proxy.sock   ; shared socket(s): `service.method`
//! listen = 127.0.0.1:5550                ; TCP, or unix:/path; comma-separated list
//! default = echo                         ; service of un-prefixed methods (optional)
//! timeout = 3s                           ; per-attempt backend timeout
//! retries = 3                            ; attempts per call, over different backends
//! probe_interval = 1s                    ; how often an ejected backend is probed
//!
//! [service0]
//! name = echo
//! zk = 127.0.0.1:2181                    ; discover backends in ZooKeeper ...
//! path = /svrkit/echo/providers          ; ... (default /svrkit/<name>/providers)
//! servers = 127.0.0.1:3000, unix:/run/echo.sock   ; ... and/or a static list
//! unix_socket = /run/svrkit/echo.sock    ; optional socket of this service alone
//! ```
//!
//! # Limits
//!
//! - Params are re-encoded on the way out (the client API takes `Serialize` params), which
//!   keeps every value but may pick a shorter encoding of the same value; msgpack `ext`
//!   values in params are refused with INVALID_PARAMS. Results are relayed byte for byte.
//! - A notification to the proxy is forwarded as a call whose result is dropped (the proxy
//!   does not see whether a request expects an answer).
//! - Backend errors that were not `[code, message]` reach the thin client as
//!   `[code, message]` (svrkit servers always send that shape).
//!
//! # Example
//!
//! A proxy over a Unix socket in front of one static backend; a thin client sends
//! `echo.add` without any routing of its own:
//!
//! ```
//! use std::io::{Read, Write};
//! use svrkit::proxy::{Proxy, ProxyConfig};
//! use svrkit::server::{bind_all, Router, Server};
//! use svrkit::{codec, RpcError};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let router = Router::new().route("add", |(a, b): (i64, i64)| async move {
//!     Ok::<_, RpcError>(a + b)
//! });
//! let backend = Server::new(router).start(bind_all(&["127.0.0.1:0".parse()?])?)?;
//! let dir = std::env::temp_dir().join(format!("svrkit-proxy-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let sock = dir.join("proxy.sock");
//!
//! let config = ProxyConfig::from_str("proxy.conf", &format!(
//!     "[proxy]\nunix_socket = {}\n[service0]\nname = echo\nservers = {}\n",
//!     sock.display(),
//!     backend.local_addrs()[0]
//! ))?;
//! let proxy = smol::block_on(Proxy::start(&config))?;
//!
//! let mut thin = std::os::unix::net::UnixStream::connect(&sock)?;
//! let mut req = Vec::new();
//! codec::encode_request(&mut req, 7, "echo.add", &(2, 3))?;
//! thin.write_all(&req)?;
//! let mut buf = vec![0u8; 64];
//! let n = thin.read(&mut buf)?;
//! let reply = codec::Decoder::default().decode(&buf[..n])?.expect("one whole reply");
//! let Ok(codec::Message::Response { msgid: 7, error: None, result }) = reply.message else {
//!     panic!("unexpected reply")
//! };
//! assert_eq!(result.deserialize::<i64>()?, 5);
//!
//! proxy.stop()?;
//! backend.stop()?;
//! std::fs::remove_dir_all(&dir)?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use svrkit_codec::{codes, RawValue, RpcError};
use svrkit_transport::Addr;

use crate::client::{ClientError, Endpoint};
use crate::config::{
    ClientConfig, ConfigError, DiscoveryConfig, IniFile, RingNode, Routing, DEFAULT_PROBE_INTERVAL,
    DEFAULT_RETRIES, DEFAULT_TIMEOUT, DEFAULT_WEIGHT,
};
use crate::discovery::{self, DiscoveryClient, DiscoveryError, DiscoveryOptions, ProviderSet};
use crate::server::{bind_all, RunningServer, Server, ServerError, ShutdownHandle};

/// The error code a thin client gets when no backend could serve its call (none
/// registered, all failed, timeouts): JSON-RPC's "server error" range.
pub const UNAVAILABLE: i64 = -32000;

/// A parsed, validated proxy config (see the module docs for the INI format).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyConfig {
    /// Shared sockets, where methods are `service.method`.
    pub listen: Vec<Addr>,
    /// The service of methods without a known `service.` prefix on the shared sockets.
    pub default_service: Option<String>,
    /// The services, in config order.
    pub services: Vec<ServiceConfig>,
    /// Per-attempt backend timeout.
    pub timeout: Duration,
    /// Attempts per call (the first included), each on another backend when it fails.
    pub retries: u32,
    /// How often an ejected backend is probed for readmission.
    pub probe_interval: Duration,
    /// ZooKeeper session settings.
    pub discovery: DiscoveryOptions,
}

/// One service behind the proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceConfig {
    /// The service name: the `service.` prefix of its methods on the shared sockets.
    pub name: String,
    /// Static backends.
    pub servers: Vec<Endpoint>,
    /// Where its backends are registered, if in ZooKeeper.
    pub zk: Option<DiscoveryConfig>,
    /// Sockets of this service alone (methods forwarded unprefixed).
    pub listen: Vec<Addr>,
}

impl ServiceConfig {
    /// A service with a static backend list.
    pub fn with_servers(name: &str, servers: Vec<Endpoint>) -> ServiceConfig {
        ServiceConfig { name: name.to_string(), servers, zk: None, listen: Vec::new() }
    }

    /// A service whose backends are registered in ZooKeeper `zk` (`host:port` each) under
    /// the providers folder `path`.
    pub fn with_zk(name: &str, zk: &[String], path: &str) -> ServiceConfig {
        ServiceConfig {
            name: name.to_string(),
            servers: Vec::new(),
            zk: Some(DiscoveryConfig { zk: zk.to_vec(), path: path.to_string() }),
            listen: Vec::new(),
        }
    }

    /// Adds a socket of this service alone.
    pub fn listen_on(mut self, addr: Addr) -> ServiceConfig {
        self.listen.push(addr);
        self
    }
}

impl ProxyConfig {
    /// A config of `services` listening on `listen` (shared sockets), with default timeout,
    /// retries and probe interval.
    pub fn new(listen: Vec<Addr>, services: Vec<ServiceConfig>) -> ProxyConfig {
        ProxyConfig {
            listen,
            default_service: None,
            services,
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            probe_interval: DEFAULT_PROBE_INTERVAL,
            discovery: DiscoveryOptions::default(),
        }
    }

    /// Sets the per-attempt backend timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> ProxyConfig {
        self.timeout = timeout;
        self
    }

    /// Sets how often an ejected backend is probed.
    pub fn with_probe_interval(mut self, interval: Duration) -> ProxyConfig {
        self.probe_interval = interval;
        self
    }

    /// Sets the ZooKeeper session settings.
    pub fn with_discovery_options(mut self, options: DiscoveryOptions) -> ProxyConfig {
        self.discovery = options;
        self
    }

    /// Reads and validates a proxy config file.
    pub fn load(path: impl AsRef<Path>) -> Result<ProxyConfig, ConfigError> {
        ProxyConfig::from_ini(&IniFile::load(path)?)
    }

    /// Parses config text; `file` is the name errors carry.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(file: &str, text: &str) -> Result<ProxyConfig, ConfigError> {
        ProxyConfig::from_ini(&IniFile::from_str(file, text)?)
    }

    /// Validates a loaded INI file.
    pub fn from_ini(ini: &IniFile) -> Result<ProxyConfig, ConfigError> {
        ini.check_sections(&["proxy"], &["service"])?;
        let proxy = ini.section("proxy")?;
        proxy.check_keys(&[
            "listen",
            "unix_socket",
            "default",
            "timeout",
            "retries",
            "probe_interval",
        ])?;
        let mut config = ProxyConfig::new(listen_addrs(&proxy)?, Vec::new());
        if let Some(t) = proxy.opt_duration("timeout")? {
            if t.is_zero() {
                return Err(proxy.invalid("timeout", proxy.str("timeout")?, "must be above 0"));
            }
            config.timeout = t;
        }
        if let Some(r) = proxy.opt_with("retries", |raw| match raw.parse::<u32>() {
            Ok(0) => Err("at least 1 attempt is needed".to_string()),
            Ok(n) => Ok(n),
            Err(e) => Err(e.to_string()),
        })? {
            config.retries = r;
        }
        if let Some(p) = proxy.opt_duration("probe_interval")? {
            if p.is_zero() {
                return Err(proxy.invalid(
                    "probe_interval",
                    proxy.str("probe_interval")?,
                    "must be above 0",
                ));
            }
            config.probe_interval = p;
        }

        let mut numbered: Vec<(u32, &str)> = ini
            .section_names()
            .filter_map(|n| n.strip_prefix("service")?.parse::<u32>().ok().map(|i| (i, n)))
            .collect();
        numbered.sort();
        for (_, name) in numbered {
            let s = ini.section(name)?;
            s.check_keys(&["name", "zk", "path", "servers", "listen", "unix_socket"])?;
            let service = s.str("name")?;
            if service.is_empty()
                || service.contains('.')
                || service.contains('/')
                || service.contains(char::is_whitespace)
            {
                return Err(s.invalid(
                    "name",
                    service,
                    "expected a service name without '.', '/' or spaces",
                ));
            }
            if config.services.iter().any(|x| x.name == service) {
                return Err(s.invalid("name", service, "another [serviceN] has this name"));
            }
            let mut servers = Vec::new();
            for raw in s.opt_list("servers").unwrap_or_default() {
                let addr: Addr = raw.parse().map_err(|e| s.invalid("servers", raw, e))?;
                servers.push(Endpoint::from(addr));
            }
            let zk = match s.opt_list("zk") {
                None => {
                    if let Some(path) = s.opt_str("path") {
                        return Err(s.invalid("path", path, "path needs zk = host:port"));
                    }
                    None
                }
                Some(hosts) if hosts.is_empty() => {
                    return Err(s.invalid("zk", "", "expected host:port[,host:port...]"))
                }
                Some(hosts) => {
                    let default_path = format!("/svrkit/{service}/providers");
                    let path = s.opt_str("path").unwrap_or(&default_path);
                    if !path.starts_with('/') || path.len() < 2 {
                        return Err(s.invalid("path", path, "expected an absolute ZooKeeper path"));
                    }
                    // Check the settings now, so a typo names this file and key.
                    if let Err(e) = discovery::ZkOptions::new(&hosts.join(",")) {
                        return Err(s.invalid("zk", &hosts.join(","), e));
                    }
                    Some(DiscoveryConfig {
                        zk: hosts.iter().map(|h| h.to_string()).collect(),
                        path: path.trim_end_matches('/').to_string(),
                    })
                }
            };
            if servers.is_empty() && zk.is_none() {
                return Err(s.missing("servers"));
            }
            config.services.push(ServiceConfig {
                name: service.to_string(),
                servers,
                zk,
                listen: listen_addrs(&s)?,
            });
        }
        if config.services.is_empty() {
            return Err(ConfigError::MissingSection {
                file: ini.file().to_string(),
                section: "service0".to_string(),
            });
        }
        if let Some(default) = proxy.opt_str("default") {
            if !config.services.iter().any(|s| s.name == default) {
                return Err(proxy.invalid("default", default, "no [serviceN] has this name"));
            }
            config.default_service = Some(default.to_string());
        }
        if config.listen.is_empty() && config.services.iter().all(|s| s.listen.is_empty()) {
            return Err(proxy.missing("unix_socket"));
        }
        Ok(config)
    }
}

/// `listen` (a list of `ip:port` / `unix:/path`) plus `unix_socket` of a section.
fn listen_addrs(s: &crate::config::Section<'_>) -> Result<Vec<Addr>, ConfigError> {
    let mut addrs = Vec::new();
    for raw in s.opt_list("listen").unwrap_or_default() {
        addrs.push(raw.parse::<Addr>().map_err(|e| s.invalid("listen", raw, e))?);
    }
    if let Some(path) = s.opt_str("unix_socket") {
        if path.is_empty() {
            return Err(s.invalid("unix_socket", path, "expected a socket path"));
        }
        addrs.push(Addr::Unix(path.into()));
    }
    Ok(addrs)
}

/// Why a proxy could not start or stop.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProxyError {
    /// The config is invalid.
    Config(ConfigError),
    /// A service's backends could not be discovered (ZooKeeper unreachable at start...).
    Discovery {
        /// The service.
        service: String,
        /// What failed.
        source: Box<DiscoveryError>,
    },
    /// A listener could not be bound, or a server thread failed.
    Server(ServerError),
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::Config(e) => write!(f, "proxy: {e}"),
            ProxyError::Discovery { service, source } => {
                write!(f, "proxy: service {service}: {source}")
            }
            ProxyError::Server(e) => write!(f, "proxy: {e}"),
        }
    }
}

impl std::error::Error for ProxyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProxyError::Config(e) => Some(e),
            ProxyError::Discovery { source, .. } => Some(&**source),
            ProxyError::Server(e) => Some(e),
        }
    }
}

impl From<ConfigError> for ProxyError {
    fn from(e: ConfigError) -> ProxyError {
        ProxyError::Config(e)
    }
}

impl From<ServerError> for ProxyError {
    fn from(e: ServerError) -> ProxyError {
        ProxyError::Server(e)
    }
}

/// The services and how a method name maps to one.
struct Services {
    by_name: HashMap<String, DiscoveryClient>,
    default: Option<String>,
}

impl Services {
    fn resolve<'m>(&self, method: &'m str) -> Result<(&DiscoveryClient, &'m str), RpcError> {
        if let Some((prefix, rest)) = method.split_once('.') {
            if let Some(client) = self.by_name.get(prefix) {
                return Ok((client, rest));
            }
        }
        if let Some(client) = self.default.as_ref().and_then(|d| self.by_name.get(d)) {
            return Ok((client, method));
        }
        let mut names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
        names.sort_unstable();
        Err(RpcError::new(
            codes::NO_SUCH_METHOD,
            format!(
                "no such method: {method} (the proxy expects service.method; services: {})",
                names.join(", ")
            ),
        ))
    }
}

/// A running proxy. Dropping it stops it (gracefully, like a server).
pub struct Proxy {
    services: Arc<Services>,
    shared: Option<RunningServer>,
    own: Vec<(String, RunningServer)>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("listen", &self.local_addrs())
            .field("services", &self.services.by_name.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Proxy {
    /// Discovers every service's backends (waiting for ZooKeeper at most
    /// [`DiscoveryOptions::connect_timeout`]), binds the sockets and starts serving.
    pub async fn start(config: &ProxyConfig) -> Result<Proxy, ProxyError> {
        let mut by_name = HashMap::new();
        for service in &config.services {
            let mut client_config = ClientConfig::new(Routing::Hashring(
                service
                    .servers
                    .iter()
                    .map(|e| RingNode { endpoint: e.clone(), weight: DEFAULT_WEIGHT })
                    .collect(),
            ))
            .with_timeout(config.timeout)
            .with_retries(config.retries)
            .with_probe_interval(config.probe_interval);
            client_config.discovery = service.zk.clone();
            let client = discovery::connect_with(&client_config, &config.discovery).await.map_err(
                |source| ProxyError::Discovery {
                    service: service.name.clone(),
                    source: Box::new(source),
                },
            )?;
            by_name.insert(service.name.clone(), client);
        }
        let default = config
            .default_service
            .clone()
            .or_else(|| (config.services.len() == 1).then(|| config.services[0].name.clone()));
        let services = Arc::new(Services { by_name, default });

        let shared = if config.listen.is_empty() {
            None
        } else {
            let services = services.clone();
            let router = crate::server::Router::new().fallback(move |method, params| {
                let services = services.clone();
                async move {
                    let (client, method) = services.resolve(&method)?;
                    forward(client, method, &params).await
                }
            });
            Some(Server::new(router).start(bind_all(&config.listen)?)?)
        };
        let mut own = Vec::new();
        for service in config.services.iter().filter(|s| !s.listen.is_empty()) {
            let client = services.by_name[&service.name].clone();
            let router = crate::server::Router::new().fallback(move |method, params| {
                let client = client.clone();
                async move { forward(&client, &method, &params).await }
            });
            own.push((
                service.name.clone(),
                Server::new(router).start(bind_all(&service.listen)?)?,
            ));
        }
        log::info!(
            "proxy: serving {} service(s) on {}",
            config.services.len(),
            config
                .listen
                .iter()
                .chain(config.services.iter().flat_map(|s| &s.listen))
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(Proxy { services, shared, own })
    }

    /// The shared sockets (real ports when port 0 was asked for).
    pub fn local_addrs(&self) -> Vec<Addr> {
        self.shared.as_ref().map(|s| s.local_addrs().to_vec()).unwrap_or_default()
    }

    /// The sockets of `service` alone.
    pub fn service_addrs(&self, service: &str) -> Vec<Addr> {
        self.own
            .iter()
            .filter(|(name, _)| name == service)
            .flat_map(|(_, s)| s.local_addrs().to_vec())
            .collect()
    }

    /// The backends of `service` last seen in ZooKeeper (`None` for an unknown service; an
    /// empty set for a static one).
    pub fn providers(&self, service: &str) -> Option<Arc<ProviderSet>> {
        self.services.by_name.get(service).map(DiscoveryClient::providers)
    }

    /// The client the proxy forwards `service`'s calls with.
    pub fn service_client(&self, service: &str) -> Option<&DiscoveryClient> {
        self.services.by_name.get(service)
    }

    /// Stops accepting, answers every call already received, then returns.
    pub fn stop(mut self) -> Result<(), ProxyError> {
        self.stop_all()
    }

    /// Serves until SIGTERM or SIGINT, then stops gracefully.
    pub fn run_until_signal(mut self) -> Result<(), ProxyError> {
        let signal = ShutdownHandle::new();
        signal
            .stop_on_signals()
            .map_err(|source| ServerError::Io { what: "installing signal handlers", source })?;
        smol::block_on(signal.stopped());
        self.stop_all()
    }

    fn stop_all(&mut self) -> Result<(), ProxyError> {
        let mut result = Ok(());
        for server in self.shared.take().into_iter().chain(self.own.drain(..).map(|(_, s)| s)) {
            if let Err(e) = server.stop() {
                result = Err(e.into());
            }
        }
        result
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.stop_all();
    }
}

/// Forwards one call and maps the outcome to what the thin client gets.
async fn forward(
    client: &DiscoveryClient,
    method: &str,
    params: &[u8],
) -> Result<Vec<u8>, RpcError> {
    let raw = RawValue::from_slice(params)
        .map_err(|e| RpcError::new(codes::INVALID_PARAMS, format!("{method}: params: {e}")))?;
    match client.call_raw(method, &Transcode(raw)).await {
        Ok(bytes) => Ok(bytes),
        Err(ClientError::Remote { code, message, .. }) => Err(RpcError::new(code, message)),
        Err(e @ ClientError::Encode { .. }) => {
            Err(RpcError::new(codes::INVALID_PARAMS, format!("proxy: {e}")))
        }
        Err(e) => Err(RpcError::new(UNAVAILABLE, format!("proxy: {e}"))),
    }
}

/// Serializes a raw msgpack value again, value for value (the client API takes
/// `Serialize` params). `ext` values have no serde form and are refused.
struct Transcode<'a>(RawValue<'a>);

impl Serialize for Transcode<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        let bytes = v.as_bytes();
        let marker = bytes.first().copied().unwrap_or(0xc0);
        if let Some(items) = v.array_items() {
            let mut seq = serializer.serialize_seq(v.array_len().map(|n| n as usize))?;
            for item in items {
                seq.serialize_element(&Transcode(item))?;
            }
            return seq.end();
        }
        if let Some(mut items) = v.map_items() {
            let mut map = serializer.serialize_map(v.map_len().map(|n| n as usize))?;
            while let (Some(k), Some(val)) = (items.next(), items.next()) {
                map.serialize_entry(&Transcode(k), &Transcode(val))?;
            }
            return map.end();
        }
        match marker {
            0xc0 => serializer.serialize_unit(),
            0xc2 => serializer.serialize_bool(false),
            0xc3 => serializer.serialize_bool(true),
            0xca => serializer.serialize_f32(v.as_f64().unwrap_or_default() as f32),
            0xcb => serializer.serialize_f64(v.as_f64().unwrap_or_default()),
            0xc4..=0xc6 => serializer.serialize_bytes(v.as_blob().unwrap_or_default()),
            0xa0..=0xbf | 0xd9..=0xdb => match v.as_str() {
                Some(s) => serializer.serialize_str(s),
                None => serializer.serialize_bytes(v.as_blob().unwrap_or_default()),
            },
            0xc7..=0xc9 | 0xd4..=0xd8 => {
                Err(S::Error::custom("msgpack ext values cannot be forwarded by the proxy"))
            }
            _ => match v.as_int() {
                Some(i) if i < 0 => serializer.serialize_i64(i as i64),
                Some(i) => serializer.serialize_u64(i as u64),
                None => Err(S::Error::custom(format!("unexpected msgpack marker {marker:#04x}"))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcoding_keeps_every_value() {
        #[derive(Serialize)]
        struct Sample {
            s: String,
            n: i64,
            u: u64,
            f: f64,
            g: f32,
            b: bool,
            o: Option<i32>,
            #[serde(with = "serde_bytes_like")]
            bin: Vec<u8>,
            list: Vec<i64>,
            dict: std::collections::BTreeMap<i64, String>,
        }
        mod serde_bytes_like {
            pub(super) fn serialize<S: serde::Serializer>(
                v: &[u8],
                s: S,
            ) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(v)
            }
        }
        let sample = Sample {
            s: "héllo".into(),
            n: -70_000,
            u: u64::MAX,
            f: 1.5,
            g: 0.25,
            b: true,
            o: None,
            bin: vec![0, 1, 255],
            list: vec![1, -1, 300],
            dict: [(1, "a".to_string()), (-2, "b".to_string())].into_iter().collect(),
        };
        let mut original = Vec::new();
        svrkit_codec::encode_value(&mut original, &(&sample, 7u8, "x")).unwrap();
        let raw = RawValue::from_slice(&original).unwrap();
        let mut again = Vec::new();
        svrkit_codec::encode_value(&mut again, &Transcode(raw)).unwrap();
        assert_eq!(again, original);

        // An ext value is refused, not mangled.
        let ext = [0x91, 0xd4, 0x01, 0x02];
        let mut out = Vec::new();
        assert!(svrkit_codec::encode_value(
            &mut out,
            &Transcode(RawValue::from_slice(&ext).unwrap())
        )
        .is_err());
    }

    #[test]
    fn config_names_file_section_and_key() {
        let ok = ProxyConfig::from_str(
            "p.conf",
            "[proxy]\nunix_socket = /tmp/p.sock\nlisten = 127.0.0.1:0\ntimeout = 500ms\n\
             [service0]\nname = echo\nzk = 127.0.0.1:2181\n\
             [service1]\nname = calc\nservers = 127.0.0.1:3000, unix:/tmp/calc.sock\n\
             listen = 127.0.0.1:0\n",
        )
        .unwrap();
        assert_eq!(ok.listen.len(), 2);
        assert_eq!(ok.timeout, Duration::from_millis(500));
        assert_eq!(ok.services[0].zk.as_ref().unwrap().path, "/svrkit/echo/providers");
        assert_eq!(ok.services[1].servers.len(), 2);
        assert_eq!(ok.services[1].listen.len(), 1);
        assert_eq!(ok.default_service, None);

        for (text, expect) in [
            ("[proxy]\nunix_socket = /a\n[service0]\nname = e.x\nservers = 127.0.0.1:1\n", "[service0] name"),
            ("[proxy]\nunix_socket = /a\n[service0]\nname = e\n", "[service0] servers"),
            ("[proxy]\nunix_socket = /a\n[service0]\nname = e\nzk = nope\n", "[service0] zk"),
            ("[proxy]\nunix_socket = /a\ndefault = x\n[service0]\nname = e\nservers = 127.0.0.1:1\n", "[proxy] default"),
            ("[proxy]\n[service0]\nname = e\nservers = 127.0.0.1:1\n", "[proxy] unix_socket"),
            ("[proxy]\nunix_socket = /a\nlisten = nowhere\n[service0]\nname = e\nservers = 127.0.0.1:1\n", "[proxy] listen"),
            ("[proxy]\nunix_socket = /a\n[service0]\nname = e\nservers = 127.0.0.1:1\nport = 3\n", "[service0] port"),
            ("[proxy]\nunix_socket = /a\n", "[service0]"),
        ] {
            let err = ProxyConfig::from_str("p.conf", text).unwrap_err().to_string();
            assert!(err.starts_with("p.conf") && err.contains(expect), "{text:?}: {err}");
        }
    }
}
