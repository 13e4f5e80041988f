//! Client side: the live provider list of one app, kept current by ZooKeeper watches.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use smol::channel::{self, Receiver, Sender, TrySendError};
use smol::Timer;
use zookeeper_client::{Client, EventType, MultiReadResult, OneshotWatcher};

use crate::session;
use crate::{Error, Provider, ProviderMeta, ZkOptions};

/// The providers of one app at one moment, sorted by address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProviderSet {
    version: u64,
    providers: Vec<Provider>,
}

impl ProviderSet {
    /// Increases by one at every change seen (starts at 1 with the first listing).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The providers, sorted by address.
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// Just the addresses, sorted.
    pub fn addrs(&self) -> Vec<std::net::SocketAddr> {
        self.providers.iter().map(|p| p.addr).collect()
    }

    /// Number of providers.
    pub fn len(&self) -> usize {
        self.providers.len()
    }

    /// No provider registered.
    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }
}

/// Watches `<root>/<app>/providers` and keeps the provider list current.
///
/// [`watch`](Watcher::watch) connects, lists the providers once (so
/// [`current`](Watcher::current) is meaningful right away) and starts a background task on
/// smol's global executor (where `zookeeper-client`'s session task runs too) that re-lists on
/// every change:
///
/// - one-shot child watches (the client library re-arms them itself after a reconnect and the
///   server replays what changed meanwhile; persistent watches are not used because 0.11.2
///   does not restore them);
/// - while ZooKeeper is unreachable, the last known list stays in place;
/// - after the session expires, a new session is opened (retrying until ZooKeeper answers)
///   and the folder is listed again;
/// - a missing folder counts as no provider, with an existence watch until it appears.
///
/// Dropping the `Watcher` stops the task and closes its session; [`Updates`] then end.
pub struct Watcher {
    shared: Arc<Shared>,
    _task: smol::Task<()>,
}

struct Shared {
    current: Mutex<Arc<ProviderSet>>,
    subscribers: Mutex<Vec<Sender<()>>>,
}

impl Shared {
    /// Installs `providers` as the current list if it differs; wakes subscribers.
    fn publish(&self, providers: Vec<Provider>) {
        {
            let mut current = self.current.lock().expect("lock");
            if current.version > 0 && current.providers == providers {
                return;
            }
            *current = Arc::new(ProviderSet { version: current.version + 1, providers });
        }
        self.subscribers
            .lock()
            .expect("lock")
            .retain(|tx| !matches!(tx.try_send(()), Err(TrySendError::Closed(_))));
    }

    fn current(&self) -> Arc<ProviderSet> {
        self.current.lock().expect("lock").clone()
    }
}

/// A subscription to changes of a [`Watcher`]'s provider list.
pub struct Updates {
    shared: Weak<Shared>,
    rx: Receiver<()>,
    seen: u64,
}

impl Updates {
    /// Waits for a list newer than the last one returned (or than the list at subscription);
    /// `None` once the [`Watcher`] is dropped. Intermediate lists may be skipped: this always
    /// returns the latest.
    pub async fn changed(&mut self) -> Option<Arc<ProviderSet>> {
        loop {
            let current = self.shared.upgrade()?.current();
            if current.version != self.seen {
                self.seen = current.version;
                return Some(current);
            }
            self.rx.recv().await.ok()?;
        }
    }
}

impl Watcher {
    /// Starts watching the providers of `app`.
    ///
    /// Fails with [`Error::Unreachable`] (naming the hosts, the rounds tried and the time
    /// waited) when no session opens within [`ZkOptions::connect_timeout`], and with
    /// [`Error::Zk`] when the first listing fails.
    pub async fn watch(opts: &ZkOptions, app: &str) -> Result<Watcher, Error> {
        Watcher::watch_folder(opts, &opts.providers_path(app)?).await
    }

    /// Starts watching the providers folder `folder` given whole (a client's
    /// `path = /svrkit/echo/providers` setting); [`ZkOptions::root`] is not used.
    pub async fn watch_folder(opts: &ZkOptions, folder: &str) -> Result<Watcher, Error> {
        let path = crate::options::check_folder(folder)?.to_owned();
        let client = session::connect(opts, Some(Instant::now() + opts.connect_timeout())).await?;
        let (providers, armed) =
            list(&client, &path).await.map_err(|e| Error::zk("list", opts.hosts(), &path, e))?;
        let shared = Arc::new(Shared {
            current: Mutex::new(Arc::new(ProviderSet::default())),
            subscribers: Mutex::new(Vec::new()),
        });
        shared.publish(providers);
        let task = smol::spawn(run(shared.clone(), opts.clone(), path, client, armed));
        Ok(Watcher { shared, _task: task })
    }

