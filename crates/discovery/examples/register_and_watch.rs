//! Runs a real ZooKeeper (the `testing` harness), registers servers and watches them come
//! and go, printing how long each change took to reach the watcher.
//!
//! `cargo run -p svrkit-discovery --example register_and_watch [rounds]` (default 20 rounds).

use std::error::Error;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use smol::Timer;
use svrkit_discovery::testing::ZkServer;
use svrkit_discovery::{ProviderMeta, Registration, Updates, Watcher, ZkOptions};

fn main() -> Result<(), Box<dyn Error>> {
    let rounds: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(20);
    let t = Instant::now();
    let zk = ZkServer::start()?;
    println!("ZooKeeper serving on {} after {:?}", zk.hosts(), t.elapsed());
    smol::block_on(async {
        let opts = ZkOptions::new(&zk.hosts())?;
        let watcher = Watcher::watch(&opts, "echo").await?;
        let mut updates = watcher.subscribe();
        println!(
            "watching {}: {} provider(s)",
            opts.providers_path("echo")?,
            watcher.current().len()
        );

        let (mut appear, mut vanish, mut deregister) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..rounds {
            let addr: SocketAddr = format!("127.0.0.1:{}", 7000 + i).parse()?;
            let t = Instant::now();
            let reg = Registration::register(&opts, "echo", addr, &ProviderMeta::new(1)).await?;
            wait_for(&mut updates, |n| n == 1).await?;
            appear.push(t.elapsed());

            let t = Instant::now();
            reg.deregister().await?;
            deregister.push(t.elapsed());
            wait_for(&mut updates, |n| n == 0).await?;
            vanish.push(t.elapsed());
        }
        report("register() begins -> watcher lists it", &mut appear);
        report("deregister() (delete + session closed)", &mut deregister);
        report("deregister() begins -> watcher drops it", &mut vanish);
        Ok(())
    })
}

/// Waits (at most 5 s) until the watcher lists a number of providers that satisfies `want`.
async fn wait_for(
    updates: &mut Updates,
    want: impl Fn(usize) -> bool,
) -> Result<(), Box<dyn Error>> {
    let deadline = Timer::after(Duration::from_secs(5));
    let wait = async {
        while let Some(set) = updates.changed().await {
            if want(set.len()) {
                return Ok(());
            }
        }
        Err("watcher ended".into())
    };
    smol::future::or(wait, async {
        deadline.await;
        Err("no change within 5 s".into())
    })
    .await
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "{what}: n={} min {:.1} ms, median {:.1} ms, max {:.1} ms",
        samples.len(),
        pick(0.0).as_secs_f64() * 1e3,
        pick(0.5).as_secs_f64() * 1e3,
        pick(1.0).as_secs_f64() * 1e3
    );
}
