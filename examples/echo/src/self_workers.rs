//! Your `echo` self_server workers (created by cargo-svrkit from echo.json; `gen` never
//! overwrites it): one method per group, each running until the server stops.

use crate::generated::*;
use crate::handlers::Handlers;

impl EchoSelfServer for Handlers {
    async fn event(&self, ctx: WorkerContext) {
        // The work of group `event` goes here; return once `ctx.stop()` fires.
        ctx.stop().stopped().await;
    }

    async fn value(&self, ctx: WorkerContext) {
        // The work of group `value` goes here; return once `ctx.stop()` fires.
        ctx.stop().stopped().await;
    }
}
