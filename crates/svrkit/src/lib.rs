//! The svrkit facade: the server and client runtime that generated msgpack-rpc services
//! depend on (placeholder docs; the runtime issue writes the design here).

pub mod client;
pub mod config;
pub mod server;
