//! Interop: the svrkit client against a msgpack-rpc server written in Python on the
//! `msgpack` package alone (`tests/py/rpc_server.py`), in the current spec and in the old
//! one (no str8, no bin), over TCP and a Unix socket.

mod client_support;
mod interop_support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use svrkit::client::{Client, ClientError, Endpoint};
use svrkit::codes;
use svrkit::config::ClientConfig;

use client_support::{run_concurrently, Bin, TempDir};
use interop_support::python_server;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Echomsg {
    my_string: String,
    vec_int: Vec<i64>,
    dict_string: BTreeMap<i64, String>,
}

/// The value `sample` returns: a Python dict with string keys.
#[derive(Debug, Deserialize)]
struct Sample {
    s: String,
    b: Bin,
    m: BTreeMap<i64, String>,
    i: i64,
    u: u64,
    f: f64,
    t: bool,
    n: Option<String>,
    l: (i64, String, f64),
}

fn client_for(place: &str) -> Client {
    let endpoint = match place.parse::<u16>() {
        Ok(port) => Endpoint::tcp("127.0.0.1", port),
        Err(_) => Endpoint::unix(place),
    };
    Client::new(ClientConfig::single(endpoint).with_timeout(Duration::from_secs(5))).unwrap()
}

fn echomsg() -> Echomsg {
    Echomsg {
        my_string: "héllo wörld".into(),
        vec_int: vec![1, -2, 300, -40_000, 5_000_000_000],
        dict_string: BTreeMap::from([(1, "a".into()), (-7, "b".into())]),
    }
}

/// What works in both the current and the old spec.
async fn common_checks(client: &Client) {
    let s: String = client.call("echo", &("héllo",)).await.unwrap();
    assert_eq!(s, "héllo");
    // 40 bytes: str8 in the current spec, raw16 in the old one.
    let long: String = client.call("long_str", &(40,)).await.unwrap();
    assert_eq!(long, "x".repeat(40));
    let long: String = client.call("long_str", &(70_000,)).await.unwrap();
    assert_eq!(long.len(), 70_000);
    let map: BTreeMap<i64, String> =
        client.call("echo", &(BTreeMap::from([(3, "three".to_string())]),)).await.unwrap();
    assert_eq!(map, BTreeMap::from([(3, "three".to_string())]));
    let msg: Echomsg = client.call("echo", &(echomsg(),)).await.unwrap();
    assert_eq!(msg, echomsg());
    let sum: i64 = client.call("add", &(40, 2)).await.unwrap();
    assert_eq!(sum, 42);
    let big: u64 = client.call("echo", &(u64::MAX,)).await.unwrap();
    assert_eq!(big, u64::MAX);
    let nil: Option<i64> = client.call("echo", &(None::<i64>,)).await.unwrap();
    assert_eq!(nil, None);

    let err = client.call::<()>("fail_list", &()).await.unwrap_err();
    assert_eq!(err.remote(), Some((7, "bad thing")));
    let err = client.call::<()>("fail_str", &()).await.unwrap_err();
    assert_eq!(err.remote(), Some((codes::APPLICATION, "plain failure")));
    let err = client.call::<()>("fail_map", &()).await.unwrap_err();
    assert_eq!(err.remote(), Some((9, "mapped failure")));
    let err = client.call::<()>("no_such", &()).await.unwrap_err();
    match &err {
        ClientError::Remote { code, message, .. } => {
            assert_eq!(*code, codes::NO_SUCH_METHOD);
            assert!(message.contains("no_such"), "{message}");
        }
        other => panic!("expected Remote, got {other:?}"),
    }

    client.notify("note", &(1, "a")).await.unwrap();
    client.notify("note", &(2, "b")).await.unwrap();
    let notes: Vec<(String, (i64, String))> = client.call("notes", &()).await.unwrap();
    assert_eq!(notes, [("note".into(), (1, "a".into())), ("note".into(), (2, "b".into()))]);
}

#[test]
fn svrkit_client_to_python_server() {
    let (_server, port) = python_server(&["--port", "0"]);
    let client = client_for(&port);
    smol::block_on(async {
        common_checks(&client).await;

        // How the svrkit client encodes, as Python decoded it.
        let kinds: Vec<String> = client
            .call(
                "kinds",
                &(
                    "s",
                    Bin(vec![1, 2]),
                    BTreeMap::from([(1, "a")]),
                    5,
                    1.5,
                    true,
                    None::<i64>,
                    (1, "x"),
                    echomsg(),
                ),
            )
            .await
            .unwrap();
        assert_eq!(
            kinds,
            [
                "str",
                "bin",
                "map{int:str}",
                "int",
                "float",
                "bool",
                "nil",
                "list[int,str]",
                "list[str,list[int,int,int,int,int],map{int:str,int:str}]"
            ]
        );

        let bin: Bin = client.call("echo", &(Bin(vec![0, 0xff, 0x80]),)).await.unwrap();
        assert_eq!(bin, Bin(vec![0, 0xff, 0x80]));

        let sample: Sample = client.call("sample", &()).await.unwrap();
        assert_eq!(sample.s, "héllo");
        assert_eq!(sample.b, Bin(vec![0, 0xff]));
        assert_eq!(sample.m, BTreeMap::from([(1, "one".into()), (-2, "minus two".into())]));
        assert_eq!(
            (sample.i, sample.u, sample.f, sample.t, sample.n),
            (-5_000_000_000, u64::MAX, 1.5, true, None)
        );
        assert_eq!(sample.l, (1, "two".into(), 3.0));
    });
}

#[test]
fn svrkit_client_to_python_server_speaking_the_old_spec() {
    let (_server, port) = python_server(&["--port", "0", "--old-spec"]);
    let client = client_for(&port);
    smol::block_on(async {
        common_checks(&client).await;
        // Old-spec peers have no bin type: what we send as bin comes back as a raw string.
        let s: String = client.call("echo", &(Bin(b"valid utf-8".to_vec()),)).await.unwrap();
        assert_eq!(s, "valid utf-8");
    });
}

#[test]
fn svrkit_client_to_python_server_over_a_unix_socket_with_replies_out_of_order() {
    let dir = TempDir::new("py-unix");
    let path = dir.path().join("py.sock");
    let (_server, place) = python_server(&["--unix", path.to_str().unwrap()]);
    let client = client_for(&place);
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let results = run_concurrently(6, |i| {
        let client = client.clone();
        let order = std::sync::Arc::clone(&order);
        async move {
            let ms = if i == 0 { 300 } else { 0 };
            let r: u64 = client.call("sleep", &(ms, i as u64)).await.unwrap();
            order.lock().unwrap().push(i);
            r
        }
    });
    assert_eq!(results, [0, 1, 2, 3, 4, 5]);
    assert_eq!(order.lock().unwrap().last(), Some(&0));
}
