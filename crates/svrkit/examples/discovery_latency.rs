//! Measures how fast a `discovery = zk` client follows ZooKeeper: from a server's
//! registration (or deregistration) returning to the client's table being rebuilt and to
//! the first call the new server answers (or the last the leaving one answers).
//!
//! ```text
//! cargo run --release -p svrkit --example discovery_latency [ROUNDS]
//! ```
//! Needs Debian's ZooKeeper (`cargo xtask setup`); starts its own on loopback.

use std::time::{Duration, Instant};

use svrkit::config::ClientConfig;
use svrkit::discovery::{self, ProviderMeta, Registration, ZkOptions};
use svrkit::server::{bind_all, Router, Server};
use svrkit::transport::Addr;
use svrkit::RpcError;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args().nth(1).map(|r| r.parse()).transpose()?.unwrap_or(20);
    let zk = svrkit_discovery::testing::ZkServer::start()?;
    let opts = ZkOptions::new(&zk.hosts())?;
    let server = |name: &'static str| -> Result<_, Box<dyn std::error::Error>> {
        let router =
            Router::new().route("whoami", move |(): ()| async move { Ok::<_, RpcError>(name) });
        let running = Server::new(router).start(bind_all(&["127.0.0.1:0".parse()?])?)?;
        let Addr::Tcp(addr) = running.local_addrs()[0].clone() else { unreachable!() };
        Ok((running, addr))
    };
    let (_base, base_addr) = server("base")?;
    let (_new, new_addr) = server("new")?;
    smol::block_on(async {
        let _base_reg =
            Registration::register(&opts, "lat", base_addr, &ProviderMeta::new(100)).await?;
        let config = ClientConfig::from_str(
            "lat_cli.conf",
            &format!(
                "[server]\nmode = hashring\ndiscovery = zk\nzk = {}\npath = /svrkit/lat/providers\n",
                zk.hosts()
            ),
        )?;
        let client = discovery::connect(&config).await?;
        let (mut applied, mut answered, mut gone) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let version = client.applied_version();
            let reg =
                Registration::register(&opts, "lat", new_addr, &ProviderMeta::new(100)).await?;
            let t0 = Instant::now();
            let mut seen_applied = None;
            loop {
                if seen_applied.is_none() && client.applied_version() > version {
                    seen_applied = Some(t0.elapsed());
                }
                if client.call::<String>("whoami", &()).await? == "new" {
                    break;
                }
                if t0.elapsed() > Duration::from_secs(10) {
                    return Err("the new server got no traffic within 10 s".into());
                }
            }
            answered.push(t0.elapsed());
            applied.push(seen_applied.unwrap_or_else(|| t0.elapsed()));

            let version = client.applied_version();
            reg.deregister().await?;
            let t0 = Instant::now();
            while client.applied_version() == version {
                if t0.elapsed() > Duration::from_secs(10) {
                    return Err("the departure was not applied within 10 s".into());
                }
                smol::Timer::after(Duration::from_micros(200)).await;
            }
            gone.push(t0.elapsed());
        }
        for (what, mut v) in [
            ("registered -> table rebuilt", applied),
            ("registered -> first call answered by it", answered),
            ("deregistered -> table rebuilt without it", gone),
        ] {
            v.sort();
            println!(
                "{what:42} median {:>8.2?}  p90 {:>8.2?}  max {:>8.2?}  ({} rounds)",
                v[v.len() / 2],
                v[v.len() * 9 / 10],
                v[v.len() - 1],
                v.len()
            );
        }
        Ok(())
    })
}
