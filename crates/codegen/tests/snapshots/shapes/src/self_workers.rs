//! Your `shapes` self_server workers (created by cargo-svrkit from shapes.json; `gen` never
//! overwrites it): one method per group, each running until the server stops.

use crate::generated::*;
use crate::handlers::Handlers;

impl ShapesSelfServer for Handlers {
    async fn work(&self, ctx: WorkerContext) {
        // The work of group `default` goes here; return once `ctx.stop()` fires.
        ctx.stop().stopped().await;
    }
}