    /// The latest provider list.
    pub fn current(&self) -> Arc<ProviderSet> {
        self.shared.current()
    }

    /// A subscription whose [`Updates::changed`] returns the next list that differs from the
    /// current one.
    pub fn subscribe(&self) -> Updates {
        let (tx, rx) = channel::bounded(1);
        let seen = {
            // Register under the `current` lock so no publish falls between reading the
            // version and subscribing.
            let current = self.shared.current.lock().expect("lock");
            self.shared.subscribers.lock().expect("lock").push(tx);
            current.version
        };
        Updates { shared: Arc::downgrade(&self.shared), rx, seen }
    }
}

/// Lists the providers and arms a one-shot watch (children of the folder, or its creation
/// when it does not exist).
async fn list(
    client: &Client,
    path: &str,
) -> Result<(Vec<Provider>, OneshotWatcher), zookeeper_client::Error> {
    for _ in 0..8 {
        match client.list_and_watch_children(path).await {
            Ok((children, watch)) => {
                return Ok((read_providers(client, path, children).await?, watch))
            }
            Err(zookeeper_client::Error::NoNode) => {
                match client.check_and_watch_stat(path).await? {
                    (None, watch) => return Ok((Vec::new(), watch)),
                    // Created in between: list it.
                    (Some(_), _) => continue,
                }
            }
            Err(err) => return Err(err),
        }
    }
    Err(zookeeper_client::Error::UnexpectedError(format!("{path} keeps appearing and vanishing")))
}

/// Reads the metadata of every child in one multi-read; skips children that vanished
/// meanwhile and nodes whose name or data is not a provider's.
async fn read_providers(
    client: &Client,
    path: &str,
    children: Vec<String>,
) -> Result<Vec<Provider>, zookeeper_client::Error> {
    let mut named = Vec::new();
    let mut reader = client.new_multi_reader();
    for child in children {
        match child.parse() {
            Ok(addr) => {
                reader.add_get_data(&format!("{path}/{child}"))?;
                named.push((child, addr));
            }
            Err(_) => log::warn!("{path}/{child}: not an ip:port node name, ignored"),
        }
    }
    let results = reader.commit().await?;
    let mut providers = Vec::with_capacity(named.len());
    for ((child, addr), result) in named.into_iter().zip(results) {
        let node = format!("{path}/{child}");
        match result {
            MultiReadResult::Data { data, .. } => match ProviderMeta::from_json(&data, &node) {
                Ok(meta) => providers.push(Provider { addr, meta }),
                Err(err) => log::warn!("{err}; provider ignored"),
            },
            MultiReadResult::Error { err: zookeeper_client::Error::NoNode } => {}
            MultiReadResult::Error { err } => return Err(err),
            other => log::warn!("{node}: unexpected multi-read result {other:?}"),
        }
    }
    providers.sort_by_key(|p| p.addr);
    Ok(providers)
}

/// The background task: wait for the armed watch, re-list, repeat; new session when needed.
async fn run(
    shared: Arc<Shared>,
    opts: ZkOptions,
    path: String,
    mut client: Client,
    armed: OneshotWatcher,
) {
    let mut armed = Some(armed);
    loop {
        follow(&shared, &opts, &path, &client, armed.take()).await;
        log::warn!(
            "ZooKeeper session {} watching {path} ended; opening a new one",
            client.session_id()
        );
        drop(client);
        client = session::connect(&opts, None).await.expect("no deadline, no error");
        log::info!("watching {path} again (session {})", client.session_id());
    }
}

/// Watches within one session; returns when the session has ended.
async fn follow(
    shared: &Shared,
    opts: &ZkOptions,
    path: &str,
    client: &Client,
    mut armed: Option<OneshotWatcher>,
) {
    let mut states = client.state_watcher();
    let mut pause = Duration::from_millis(100);
    loop {
        if let Some(watch) = armed.take() {
            let event = watch.changed().await;
            if event.event_type == EventType::Session && event.session_state.is_terminated() {
                return;
            }
        }
        match list(client, path).await {
            Ok((providers, watch)) => {
                shared.publish(providers);
                armed = Some(watch);
                pause = Duration::from_millis(100);
            }
            Err(zookeeper_client::Error::ConnectionLoss) => {
                // Keep the last list; wait for the session to come back (or end).
                if session::wait_connected(&mut states).await.is_err() {
                    return;
                }
            }
            Err(
                zookeeper_client::Error::SessionExpired
                | zookeeper_client::Error::ClientClosed
                | zookeeper_client::Error::AuthFailed,
            ) => return,
            Err(err) => {
                log::warn!("{}", Error::zk("list", opts.hosts(), path, err));
                if states.peek_state().is_terminated() {
                    return;
                }
                Timer::after(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        }
    }
}
