//! TCP and Unix-socket transports on smol for msgpack-rpc: listeners, connectors, framed
//! reading, a batching writer and the accept policy.

mod addr;
mod error;

pub use addr::{Addr, AllowList, IpNet};
pub use error::TransportError;
