//! Properties of the ring: minimal remapping on ejection and membership change, failover
//! order, and balance proportional to weight.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use svrkit_ring::{digest_count, key_hash, Ring};

/// Deterministic runs: the balance bounds are statistical, so they are checked on a fixed
/// sample of rings rather than a new one on every run.
fn config() -> Config {
    Config {
        cases: 64,
        rng_seed: RngSeed::Fixed(0x5eed_0003),
        failure_persistence: None,
        ..Config::default()
    }
}

fn addr(i: usize) -> String {
    format!("10.1.{}.{}:7000", i / 200, i % 200)
}

/// 2..=max nodes with weights in 1..=max_weight.
fn node_list(max: usize, max_weight: u32) -> impl Strategy<Value = Vec<(String, u32)>> {
    prop::collection::vec(1..=max_weight, 2..=max)
        .prop_map(|ws| ws.into_iter().enumerate().map(|(i, w)| (addr(i), w)).collect())
}

fn keys() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[a-z0-9:]{1,16}", 1..200)
}

/// The owner of `hash` computed the slow way: the first live point >= hash, else the first
/// live point.
fn brute_force(ring: &Ring<String>, hash: u32) -> Option<usize> {
    let live: Vec<(u32, usize)> = ring.points().filter(|&(_, n)| !ring.is_ejected(n)).collect();
    live.iter().find(|&&(p, _)| p >= hash).or(live.first()).map(|&(_, n)| n)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn ejection_moves_only_the_ejected_nodes_keys(
        nodes in node_list(12, 5),
        keys in keys(),
        eject_mask in any::<u16>(),
    ) {
        let mut ring = Ring::new(nodes.clone()).unwrap();
        let before: Vec<usize> = keys.iter().map(|k| ring.lookup(k).unwrap()).collect();
        let ejected: Vec<usize> = (0..nodes.len()).filter(|i| eject_mask & (1 << i) != 0).collect();
        for &i in &ejected {
            prop_assert!(ring.eject(i));
        }
        for (key, &owner) in keys.iter().zip(&before) {
            let after = ring.lookup(key);
            if ejected.contains(&owner) {
                prop_assert_eq!(after, brute_force(&ring, key_hash(key)));
                prop_assert!(after.is_none_or(|n| !ejected.contains(&n)));
            } else {
                prop_assert_eq!(after, Some(owner), "key {} left a live node", key);
            }
        }
        for &i in &ejected {
            prop_assert!(ring.readmit(i));
        }
        let readmitted: Vec<usize> = keys.iter().map(|k| ring.lookup(k).unwrap()).collect();
        prop_assert_eq!(readmitted, before);
    }

    #[test]
    fn successors_are_the_failover_order(
        nodes in node_list(10, 5),
        keys in keys(),
        eject_mask in any::<u16>(),
    ) {
        let mut ring = Ring::new(nodes.clone()).unwrap();
        for i in (0..nodes.len()).filter(|i| eject_mask & (1 << i) != 0) {
            ring.eject(i);
        }
        for key in &keys {
            let got: Vec<usize> = ring.successors(key).collect();
            // The slow way: live owners of the points from the key's position on, in order,
            // first appearances only.
            let hash = key_hash(key);
            let points: Vec<(u32, usize)> = ring.points().collect();
            let start = points.iter().position(|&(p, _)| p >= hash).unwrap_or(0);
            let mut want: Vec<usize> = Vec::new();
            for &(_, n) in points[start..].iter().chain(&points[..start]) {
                if !ring.is_ejected(n) && !want.contains(&n) {
                    want.push(n);
                }
            }
            prop_assert_eq!(got.first().copied(), ring.lookup(key));
            prop_assert_eq!(got.len(), ring.live_len());
            prop_assert_eq!(got, want);
        }
    }

    /// A membership change rebuilds the ring as libketama would; a key moves from X to Y
    /// only if it was on the removed node, X lost digests or Y gained some.
    #[test]
    fn removal_moves_keys_only_where_shares_changed(
        nodes in node_list(12, 5),
        keys in keys(),
        victim in any::<prop::sample::Index>(),
    ) {
        let full = Ring::new(nodes.clone()).unwrap();
        let victim = victim.index(nodes.len());
        let mut smaller = full.clone();
        let (gone, _) = smaller.remove(victim);

        let total: u64 = nodes.iter().map(|n| u64::from(n.1)).sum();
        let count = |ring: &Ring<String>, addr: &str, total: u64| {
            let i = ring.position(addr).unwrap();
            digest_count(ring.weight(i).unwrap(), total, ring.len())
        };
        let smaller_total = total - u64::from(nodes[victim].1);
        for key in &keys {
            let x = full.get(key).unwrap();
            let y = smaller.get(key).unwrap();
            if x == y || *x == gone {
                continue;
            }
            let x_shrank = count(&smaller, x, smaller_total) < count(&full, x, total);
            let y_grew = count(&smaller, y, smaller_total) > count(&full, y, total);
            prop_assert!(x_shrank || y_grew, "key {} moved from {} to {}", key, x, y);
        }

        // Adding the node back restores every placement.
        let mut restored = smaller;
        restored.add(gone, nodes[victim].1).unwrap();
        for key in &keys {
            prop_assert_eq!(restored.get(key), full.get(key));
        }
    }

    /// With equal weights the digest counts do not change (away from a rounding step), so
    /// removing a node moves its keys only.
    #[test]
    fn equal_weights_removal_moves_only_the_removed_nodes_keys(
        n in 2usize..40,
        keys in keys(),
        victim in any::<prop::sample::Index>(),
    ) {
        prop_assume!(digest_count(1, n as u64, n) == digest_count(1, n as u64 - 1, n - 1));
        let full = Ring::new((0..n).map(|i| (addr(i), 1))).unwrap();
        let mut smaller = full.clone();
        let (gone, _) = smaller.remove(victim.index(n));
        for key in &keys {
            let before = full.get(key).unwrap();
            if *before != gone {
                prop_assert_eq!(smaller.get(key), Some(before));
            }
        }
    }

    /// Each node's exact share of the hash space is close to its share of the weight: within
    /// five standard deviations of a ring of that many points, plus the rounding of its
    /// digest count.
    #[test]
    fn shares_follow_weights(nodes in node_list(20, 8)) {
        let ring = Ring::new(nodes.clone()).unwrap();
        let total: u64 = nodes.iter().map(|n| u64::from(n.1)).sum();
        let shares = arc_shares(&ring);
        for (i, (addr, weight)) in nodes.iter().enumerate() {
            let expected = f64::from(*weight) / total as f64;
            let digests = f64::from(digest_count(*weight, total, nodes.len()));
            let tolerance = 5.0 / (4.0 * digests).sqrt() + 1.0 / digests;
            let ratio = shares[i] / expected;
            prop_assert!(
                (ratio - 1.0).abs() <= tolerance,
                "{} (weight {}/{}) has {:.4} of the ring, expected {:.4}",
                addr, weight, total, shares[i], expected
            );
        }
    }
}

