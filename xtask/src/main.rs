//! `cargo xtask`: the project's automation, one binary behind a cargo alias.
//!
//! - `cargo xtask ci`: what CI runs — set-up, fmt check, clippy (warnings denied), the whole
//!   test suite, rustdoc (warnings denied) and a short fuzz smoke run.
//! - `cargo xtask test`: set-up, then the whole test suite.
//! - `cargo xtask setup`: install what the suite needs when it is missing (Python's
//!   `msgpack` and `kazoo` for interop tests, Debian's ZooKeeper for discovery tests).
//! - `cargo xtask fuzz [--seconds N]`: run every fuzz target for N seconds each.
//! - `cargo xtask demo`: the project's main job, end to end.
//! - `cargo xtask bench [--quick]`: the echomsg benchmark table (svrkit vs raw TCP and tarpc).

mod setup;
#[cfg(test)]
mod tidy;

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use xshell::{cmd, Shell};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    let task = args.first().map(String::as_str).unwrap_or("help");
    let rest = &args[args.len().min(1)..];
    match task {
        "ci" => ci(&sh),
        "test" => test(&sh),
        "setup" => setup::run(&sh),
        "fuzz" => fuzz(&sh, seconds_flag(rest, 30)?),
        "demo" => demo(&sh),
        "bench" => bench(&sh, rest),
        "help" | "-h" | "--help" => {
            println!("{}", HELP);
            Ok(())
        }
        other => bail!("unknown task `{other}`\n\n{HELP}"),
    }
}

const HELP: &str = "\
usage: cargo xtask <task>

tasks:
  ci                 set-up, fmt check, clippy -D warnings, tests, rustdoc -D warnings, fuzz smoke
  test               set-up, then the whole test suite
  setup              install what the tests need (pip msgpack/kazoo, apt zookeeper) if missing
  fuzz [--seconds N] run each fuzz target for N seconds (default 30)
  demo               the main job, end to end
  bench [--quick]    release build of bench/, then the echomsg table vs raw TCP and tarpc
                     (svrkit-bench harness flags pass through; JSON under target/bench/)";

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn seconds_flag(rest: &[String], default: u64) -> Result<u64> {
    match rest {
        [] => Ok(default),
        [flag, n] if flag == "--seconds" => Ok(n.parse()?),
        _ => bail!("expected `--seconds N`, got {rest:?}"),
    }
}

fn ci(sh: &Shell) -> Result<()> {
    setup::run(sh)?;
    cmd!(sh, "cargo fmt --all -- --check").run()?;
    cmd!(sh, "cargo clippy --workspace --all-targets --locked -- -D warnings").run()?;
    run_tests(sh)?;
    {
        let _env = sh.push_env("RUSTDOCFLAGS", "-D warnings");
        cmd!(sh, "cargo doc --workspace --no-deps --locked").run()?;
    }
    fuzz(sh, 10)?;
    println!("xtask ci: all checks passed");
    Ok(())
}

fn test(sh: &Shell) -> Result<()> {
    setup::run(sh)?;
    run_tests(sh)
}

fn run_tests(sh: &Shell) -> Result<()> {
    cmd!(sh, "cargo test --workspace --locked --no-fail-fast").run()?;
    Ok(())
}

/// `cargo xtask bench`: build bench/ in release and run its harness (every flag after
/// `bench` goes to `svrkit-bench harness`, e.g. `--quick`, `--impls raw,tarpc`).
fn bench(sh: &Shell, rest: &[String]) -> Result<()> {
    let out = project_root().join("target").join("bench");
    // Both binaries: the harness starts `svrkit-bench-app` for the process worker modes.
    cmd!(sh, "cargo build --release --quiet -p svrkit-bench").run()?;
    cmd!(
        sh,
        "cargo run --release --quiet -p svrkit-bench --bin svrkit-bench -- harness --out {out} {rest...}"
    )
    .run()?;
    Ok(())
}

