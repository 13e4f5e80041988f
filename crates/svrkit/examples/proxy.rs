//! `svrkit proxy` as a tiny program: reads a proxy config (INI, see `svrkit::proxy`) and
//! serves until SIGTERM / SIGINT.
//!
//! ```text
//! cargo run -p svrkit --example proxy -- proxy.conf
//! ```
//!
//! ```ini
//! [proxy]
//! unix_socket = /tmp/svrkit-proxy.sock
//! [service0]
//! name = echo
//! zk = 127.0.0.1:2181
//! ```
//! A thin client then calls `echo.echo1` (or just `echo1`: one service is the default) on
//! the socket and the proxy balances each call across the `echo` servers registered in
//! ZooKeeper under `/svrkit/echo/providers`.

use std::process::ExitCode;

use svrkit::proxy::{Proxy, ProxyConfig};

fn main() -> ExitCode {
    svrkit::init_logging();
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: proxy PROXY.CONF");
        return ExitCode::from(2);
    };
    let run = || -> Result<(), Box<dyn std::error::Error>> {
        let config = ProxyConfig::load(&path)?;
        let proxy = smol::block_on(Proxy::start(&config))?;
        eprintln!("proxy: listening on {:?}", proxy.local_addrs());
        proxy.run_until_signal()?;
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("proxy: {e}");
            ExitCode::FAILURE
        }
    }
}
