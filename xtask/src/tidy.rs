//! Tidy checks, run as ordinary `#[test]`s: file headers, the one-way dependency graph of
//! STYLE.md, and no tokio in the runtime crates.

use cargo_metadata::{DependencyKind, Metadata, MetadataCommand, PackageId};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The allowed workspace dependency edges (normal and build dependencies). A crate not
/// listed here may depend on no workspace crate. Test and bench packages are free.
const ALLOWED_EDGES: &[(&str, &[&str])] = &[
    ("svrkit-codec", &[]),
    ("svrkit-ring", &[]),
    ("svrkit-idl", &[]),
    ("svrkit-worker", &[]),
    ("svrkit-transport", &["svrkit-codec"]),
    ("svrkit-codegen", &["svrkit-idl"]),
    ("svrkit-discovery", &["svrkit-ring"]),
    (
        "svrkit",
        &["svrkit-codec", "svrkit-ring", "svrkit-transport", "svrkit-worker", "svrkit-discovery"],
    ),
    ("cargo-svrkit", &["svrkit-codegen", "svrkit-idl", "svrkit"]),
    // Generated services (examples/) depend on the facade only.
    ("echo", &["svrkit"]),
    ("pysvrkit-echo", &["svrkit"]),
    ("compute", &["svrkit"]),
    ("xtask", &[]),
];

/// Packages that may depend on anything in the workspace (they are never depended upon).
const FREE_PACKAGES: &[&str] = &["svrkit-e2e", "svrkit-bench"];

/// Crates that run inside a service: tokio must not reach them.
const RUNTIME_CRATES: &[&str] = &[
    "svrkit-codec",
    "svrkit-ring",
    "svrkit-idl",
    "svrkit-transport",
    "svrkit-worker",
    "svrkit-discovery",
    "svrkit",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn metadata() -> Metadata {
    MetadataCommand::new().manifest_path(root().join("Cargo.toml")).exec().expect("cargo metadata")
}

fn check_edges(edges: &[(String, String)]) -> Vec<String> {
    let allowed: HashMap<&str, &[&str]> = ALLOWED_EDGES.iter().copied().collect();
    let mut bad = Vec::new();
    for (from, to) in edges {
        if FREE_PACKAGES.contains(&from.as_str()) {
            continue;
        }
        match allowed.get(from.as_str()) {
            Some(ok) if ok.contains(&to.as_str()) => {}
            Some(_) => bad.push(format!("{from} -> {to} is not an allowed edge (see STYLE.md)")),
            None => bad.push(format!(
                "{from} is not in tidy's ALLOWED_EDGES; add it with the edges it may have"
            )),
        }
    }
    bad
}

#[test]
fn dependency_graph_is_one_way() {
    let meta = metadata();
    let members: HashSet<&PackageId> = meta.workspace_members.iter().collect();
    let names: HashSet<String> = meta
        .packages
        .iter()
        .filter(|p| members.contains(&p.id))
        .map(|p| p.name.to_string())
        .collect();
    let mut edges = Vec::new();
    for pkg in meta.packages.iter().filter(|p| members.contains(&p.id)) {
        for dep in &pkg.dependencies {
            if dep.kind != DependencyKind::Development && names.contains(&dep.name) {
                edges.push((pkg.name.to_string(), dep.name.clone()));
            }
        }
        if !FREE_PACKAGES.contains(&pkg.name.as_str())
            && !ALLOWED_EDGES.iter().any(|(n, _)| *n == pkg.name.as_str())
        {
            edges.push((pkg.name.to_string(), String::from("<any>")));
        }
    }
    let bad = check_edges(&edges);
    assert!(bad.is_empty(), "dependency graph violations:\n{}", bad.join("\n"));
}

#[test]
fn edge_check_rejects_a_backward_edge() {
    let edges = vec![("svrkit-codec".to_string(), "svrkit-transport".to_string())];
    assert_eq!(check_edges(&edges).len(), 1);
    let edges = vec![("svrkit-transport".to_string(), "svrkit-codec".to_string())];
    assert!(check_edges(&edges).is_empty());
}

#[test]
fn no_tokio_in_runtime_crates() {
    let meta = metadata();
    let resolve = meta.resolve.as_ref().expect("resolve graph");
    let nodes: HashMap<&PackageId, _> = resolve.nodes.iter().map(|n| (&n.id, n)).collect();
    let pkgs: HashMap<&PackageId, _> = meta.packages.iter().map(|p| (&p.id, p)).collect();
    let mut bad = BTreeSet::new();
    for pkg in meta.packages.iter().filter(|p| RUNTIME_CRATES.contains(&p.name.as_str())) {
        let mut stack = vec![(&pkg.id, vec![pkg.name.to_string()])];
        let mut seen = HashSet::new();
        while let Some((id, path)) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            let Some(node) = nodes.get(id) else { continue };
            for dep in &node.deps {
                let normal = dep.dep_kinds.iter().any(|k| k.kind != DependencyKind::Development);
                if !normal {
                    continue;
                }
                let name = pkgs[&dep.pkg].name.to_string();
                let mut p = path.clone();
                p.push(name.clone());
                if name == "tokio" {
                    bad.insert(p.join(" -> "));
                } else {
                    stack.push((&dep.pkg, p));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "tokio reaches a runtime crate:\n{}",
        bad.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// Every tracked `.rs` file starts with a `//!` line saying what it is for.
#[test]
fn every_rust_file_has_a_doc_header() {
    let out = std::process::Command::new("git")
        .args(["ls-files", "--cached", "--others", "--exclude-standard", "*.rs"])
        .current_dir(root())
        .output()
        .expect("git ls-files");
    let files = String::from_utf8(out.stdout).unwrap();
    let mut bad = Vec::new();
    for file in files.lines() {
        let text = std::fs::read_to_string(root().join(file)).unwrap_or_default();
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if !first.starts_with("//!") {
            bad.push(file.to_string());
        }
    }
    assert!(bad.is_empty(), "files without a leading `//!` doc line:\n{}", bad.join("\n"));
}
