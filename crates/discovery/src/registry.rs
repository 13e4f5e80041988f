//! Server side: keep an ephemeral provider node alive across reconnects and session expiry.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smol::Timer;
use zookeeper_client::{Acls, Client, CreateMode, SessionState};

use crate::session::{self, is_connected};
use crate::{Error, ProviderMeta, ZkOptions};

/// A server's live registration: the ephemeral node `<root>/<app>/providers/<ip:port>`.
///
/// [`register`](Registration::register) creates the node and starts a background task (on
/// smol's global executor, where `zookeeper-client`'s own session task already runs, so the
/// caller's executor is not needed and no thread is added) that keeps it there:
///
/// - connection lost, then back within the session: the node survived with the session; it
///   is checked and re-created if someone removed it;
/// - session expired (ZooKeeper down longer than the session timeout, or a long pause): a new
///   session is opened (retrying until ZooKeeper answers) and the node is created again; a
///   leftover node of the old session (`NodeExists` with another ephemeral owner) is deleted
///   and re-created under the new session.
///
/// [`deregister`](Registration::deregister) removes the node first, then closes the session
/// and waits until ZooKeeper confirms. Dropping a `Registration` instead closes the session
/// without waiting: the node goes when the close reaches ZooKeeper, or at the session timeout
/// if the process exits first.
pub struct Registration {
    ctx: Arc<Ctx>,
    task: Option<smol::Task<()>>,
}

/// Where a registration stands, for logs and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// What the background task is doing.
    pub state: RegistrationState,
    /// The current (or last) session id; the node's ephemeral owner.
    pub session_id: i64,
    /// How many sessions were opened so far (1 + re-registrations after expiry).
    pub sessions: u32,
}

/// The phase of a [`Registration`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationState {
    /// Connected and the node is in place.
    Registered,
    /// Connection lost; the session (and the node) may still be alive.
    Disconnected,
    /// The session ended; opening a new one and registering again.
    Reconnecting,
    /// [`Registration::deregister`] ran.
    Deregistered,
}

struct Ctx {
    opts: ZkOptions,
    dir: String,
    path: String,
    data: Vec<u8>,
    /// The live session's client, shared with `deregister` (the task holds a clone).
    client: Mutex<Option<Client>>,
    status: Mutex<Status>,
}

impl Registration {
    /// Registers `addr` (the address clients dial; see [`Advertise`](crate::Advertise)) as a
    /// provider of `app`, with `meta`, and keeps it registered until
    /// [`deregister`](Self::deregister) or drop.
    ///
    /// Creates missing parent folders. Returns once the node exists.
    /// Fails with [`Error::Unreachable`] when no session opens within
    /// [`ZkOptions::connect_timeout`], and [`Error::Config`] for an `app` that is not a
    /// single path segment or an `addr` that cannot be dialled (wildcard IP, port 0).
    pub async fn register(
        opts: &ZkOptions,
        app: &str,
        addr: SocketAddr,
        meta: &ProviderMeta,
    ) -> Result<Registration, Error> {
        if addr.ip().is_unspecified() || addr.port() == 0 {
            return Err(Error::config(
                "addr",
                &addr.to_string(),
                "register the address clients dial (see Advertise::resolve)",
            ));
        }
        let dir = opts.providers_path(app)?;
        let path = format!("{dir}/{addr}");
        let client = session::connect(opts, Some(Instant::now() + opts.connect_timeout())).await?;
        let ctx = Arc::new(Ctx {
            opts: opts.clone(),
            dir,
            path,
            data: meta.to_json(),
            client: Mutex::new(None),
            status: Mutex::new(Status {
                state: RegistrationState::Registered,
                session_id: client.session_id().0,
                sessions: 1,
            }),
        });
        ctx.create_node(&client).await?;
        log::info!("registered {} on {} (session {})", ctx.path, opts.hosts(), client.session_id());
        *ctx.client.lock().expect("lock") = Some(client.clone());
        let task = smol::spawn(keep(ctx.clone(), client));
        Ok(Registration { ctx, task: Some(task) })
    }

    /// The node path, `<root>/<app>/providers/<ip:port>`.
    pub fn path(&self) -> &str {
        &self.ctx.path
    }

    /// Where the registration stands now.
    pub fn status(&self) -> Status {
        *self.ctx.status.lock().expect("lock")
    }

