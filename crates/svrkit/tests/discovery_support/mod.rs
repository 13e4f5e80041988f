//! Test support for the discovery and proxy tests: in-process svrkit servers that register
//! in a real ZooKeeper (`svrkit_discovery::testing::ZkServer`), and bounded polling.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use svrkit::discovery::{ProviderMeta, Registration, ZkOptions};
use svrkit::server::{bind_all, Router, RunningServer, Server};
use svrkit::transport::Addr;
use svrkit::RpcError;

/// A svrkit server on loopback. Methods: `whoami []` -> its label; `slow [ms]` -> its label
/// after `ms` milliseconds; `fail []` -> error `[42, "boom from <label>"]`; `echo_params ..`
/// -> the params array itself, bytes unchanged (a raw route).
pub(crate) struct Backend {
    pub(crate) label: String,
    pub(crate) addr: SocketAddr,
    running: Option<RunningServer>,
    reg: Option<Registration>,
}

impl Backend {
    /// Starts the server (not registered yet).
    pub(crate) fn start(label: &str) -> Backend {
        let name = label.to_string();
        let (n1, n2, n3) = (name.clone(), name.clone(), name.clone());
        let router = Router::new()
            .route("whoami", move |(): ()| {
                let n = n1.clone();
                async move { Ok::<_, RpcError>(n) }
            })
            .route("slow", move |(ms,): (u64,)| {
                let n = n2.clone();
                async move {
                    async_io::Timer::after(Duration::from_millis(ms)).await;
                    Ok::<_, RpcError>(n)
                }
            })
            .route("fail", move |(): ()| {
                let n = n3.clone();
                async move { Err::<(), _>(RpcError::new(42, format!("boom from {n}"))) }
            })
            .route_raw("echo_params", |params: Vec<u8>| async move { Ok(params) });
        let running = Server::new(router)
            .start(bind_all(&["127.0.0.1:0".parse().unwrap()]).unwrap())
            .unwrap();
        let Addr::Tcp(addr) = running.local_addrs()[0].clone() else { panic!("not tcp") };
        Backend { label: name, addr, running: Some(running), reg: None }
    }

    /// Starts the server and registers it as a provider of `app`.
    pub(crate) fn registered(label: &str, zk: &ZkOptions, app: &str) -> Backend {
        let mut b = Backend::start(label);
        b.register(zk, app, ProviderMeta::new(100));
        b
    }

    /// Registers it as a provider of `app` with `meta`.
    pub(crate) fn register(&mut self, zk: &ZkOptions, app: &str, meta: ProviderMeta) {
        let reg = smol::block_on(Registration::register(zk, app, self.addr, &meta))
            .expect("register in ZooKeeper");
        self.reg = Some(reg);
    }

    /// Deregisters (the node is gone when this returns); the server keeps serving.
    pub(crate) fn deregister(&mut self) {
        if let Some(reg) = self.reg.take() {
            smol::block_on(reg.deregister()).expect("deregister");
        }
    }

    /// Graceful stop as a server does it: deregister first, then drain and stop.
    pub(crate) fn stop(mut self) {
        self.deregister();
        if let Some(running) = self.running.take() {
            running.stop().unwrap();
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.reg.take();
        if let Some(running) = self.running.take() {
            let _ = running.stop();
        }
    }
}

/// Polls `check` every 10 ms until it returns `Some`, for at most `limit`; panics naming
/// `what` otherwise.
pub(crate) fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A temporary folder removed on drop.
pub(crate) struct TempDir(pub(crate) std::path::PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "svrkit-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
