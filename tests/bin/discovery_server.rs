//! A svrkit server that registers in ZooKeeper, for the discovery end-to-end tests: the
//! seed-003 `server.py` (listen, register, serve; SIGTERM = deregister, drain, exit 0).
//!
//! ```text
//! e2e-discovery-server --zk 127.0.0.1:2181 --app echo --name s1 [--weight 100]
//!                      [--session-timeout-ms 2000]
//! ```
//! Prints `READY <ip:port>` once registered and `STOPPED` after a graceful stop. Methods:
//! `whoami []` -> the name; `work [ms]` -> the name after `ms` milliseconds.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use svrkit::discovery::{ProviderMeta, Registration, ZkOptions};
use svrkit::server::{bind_all, Router, Server, ShutdownHandle};
use svrkit::transport::Addr;
use svrkit::RpcError;

fn main() -> ExitCode {
    svrkit::init_logging();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("e2e-discovery-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let zk = arg("--zk").ok_or("--zk HOSTS is required")?;
    let app = arg("--app").ok_or("--app NAME is required")?;
    let name = arg("--name").ok_or("--name LABEL is required")?;
    let weight: u32 = arg("--weight").map(|w| w.parse()).transpose()?.unwrap_or(100);
    let session = arg("--session-timeout-ms").map(|t| t.parse::<u64>()).transpose()?;

    let (n1, n2) = (name.clone(), name.clone());
    let router = Router::new()
        .route("whoami", move |(): ()| {
            let n = n1.clone();
            async move { Ok::<_, RpcError>(n) }
        })
        .route("work", move |(ms,): (u64,)| {
            let n = n2.clone();
            async move {
                smol::Timer::after(Duration::from_millis(ms)).await;
                Ok::<_, RpcError>(n)
            }
        });
    let running = Server::new(router).start(bind_all(&["127.0.0.1:0".parse()?])?)?;
    let Addr::Tcp(addr) = running.local_addrs()[0].clone() else { return Err("not TCP".into()) };

    let mut opts = ZkOptions::new(&zk)?;
    if let Some(ms) = session {
        opts = opts.with_session_timeout(Duration::from_millis(ms));
    }
    let reg =
        smol::block_on(Registration::register(&opts, &app, addr, &ProviderMeta::new(weight)))?;
    println!("READY {addr}");
    std::io::stdout().flush()?;

    let signal = ShutdownHandle::new();
    signal.stop_on_signals()?;
    smol::block_on(signal.stopped());
    // Graceful stop: leave the registry first, so clients stop sending, then drain.
    if let Err(e) = smol::block_on(reg.deregister()) {
        eprintln!("e2e-discovery-server: deregister: {e}");
    }
    running.stop()?;
    println!("STOPPED");
    Ok(())
}
