//! The server config file (`echo_svr.conf`): `[app]`, `[rpc_server]`, `[self_server]`,
//! `[self_groupN]` and `[registry]`, parsed into validated values.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use svrkit_transport::{Addr, AllowList};

use super::{ConfigError, IniFile, Section};

/// Default cap on one frame (16 MiB), as the codec's.
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;
/// Default cap on concurrent connections per server.
pub const DEFAULT_MAX_CONNECTIONS: usize = 100_000;
/// Default in-flight request cap per coroutine worker.
pub const DEFAULT_COROUTINE_SUM: usize = 4096;
/// Default bound on a graceful stop.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How handlers run (`worker_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WorkerType {
    /// Handlers may block; `worker_sum` threads run them.
    Thread,
    /// Async handlers on `worker_sum` single-threaded executors.
    Coroutine,
    /// `worker_sum` supervised processes share the port; each runs thread mode.
    Process,
    /// `worker_sum` supervised processes; each runs coroutine mode.
    ProcessCoroutine,
}

impl WorkerType {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerType::Thread => "thread",
            WorkerType::Coroutine => "coroutine",
            WorkerType::Process => "process",
            WorkerType::ProcessCoroutine => "process_coroutine",
        }
    }
}

impl FromStr for WorkerType {
    type Err = String;
    fn from_str(s: &str) -> Result<WorkerType, String> {
        match s {
            "thread" => Ok(WorkerType::Thread),
            "coroutine" => Ok(WorkerType::Coroutine),
            "process" => Ok(WorkerType::Process),
            "process_coroutine" => Ok(WorkerType::ProcessCoroutine),
            _ => Err("expected thread, coroutine, process or process_coroutine".into()),
        }
    }
}

impl fmt::Display for WorkerType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A whole server config file.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    /// `[app] name`.
    pub app_name: String,
    /// `[app] pid`: the pid file, if any.
    pub pid_file: Option<PathBuf>,
    /// `[rpc_server]`.
    pub rpc: RpcServerConfig,
    /// `[self_server]` and its groups, if present.
    pub self_server: Option<SelfServerConfig>,
    /// `[registry]` (ZooKeeper), if present.
    pub registry: Option<RegistryConfig>,
}

/// `[rpc_server]`: where and how the msgpack-rpc server listens and runs handlers.
#[derive(Clone, Debug, PartialEq)]
pub struct RpcServerConfig {
    /// TCP address from `ip` (default 0.0.0.0) and `port`; `None` when only `unix_socket`
    /// is configured.
    pub tcp: Option<SocketAddr>,
    /// `unix_socket`: a Unix-domain socket path to listen on as well.
    pub unix_socket: Option<PathBuf>,
    /// `worker_type` (default coroutine).
    pub worker_type: WorkerType,
    /// `worker_sum`: threads (or processes); default = available cores.
    pub worker_sum: usize,
    /// `coroutine_sum`: in-flight request cap per worker (back-pressure).
    pub coroutine_sum: usize,
    /// `allow_ip`: comma-separated addresses / CIDRs; empty = everyone.
    pub allow_ip: AllowList,
    /// `max_connections`: further connections are refused and closed.
    pub max_connections: usize,
    /// `max_frame`: largest accepted message in bytes (`"16M"`, `"64k"`, `"65536"`).
    pub max_frame: usize,
    /// `idle_timeout`: close connections silent this long (none by default).
    pub idle_timeout: Option<Duration>,
    /// `drain_timeout`: bound on answering in-flight requests at stop.
    pub drain_timeout: Duration,
}

impl RpcServerConfig {
    /// Every address this server listens on (TCP first, then the Unix socket).
    pub fn listen_addrs(&self) -> Vec<Addr> {
        self.tcp
            .map(Addr::Tcp)
            .into_iter()
            .chain(self.unix_socket.clone().map(Addr::Unix))
            .collect()
    }
}

impl Default for RpcServerConfig {
    fn default() -> RpcServerConfig {
        RpcServerConfig {
            tcp: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 3000)),
            unix_socket: None,
            worker_type: WorkerType::Coroutine,
            worker_sum: default_workers(),
            coroutine_sum: DEFAULT_COROUTINE_SUM,
            allow_ip: AllowList::any(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_frame: DEFAULT_MAX_FRAME,
            idle_timeout: None,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        }
    }
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `[self_server]`: background workers that are not RPC handlers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelfServerConfig {
    /// `worker_type`: thread, process or process_coroutine.
    pub worker_type: WorkerType,
    /// `dispatch_type` and its groups.
    pub dispatch: DispatchType,
}