/// The fraction of the 2^32 hash space owned by each node (point `i` owns `(p[i-1], p[i]]`).
fn arc_shares(ring: &Ring<String>) -> Vec<f64> {
    let points: Vec<(u32, usize)> = ring.points().collect();
    let mut owned = vec![0u64; ring.len()];
    let last = points.last().unwrap().0;
    for (i, &(p, n)) in points.iter().enumerate() {
        owned[n] += if i == 0 {
            (1u64 << 32) - u64::from(last) + u64::from(p)
        } else {
            u64::from(p - points[i - 1].0)
        };
    }
    owned.iter().map(|&o| o as f64 / (1u64 << 32) as f64).collect()
}

/// Keys (not arcs) land in proportion to weight: 100,000 keys on weights 1..=10.
#[test]
fn keys_spread_in_proportion_to_weight() {
    let nodes: Vec<(String, u32)> = (0..10).map(|i| (addr(i), i as u32 + 1)).collect();
    let ring = Ring::new(nodes.clone()).unwrap();
    let mut counts = [0u32; 10];
    let n = 100_000;
    for k in 0..n {
        counts[ring.lookup(format!("user:{k}")).unwrap()] += 1;
    }
    for (i, count) in counts.iter().enumerate() {
        let expected = f64::from(n) * f64::from(nodes[i].1) / 55.0;
        let ratio = f64::from(*count) / expected;
        assert!(
            (0.7..=1.3).contains(&ratio),
            "node {i} (weight {}) got {count} keys, expected about {expected:.0}",
            nodes[i].1
        );
    }
}
