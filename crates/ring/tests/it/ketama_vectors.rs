//! The ring against continua and key placements computed by libketama (see vectors/README.md).

use std::fs;
use std::path::{Path, PathBuf};

use svrkit_ring::Ring;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// Rows of a tab-separated file after its header line.
fn rows(path: &Path) -> Vec<(String, String)> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .map(|line| {
            let (a, b) = line.split_once('\t').expect("two tab-separated columns");
            (a.to_owned(), b.to_owned())
        })
        .collect()
}

fn ring_of(servers: &Path) -> Ring<String> {
    let text = fs::read_to_string(servers).unwrap();
    let nodes = text.lines().map(|line| {
        let (addr, weight) = line.split_once('\t').expect("addr<TAB>weight");
        (addr.to_owned(), weight.parse::<u32>().expect("weight"))
    });
    Ring::new(nodes).unwrap()
}

/// Checks one vector set; returns the number of keys checked.
fn check_set(name: &str) -> usize {
    let dir = vectors_dir();
    let ring = ring_of(&dir.join(format!("{name}.servers")));

    let want_points = rows(&dir.join(format!("{name}_points.tsv")));
    let got_points: Vec<(String, String)> =
        ring.points().map(|(p, node)| (p.to_string(), ring.node(node).unwrap().clone())).collect();
    assert_eq!(got_points.len(), want_points.len(), "{name}: number of points");
    for (i, (got, want)) in got_points.iter().zip(&want_points).enumerate() {
        assert_eq!(got, want, "{name}: point #{i}");
    }

    let keys = rows(&dir.join(format!("{name}.tsv")));
    let wrong: Vec<String> = keys
        .iter()
        .filter(|(key, node)| ring.get(key) != Some(node))
        .map(|(key, node)| format!("{key}: want {node}, got {:?}", ring.get(key)))
        .collect();
    assert!(
        wrong.is_empty(),
        "{name}: {} of {} keys misplaced, e.g. {:?}",
        wrong.len(),
        keys.len(),
        &wrong[..wrong.len().min(5)]
    );
    keys.len()
}

#[test]
fn real_libketama_three_equal_servers_2000_of_2000() {
    assert_eq!(check_set("libketama_equal"), 2000);
}

#[test]
fn weighted_five_servers() {
    assert_eq!(check_set("ctrans_weighted5"), 2000);
}

#[test]
fn sixty_one_equal_servers_get_39_digests_each() {
    assert_eq!(check_set("ctrans_equal61"), 2000);
}

/// Weights for which an all-`f32` quota is wrong for 3 nodes and an all-`f64` one for 12.
#[test]
fn twenty_three_servers_with_tricky_weights() {
    assert_eq!(check_set("ctrans_mixed23"), 2000);
}

/// Every set in the folder is checked, so a new vector file cannot be forgotten.
#[test]
fn every_vector_set_in_the_folder_passes() {
    let mut names: Vec<String> = fs::read_dir(vectors_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".servers").map(str::to_owned)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 4, "vector sets found: {names:?}");
    for name in names {
        check_set(&name);
    }
}
