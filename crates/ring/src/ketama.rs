//! The libketama-compatible md5 consistent-hash ring, with ejection of failing nodes.

use std::fmt;
use std::io::Write as _;

use crate::Error;

/// Digests per node of average weight, as in libketama (`40` hashes, 4 points each).
const DIGESTS_PER_NODE: f64 = 40.0;

/// Hashes a key as libketama's `ketama_hashi` does: the little-endian `u32` made of the
/// first four bytes of `md5(key)`.
///
/// ```
/// // md5("") = d41d8cd9 8f00b204 ...
/// assert_eq!(svrkit_ring::key_hash(""), 0xd98c_1dd4);
/// ```
pub fn key_hash(key: impl AsRef<[u8]>) -> u32 {
    let digest = md5::compute(key.as_ref());
    u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// The number of md5 digests (4 ring points each) that libketama gives a node of weight
/// `weight` when `nodes` nodes weigh `total_weight` in all.
///
/// This reproduces the C expression `floorf(pct * 40.0 * (float)numservers)` with
/// `float pct = (float)weight / (float)total` bit for bit: `pct` is rounded to `f32`, the
/// products are taken in `f64` (`40.0` is a double literal), and the result is rounded back
/// to `f32` by `floorf`'s parameter before the floor. Neither an all-`f32` nor an all-`f64`
/// computation agrees with it: with 61 equal nodes it gives 39 where `f64` gives 40, and
/// with 7 equal nodes it gives 40 where `f64` gives 39.
///
/// ```
/// use svrkit_ring::digest_count;
/// assert_eq!(digest_count(1, 3, 3), 40);
/// assert_eq!(digest_count(1, 61, 61), 39);
/// assert_eq!(digest_count(3, 4, 2), 60);
/// ```
pub fn digest_count(weight: u32, total_weight: u64, nodes: usize) -> u32 {
    if total_weight == 0 {
        return 0;
    }
    // The `as` conversions are the C conversions: integer -> float rounds to nearest.
    let pct = weight as f32 / total_weight as f32;
    let product = f64::from(pct) * DIGESTS_PER_NODE * f64::from(nodes as f32);
    // double -> float (the implicit conversion to floorf's argument), then floor.
    (product as f32).floor() as u32
}

/// One node of a [`Ring`]: the caller's value, its weight and whether it is ejected.
#[derive(Clone, Debug)]
struct Node<T> {
    value: T,
    weight: u32,
    ejected: bool,
}

/// A libketama-compatible consistent-hash ring over nodes of type `T`.
///
/// Nodes are identified by their index in the list given to [`Ring::new`] (the order of
/// [`Ring::nodes`]); `T` is whatever the caller wants back (an address, a connection
/// handle) and its [`AsRef<str>`] text, `ip:port`, is what gets hashed.
///
/// Lookups never move a key between two live nodes because of an ejection: see
/// [`Ring::eject`].
#[derive(Clone)]
pub struct Ring<T> {
    nodes: Vec<Node<T>>,
    /// Ring points in ascending order (ties in node order, as libketama's sort leaves them).
    hashes: Vec<u32>,
    /// `owners[i]` is the node index of `hashes[i]`.
    owners: Vec<u32>,
    /// Number of ejected nodes, so that the common case skips the live check.
    ejected: usize,
}

impl<T: AsRef<str>> Ring<T> {
    /// Builds the ring of `nodes`, each `(node, weight)`, exactly as libketama's
    /// `ketama_create_continuum` does for the same list.
    ///
    /// An empty list gives an empty ring (every lookup returns `None`). Errors: a weight of
    /// 0 ([`Error::ZeroWeight`]), two nodes with the same address
    /// ([`Error::DuplicateNode`]).
    pub fn new(nodes: impl IntoIterator<Item = (T, u32)>) -> Result<Self, Error> {
        let nodes: Vec<Node<T>> = nodes
            .into_iter()
            .map(|(value, weight)| Node { value, weight, ejected: false })
            .collect();
        validate(&nodes)?;
        Ok(Self::build(nodes))
    }

    /// Adds a node (a membership change) and rebuilds the ring; returns the new node's index
    /// (the last one). Ejected nodes stay ejected.
    ///
    /// Like libketama, a rebuild recomputes every node's share from the new total weight,
    /// so keys may also move between the old nodes when their digest counts change (never
    /// with equal weights unless the node count crosses a rounding step such as 61).
    pub fn add(&mut self, node: T, weight: u32) -> Result<usize, Error> {
        let mut nodes = std::mem::take(&mut self.nodes);
        nodes.push(Node { value: node, weight, ejected: false });
        if let Err(error) = validate(&nodes) {
            nodes.pop();
            self.nodes = nodes;
            return Err(error);
        }
        *self = Self::build(nodes);
        Ok(self.nodes.len() - 1)
    }

    /// Removes the node at `index` (a membership change) and rebuilds the ring; returns it
    /// with its weight. The indices of the nodes after it shift down by one, as in
    /// [`Vec::remove`]. Same caveat about weights as [`Ring::add`].
    ///
    /// # Panics
    /// If `index` is out of bounds.
    pub fn remove(&mut self, index: usize) -> (T, u32) {
        let mut nodes = std::mem::take(&mut self.nodes);
        let removed = nodes.remove(index);
        // A sublist of a valid list is valid.
        *self = Self::build(nodes);
        (removed.value, removed.weight)
    }

    /// The index of the node whose address is `addr`.
    pub fn position(&self, addr: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.value.as_ref() == addr)
    }

    /// Builds the continuum of a list that passed [`validate`].
    fn build(nodes: Vec<Node<T>>) -> Self {
        let total: u64 = nodes.iter().map(|n| u64::from(n.weight)).sum();
        let counts: Vec<u32> =
            nodes.iter().map(|n| digest_count(n.weight, total, nodes.len())).collect();
        let capacity = counts.iter().map(|&c| c as usize * 4).sum();
        // Each point packed as `point << 32 | owner`: sorting the u64s sorts by point, then
        // by node order.
        let mut points: Vec<u64> = Vec::with_capacity(capacity);
        let mut text = Vec::with_capacity(64);
        for (index, (node, &count)) in nodes.iter().zip(&counts).enumerate() {
            // `validate` checked that every index fits in a u32.
            let owner = index as u64;
            let addr = node.value.as_ref().as_bytes();
            for k in 0..count {
                text.clear();
                text.extend_from_slice(addr);
                // Writing to a Vec cannot fail.
                let _ = write!(text, "-{k}");
                let digest = md5::compute(&text);
                for chunk in digest.0.chunks_exact(4) {
                    let point = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                    points.push(u64::from(point) << 32 | owner);
                }
            }
        }
        // libketama qsorts by point only; glibc's qsort is a stable merge sort, so equal
        // points stay in node order. Sorting by (point, owner) gives that same order.
        points.sort_unstable();
        let ejected = nodes.iter().filter(|n| n.ejected).count();
        Ring {
            hashes: points.iter().map(|&p| (p >> 32) as u32).collect(),
            owners: points.iter().map(|&p| p as u32).collect(),
            nodes,
            ejected,
        }
    }
}

