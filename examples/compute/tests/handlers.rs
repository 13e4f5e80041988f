//! Tests of what the `compute` handlers return, over a live server in this process.

use std::net::SocketAddr;

use compute::generated::server::start_local;
use compute::generated::*;
use compute::handlers::Handlers;
use svrkit::app::LocalServer;

/// The server in this process on a free loopback port; it stops when dropped.
fn start() -> (LocalServer<Handlers>, SocketAddr) {
    let server = start_local().expect("the server starts on a free port");
    let addr = server.local_addr().expect("a TCP address");
    (server, addr)
}

#[test]
fn ping_counts_pongs() {
    let (_server, addr) = start();
    let client = ComputeBlockingClient::connect(addr);
    let first = client.ping().expect("ping");
    let second = client.ping().expect("ping");
    assert_eq!(first.msg, "pong");
    assert_eq!(second.count, first.count + 1);
}

#[test]
fn pi_converges_and_fib_is_fibonacci() {
    let (_server, addr) = start();
    let client = ComputeBlockingClient::connect(addr);
    let pi = client.pi(100_000).expect("pi");
    assert!((pi - std::f64::consts::PI).abs() < 1e-4, "{pi}");
    assert_eq!(client.fib(20).expect("fib"), 6765);
    assert_eq!(client.fib(1).expect("fib"), 1);
}

#[test]
fn bad_arguments_are_errors_naming_the_rule() {
    let (_server, addr) = start();
    let client = ComputeBlockingClient::connect(addr);
    let err = client.fib(-1).expect_err("fib(-1)");
    assert!(err.to_string().contains("n must be in 0..=40"), "{err}");
    let err = client.pi(0).expect_err("pi(0)");
    assert!(err.to_string().contains("at least 1"), "{err}");
}