/// Every fuzz target, briefly. cargo-fuzz needs nightly flags; the stable toolchain accepts
/// them with RUSTC_BOOTSTRAP=1.
fn fuzz(sh: &Shell, seconds: u64) -> Result<()> {
    setup::cargo_fuzz(sh)?;
    let _boot = sh.push_env("RUSTC_BOOTSTRAP", "1");
    let _dir = sh.push_dir("fuzz");
    let targets = cmd!(sh, "cargo fuzz list").read()?;
    let max_time = format!("-max_total_time={seconds}");
    for target in targets.lines().map(str::trim).filter(|t| !t.is_empty()) {
        let seeds = format!("seeds/{target}");
        let corpus = format!("corpus/{target}");
        sh.create_dir(&corpus)?;
        let mut dirs = vec![corpus];
        if sh.path_exists(&seeds) {
            dirs.push(seeds);
        }
        cmd!(sh, "cargo fuzz run {target} {dirs...} -- {max_time} -rss_limit_mb=2048").run()?;
    }
    Ok(())
}

/// The main job end to end: install cargo-svrkit from this checkout, scaffold the echo
/// service (seed 000) into target/demo, build it, run its server as a daemon on a free
/// port, call every API once with `cargo svrkit call`, and stop it. Prints results only.
fn demo(sh: &Shell) -> Result<()> {
    let root = project_root();
    let demo = root.join("target/demo");
    let service = demo.join("echo");
    sh.create_dir(&demo)?;
    println!("installing cargo-svrkit from this checkout into target/demo/bin ...");
    {
        let _target = sh.push_env("CARGO_TARGET_DIR", demo.join("target"));
        cmd!(sh, "cargo install --quiet --debug --locked --path cargo-svrkit --root {demo}")
            .quiet()
            .run()?;
    }
    let svrkit = demo.join("bin/cargo-svrkit");
    if service.exists() {
        sh.remove_path(&service)?;
    }
    {
        let _dir = sh.push_dir(&demo);
        cmd!(sh, "{svrkit} svrkit new echo").quiet().ignore_stdout().run()?;
    }
    println!("scaffolded target/demo/echo from seed 000's echo.json");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let pid = demo.join("echo.pid");
    let conf = service.join("echo_svr.conf");
    let text = sh.read_file(&conf)?;
    let text = text
        .replace("ip=0.0.0.0", "ip=127.0.0.1")
        .replace("port=3000", &format!("port={port}"))
        .replace("pid=/tmp/echo.pid", &format!("pid={}", pid.display()));
    sh.write_file(&conf, text)?;
    sh.copy_file(root.join("Cargo.lock"), service.join("Cargo.lock"))?;
    let _dir = sh.push_dir(&service);
    let _target = sh.push_env("CARGO_TARGET_DIR", demo.join("target"));
    println!("building it ...");
    cmd!(sh, "cargo build --quiet").quiet().run()?;
    let bin = demo.join("target/debug/echo");
    cmd!(sh, "{bin} -c echo_svr.conf -d").quiet().ignore_stdout().run()?;
    println!("echo server running on 127.0.0.1:{port} (daemon, pid file {})", pid.display());
    let addr = format!("127.0.0.1:{port}");
    let calls = [
        ("echo1", r#"{"my_string":"hi","vec_int":[1,2,3],"dict_string":{"1":"a"}}"#),
        ("echo2", "{}"),
        ("echo3", "{}"),
        ("echo4", r#"{"my_string":"one way in"}"#),
    ];
    let mut result = Ok(());
    for (method, json) in calls {
        let out = cmd!(sh, "{svrkit} svrkit call {method} {json} --addr {addr}").quiet().read();
        match out {
            Ok(out) => {
                let compact: String = out.split_whitespace().collect::<Vec<_>>().join(" ");
                println!("  {method} {json}\n    -> {compact}");
            }
            Err(e) => {
                result = Err(e.into());
                break;
            }
        }
    }
    cmd!(sh, "{bin} -c echo_svr.conf stop").quiet().ignore_stdout().run()?;
    println!("stopped (graceful, via the pid file)");
    result
}
