//! `[registry]`: register the server in ZooKeeper once it listens, deregister first on stop.

use std::net::SocketAddr;
use std::time::Instant;

use svrkit_discovery::{Advertise, ProviderMeta, Registration, ZkOptions};

use super::AppError;
use crate::config::RegistryConfig;

/// Registers `listen` (the bound TCP address) as a provider of `app`. Blocks until the node
/// exists or ZooKeeper is declared unreachable ([`ZkOptions::DEFAULT_CONNECT_TIMEOUT`]).
pub(crate) fn register(
    app: &str,
    cfg: &RegistryConfig,
    listen: SocketAddr,
) -> Result<Registration, AppError> {
    let hosts = cfg.zk.join(",");
    let err = |source| AppError::Registry { hosts: hosts.clone(), source };
    let opts = ZkOptions::new(&hosts).and_then(|o| o.with_root(&cfg.path)).map_err(err)?;
    let advertise = cfg.advertise.map_or(Advertise::Auto, Advertise::Addr);
    let addr = advertise.resolve(listen).map_err(err)?;
    let meta = ProviderMeta::new(cfg.weight);
    smol::block_on(Registration::register(&opts, app, addr, &meta)).map_err(err)
}

/// Deletes the node and closes the session (bounded by the session timeout); a failure is
/// logged, never fatal: the stop goes on, and the node dies with the session anyway.
pub(crate) fn deregister(reg: Registration) {
    let started = Instant::now();
    let path = reg.path().to_string();
    match smol::block_on(reg.deregister()) {
        Ok(()) => log::info!(
            "left the registry ({path}) in {:.1} ms; now draining",
            started.elapsed().as_secs_f64() * 1e3
        ),
        Err(e) => log::error!("leaving the registry ({path}): {e}; draining anyway"),
    }
}
