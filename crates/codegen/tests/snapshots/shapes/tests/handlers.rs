//! Your tests of what the `shapes` handlers return (created by cargo-svrkit from shapes.json;
//! `gen` never overwrites it). The stubs echo their input, so these check that.

use std::net::SocketAddr;

use shapes::generated::server::start_local;
use shapes::generated::*;
use shapes::handlers::Handlers;
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
    let client = ShapesBlockingClient::connect(addr);
    let req = samples::item_record();
    client.put(&req).expect("put answers");
    let p = samples::point();
    client.r#move(&p, 1.5).expect("move answers");
    client.count("hello").expect("count answers");
    let key = Bytes::from(vec![1, 2, 3]);
    client.anything(&key).expect("anything answers");
    client.reset().expect("reset answers");
}
