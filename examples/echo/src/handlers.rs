//! Your `echo` API handlers (created by cargo-svrkit from echo.json; `gen` never overwrites it).
//!
//! When the IDL gains an API, the compiler names the method to add here and
//! `cargo svrkit gen` prints its exact signature.

use crate::generated::*;

/// The state every handler and self worker shares, built by [`crate::init::init`].
#[derive(Debug, Default)]
pub struct Handlers {}

impl EchoService for Handlers {
    async fn echo1(&self, req: Echomsg) -> Result<Echomsg, RpcError> {
        Ok(req)
    }

    async fn echo2(&self) -> Result<Echomsg, RpcError> {
        Ok(Default::default())
    }

    async fn echo3(&self) -> Result<(), RpcError> {
        Ok(())
    }

    async fn echo4(&self, _req: Echomsg) -> Result<(), RpcError> {
        Ok(())
    }
}
