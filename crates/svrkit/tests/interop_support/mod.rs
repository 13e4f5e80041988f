//! Test support for the interop tests: runs the Python peers of `tests/py/` (written on
//! the `msgpack` package alone) as child processes that are always killed and reaped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};

/// The `tests/py/` folder.
pub(crate) fn py_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py")
}

/// Fails with a clear message when Python or its `msgpack` package is missing.
pub(crate) fn require_python_msgpack() {
    let ok = Command::new("python3")
        .args(["-c", "import msgpack"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "the interop tests need python3 with the msgpack package: run `cargo xtask setup` \
         (or `python3 -m pip install msgpack`)"
    );
}

/// A child process killed and reaped on drop.
pub(crate) struct ChildGuard {
    child: Child,
    _stdout: Option<BufReader<ChildStdout>>,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `tests/py/rpc_server.py` with `args` and waits for its `LISTENING <where>` line.
/// Its stdin stays open: the script exits by itself if this process dies.
pub(crate) fn python_server(args: &[&str]) -> (ChildGuard, String) {
    require_python_msgpack();
    let mut child = Command::new("python3")
        .arg(py_dir().join("rpc_server.py"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start python3");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut guard = ChildGuard { child, _stdout: None };
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read the server's first line");
    guard._stdout = Some(stdout);
    let place = line
        .trim()
        .strip_prefix("LISTENING ")
        .unwrap_or_else(|| panic!("unexpected first line from rpc_server.py: {line:?}"))
        .to_string();
    (guard, place)
}

/// Runs `tests/py/rpc_client.py` with `args` to completion (bounded by its own timeouts).
pub(crate) fn python_client(args: &[&str]) -> Output {
    require_python_msgpack();
    let child = Command::new("python3")
        .arg(py_dir().join("rpc_client.py"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python3");
    // wait_with_output reaps it; the script bounds every socket operation with a timeout.
    child.wait_with_output().expect("wait for rpc_client.py")
}
