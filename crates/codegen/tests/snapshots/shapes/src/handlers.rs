//! Your `shapes` API handlers (created by cargo-svrkit from shapes.json; `gen` never overwrites it).
//!
//! When the IDL gains an API, the compiler names the method to add here and
//! `cargo svrkit gen` prints its exact signature.

use crate::generated::*;

/// The state every handler and self worker shares, built by [`crate::init::init`].
#[derive(Debug, Default)]
pub struct Handlers {}

impl ShapesService for Handlers {
    async fn put(&self, _req: ItemRecord) -> Result<Empty, RpcError> {
        Ok(Default::default())
    }

    async fn r#move(&self, _p: Point, _dx: f64) -> Result<Point, RpcError> {
        Ok(Default::default())
    }

    async fn count(&self, _prefix: String) -> Result<i64, RpcError> {
        Ok(Default::default())
    }

    async fn anything(&self, _key: Bytes) -> Result<Value, RpcError> {
        Ok(Value::Nil)
    }

    async fn reset(&self) -> Result<(), RpcError> {
        Ok(())
    }
}
