//! Installs what the test suite needs, only when it is missing, on a Debian machine.

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

/// Python packages the interop tests import.
const PY_PACKAGES: &[(&str, &str)] = &[("msgpack", "msgpack"), ("kazoo", "kazoo")];

/// The ZooKeeper jar of Debian's `zookeeper` package.
pub(crate) const ZK_JAR: &str = "/usr/share/java/zookeeper.jar";

pub(crate) fn run(sh: &Shell) -> Result<()> {
    python(sh)?;
    zookeeper(sh)?;
    Ok(())
}

fn python(sh: &Shell) -> Result<()> {
    for (module, package) in PY_PACKAGES {
        let import = format!("import {module}");
        if cmd!(sh, "python3 -c {import}").quiet().ignore_stderr().run().is_err() {
            println!("setup: installing Python package {package}");
            cmd!(sh, "python3 -m pip install --quiet --disable-pip-version-check {package}")
                .run()
                .with_context(|| format!("pip install {package}"))?;
        }
    }
    Ok(())
}

fn zookeeper(sh: &Shell) -> Result<()> {
    if std::path::Path::new(ZK_JAR).exists() {
        return Ok(());
    }
    println!("setup: installing Debian's zookeeper package");
    let _env = sh.push_env("DEBIAN_FRONTEND", "noninteractive");
    cmd!(sh, "apt-get update -qq").run().context("apt-get update")?;
    cmd!(sh, "apt-get install -y -qq --no-install-recommends zookeeper")
        .run()
        .context("apt-get install zookeeper")?;
    Ok(())
}

/// cargo-fuzz from crates.io, when it is not installed yet.
pub(crate) fn cargo_fuzz(sh: &Shell) -> Result<()> {
    if cmd!(sh, "cargo fuzz --version").quiet().ignore_stdout().ignore_stderr().run().is_err() {
        println!("setup: installing cargo-fuzz");
        cmd!(sh, "cargo install --locked cargo-fuzz").run().context("cargo install cargo-fuzz")?;
    }
    Ok(())
}
