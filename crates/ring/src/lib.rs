//! Routing for svrkit clients: a libketama-compatible md5 ring and the shard table.
//!
//! The two `rpc_client.mode`s of the seed as pure, deterministic data structures. Nothing
//! here knows about connections: a node is any `T` the caller likes (an address, a
//! connection handle) and lookups hand back indices or references to it.
//!
//! # Hashring mode: [`Ring`]
//!
//! [`Ring`] places keys exactly where libketama (and the memcached clients and twemproxy
//! that follow it) does for the same node list, so that svrkit clients and other ketama
//! clients agree:
//!
//! - of `N` nodes weighing `W` in all, a node of weight `w` gets
//!   [`digest_count`]`(w, W, N)` md5 digests, the C expression
//!   `floorf((float)w / (float)W * 40.0 * (float)N)` reproduced bit for bit (its mix of
//!   `float` and `double` gives 39 digests per node with 61 equal nodes, where pure `f64`
//!   gives 40 and pure `f32` gives 39 with 25 nodes where C gives 40);
//! - digest `k` (from 0) is `md5("<addr>-<k>")` and yields 4 points, point `h` being the
//!   little-endian `u32` of digest bytes `4h..4h+4`;
//! - a key hashes to the little-endian `u32` of the first 4 bytes of `md5(key)`
//!   ([`key_hash`]) and belongs to the first point at or after that hash, wrapping to the
//!   first point. Equal points keep node order (glibc's `qsort` is a stable merge sort)
//!   and the first of a run wins, as in `ketama_get_server`.
//!
//! The points live in one sorted `Vec<u32>` (owners in a parallel array), so a lookup is
//! one md5 and a binary search. Building a 100-node ring (4,000 md5s and a sort of 16,000
//! points) is cheap enough to redo on every membership change: [`Ring::new`] for a new
//! list, or [`Ring::add`] / [`Ring::remove`].
//!
//! A failing node is *ejected* rather than removed ([`Ring::eject`], [`Ring::readmit`]):
//! its points stay on the ring and lookups walk past them to the next live point. Its
//! weight still counts, so no other node's share changes: the keys of the ejected node
//! spread over its ring neighbours, every other key stays put, and readmission restores the
//! exact previous mapping. (Removing a node instead recomputes every share from the new
//! total weight, as libketama would, which can move a few keys between the other nodes
//! when weights differ.) [`Ring::successors`] lists the distinct live nodes in ring order
//! from a key's owner: the order in which a client fails over.
//!
//! # Sharding mode: [`ShardTable`]
//!
//! A [`ShardTable`] holds `shardsum` and one [`ShardEntry`] per `[serverN]` section: the
//! inclusive range `shardbegin..=shardend`, the primary and the optional backup server.
//! `shard = id % shardsum` selects the entry. [`ShardTable::new`] checks that the ranges
//! cover every shard exactly once, and its errors name the config sections involved
//! (`[server1] shardbegin=400 overlaps [server0] 0..499`).
//!
//! # Example
//!
//! ```
//! use svrkit_ring::{Ring, ShardEntry, ShardTable};
//!
//! // Hashring mode: three equal servers, as in seed 001's client config.
//! let mut ring = Ring::new([
//!     ("127.0.0.1:3000", 100),
//!     ("127.0.0.1:3001", 100),
//!     ("127.0.0.1:3002", 100),
//! ])?;
//! // The same placement libketama computes for this list.
//! assert_eq!(ring.get("key0"), Some(&"127.0.0.1:3002"));
//! assert_eq!(ring.get("key1"), Some(&"127.0.0.1:3000"));
//!
//! // Node 2 fails: its keys move to the next live node, no other key moves.
//! let owner = ring.lookup("key0").unwrap();
//! let fallback: Vec<usize> = ring.successors("key0").collect();
//! assert_eq!(fallback[0], owner);
//! ring.eject(owner);
//! assert_eq!(ring.lookup("key0"), Some(fallback[1]));
//! assert_eq!(ring.get("key1"), Some(&"127.0.0.1:3000"));
//! ring.readmit(owner);
//! assert_eq!(ring.lookup("key0"), Some(owner));
//!
//! // Sharding mode: seed 000's client config.
//! let table = ShardTable::new(
//!     1000,
//!     vec![
//!         ShardEntry {
//!             section: "server0".into(),
//!             begin: 0,
//!             end: 499,
//!             primary: "127.0.0.1:3000",
//!             backup: Some("127.0.0.1:3001"),
//!         },
//!         ShardEntry {
//!             section: "server1".into(),
//!             begin: 500,
//!             end: 999,
//!             primary: "127.0.0.1:3002",
//!             backup: Some("127.0.0.1:3003"),
//!         },
//!     ],
//! )?;
//! let entry = table.lookup(123_456_789); // shard 789
//! assert_eq!((entry.primary, entry.backup), ("127.0.0.1:3002", Some("127.0.0.1:3003")));
//!
//! let overlapping = ShardTable::new(
//!     1000,
//!     vec![
//!         ShardEntry { section: "server0".into(), begin: 0, end: 499, primary: "a", backup: None },
//!         ShardEntry { section: "server1".into(), begin: 400, end: 999, primary: "b", backup: None },
//!     ],
//! );
//! assert_eq!(
//!     overlapping.unwrap_err().to_string(),
//!     "[server1] shardbegin=400 overlaps [server0] 0..499"
//! );
//! # Ok::<(), svrkit_ring::Error>(())
//! ```

