//! The echo service every svrkit row serves (in-process server and `svrkit-bench-app`):
//! `echo1` echoes the echomsg, `note` counts one-way messages, `stats` reads the count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use svrkit::server::Router;
use svrkit::RpcError;

use crate::msg::{Echomsg, ECHO, NOTE, STATS};

/// What the handlers share: the notification count since `born`.
#[derive(Debug)]
pub(crate) struct Counter {
    received: AtomicU64,
    born: Instant,
}

impl Counter {
    pub(crate) fn new() -> Counter {
        Counter { received: AtomicU64::new(0), born: Instant::now() }
    }
}

/// The router over `counter`.
pub(crate) fn router(counter: Arc<Counter>) -> Router {
    let (c1, c2) = (Arc::clone(&counter), counter);
    Router::new()
        .route(ECHO, |(m,): (Echomsg,)| async move { Ok::<_, RpcError>(m) })
        .route(NOTE, move |(_m,): (Echomsg,)| {
            c1.received.fetch_add(1, Ordering::Relaxed);
            async { Ok::<_, RpcError>(()) }
        })
        .route(STATS, move |(): ()| {
            let now = (c2.received.load(Ordering::Relaxed), c2.born.elapsed().as_nanos() as u64);
            async move { Ok::<_, RpcError>(now) }
        })
}
