//! Your tests of what the `echo` handlers return (created by cargo-svrkit from echo.json;
//! `gen` never overwrites it). The stubs echo their input, so these check that.

use std::net::SocketAddr;

use echo::generated::server::start_local;
use echo::generated::*;
use echo::handlers::Handlers;
use svrkit::app::LocalServer;

/// The server in this process on a free loopback port; it stops when dropped.
fn start() -> (LocalServer<Handlers>, SocketAddr) {
    let server = start_local().expect("the server starts on a free port");
    let addr = server.local_addr().expect("a TCP address");
    (server, addr)
}

#[test]
fn handlers_answer_as_written() {
    let (_server, addr) = start();
    let client = EchoBlockingClient::connect(addr);
    let sent = samples::echomsg();
    assert_eq!(client.echo1(&sent).expect("echo1 answers"), sent);
}
