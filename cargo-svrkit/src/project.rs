//! Where things are in a service crate: its IDL, its configs, its package name, and where
//! the svrkit facade it depends on lives.

use anyhow::{bail, Context, Result};
use std::path::{Component, Path, PathBuf};
use svrkit_codegen::Workspace;

/// Seed 000's sample IDL (`svr_sample7.json`), the template of `cargo svrkit new`.
pub(crate) const SAMPLE_ECHO: &str = include_str!("../idl/echo.json");

/// The sample IDL with its `app` renamed.
pub(crate) fn sample_idl(app: &str) -> String {
    SAMPLE_ECHO.replacen("\"app\": \"echo\"", &format!("\"app\": \"{app}\""), 1)
}

/// A package name cargo and the IDL both accept: ASCII lower-case letters, digits, `-`
/// and `_`, starting with a letter.
pub(crate) fn check_package_name(name: &str) -> Result<()> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        bail!(
            "`{name}` is not a usable service name: use lower-case ASCII letters, digits, `-` \
             and `_`, starting with a letter (e.g. `echo`, `user-store`)"
        );
    }
    Ok(())
}

/// Parse and validate an IDL file; errors carry file:line:col, the line and a caret.
pub(crate) fn load_idl(path: &Path) -> Result<svrkit_idl::Idl> {
    svrkit_idl::parse_file(path).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The one `*.json` IDL in `dir`.
pub(crate) fn find_idl(dir: &Path) -> Result<PathBuf> {
    let found = files_ending(dir, ".json")?;
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("no IDL (*.json) in {}; name one: `cargo svrkit gen FILE`", shown(dir)),
        many => bail!(
            "several *.json files in {}: {}; name the IDL: `cargo svrkit gen FILE`",
            shown(dir),
            many.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The one `*_svr.conf` in `dir`.
pub(crate) fn server_conf(dir: &Path) -> Result<PathBuf> {
    one_file(dir, "_svr.conf", "-c CONF")
}

/// The one `*_cli.conf` in `dir`.
pub(crate) fn client_conf(dir: &Path) -> Result<PathBuf> {
    one_file(dir, "_cli.conf", "--conf FILE")
}

fn one_file(dir: &Path, suffix: &str, flag: &str) -> Result<PathBuf> {
    let found = files_ending(dir, suffix)?;
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("no *{suffix} in {}; is this a service crate? (or pass {flag})", shown(dir)),
        _ => bail!("several *{suffix} files in {}; pass {flag}", shown(dir)),
    }
}

fn files_ending(dir: &Path, suffix: &str) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("reading directory {}", shown(dir)))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_str().is_some_and(|n| n.ends_with(suffix)) && entry.path().is_file() {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

fn shown(dir: &Path) -> String {
    if dir.as_os_str().is_empty() || dir == Path::new(".") {
        "the current directory".to_string()
    } else {
        dir.display().to_string()
    }
}

/// The `[package] name` of `dir/Cargo.toml`, if the file exists.
pub(crate) fn package_name(dir: &Path) -> Result<Option<String>> {
    let path = dir.join("Cargo.toml");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package {
            if let Some(rest) = line.strip_prefix("name") {
                if let Some(value) = rest.trim_start().strip_prefix('=') {
                    return Ok(Some(value.trim().trim_matches('"').to_string()));
                }
            }
        }
    }
    bail!("{} has no [package] name", path.display())
}

/// The facade of the checkout this binary was built from (`cargo install --path
/// cargo-svrkit` records it at compile time).
pub(crate) fn installed_svrkit_path() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/svrkit");
    normalize(&path).display().to_string()
}

/// `--svrkit-path DIR` as Cargo.toml of the crate in `crate_dir` should name it: relative
/// to the crate when both live under a common directory, else absolute.
pub(crate) fn dep_path(given: &Path, crate_dir: &Path) -> Result<String> {
    let target = given
        .canonicalize()
        .with_context(|| format!("--svrkit-path {}: no such directory", given.display()))?;
    if !target.join("Cargo.toml").is_file() {
        bail!("--svrkit-path {}: no Cargo.toml there (point it at crates/svrkit)", given.display());
    }
    let base = crate_dir.canonicalize()?;
    Ok(relative(&target, &base).unwrap_or(target).display().to_string())
}