fn validate<T: AsRef<str>>(nodes: &[Node<T>]) -> Result<(), Error> {
    if u32::try_from(nodes.len()).is_err() {
        return Err(Error::TooManyNodes { count: nodes.len() });
    }
    let mut seen = std::collections::HashMap::with_capacity(nodes.len());
    for (index, node) in nodes.iter().enumerate() {
        let addr = node.value.as_ref();
        if node.weight == 0 {
            return Err(Error::ZeroWeight { node: addr.to_owned(), index });
        }
        if let Some(first) = seen.insert(addr, index) {
            return Err(Error::DuplicateNode { node: addr.to_owned(), first, second: index });
        }
    }
    Ok(())
}

impl<T> Ring<T> {
    /// The number of nodes, ejected ones included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the ring has no nodes at all.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The number of nodes that are not ejected.
    pub fn live_len(&self) -> usize {
        self.nodes.len() - self.ejected
    }

    /// The node at `index`, if any.
    pub fn node(&self, index: usize) -> Option<&T> {
        self.nodes.get(index).map(|n| &n.value)
    }

    /// The weight of the node at `index`, if any.
    pub fn weight(&self, index: usize) -> Option<u32> {
        self.nodes.get(index).map(|n| n.weight)
    }

    /// All nodes with their weights, in index order (ejected ones included).
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = (&T, u32)> + '_ {
        self.nodes.iter().map(|n| (&n.value, n.weight))
    }

    /// The ring points in ascending order, each with its node index, ejected nodes'
    /// points included: the continuum libketama builds for the same list.
    pub fn points(&self) -> impl ExactSizeIterator<Item = (u32, usize)> + '_ {
        self.hashes.iter().zip(&self.owners).map(|(&h, &o)| (h, o as usize))
    }

    /// Ejects the node at `index`: lookups skip its points, so its keys go to the next live
    /// point on the ring and every other key stays where it was. Its weight still counts,
    /// so [`Ring::readmit`] restores the exact previous mapping. Returns whether the node
    /// was live before. Out-of-range indices are ignored (returns `false`).
    pub fn eject(&mut self, index: usize) -> bool {
        match self.nodes.get_mut(index) {
            Some(node) if !node.ejected => {
                node.ejected = true;
                self.ejected += 1;
                true
            }
            _ => false,
        }
    }

    /// Readmits an ejected node: its keys come back to it. Returns whether it was ejected.
    pub fn readmit(&mut self, index: usize) -> bool {
        match self.nodes.get_mut(index) {
            Some(node) if node.ejected => {
                node.ejected = false;
                self.ejected -= 1;
                true
            }
            _ => false,
        }
    }

    /// Whether the node at `index` is ejected (`false` for an unknown index).
    pub fn is_ejected(&self, index: usize) -> bool {
        self.nodes.get(index).is_some_and(|n| n.ejected)
    }

    /// The index of the live node that owns `key`: the node of the first point at or after
    /// [`key_hash`]`(key)`, wrapping to the first point, skipping ejected nodes' points.
    /// `None` if no live node has a point (an empty ring, every node ejected, or only nodes
    /// whose weight is too small a fraction of the total to earn a digest, as in libketama).
    pub fn lookup(&self, key: impl AsRef<[u8]>) -> Option<usize> {
        self.lookup_hash(key_hash(key))
    }

    /// [`Ring::lookup`] for a key already hashed with [`key_hash`].
    pub fn lookup_hash(&self, hash: u32) -> Option<usize> {
        let start = self.start(hash)?;
        if self.ejected == 0 {
            return Some(self.owners[start] as usize);
        }
        if self.ejected == self.nodes.len() {
            return None;
        }
        self.owners[start..]
            .iter()
            .chain(&self.owners[..start])
            .map(|&o| o as usize)
            .find(|&o| !self.nodes[o].ejected)
    }

    /// The node that owns `key` (see [`Ring::lookup`]).
    pub fn get(&self, key: impl AsRef<[u8]>) -> Option<&T> {
        self.lookup(key).map(|i| &self.nodes[i].value)
    }

    /// The distinct live nodes in ring order starting from `key`'s owner: the order in
    /// which to fail over. The first item is [`Ring::lookup`]`(key)`; each live node comes
    /// exactly once.
    pub fn successors(&self, key: impl AsRef<[u8]>) -> Successors<'_, T> {
        self.successors_hash(key_hash(key))
    }

    /// [`Ring::successors`] for a key already hashed with [`key_hash`].
    pub fn successors_hash(&self, hash: u32) -> Successors<'_, T> {
        let start = self.start(hash).unwrap_or(0);
        Successors {
            ring: self,
            next: start,
            steps: 0,
            seen: vec![false; self.nodes.len()],
            remaining: self.live_len(),
        }
    }

    /// Index of the first point >= `hash`, wrapping to 0; `None` for a ring without points.
    fn start(&self, hash: u32) -> Option<usize> {
        if self.hashes.is_empty() {
            return None;
        }
        let i = self.hashes.partition_point(|&p| p < hash);
        Some(if i == self.hashes.len() { 0 } else { i })
    }
}

