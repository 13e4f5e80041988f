//! Rough cost of the proxy hop: calls/s of a svrkit client straight to a backend vs the
//! same client through `svrkit::proxy::Proxy` on a Unix socket (all in one process, so on
//! a 2-core machine the proxy competes with both ends for the CPU).
//!
//! ```text
//! cargo run --release -p svrkit --example proxy_bench [IN_FLIGHT] [CALLS_PER_TASK]
//! ```

use std::time::Instant;

use svrkit::client::{Client, Endpoint};
use svrkit::proxy::{Proxy, ProxyConfig};
use svrkit::server::{bind_all, Router, Server};
use svrkit::RpcError;

fn rate(client: &Client, method: &'static str, in_flight: usize, calls: usize) -> f64 {
    let start = Instant::now();
    smol::block_on(async {
        let tasks: Vec<_> = (0..in_flight)
            .map(|_| {
                let c = client.clone();
                smol::spawn(async move {
                    for i in 0..calls as i64 {
                        let sum: i64 = c.call(method, &(i, 1)).await.expect("call");
                        assert_eq!(sum, i + 1);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
    });
    (in_flight * calls) as f64 / start.elapsed().as_secs_f64()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let in_flight: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(32);
    let calls: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2_000);
    let router =
        Router::new().route("add", |(a, b): (i64, i64)| async move { Ok::<_, RpcError>(a + b) });
    let backend = Server::new(router).start(bind_all(&["127.0.0.1:0".parse()?])?)?;
    let dir = std::env::temp_dir().join(format!("svrkit-proxy-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let sock = dir.join("proxy.sock");
    let config = ProxyConfig::from_str(
        "bench.conf",
        &format!(
            "[proxy]\nunix_socket = {}\n[service0]\nname = calc\nservers = {}\n",
            sock.display(),
            backend.local_addrs()[0]
        ),
    )?;
    let proxy = smol::block_on(Proxy::start(&config))?;

    let direct = Client::connect_to(Endpoint::from(backend.local_addrs()[0].clone()));
    let via = Client::connect_to(Endpoint::unix(&sock));
    // Warm up both paths.
    rate(&direct, "add", 4, 200);
    rate(&via, "calc.add", 4, 200);
    let d = rate(&direct, "add", in_flight, calls);
    let v = rate(&via, "calc.add", in_flight, calls);
    let d1 = rate(&direct, "add", 1, calls);
    let v1 = rate(&via, "calc.add", 1, calls);
    println!(
        "{in_flight:>3} in flight: direct {d:>9.0} calls/s, via proxy {v:>9.0} calls/s ({:.2}x)",
        v / d
    );
    println!(
        "  1 in flight: direct {d1:>9.0} calls/s, via proxy {v1:>9.0} calls/s ({:.2}x)",
        v1 / d1
    );
    proxy.stop()?;
    backend.stop()?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