/// `target` relative to `base` (both absolute and normalized).
fn relative(target: &Path, base: &Path) -> Option<PathBuf> {
    let t: Vec<Component> = target.components().collect();
    let b: Vec<Component> = base.components().collect();
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common <= 1 {
        return None; // only the root in common
    }
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c.as_os_str());
    }
    Some(out)
}

/// Remove `.` and `..` components without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Whether the crate in `dir` is listed as a member of an enclosing workspace (then its
/// Cargo.toml must not declare a workspace of its own).
pub(crate) fn workspace_mode(dir: &Path) -> Workspace {
    let Ok(dir) = dir.canonicalize() else {
        return Workspace::Standalone;
    };
    for ancestor in dir.ancestors().skip(1) {
        let Ok(text) = std::fs::read_to_string(ancestor.join("Cargo.toml")) else {
            continue;
        };
        if !text.contains("[workspace]") {
            continue;
        }
        let Ok(rel) = dir.strip_prefix(ancestor) else {
            return Workspace::Standalone;
        };
        let rel = rel.display().to_string();
        let parent_glob = rel.rsplit_once('/').map(|(p, _)| format!("\"{p}/*\""));
        let listed =
            text.contains(&format!("\"{rel}\"")) || parent_glob.is_some_and(|g| text.contains(&g));
        return if listed { Workspace::Member } else { Workspace::Standalone };
    }
    Workspace::Standalone
}

/// What regenerating the crate in `dir` from `idl` would do, writing nothing. The crate's
/// package name comes from its Cargo.toml (else the IDL's app).
pub(crate) fn plan_regeneration(idl: &Path, dir: &Path) -> Result<crate::files::Report> {
    let model = load_idl(idl)?;
    let package = match package_name(dir)? {
        Some(p) => p,
        None => model.app.as_str().replace('_', "-"),
    };
    let options = svrkit_codegen::Options {
        idl_file: idl
            .file_name()
            .and_then(|n| n.to_str())
            .context("the IDL path has no file name")?
            .to_string(),
        package,
        svrkit: svrkit_codegen::SvrkitDep::Path(installed_svrkit_path()),
        workspace: workspace_mode(dir),
    };
    let output = svrkit_codegen::generate(&model, &options);
    crate::files::plan(dir, &output.files)
}

