//! The `echo` API handler of seed 001 (pysvrkit): it returns the message's text, as the
//! seed's `def echo(msg): return msg.value` did. `"ret": true` names no type, so the result
//! is a dynamic msgpack [`Value`].

use crate::generated::*;

/// The state every handler and self worker shares, built by [`crate::init::init`].
#[derive(Debug, Default)]
pub struct Handlers {}

impl EchoService for Handlers {
    async fn echo(&self, msg: Echomsg) -> Result<Value, RpcError> {
        Ok(Value::from(msg.value))
    }
}
