//! `BlockingClient`: the routing client for code that is not async.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Client, ClientError, Drive, Endpoint, RouteKey};
use crate::config::{ClientConfig, Routing};

/// A [`Client`] with blocking methods, for threads that are not async.
///
/// Each call runs on the calling thread: it writes the request and, when no other call is
/// driving the connection, waits for the reply in `poll(2)` on the socket itself and reads
/// it, so no other thread is woken on the way (no I/O thread to hand messages to and back,
/// no reactor thread). Calls from many threads share each server's one connection and are
/// multiplexed on it; a call that finds the connection driven by another waits as a
/// future does (`async_io::block_on`). Do not call it from
/// inside an async task: it blocks that executor thread until the reply (use [`Client`]).
#[derive(Clone, Debug)]
pub struct BlockingClient {
    client: Client,
}

/// A blocking view of an async client (same connections, routing and route key). Not for
/// a client opted into [`Client::on_local_reactor`]: its connections are driven only inside
/// `svrkit::reactor::block_on` on their thread, so every blocking call would fail with
/// [`ClientError::WrongThread`](super::ClientError::WrongThread).
impl From<Client> for BlockingClient {
    fn from(client: Client) -> BlockingClient {
        BlockingClient { client }
    }
}

impl BlockingClient {
    /// A client for `config`'s servers. Nothing connects until the first call.
    pub fn new(config: ClientConfig) -> Result<BlockingClient, ClientError> {
        Ok(BlockingClient { client: Client::new(config)? })
    }

    /// A client for the config file at `path`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<BlockingClient, ClientError> {
        Ok(BlockingClient { client: Client::from_file(path)? })
    }

    /// A client of one server.
    pub fn connect_to(endpoint: impl Into<Endpoint>) -> BlockingClient {
        BlockingClient { client: Client::connect_to(endpoint) }
    }

    /// The async client this wraps (shares its connections).
    pub fn as_async(&self) -> &Client {
        &self.client
    }

    /// See [`Client::set_key`].
    pub fn set_key(&mut self, key: impl AsRef<[u8]>) {
        self.client.set_key(key);
    }

    /// See [`Client::with_key`].
    pub fn with_key(self, key: impl AsRef<[u8]>) -> BlockingClient {
        BlockingClient { client: self.client.with_key(key) }
    }

    /// See [`Client::set_sharding_id`].
    pub fn set_sharding_id(&mut self, id: u64) {
        self.client.set_sharding_id(id);
    }

    /// See [`Client::set_nodes`].
    pub fn set_nodes(&self, routing: &Routing) -> Result<(), ClientError> {
        self.client.set_nodes(routing)
    }

    /// See [`Client::ejected`].
    pub fn ejected(&self) -> Vec<Endpoint> {
        self.client.ejected()
    }

    /// See [`Client::call`].
    pub fn call<R: DeserializeOwned>(
        &self,
        method: &str,
        params: &(impl Serialize + ?Sized),
    ) -> Result<R, ClientError> {
        let route = self.client.default_route();
        async_io::block_on(self.client.call_routed(route, method, params, Drive::Blocking))
    }

    /// See [`Client::call_with_key`].
    pub fn call_with_key<R: DeserializeOwned>(
        &self,
        key: impl AsRef<[u8]>,
        method: &str,
        params: &(impl Serialize + ?Sized),
    ) -> Result<R, ClientError> {
        let route = RouteKey::Key(key.as_ref());
        async_io::block_on(self.client.call_routed(route, method, params, Drive::Blocking))
    }

    /// See [`Client::call_with_shard`].
    pub fn call_with_shard<R: DeserializeOwned>(
        &self,
        id: u64,
        method: &str,
        params: &(impl Serialize + ?Sized),
    ) -> Result<R, ClientError> {
        let route = RouteKey::Shard(id);
        async_io::block_on(self.client.call_routed(route, method, params, Drive::Blocking))
    }

    /// See [`Client::notify`]. The notification is written before this returns (one
    /// `write`, unless the socket is full), since a blocking caller may not come back soon.
    pub fn notify(
        &self,
        method: &str,
        params: &(impl Serialize + ?Sized),
    ) -> Result<(), ClientError> {
        async_io::block_on(self.client.notify_with(method, params, Drive::Blocking))
    }
}
