//! Helpers for the app tests: temp dirs, configs, and a guard around a real
//! `svrkit-app-echo` process (its own process group, killed and reaped on drop).

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use svrkit::client::BlockingClient;
use svrkit::config::ClientConfig;

/// The service binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_svrkit-app-echo");

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "svrkit-app-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }

    /// Writes `app_echo_svr.conf` and returns its path.
    pub fn conf(&self, text: &str) -> PathBuf {
        let p = self.join("app_echo_svr.conf");
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `[app]` + `[rpc_server]` on 127.0.0.1:0 with `worker_sum = 2`.
pub fn rpc_conf(dir: &TempDir, mode: &str) -> String {
    format!(
        "[app]\nname = app_echo\npid = {}\n\n[rpc_server]\nip = 127.0.0.1\nport = 0\n\
         worker_type = {mode}\nworker_sum = 2\ncoroutine_sum = 64\ndrain_timeout = 5s\n",
        dir.join("app_echo.pid").display()
    )
}

/// `[self_server]` with groups `beat` (2 workers, 2 coroutines) and `crashy` (1 worker).
pub fn self_conf(worker_type: &str) -> String {
    format!(
        "\n[self_server]\ndispatch_type = custom\nworker_type = {worker_type}\ngroup_sum = 2\n\n\
         [self_group0]\ngroup_name = beat\nworker_sum = 2\ncoroutine_sum = 2\n\n\
         [self_group1]\ngroup_name = crashy\nworker_sum = 1\n"
    )
}

/// Polls `cond` every 10 ms until it holds; panics after `timeout` with `what`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `sig` (`TERM`, `KILL`...) to `target` (a pid, or `-PGID`).
pub fn kill(sig: &str, target: &str) -> bool {
    Command::new("kill")
        .args([&format!("-{sig}"), "--", target])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn is_alive(pid: u32) -> bool {
    // A zombie is dead for our purposes.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        }
        Err(_) => false,
    }
}

/// The worker processes of `master` with their `SVRKIT_ROLE` (`rpc` / `self`).
pub fn children(master: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else { return out };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() < 2 || fields[0] == "Z" || fields[1].parse::<u32>().ok() != Some(master) {
            continue;
        }
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let role = env
            .split(|b| *b == 0)
            .find_map(|kv| kv.strip_prefix(b"SVRKIT_ROLE="))
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        out.push((pid, role));
    }
    out.sort();
    out
}

/// Live processes started for the test directory `dir` (their environment holds its
/// `APP_ECHO_DIR`): masters, workers, daemons.
pub fn processes_of(dir: &TempDir) -> Vec<u32> {
    let needle = format!("APP_ECHO_DIR={}", dir.path().display());
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else { return out };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) && is_alive(pid) {
            out.push(pid);
        }
    }
    out
}

/// The last `listening on ADDR` line of a log.
pub fn listening_addr(log: &str) -> Option<SocketAddr> {
    let line = log.lines().rev().find(|l| l.contains(" listening on "))?;
    let rest = line.split(" listening on ").nth(1)?;
    rest.split([',', ' ', ';']).find_map(|w| w.parse().ok())
}

/// A heartbeat file: (beat count, pid, restarts).
pub fn heartbeat(dir: &TempDir, name: &str) -> Option<(u64, u32, u32)> {
    let text = std::fs::read_to_string(dir.join(&format!("hb-{name}"))).ok()?;
    let mut it = text.split_whitespace().map(|w| w.parse::<u64>().ok());
    Some((it.next()??, it.next()?? as u32, it.next()?? as u32))
}

/// Lines of `slow.log` (one per `slow` call that reached its handler).
pub fn slow_calls(dir: &TempDir) -> usize {
    std::fs::read_to_string(dir.join("slow.log")).map_or(0, |t| t.lines().count())
}

/// A client with one attempt per call (so a failure is visible, not retried away).
pub fn client(addr: SocketAddr, retries: u32, timeout: Duration) -> BlockingClient {
    BlockingClient::new(ClientConfig::single(addr).with_retries(retries).with_timeout(timeout))
        .unwrap()
}

/// A running `svrkit-app-echo` in its own process group; killed (whole group) on drop.
pub struct Server {
    child: Child,
    pub log: PathBuf,
    pub addr: SocketAddr,
    status: Option<ExitStatus>,
}

impl Server {
    /// Starts `BIN -c conf` with `APP_ECHO_DIR=dir` and waits for its `listening on` line.
    pub fn start(dir: &TempDir, conf: &Path, env: &[(&str, &str)]) -> Server {
        let log = dir.join("stderr.log");
        let child = command(dir, env)
            .arg("-c")
            .arg(conf)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .process_group(0)
            .spawn()
            .unwrap();
        let mut server = Server { child, log, addr: "0.0.0.0:0".parse().unwrap(), status: None };
        server.addr = wait_for(Duration::from_secs(30), "the server to listen", || {
            if let Ok(Some(st)) = server.child.try_wait() {
                panic!("the server exited at start with {st}:\n{}", server.log_text());
            }
            listening_addr(&server.log_text())
        });
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, sig: &str) {
        assert!(kill(sig, &self.pid().to_string()), "kill -{sig} {}", self.pid());
    }

    /// Waits (bounded) for the master to exit and returns its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let st = wait_for(timeout, "the server to exit", || self.child.try_wait().unwrap());
        self.status = Some(st);
        st
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        kill("KILL", &format!("-{}", self.child.id()));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary with `APP_ECHO_DIR` set and the inherited environment cleaned of svrkit's
/// role variables.
pub fn command(dir: &TempDir, env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir.path()).env("APP_ECHO_DIR", dir.path()).env("SVRKIT_LOG", "info");
    c.env_remove("RUST_BACKTRACE");
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// Runs the binary to completion (bounded) and returns (exit code, stdout, stderr).
pub fn run(dir: &TempDir, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out_path = dir.join(".out");
    let err_path = dir.join(".err");
    let mut child = command(dir, env)
        .args(args)
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let status = {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{args:?} did not finish in 40 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    (status.code().unwrap_or(-1), read(&out_path), read(&err_path))
}

/// How many threads of `pid` have a name starting with `prefix` (Linux truncates names to
/// 15 bytes).
pub fn threads_named(pid: u32, prefix: &str) -> usize {
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    rd.flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.trim_end().starts_with(prefix))
        })
        .count()
}
