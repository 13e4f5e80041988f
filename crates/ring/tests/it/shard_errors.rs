//! The shard table: a corpus of tables with the exact outcome of each, and properties.

use expect_test::{expect, Expect};
use proptest::prelude::*;
use svrkit_ring::{ShardEntry, ShardTable};

/// Parses `"SHARDSUM: section BEGIN..END, ..."` (ranges inclusive) into a table.
fn table(input: &str) -> Result<ShardTable<String>, svrkit_ring::Error> {
    let (sum, rest) = input.split_once(':').expect("SHARDSUM: entries");
    let entries = rest
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (section, range) = e.split_once(' ').expect("section BEGIN..END");
            let (begin, end) = range.split_once("..").expect("BEGIN..END");
            ShardEntry {
                section: section.to_owned(),
                begin: begin.parse().unwrap(),
                end: end.parse().unwrap(),
                primary: format!("{section}-primary"),
                backup: Some(format!("{section}-backup")),
            }
        })
        .collect();
    ShardTable::new(sum.trim().parse().unwrap(), entries)
}

/// The error message of a bad table, or for a good one where a few ids go.
fn check(input: &str, expect: Expect) {
    let actual = match table(input) {
        Err(e) => format!("error: {e}"),
        Ok(t) => {
            let sum = t.shardsum();
            let ids = [0, sum / 2, sum - 1, sum, 3 * sum + 1];
            let routes: Vec<String> = ids
                .iter()
                .map(|&id| {
                    let e = t.lookup(id);
                    format!("{id}->{}|{}", e.primary, e.backup.as_deref().unwrap_or("-"))
                })
                .collect();
            format!("ok: {}", routes.join(" "))
        }
    };
    expect.assert_eq(&actual);
}

#[test]
fn seed_000_table() {
    check(
        "1000: server0 0..499, server1 500..999",
        expect![["ok: 0->server0-primary|server0-backup 500->server1-primary|server1-backup 999->server1-primary|server1-backup 1000->server0-primary|server0-backup 3001->server0-primary|server0-backup"]],
    );
}

#[test]
fn sections_in_any_order() {
    check(
        "10: c 7..9, a 0..2, b 3..6",
        expect![["ok: 0->a-primary|a-backup 5->b-primary|b-backup 9->c-primary|c-backup 10->a-primary|a-backup 31->a-primary|a-backup"]],
    );
}

#[test]
fn one_shard() {
    check(
        "1: server0 0..0",
        expect![["ok: 0->server0-primary|server0-backup 0->server0-primary|server0-backup 0->server0-primary|server0-backup 1->server0-primary|server0-backup 4->server0-primary|server0-backup"]],
    );
}

#[test]
fn shardsum_zero() {
    check("0: server0 0..0", expect![["error: shardsum=0: there must be at least one shard"]]);
}

#[test]
fn begin_after_end() {
    check(
        "1000: server0 0..499, server1 600..500",
        expect![["error: [server1] shardbegin=600 is greater than shardend=500"]],
    );
}

#[test]
fn end_at_shardsum() {
    check(
        "1000: server0 0..499, server1 500..1000",
        expect![["error: [server1] shardend=1000 is past the last shard 999 (shardsum=1000)"]],
    );
}

#[test]
fn overlap_with_the_lower_range() {
    check(
        "1000: server0 0..499, server1 400..999",
        expect![["error: [server1] shardbegin=400 overlaps [server0] 0..499"]],
    );
}

#[test]
fn overlap_reported_on_the_higher_range_whatever_the_order() {
    check(
        "1000: server0 500..999, server1 0..600",
        expect![["error: [server0] shardbegin=500 overlaps [server1] 0..600"]],
    );
}

#[test]
fn overlap_by_one_shard() {
    check(
        "1000: server0 0..500, server1 500..999",
        expect![["error: [server1] shardbegin=500 overlaps [server0] 0..500"]],
    );
}

#[test]
fn same_range_twice() {
    check(
        "1000: server0 0..999, server1 0..999",
        expect![["error: [server1] shardbegin=0 overlaps [server0] 0..999"]],
    );
}

#[test]
fn range_inside_another() {
    check(
        "1000: server0 0..999, server1 100..199",
        expect![["error: [server1] shardbegin=100 overlaps [server0] 0..999"]],
    );
}

#[test]
fn gap_between_ranges() {
    check(
        "1000: server0 0..499, server1 600..999",
        expect![["error: shards 500..599 are not covered: [server0] ends at shardend=499 and [server1] begins at shardbegin=600"]],
    );
}

#[test]
fn gap_of_one_shard() {
    check(
        "1000: server0 0..499, server1 501..999",
        expect![["error: shard 500 is not covered: [server0] ends at shardend=499 and [server1] begins at shardbegin=501"]],
    );
}

#[test]
fn gap_at_the_start() {
    check(
        "1000: server0 100..499, server1 500..999",
        expect![["error: shards 0..99 are not covered: the lowest range, [server0], begins at shardbegin=100"]],
    );
}

#[test]
fn gap_at_the_end() {
    check(
        "1000: server0 0..499, server1 500..899",
        expect![["error: shards 900..999 are not covered: the highest range, [server1], ends at shardend=899 (shardsum=1000)"]],
    );
}

#[test]
fn no_ranges_at_all() {
    check(
        "1000:",
        expect![[
            "error: shards 0..999 are not covered: no section has a shard range (shardsum=1000)"
        ]],
    );
}

/// `lengths` cut `0..sum` into consecutive ranges, listed in a shuffled order.
fn tiling() -> impl Strategy<Value = (u64, Vec<(u64, u64)>)> {
    prop::collection::vec(1u64..50, 1..20).prop_flat_map(|lengths| {
        let mut ranges = Vec::new();
        let mut begin = 0;
        for len in &lengths {
            ranges.push((begin, begin + len - 1));
            begin += len;
        }
        (Just(begin), Just(ranges).prop_shuffle())
    })
}

fn entries(ranges: &[(u64, u64)]) -> Vec<ShardEntry<usize>> {
    ranges
        .iter()
        .enumerate()
        .map(|(i, &(begin, end))| ShardEntry {
            section: format!("server{i}"),
            begin,
            end,
            primary: i,
            backup: None,
        })
        .collect()
}

proptest! {
    #[test]
    fn every_tiling_is_accepted_and_routes_ids_into_their_range(
        (sum, ranges) in tiling(),
        ids in prop::collection::vec(any::<u64>(), 1..50),
    ) {
        let table = ShardTable::new(sum, entries(&ranges)).unwrap();
        for id in ids {
            let e = table.lookup(id);
            prop_assert!((e.begin..=e.end).contains(&(id % sum)));
            prop_assert_eq!(table.entries()[table.lookup_index(id)].primary, e.primary);
        }
    }

    /// Moving one range boundary by one shard always breaks the tiling.
    #[test]
    fn a_boundary_off_by_one_is_rejected(
        (sum, ranges) in tiling(),
        which in any::<prop::sample::Index>(),
        grow in any::<bool>(),
        at_end in any::<bool>(),
    ) {
        let mut ranges = ranges;
        let i = which.index(ranges.len());
        let (begin, end) = &mut ranges[i];
        match (at_end, grow) {
            (true, true) => *end += 1,
            (true, false) => *end = end.wrapping_sub(1),
            (false, true) => *begin = begin.wrapping_sub(1),
            (false, false) => *begin += 1,
        }
        prop_assert!(ShardTable::new(sum, entries(&ranges)).is_err());
    }
}