    /// Graceful stop, first step: deletes the node, closes the session and waits until the
    /// session reports it is closed, so the node is gone from ZooKeeper when this returns.
    ///
    /// Each step is bounded by the session timeout. Errors say what could not be confirmed;
    /// the session is closed in every case (an unconfirmed node goes at the session timeout).
    pub async fn deregister(mut self) -> Result<(), Error> {
        if let Some(task) = self.task.take() {
            task.cancel().await;
        }
        let ctx = self.ctx.clone();
        ctx.set_state(RegistrationState::Deregistered);
        let Some(client) = ctx.client.lock().expect("lock").take() else {
            // Between sessions: the old session is gone, so is its node.
            return Ok(());
        };
        let timeout = client.session_timeout().max(Duration::from_millis(500));
        let deadline = Instant::now() + timeout;
        let deleted = match session::within(deadline, client.delete(&ctx.path, None)).await {
            Some(Ok(())) | Some(Err(zookeeper_client::Error::NoNode)) => Ok(()),
            Some(Err(err)) => Err(Error::zk("delete", ctx.opts.hosts(), &ctx.path, err)),
            None => Err(Error::zk(
                "delete",
                ctx.opts.hosts(),
                &ctx.path,
                zookeeper_client::Error::Timeout,
            )),
        };
        let session_id = client.session_id().0;
        let mut states = client.state_watcher();
        drop(client);
        let closed = session::wait_terminated(&mut states, timeout).await;
        deleted?;
        match closed {
            Some(_) => {
                log::info!("deregistered {} from {}", ctx.path, ctx.opts.hosts());
                Ok(())
            }
            None => Err(Error::CloseTimeout {
                hosts: ctx.opts.hosts().to_owned(),
                session_id,
                waited: timeout,
            }),
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Dropping the task cancels it and drops its client; the shared clone goes with `ctx`
        // once the task is gone, so the session closes in the background.
        self.task.take();
        self.ctx.client.lock().expect("lock").take();
    }
}

impl Ctx {
    fn set_state(&self, state: RegistrationState) {
        self.status.lock().expect("lock").state = state;
    }

    /// Creates the ephemeral node, making parents and replacing a leftover of another session.
    async fn create_node(&self, client: &Client) -> Result<(), Error> {
        let hosts = self.opts.hosts();
        let ephemeral = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
        let folder = CreateMode::Persistent.with_acls(Acls::anyone_all());
        let mut last = zookeeper_client::Error::NodeExists;
        for _ in 0..8 {
            match client.create(&self.path, &self.data, &ephemeral).await {
                Ok(_) => return Ok(()),
                Err(zookeeper_client::Error::NoNode) => {
                    client
                        .mkdir(&self.dir, &folder)
                        .await
                        .map_err(|e| Error::zk("mkdir", hosts, &self.dir, e))?;
                }
                Err(zookeeper_client::Error::NodeExists) => {
                    let stat = client
                        .check_stat(&self.path)
                        .await
                        .map_err(|e| Error::zk("stat", hosts, &self.path, e))?;
                    let Some(stat) = stat else { continue };
                    let own = client.session_id().0;
                    if stat.ephemeral_owner == own {
                        return Ok(());
                    }
                    log::info!(
                        "{}: replacing a leftover node of session {:#x} (own session {:#x})",
                        self.path,
                        stat.ephemeral_owner,
                        own
                    );
                    match client.delete(&self.path, Some(stat.version)).await {
                        Ok(())
                        | Err(zookeeper_client::Error::NoNode)
                        | Err(zookeeper_client::Error::BadVersion) => {}
                        Err(e) => return Err(Error::zk("delete", hosts, &self.path, e)),
                    }
                    last = zookeeper_client::Error::NodeExists;
                }
                Err(e) => return Err(Error::zk("create", hosts, &self.path, e)),
            }
        }
        Err(Error::zk("create", hosts, &self.path, last))
    }

    /// Follows one session until it ends; returns its terminal state.
    async fn follow(&self, client: &Client) -> SessionState {
        let mut states = client.state_watcher();
        let mut first = true;
        loop {
            let state = states.peek_state();
            if state.is_terminated() {
                return state;
            }
            if is_connected(state) && first {
                // Just created (or re-created) by the caller.
                self.set_state(RegistrationState::Registered);
            } else if is_connected(state) {
                // Back within the same session: the node should still be there; make sure.
                match self.create_node(client).await {
                    Ok(()) => self.set_state(RegistrationState::Registered),
                    Err(err) => log::warn!("re-checking registration: {err}"),
                }
            } else {
                self.set_state(RegistrationState::Disconnected);
            }
            first = false;
            states.changed().await;
        }
    }

    /// Opens sessions until one registers the node.
    async fn reestablish(&self) -> Client {
        let mut pause = Duration::from_millis(100);
        loop {
            let client = session::connect(&self.opts, None).await.expect("no deadline, no error");
            match self.create_node(&client).await {
                Ok(()) => return client,
                Err(err) => log::warn!("re-registering after session expiry: {err}"),
            }
            drop(client);
            Timer::after(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }
}

/// The background task: follow the session; when it ends, open a new one and register again.
async fn keep(ctx: Arc<Ctx>, mut client: Client) {
    loop {
        let end = ctx.follow(&client).await;
        log::warn!(
            "ZooKeeper session {} of {} ended ({end}); registering again with a new session",
            client.session_id(),
            ctx.path
        );
        ctx.set_state(RegistrationState::Reconnecting);
        ctx.client.lock().expect("lock").take();
        drop(client);
        client = ctx.reestablish().await;
        {
            let mut status = ctx.status.lock().expect("lock");
            status.session_id = client.session_id().0;
            status.sessions += 1;
            status.state = RegistrationState::Registered;
        }
        log::info!("re-registered {} (session {})", ctx.path, client.session_id());
        *ctx.client.lock().expect("lock") = Some(client.clone());
    }
}
