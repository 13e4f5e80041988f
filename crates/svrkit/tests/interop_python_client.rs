//! Interop: a msgpack-rpc client written in Python on the `msgpack` package alone
//! (`tests/py/rpc_client.py`) against the svrkit server: strings, bin, int-keyed maps,
//! protos, errors, notifications, pipelining; method names as bin (as pynvim sends them)
//! and the old spec (no str8, no bin); over TCP and a Unix socket.

mod client_support;
mod interop_support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use svrkit::server::{bind_all, Router, RunningServer, Server};
use svrkit::transport::Addr;
use svrkit::RpcError;

use client_support::{Bin, TempDir};
use interop_support::python_client;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Echomsg {
    my_string: String,
    vec_int: Vec<i64>,
    dict_string: BTreeMap<i64, String>,
}

fn router() -> Router {
    let notes = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&notes);
    Router::new()
        .route("echo_str", |(s,): (String,)| async move { Ok::<_, RpcError>(s) })
        .route("echo_bin", |(b,): (Bin,)| async move { Ok::<_, RpcError>(b) })
        .route("echo_map", |(m,): (BTreeMap<i64, String>,)| async move { Ok::<_, RpcError>(m) })
        .route("echomsg", |(m,): (Echomsg,)| async move { Ok::<_, RpcError>(m) })
        .route("add", |(a, b): (i64, i64)| async move { Ok::<_, RpcError>(a + b) })
        .route("fail", |()| async move { Err::<(), _>(RpcError::new(7, "bad thing")) })
        .route("note", move |(_x,): (i64,)| {
            notes.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, RpcError>(()) }
        })
        .route("notes", move |()| {
            let n = count.load(Ordering::SeqCst);
            async move { Ok::<_, RpcError>(n) }
        })
}

fn start(addr: &str) -> RunningServer {
    let addr: Addr = addr.parse().unwrap();
    Server::new(router()).start(bind_all(&[addr]).unwrap()).unwrap()
}

fn tcp_port(server: &RunningServer) -> String {
    match &server.local_addrs()[0] {
        Addr::Tcp(sa) => sa.port().to_string(),
        other => panic!("not TCP: {other:?}"),
    }
}

fn check(args: &[&str]) {
    let out = python_client(args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rpc_client.py {args:?} failed:\n{stdout}\n{stderr}");
    assert!(stdout.starts_with("OK "), "{stdout}");
}

#[test]
fn python_client_to_svrkit_server() {
    let server = start("127.0.0.1:0");
    check(&["--port", &tcp_port(&server)]);
    server.stop().unwrap();
}

#[test]
fn python_client_sending_method_names_as_bin() {
    let server = start("127.0.0.1:0");
    check(&["--port", &tcp_port(&server), "--method-bin"]);
    server.stop().unwrap();
}

#[test]
fn python_client_speaking_the_old_spec() {
    let server = start("127.0.0.1:0");
    check(&["--port", &tcp_port(&server), "--old-spec"]);
    server.stop().unwrap();
}

#[test]
fn python_client_over_a_unix_socket() {
    let dir = TempDir::new("py-client");
    let path = dir.path().join("svrkit.sock");
    let server = start(&format!("unix:{}", path.display()));
    check(&["--unix", path.to_str().unwrap()]);
    server.stop().unwrap();
}