impl<T: fmt::Debug> fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("nodes", &self.nodes)
            .field("points", &self.hashes.len())
            .finish()
    }
}

/// Iterator over distinct live node indices in ring order; see [`Ring::successors`].
#[derive(Debug)]
pub struct Successors<'a, T> {
    ring: &'a Ring<T>,
    next: usize,
    steps: usize,
    seen: Vec<bool>,
    remaining: usize,
}

impl<T> Iterator for Successors<'_, T> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let len = self.ring.owners.len();
        while self.remaining > 0 && self.steps < len {
            let owner = self.ring.owners[self.next] as usize;
            self.next = if self.next + 1 == len { 0 } else { self.next + 1 };
            self.steps += 1;
            if !self.seen[owner] && !self.ring.nodes[owner].ejected {
                self.seen[owner] = true;
                self.remaining -= 1;
                return Some(owner);
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(nodes: &[(&'static str, u32)]) -> Ring<&'static str> {
        Ring::new(nodes.iter().copied()).unwrap()
    }

    /// Values of the C expression, compiled with gcc on x86-64 and printed.
    #[test]
    fn digest_count_matches_the_c_float_expression() {
        // (weight, total, nodes, C result)
        let cases = [
            (1, 3, 3, 40),
            (1, 7, 7, 40),     // all-f64 gives 39
            (1, 25, 25, 40),   // all-f32 gives 39
            (1, 61, 61, 39),   // f64 gives 40
            (1, 100, 100, 40), // all-f32 gives 39
            (1, 122, 122, 39),
            (3, 4, 2, 60),
            (1, 4, 2, 20),
        ];
        for (w, total, n, want) in cases {
            assert_eq!(digest_count(w, total, n), want, "w={w} total={total} n={n}");
        }
    }

    #[test]
    fn equal_nodes_get_160_points_each_except_at_rounding_steps() {
        let names: Vec<String> = (0..61).map(|i| format!("10.0.0.{i}:11211")).collect();
        let r = Ring::new(names.iter().map(|n| (n.as_str(), 1))).unwrap();
        assert_eq!(r.points().len(), 61 * 39 * 4);
        let r = Ring::new(names[..60].iter().map(|n| (n.as_str(), 1))).unwrap();
        assert_eq!(r.points().len(), 60 * 40 * 4);
    }

    #[test]
    fn points_are_the_md5_words_of_addr_dash_k() {
        let r = ring(&[("a:1", 1)]);
        let mut want: Vec<u32> = (0..40)
            .flat_map(|k| {
                let d = md5::compute(format!("a:1-{k}"));
                (0..4).map(move |h| u32::from_le_bytes(d[4 * h..4 * h + 4].try_into().unwrap()))
            })
            .collect();
        want.sort_unstable();
        let got: Vec<u32> = r.points().map(|p| p.0).collect();
        assert_eq!(got, want);
    }

    /// A hand-made ring to pin down the search: first point >= hash, wrapping.
    fn manual() -> Ring<&'static str> {
        Ring {
            nodes: ["a", "b", "c"]
                .into_iter()
                .map(|value| Node { value, weight: 1, ejected: false })
                .collect(),
            hashes: vec![10, 20, 20, 30],
            owners: vec![0, 1, 2, 2],
            ejected: 0,
        }
    }

    #[test]
    fn lookup_takes_the_first_point_at_or_after_the_hash() {
        let r = manual();
        let cases = [
            (0, 0),
            (5, 0),
            (10, 0),
            (11, 1),
            (20, 1), // equal points: the first one of the run wins, as in ketama_get_server
            (21, 2),
            (30, 2),
            (31, 0),
            (u32::MAX, 0),
        ];
        for (hash, want) in cases {
            assert_eq!(r.lookup_hash(hash), Some(want), "hash {hash}");
        }
    }

    #[test]
    fn ejected_nodes_are_skipped_and_readmitted() {
        let mut r = manual();
        assert!(r.eject(1));
        assert!(!r.eject(1));
        assert_eq!(r.lookup_hash(15), Some(2));
        assert_eq!(r.lookup_hash(5), Some(0));
        assert!(r.eject(2));
        assert_eq!(r.lookup_hash(25), Some(0));
        assert_eq!(r.live_len(), 1);
        assert!(r.eject(0));
        assert_eq!(r.lookup_hash(25), None);
        assert_eq!(r.successors_hash(25).next(), None);
        assert!(r.readmit(1));
        assert!(!r.readmit(1));
        assert_eq!(r.lookup_hash(25), Some(1));
        assert!(!r.eject(7));
    }

    #[test]
    fn successors_visit_each_live_node_once_in_ring_order() {
        let mut r = manual();
        assert_eq!(r.successors_hash(21).collect::<Vec<_>>(), [2, 0, 1]);
        assert_eq!(r.successors_hash(11).collect::<Vec<_>>(), [1, 2, 0]);
        r.eject(2);
        assert_eq!(r.successors_hash(21).collect::<Vec<_>>(), [0, 1]);
    }

    #[test]
    fn empty_ring_has_no_owner() {
        let r: Ring<String> = Ring::new([]).unwrap();
        assert!(r.is_empty());
        assert_eq!(r.lookup("k"), None);
        assert_eq!(r.successors("k").count(), 0);
    }

    #[test]
    fn a_node_too_light_for_a_digest_gets_no_keys() {
        let mut r = ring(&[("light:1", 1), ("heavy:1", 1000)]);
        assert_eq!(digest_count(1, 1001, 2), 0);
        assert!(r.points().all(|(_, n)| n == 1));
        assert_eq!(r.lookup("k"), Some(1));
        r.eject(1);
        assert_eq!(r.lookup("k"), None);
        assert_eq!(r.successors("k").count(), 0);
    }

    #[test]
    fn bad_node_lists_are_rejected() {
        let e = Ring::new([("a:1", 1), ("b:1", 0)]).unwrap_err();
        assert_eq!(e.to_string(), "ring node #1 (b:1) has weight 0; weights must be at least 1");
        let e = Ring::new([("a:1", 1), ("b:1", 2), ("a:1", 3)]).unwrap_err();
        assert_eq!(e.to_string(), "ring node #2 (a:1) duplicates node #0");
    }

    #[test]
    fn add_and_remove_rebuild_and_keep_ejections() {
        let mut r = ring(&[("a:1", 1), ("b:1", 1)]);
        r.eject(1);
        assert_eq!(r.add("c:1", 1), Ok(2));
        assert!(r.is_ejected(1));
        assert_eq!(r.points().len(), 3 * 160);
        assert_eq!(r.position("c:1"), Some(2));
        assert!(r.add("a:1", 5).is_err());
        assert_eq!(r.len(), 3);
        assert_eq!(r.remove(0), ("a:1", 1));
        assert!(r.is_ejected(0));
        assert_eq!(r.live_len(), 1);
        assert_eq!(r.points().len(), 2 * 160);
    }
}
