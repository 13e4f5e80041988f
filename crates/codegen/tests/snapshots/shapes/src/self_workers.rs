//! Your `shapes` self_server workers (created by cargo-svrkit from shapes.json; `gen` never
//! overwrites it): one method per group, each running until the server stops.

use crate::generated::*;
use crate::handlers::Handlers;

impl ShapesSelfServer for Handlers {
    async fn work(&self, worker: SelfWorker) {
        // The work of group `default` goes here (loop until the stop token fires).
        worker.stop_token().stopped().await;
    }
}