/// `[self_server] dispatch_type`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DispatchType {
    /// `simple`: `worker_sum` identical workers.
    Simple {
        /// Number of workers.
        worker_sum: usize,
        /// `coroutine_sum`, if given: coroutines per worker process (`process_coroutine`).
        coroutine_sum: Option<usize>,
    },
    /// `custom`: `group_sum` groups from `[self_group0..N]`.
    Custom {
        /// The groups in index order.
        groups: Vec<GroupConfig>,
    },
}

/// `[self_groupN]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group_name`.
    pub name: String,
    /// `worker_sum`.
    pub worker_sum: usize,
    /// `coroutine_sum`, if given.
    pub coroutine_sum: Option<usize>,
}

/// `[registry]`: ZooKeeper registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryConfig {
    /// `zk`: comma-separated ZooKeeper hosts (`"127.0.0.1:2181,10.0.0.2:2181"`).
    pub zk: Vec<String>,
    /// `path`: root of the registry tree (default `/svrkit`).
    pub path: String,
    /// `weight`: this server's ring weight (default 100).
    pub weight: u32,
    /// `advertise`: the `ip:port` clients should dial, when the bind address is not it.
    pub advertise: Option<SocketAddr>,
}

const APP_KEYS: &[&str] = &["name", "pid"];
const RPC_KEYS: &[&str] = &[
    "ip",
    "port",
    "unix_socket",
    "worker_type",
    "worker_sum",
    "coroutine_sum",
    "allow_ip",
    "max_connections",
    "max_frame",
    "idle_timeout",
    "drain_timeout",
];
const SELF_KEYS: &[&str] =
    &["dispatch_type", "worker_type", "worker_sum", "coroutine_sum", "group_sum"];
const GROUP_KEYS: &[&str] = &["group_name", "worker_sum", "coroutine_sum"];
const REGISTRY_KEYS: &[&str] = &["zk", "path", "weight", "advertise"];

impl ServerConfig {
    /// Load and validate a server config file.
    pub fn load(path: impl AsRef<Path>) -> Result<ServerConfig, ConfigError> {
        ServerConfig::from_ini(&IniFile::load(path)?)
    }

    /// Parse config text; `file` names it in errors.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(file: &str, text: &str) -> Result<ServerConfig, ConfigError> {
        ServerConfig::from_ini(&IniFile::from_str(file, text)?)
    }

    /// Validate an already parsed file.
    pub fn from_ini(ini: &IniFile) -> Result<ServerConfig, ConfigError> {
        ini.check_sections(&["app", "rpc_server", "self_server", "registry"], &["self_group"])?;
        let app = ini.section("app")?;
        app.check_keys(APP_KEYS)?;
        let app_name = app.get_with("name", |s| {
            if s.is_empty() {
                Err("must not be empty".into())
            } else {
                Ok(s.to_string())
            }
        })?;
        let pid_file = app.opt_str("pid").filter(|s| !s.is_empty()).map(PathBuf::from);
        let rpc = parse_rpc(&ini.section("rpc_server")?)?;
        let self_server = match ini.opt_section("self_server") {
            Some(s) => Some(parse_self(ini, &s)?),
            None => None,
        };
        let registry = match ini.opt_section("registry") {
            Some(s) => Some(parse_registry(&s)?),
            None => None,
        };
        Ok(ServerConfig { app_name, pid_file, rpc, self_server, registry })
    }
}

fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a positive integer".into()),
    }
}

/// Parse a byte size: a number with an optional `k`/`m`/`g` (or `KiB`, `MB`...) suffix,
/// binary multiples.
pub fn parse_size(raw: &str) -> Result<usize, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (num, unit) = raw.split_at(split);
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err("expected a size like \"65536\", \"64k\" or \"16M\"".into()),
    };
    let n: usize = num
        .parse()
        .map_err(|_| "expected a size like \"65536\", \"64k\" or \"16M\"".to_string())?;
    match n.checked_mul(mult) {
        Some(0) => Err("must be at least 1 byte".into()),
        Some(v) => Ok(v),
        None => Err("size out of range".into()),
    }
}

