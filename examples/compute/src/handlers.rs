//! The `compute` API handlers (seed 003's three services): `ping` answers "pong" and how
//! many pings this server has seen, `pi(n)` sums n terms of the Leibniz series, `fib(n)`
//! is the deliberately naive recursive Fibonacci the seed used to show concurrency.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::generated::*;

/// The state every handler shares, built by [`crate::init::init`].
#[derive(Debug, Default)]
pub struct Handlers {
    pings: AtomicI64,
}

/// The largest `fib` argument served (naive recursion: fib(45) takes minutes).
pub const MAX_FIB: i64 = 40;

impl ComputeService for Handlers {
    async fn ping(&self) -> Result<Pong, RpcError> {
        let count = self.pings.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(Pong { msg: "pong".to_string(), count })
    }

    async fn pi(&self, n: i64) -> Result<f64, RpcError> {
        if n < 1 {
            return Err(RpcError::new(svrkit::codes::INVALID_PARAMS, "pi: n must be at least 1"));
        }
        Ok(pi(n))
    }

    async fn fib(&self, n: i64) -> Result<i64, RpcError> {
        if !(0..=MAX_FIB).contains(&n) {
            let message = format!("fib: n must be in 0..={MAX_FIB}, got {n}");
            return Err(RpcError::new(svrkit::codes::INVALID_PARAMS, message));
        }
        Ok(fib(n))
    }
}

/// 4 * (1 - 1/3 + 1/5 - ...), `n` terms.
pub fn pi(n: i64) -> f64 {
    let sum: f64 = (0..n).map(|k| if k % 2 == 0 { 1.0 } else { -1.0 } / (2 * k + 1) as f64).sum();
    4.0 * sum
}

/// Naive recursive Fibonacci (fib(0) = 0, fib(1) = 1), as slow as the seed meant it.
pub fn fib(n: i64) -> i64 {
    if n < 2 {
        n
    } else {
        fib(n - 1) + fib(n - 2)
    }
}