/// One line about a validated IDL.
pub(crate) fn summary(idl: &svrkit_idl::Idl) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let mut s = format!(
        "app `{}`: {}, {}",
        idl.app,
        plural(idl.protos.len(), "proto"),
        plural(idl.rpc_server.apis.len(), "API")
    );
    if let Some(ss) = &idl.self_server {
        s.push_str(&format!(
            ", self_server {} with {}",
            ss.dispatch_type.as_str(),
            plural(ss.groups.len(), "group")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed examples are exactly what the generator makes today: regenerate them
    /// with `cargo run -p cargo-svrkit -- svrkit gen -d examples/NAME` when this fails.
    #[test]
    fn committed_examples_are_up_to_date() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        let mut seen = 0;
        for name in ["echo", "pysvrkit-echo", "compute"] {
            let dir = root.join(name);
            let idl = find_idl(&dir).unwrap();
            let report = plan_regeneration(&idl, &dir).unwrap();
            assert!(
                report.wrote_nothing(),
                "examples/{name} is stale; run `cargo run -p cargo-svrkit -- svrkit gen -d examples/{name}`: {:?}",
                report.entries
            );
            seen += 1;
        }
        assert_eq!(seen, 3);
    }

    /// The configs `gen` writes load with the facade for each of seed 001's `self_server`
    /// samples (simple thread, simple process_coroutine with coroutine_sum, custom process,
    /// custom process_coroutine).
    #[test]
    fn generated_configs_load_for_every_seed_self_server_sample() {
        use svrkit::config::{ClientConfig, DispatchType, ServerConfig};
        let samples = [
            r#"{"dispatch_type": "simple", "worker_type": "thread", "worker_sum": 4}"#,
            r#"{"dispatch_type": "simple", "worker_type": "process_coroutine", "worker_sum": 2,
                "coroutine_sum": 100}"#,
            r#"{"dispatch_type": "custom", "worker_type": "process", "groups": [
                {"group_name": "event", "worker_sum": 2}, {"group_name": "value", "worker_sum": 2}]}"#,
            r#"{"dispatch_type": "custom", "worker_type": "process_coroutine", "groups": [
                {"group_name": "event", "worker_sum": 2, "coroutine_sum": 100},
                {"group_name": "value", "worker_sum": 2, "coroutine_sum": 100}]}"#,
        ];
        let head = &SAMPLE_ECHO[..SAMPLE_ECHO.find("\"self_server\"").unwrap()];
        let options = svrkit_codegen::Options {
            idl_file: "echo.json".to_string(),
            package: "echo".to_string(),
            svrkit: svrkit_codegen::SvrkitDep::Path("../svrkit".to_string()),
            workspace: Workspace::Standalone,
        };
        for sample in samples {
            let idl = svrkit_idl::parse(&format!("{head}\"self_server\": {sample}\n}}\n")).unwrap();
            let out = svrkit_codegen::generate(&idl, &options);
            let file = |suffix: &str| out.files.iter().find(|f| f.path.ends_with(suffix)).unwrap();
            let (svr, cli) = (file("_svr.conf"), file("_cli.conf"));
            let cfg = ServerConfig::from_str(&svr.path, &svr.contents)
                .unwrap_or_else(|e| panic!("{sample}: {e}\n{}", svr.contents));
            let dispatch = cfg.self_server.expect("self_server written").dispatch;
            if sample.contains("simple") && sample.contains("coroutine_sum") {
                assert_eq!(
                    dispatch,
                    DispatchType::Simple { worker_sum: 2, coroutine_sum: Some(100) }
                );
            }
            ClientConfig::from_str(&cli.path, &cli.contents).unwrap();
        }
    }

    #[test]
    fn idl_errors_name_file_line_column_with_a_caret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        let text = SAMPLE_ECHO.replace("\"req_proto\": \"echomsg\"", "\"req_proto\": \"echomsgg\"");
        std::fs::write(&path, text).unwrap();
        let err = load_idl(&path).unwrap_err().to_string();
        assert!(err.contains("bad.json:31:"), "{err}");
        assert!(err.contains("unknown proto"), "{err}");
        assert!(err.contains("did you mean \"echomsg\""), "{err}");
        assert!(err.contains("^^^"), "{err}");
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative(Path::new("/w/main/crates/svrkit"), Path::new("/w/main/examples/echo")),
            Some(PathBuf::from("../../crates/svrkit"))
        );
        assert_eq!(relative(Path::new("/a/b"), Path::new("/c/d")), None);
        assert_eq!(
            normalize(Path::new("/w/x/../crates/./svrkit")),
            PathBuf::from("/w/crates/svrkit")
        );
    }

    #[test]
    fn sample_is_renamed_and_valid() {
        let idl = svrkit_idl::parse(&sample_idl("shop")).unwrap();
        assert_eq!(idl.app.as_str(), "shop");
        assert_eq!(idl.rpc_server.apis.len(), 4);
    }

    #[test]
    fn package_names() {
        assert!(check_package_name("echo").is_ok());
        assert!(check_package_name("user-store2").is_ok());
        assert!(check_package_name("Echo").is_err());
        assert!(check_package_name("2echo").is_err());
    }

    #[test]
    fn reads_package_name() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(package_name(dir.path()).unwrap(), None);
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"pysvrkit-echo\"\nversion = \"0.1.0\"\n\n[dependencies]\nname = 1\n",
        )
        .unwrap();
        assert_eq!(package_name(dir.path()).unwrap().as_deref(), Some("pysvrkit-echo"));
    }
}
