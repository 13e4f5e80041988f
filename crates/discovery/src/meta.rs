//! What a provider node holds: the language-neutral JSON metadata and its decoding.
//!
//! A provider node `<root>/<app>/providers/<ip:port>` holds one UTF-8 JSON object:
//!
//! ```json
//! {"weight":100,"shard":{"begin":0,"end":7},"pid":4242,"start_time":1763700000,"version":"0.1.0"}
//! ```
//!
//! | key | type | meaning |
//! |---|---|---|
//! | `weight` | integer ≥ 0 | share of traffic (hashring weight); 1 when absent |
//! | `shard` | object, optional | inclusive shard range `[begin, end]` this server owns (sharding mode) |
//! | `pid` | integer | process id of the server (0 when unknown) |
//! | `start_time` | integer | when the server started, Unix seconds (0 when unknown) |
//! | `version` | string | free-text version of the serving program ("" when unknown) |
//!
//! Readers ignore keys they do not know, and an empty node counts as `{"weight":1}`, so other
//! tools (or newer svrkit versions) may add keys. The node name is the address clients dial,
//! as Rust's `SocketAddr` prints it: `10.0.0.5:7000`, `[fd00::5]:7000`.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::Error;

/// The metadata a server publishes with its address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProviderMeta {
    /// Share of traffic (hashring weight).
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// The shard range this server owns, in sharding mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardRange>,
    /// Process id of the server.
    #[serde(default)]
    pub pid: u32,
    /// Start time of the server, Unix seconds.
    #[serde(default)]
    pub start_time: u64,
    /// Free-text version of the serving program.
    #[serde(default)]
    pub version: String,
}

/// An inclusive shard range `[begin, end]` (the `shardbegin`/`shardend` of a client's INI).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShardRange {
    /// First shard owned.
    pub begin: u32,
    /// Last shard owned (inclusive).
    pub end: u32,
}

fn default_weight() -> u32 {
    1
}

impl ProviderMeta {
    /// Metadata of the current process: `weight`, this pid, now as the start time, no shard,
    /// empty version.
    pub fn new(weight: u32) -> ProviderMeta {
        let start_time =
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        ProviderMeta {
            weight,
            shard: None,
            pid: std::process::id(),
            start_time,
            version: String::new(),
        }
    }

    /// Declares the shard range this server owns.
    pub fn with_shard(mut self, shard: ShardRange) -> ProviderMeta {
        self.shard = Some(shard);
        self
    }

    /// Sets the version string.
    pub fn with_version(mut self, version: &str) -> ProviderMeta {
        self.version = version.to_owned();
        self
    }

    /// Sets the start time (Unix seconds), e.g. the process start rather than the registration.
    pub fn with_start_time(mut self, unix_secs: u64) -> ProviderMeta {
        self.start_time = unix_secs;
        self
    }

    /// The JSON bytes stored in the node.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("metadata is plain data")
    }

    /// Decodes node data; empty data is `{"weight":1}`. `path` is for the error message.
    pub fn from_json(data: &[u8], path: &str) -> Result<ProviderMeta, Error> {
        let data = if data.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { data };
        serde_json::from_slice(data)
            .map_err(|source| Error::Metadata { path: path.to_owned(), source })
    }
}

/// One live server of an app: where to dial it and what it published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provider {
    /// The address clients dial (the node name).
    pub addr: SocketAddr,
    /// The published metadata.
    pub meta: ProviderMeta,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_documented_shape() {
        let meta = ProviderMeta::new(100)
            .with_shard(ShardRange { begin: 0, end: 7 })
            .with_version("1.2.3")
            .with_start_time(1_763_700_000);
        let json = String::from_utf8(meta.to_json()).unwrap();
        let expected = format!(
            r#"{{"weight":100,"shard":{{"begin":0,"end":7}},"pid":{},"start_time":1763700000,"version":"1.2.3"}}"#,
            std::process::id()
        );
        assert_eq!(json, expected);
        assert_eq!(ProviderMeta::from_json(json.as_bytes(), "/p").unwrap(), meta);
    }

    #[test]
    fn foreign_nodes_decode_with_defaults() {
        let m = ProviderMeta::from_json(b"", "/p").unwrap();
        assert_eq!((m.weight, m.shard, m.pid), (1, None, 0));
        let m = ProviderMeta::from_json(br#"{"weight":3,"host":"x","extra":[1]}"#, "/p").unwrap();
        assert_eq!(m.weight, 3);
        let err =
            ProviderMeta::from_json(b"weight=3", "/svrkit/a/providers/1.2.3.4:5").unwrap_err();
        assert!(err.to_string().contains("/svrkit/a/providers/1.2.3.4:5"), "{err}");
    }
}
