//! Your `echo` start-up hook (created by cargo-svrkit from svr.json; `gen` never overwrites it).

use crate::generated::{BoxError, ServerConfig};
use crate::handlers::Handlers;

/// Runs once in every serving process before it takes requests: open connections,
/// load data, and return the state the handlers and self workers share. An error
/// stops the start-up with its message.
pub fn init(_config: &ServerConfig) -> Result<Handlers, BoxError> {
    Ok(Handlers::default())
}
