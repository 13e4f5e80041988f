//! The svrkit facade: the server and client runtime that generated msgpack-rpc services
//! depend on. A generated service depends on this crate only.
//!
//! # Layers
//!
//! - [`codec`] (svrkit-codec): msgpack-rpc messages, the streaming decoder, encoders,
//!   [`RpcError`] and its [`codes`]. No I/O.
//! - [`transport`] (svrkit-transport): TCP / Unix sockets on smol, framed reading, the
//!   batching writer, the accept policy.
//! - [`server`]: a [`server::Router`] of typed handlers (generated code registers each API
//!   by name with its params tuple) served by [`server::Server`] in coroutine or thread
//!   mode, with graceful stop on SIGTERM / SIGINT.
//! - [`client`]: multiplexed connections, routing (hashring / sharding) and failover.
//! - [`config`]: the seed INI files (`echo_svr.conf`, `echo_cli.conf`) as validated structs.
//! - [`app`]: [`App`], a whole server process behind one builder (command line, config,
//!   init hook, the four worker modes, self_server groups, daemon and pid file, ZooKeeper
//!   registration, graceful stop): a generated `main` is `app().main()`.
//! - [`discovery`]: clients whose servers follow ZooKeeper (`discovery = zk`):
//!   [`discovery::connect`] rebuilds the ring / shard table on every provider change.
//! - [`proxy`]: `svrkit proxy`, a local proxy (Unix socket and/or TCP) that balances each
//!   request of thin clients across the discovered backends of one or more services.
//!
//! Everything runs on smol's parts (async-io, async-executor); no tokio.
//!
//! # Example
//!
//! A server with one typed method, called over a raw socket:
//!
//! ```
//! use std::io::{Read, Write};
//! use svrkit::server::{bind_all, Router, Server};
//! use svrkit::{codec, RpcError};
//!
//! let router = Router::new().route("add", |(a, b): (i64, i64)| async move {
//!     Ok::<_, RpcError>(a + b)
//! });
//! let running = Server::new(router)
//!     .start(bind_all(&["127.0.0.1:0".parse().unwrap()]).unwrap())
//!     .unwrap();
//! let svrkit::transport::Addr::Tcp(addr) = running.local_addrs()[0] else { unreachable!() };
//!
//! let mut sock = std::net::TcpStream::connect(addr).unwrap();
//! let mut req = Vec::new();
//! codec::encode_request(&mut req, 1, "add", &(2, 3)).unwrap();
//! sock.write_all(&req).unwrap();
//! let mut buf = vec![0u8; 64];
//! let n = sock.read(&mut buf).unwrap();
//! let reply = codec::Decoder::default().decode(&buf[..n]).unwrap().unwrap();
//! let Ok(codec::Message::Response { msgid: 1, error: None, result }) = reply.message else {
//!     panic!("unexpected reply")
//! };
//! assert_eq!(result.deserialize::<i64>().unwrap(), 5);
//! running.stop().unwrap();
//! ```

pub mod app;
pub mod client;
pub mod config;
pub mod discovery;
pub mod proxy;
pub mod server;
pub mod value;

pub use app::{App, BoxError};
pub use server::init_logging;
pub use svrkit_codec as codec;
pub use svrkit_codec::{codes, RpcError};
pub use svrkit_transport as transport;
pub use svrkit_transport::reactor;
pub use svrkit_worker as worker;
pub use value::{Bytes, Value};

/// serde, for generated code (`#[serde(crate = "svrkit::serde")]`): a generated service
/// depends on this crate only.
pub use serde;
/// Run a future to completion on this thread (the generated blocking clients use it).
pub use smol::block_on;
