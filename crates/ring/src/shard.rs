//! The shard table of sharding mode: `id % shardsum` -> the server range holding it.

use crate::Error;

/// One `[serverN]` section of a sharding client config: the shards
/// `begin..=end` served by `primary`, with `backup` (`ip_bak:port_bak`) to fail over to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardEntry<T> {
    /// The config section this entry comes from, without brackets (`server1`); errors name it.
    pub section: String,
    /// First shard of the range (`shardbegin`).
    pub begin: u64,
    /// Last shard of the range, inclusive (`shardend`).
    pub end: u64,
    /// The primary server (`ip:port`).
    pub primary: T,
    /// The backup server (`ip_bak:port_bak`), if configured.
    pub backup: Option<T>,
}

/// A validated shard table: the ranges of its entries cover `0..=shardsum-1` exactly once.
#[derive(Clone, Debug)]
pub struct ShardTable<T> {
    shardsum: u64,
    /// In the caller's order.
    entries: Vec<ShardEntry<T>>,
    /// `begins[i]` is the first shard of `entries[order[i]]`, ascending.
    begins: Vec<u64>,
    order: Vec<usize>,
}

impl<T> ShardTable<T> {
    /// Validates `entries` against `shardsum` and builds the table.
    ///
    /// Checks, in this order, reporting the first problem found: `shardsum > 0`
    /// ([`Error::ShardSumZero`]); in the given order, each entry's `begin <= end`
    /// ([`Error::ShardRangeReversed`]) and `end < shardsum` ([`Error::ShardOutOfRange`]);
    /// then, walking the ranges in ascending order, no range overlapping an earlier one
    /// ([`Error::ShardOverlap`]) and no shard left uncovered ([`Error::ShardGap`]).
    pub fn new(shardsum: u64, entries: Vec<ShardEntry<T>>) -> Result<Self, Error> {
        if shardsum == 0 {
            return Err(Error::ShardSumZero);
        }
        for e in &entries {
            if e.begin > e.end {
                return Err(Error::ShardRangeReversed {
                    section: e.section.clone(),
                    begin: e.begin,
                    end: e.end,
                });
            }
            if e.end >= shardsum {
                return Err(Error::ShardOutOfRange {
                    section: e.section.clone(),
                    end: e.end,
                    shardsum,
                });
            }
        }
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by_key(|&i| (entries[i].begin, i));
        // The next shard that must be covered, and the entry that covered the one before.
        let mut next = 0u64;
        let mut previous: Option<&ShardEntry<T>> = None;
        for &i in &order {
            let e = &entries[i];
            if let Some(p) = previous.filter(|_| e.begin < next) {
                return Err(Error::ShardOverlap {
                    section: e.section.clone(),
                    begin: e.begin,
                    other: p.section.clone(),
                    other_begin: p.begin,
                    other_end: p.end,
                });
            }
            if e.begin > next {
                return Err(Error::ShardGap {
                    first: next,
                    last: e.begin - 1,
                    before: previous.map(|p| (p.section.clone(), p.end)),
                    after: Some((e.section.clone(), e.begin)),
                    shardsum,
                });
            }
            next = e.end + 1;
            previous = Some(e);
        }
        if next < shardsum {
            return Err(Error::ShardGap {
                first: next,
                last: shardsum - 1,
                before: previous.map(|p| (p.section.clone(), p.end)),
                after: None,
                shardsum,
            });
        }
        let begins = order.iter().map(|&i| entries[i].begin).collect();
        Ok(ShardTable { shardsum, entries, begins, order })
    }

    /// The number of shards.
    pub fn shardsum(&self) -> u64 {
        self.shardsum
    }

    /// The entries in the order given to [`ShardTable::new`].
    pub fn entries(&self) -> &[ShardEntry<T>] {
        &self.entries
    }

    /// The shard of `id`: `id % shardsum`.
    pub fn shard_of(&self, id: u64) -> u64 {
        id % self.shardsum
    }

    /// The entry serving `id` (primary, then backup to fail over to).
    pub fn lookup(&self, id: u64) -> &ShardEntry<T> {
        &self.entries[self.lookup_index(id)]
    }

    /// The index in [`ShardTable::entries`] of the entry serving `id`.
    pub fn lookup_index(&self, id: u64) -> usize {
        self.index_of_shard(self.shard_of(id))
    }

    /// [`ShardTable::lookup`] for a signed id, with the modulo of the seed's Python client
    /// (`-1 % 1000 == 999`).
    pub fn lookup_i64(&self, id: i64) -> &ShardEntry<T> {
        let shard = i128::from(id).rem_euclid(i128::from(self.shardsum));
        // 0 <= shard < shardsum, so it fits in a u64.
        &self.entries[self.index_of_shard(shard as u64)]
    }

    fn index_of_shard(&self, shard: u64) -> usize {
        // The ranges tile 0..shardsum and begins[0] == 0, so the partition point is >= 1.
        let i = self.begins.partition_point(|&b| b <= shard) - 1;
        self.order[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(section: &str, begin: u64, end: u64) -> ShardEntry<&'static str> {
        ShardEntry { section: section.to_owned(), begin, end, primary: "p", backup: None }
    }

    #[test]
    fn lookup_picks_the_range_of_id_mod_shardsum() {
        let t = ShardTable::new(1000, vec![entry("server1", 500, 999), entry("server0", 0, 499)])
            .unwrap();
        let cases = [
            (0, 1),
            (499, 1),
            (500, 0),
            (999, 0),
            (1000, 1),
            (1499, 1),
            (1500, 0),
            (u64::MAX, 0), // 18446744073709551615 % 1000 = 615
        ];
        for (id, want) in cases {
            assert_eq!(t.lookup_index(id), want, "id {id}");
            assert_eq!(t.lookup(id).section, t.entries()[want].section);
        }
        assert_eq!(t.lookup_i64(-1).section, "server1");
        assert_eq!(t.lookup_i64(-501).section, "server0");
        assert_eq!(t.lookup_i64(i64::MIN).section, "server0"); // -9223372036854775808 mod 1000 = 192
    }

    #[test]
    fn single_shard_tables_work() {
        let t = ShardTable::new(1, vec![entry("server0", 0, 0)]).unwrap();
        assert_eq!(t.lookup(12345).section, "server0");
        assert_eq!(t.shard_of(12345), 0);
    }
}