mod ketama;
mod shard;

use std::fmt;

pub use ketama::{digest_count, key_hash, Ring, Successors};
pub use shard::{ShardEntry, ShardTable};

/// Everything that can be wrong with a ring's node list or a shard table.
///
/// Shard errors name config sections in brackets (`[server1]`) and the INI keys
/// (`shardbegin`, `shardend`, `shardsum`); a caller that knows the file prefixes its name.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A ring node has weight 0 (libketama rejects it too).
    ZeroWeight {
        /// The node's address.
        node: String,
        /// Its index in the list.
        index: usize,
    },
    /// Two ring nodes have the same address.
    DuplicateNode {
        /// The address.
        node: String,
        /// Index of its first occurrence.
        first: usize,
        /// Index of the duplicate.
        second: usize,
    },
    /// More ring nodes than a `u32` can count.
    TooManyNodes {
        /// How many were given.
        count: usize,
    },
    /// `shardsum` is 0.
    ShardSumZero,
    /// A section's `shardbegin` is greater than its `shardend`.
    ShardRangeReversed {
        /// The section (`server1`).
        section: String,
        /// Its `shardbegin`.
        begin: u64,
        /// Its `shardend`.
        end: u64,
    },
    /// A section's `shardend` is not below `shardsum`.
    ShardOutOfRange {
        /// The section.
        section: String,
        /// Its `shardend`.
        end: u64,
        /// The table's `shardsum`.
        shardsum: u64,
    },
    /// A section's range starts inside an earlier (lower) range.
    ShardOverlap {
        /// The section whose `shardbegin` falls inside the other range.
        section: String,
        /// Its `shardbegin`.
        begin: u64,
        /// The section whose range it overlaps.
        other: String,
        /// That section's `shardbegin`.
        other_begin: u64,
        /// That section's `shardend`.
        other_end: u64,
    },
    /// The shards `first..=last` belong to no section.
    ShardGap {
        /// First uncovered shard.
        first: u64,
        /// Last uncovered shard.
        last: u64,
        /// The section whose range ends just before the gap, with its `shardend`.
        before: Option<(String, u64)>,
        /// The section whose range begins just after the gap, with its `shardbegin`.
        after: Option<(String, u64)>,
        /// The table's `shardsum`.
        shardsum: u64,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ZeroWeight { node, index } => {
                write!(f, "ring node #{index} ({node}) has weight 0; weights must be at least 1")
            }
            Error::DuplicateNode { node, first, second } => {
                write!(f, "ring node #{second} ({node}) duplicates node #{first}")
            }
            Error::TooManyNodes { count } => {
                write!(f, "{count} ring nodes is more than a ring can hold")
            }
            Error::ShardSumZero => write!(f, "shardsum=0: there must be at least one shard"),
            Error::ShardRangeReversed { section, begin, end } => {
                write!(f, "[{section}] shardbegin={begin} is greater than shardend={end}")
            }
            Error::ShardOutOfRange { section, end, shardsum } => write!(
                f,
                "[{section}] shardend={end} is past the last shard {} (shardsum={shardsum})",
                shardsum - 1
            ),
            Error::ShardOverlap { section, begin, other, other_begin, other_end } => write!(
                f,
                "[{section}] shardbegin={begin} overlaps [{other}] {other_begin}..{other_end}"
            ),
            Error::ShardGap { first, last, before, after, shardsum } => {
                if first == last {
                    write!(f, "shard {first} is not covered: ")?;
                } else {
                    write!(f, "shards {first}..{last} are not covered: ")?;
                }
                match (before, after) {
                    (Some((b, end)), Some((a, begin))) => write!(
                        f,
                        "[{b}] ends at shardend={end} and [{a}] begins at shardbegin={begin}"
                    ),
                    (None, Some((a, begin))) => {
                        write!(f, "the lowest range, [{a}], begins at shardbegin={begin}")
                    }
                    (Some((b, end)), None) => write!(
                        f,
                        "the highest range, [{b}], ends at shardend={end} (shardsum={shardsum})"
                    ),
                    (None, None) => write!(f, "no section has a shard range (shardsum={shardsum})"),
                }
            }
        }
    }
}

impl std::error::Error for Error {}