fn parse_rpc(s: &Section<'_>) -> Result<RpcServerConfig, ConfigError> {
    s.check_keys(RPC_KEYS)?;
    let d = RpcServerConfig::default();
    let ip: IpAddr = s
        .opt_with("ip", |v| {
            v.parse::<IpAddr>()
                .map_err(|_| "expected an IP address such as 0.0.0.0 or ::1".to_string())
        })?
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let port: Option<u16> = s.opt_with("port", |v| {
        v.parse::<u16>().map_err(|_| "expected a port number 0-65535".to_string())
    })?;
    let unix_socket = s.opt_str("unix_socket").filter(|v| !v.is_empty()).map(PathBuf::from);
    if port.is_none() && unix_socket.is_none() {
        return Err(s.missing("port"));
    }
    let worker_type = s.opt_with("worker_type", |v| v.parse())?.unwrap_or(d.worker_type);
    let allow_ip = s
        .opt_with("allow_ip", |v| AllowList::parse_list(v).map_err(|e| e.to_string()))?
        .unwrap_or_default();
    let idle_timeout = s.opt_duration("idle_timeout")?.filter(|d| !d.is_zero());
    Ok(RpcServerConfig {
        tcp: port.map(|p| SocketAddr::new(ip, p)),
        unix_socket,
        worker_type,
        worker_sum: s.opt_with("worker_sum", positive)?.unwrap_or(d.worker_sum),
        coroutine_sum: s.opt_with("coroutine_sum", positive)?.unwrap_or(d.coroutine_sum),
        allow_ip,
        max_connections: s.opt_with("max_connections", positive)?.unwrap_or(d.max_connections),
        max_frame: s.opt_with("max_frame", parse_size)?.unwrap_or(d.max_frame),
        idle_timeout,
        drain_timeout: s.opt_duration("drain_timeout")?.unwrap_or(d.drain_timeout),
    })
}

fn parse_self(ini: &IniFile, s: &Section<'_>) -> Result<SelfServerConfig, ConfigError> {
    s.check_keys(SELF_KEYS)?;
    let worker_type = s
        .opt_with("worker_type", |v| match v.parse::<WorkerType>()? {
            WorkerType::Coroutine => {
                Err("self_server workers are thread, process or process_coroutine".into())
            }
            w => Ok(w),
        })?
        .unwrap_or(WorkerType::Thread);
    let kind = s.opt_str("dispatch_type").unwrap_or("simple");
    let dispatch = match kind {
        "simple" => DispatchType::Simple {
            worker_sum: s.get_with("worker_sum", positive)?,
            coroutine_sum: s.opt_with("coroutine_sum", positive)?,
        },
        "custom" => {
            let group_sum = s.get_with("group_sum", positive)?;
            let mut groups = Vec::with_capacity(group_sum);
            for i in 0..group_sum {
                let g = ini.section(&format!("self_group{i}"))?;
                g.check_keys(GROUP_KEYS)?;
                let name = g.str("group_name")?.to_string();
                if name.is_empty() {
                    return Err(g.invalid("group_name", "", "must not be empty"));
                }
                if groups.iter().any(|x: &GroupConfig| x.name == name) {
                    return Err(g.invalid("group_name", &name, "duplicate group name"));
                }
                groups.push(GroupConfig {
                    name,
                    worker_sum: g.get_with("worker_sum", positive)?,
                    coroutine_sum: g.opt_with("coroutine_sum", positive)?,
                });
            }
            for name in ini.section_names() {
                if let Some(n) = name.strip_prefix("self_group") {
                    if n.parse::<usize>().is_ok_and(|n| n >= group_sum) {
                        return Err(s.invalid(
                            "group_sum",
                            &group_sum.to_string(),
                            format!("section [{name}] is beyond group_sum"),
                        ));
                    }
                }
            }
            DispatchType::Custom { groups }
        }
        other => {
            return Err(s.invalid("dispatch_type", other, "expected simple or custom"));
        }
    };
    Ok(SelfServerConfig { worker_type, dispatch })
}

fn parse_registry(s: &Section<'_>) -> Result<RegistryConfig, ConfigError> {
    s.check_keys(REGISTRY_KEYS)?;
    let zk: Vec<String> =
        s.str("zk")?.split(',').map(|h| h.trim().to_string()).filter(|h| !h.is_empty()).collect();
    if zk.is_empty() {
        return Err(s.invalid("zk", "", "expected host:port[,host:port...]"));
    }
    let path = s.opt_str("path").unwrap_or("/svrkit").to_string();
    if !path.starts_with('/') {
        return Err(s.invalid("path", &path, "must start with '/'"));
    }
    Ok(RegistryConfig {
        zk,
        path,
        weight: s.opt::<u32>("weight")?.unwrap_or(100),
        advertise: s.opt_with("advertise", |v| {
            v.parse::<SocketAddr>().map_err(|_| "expected ip:port".to_string())
        })?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64k"), Ok(65536));
        assert_eq!(parse_size("16M"), Ok(16 << 20));
        assert_eq!(parse_size("1 GiB"), Ok(1 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12 parsecs").is_err());
    }
}
