//! Criterion bench: encode + decode of seeds/000's echomsg request and response (SPEC §9).
//!
//! `cargo bench -p svrkit-codec --bench codec`. The bar: a full round trip (encode request,
//! decode it + params, encode response, decode it + result) under 300 ns. `round_trip`
//! uses the owned proto generated code declares; `round_trip_borrowed` the same wire
//! bytes into a proto borrowing its strings, which isolates the codec from the allocator;
//! `round_trip_view` into a proto of views (`&str`, `ArrayRef`, `MapRef`): no allocation.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use serde::{Deserialize, Serialize};
use svrkit_codec::{encode_request, encode_response, ArrayRef, Decoder, MapRef, Message};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Echomsg {
    my_string: String,
    vec_int: Vec<i64>,
    dict_string: BTreeMap<i64, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct EchomsgRef<'a> {
    my_string: &'a str,
    vec_int: Vec<i64>,
    #[serde(borrow)]
    dict_string: BTreeMap<i64, &'a str>,
}

/// The same proto as views: nothing allocated, containers decoded on demand.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct EchomsgView<'a> {
    #[serde(borrow)]
    my_string: &'a str,
    #[serde(borrow)]
    vec_int: ArrayRef<'a, i64>,
    #[serde(borrow)]
    dict_string: MapRef<'a, i64, &'a str>,
}

fn sample() -> Echomsg {
    Echomsg {
        my_string: "svrkit echo payload: 64 bytes of text to echo back and forth....".into(),
        vec_int: vec![1, -2, 300, -40_000, 5_000_000, -600_000_000, 7_000_000_000, i64::MIN],
        dict_string: (1..=4).map(|k| (k, format!("value {k}"))).collect(),
    }
}

fn request_params<'a>(decoder: &mut Decoder, buf: &'a [u8]) -> (u32, svrkit_codec::RawValue<'a>) {
    match decoder.decode(buf).unwrap().unwrap().message.unwrap() {
        Message::Request { msgid, params, .. } => (msgid, params),
        other => panic!("not a request: {other:?}"),
    }
}

fn response_result<'a>(decoder: &mut Decoder, buf: &'a [u8]) -> svrkit_codec::RawValue<'a> {
    match decoder.decode(buf).unwrap().unwrap().message.unwrap() {
        Message::Response { result, .. } => result,
        other => panic!("not a response: {other:?}"),
    }
}

fn bench(c: &mut Criterion) {
    let msg = sample();
    let mut decoder = Decoder::default();
    let mut req = Vec::with_capacity(256);
    let mut resp = Vec::with_capacity(256);
    encode_request(&mut req, 1, "echo1", &[&msg]).unwrap();
    encode_response(&mut resp, 1, &msg).unwrap();

    let mut g = c.benchmark_group("echomsg");
    g.bench_function("encode_request", |b| {
        b.iter(|| {
            req.clear();
            encode_request(&mut req, black_box(1), "echo1", black_box(&[&msg])).unwrap();
        })
    });
    g.bench_function("decode_request_frame", |b| {
        b.iter(|| black_box(request_params(&mut decoder, black_box(&req))))
    });
    g.bench_function("decode_request_params", |b| {
        b.iter(|| {
            let (_, params) = request_params(&mut decoder, black_box(&req));
            black_box(params.deserialize::<(Echomsg,)>().unwrap())
        })
    });
    g.bench_function("encode_response", |b| {
        b.iter(|| {
            resp.clear();
            encode_response(&mut resp, black_box(1), black_box(&msg)).unwrap();
        })
    });
    g.bench_function("decode_response_result", |b| {
        b.iter(|| {
            let result = response_result(&mut decoder, black_box(&resp));
            black_box(result.deserialize::<Echomsg>().unwrap())
        })
    });
    g.bench_function("round_trip", |b| {
        b.iter(|| {
            req.clear();
            encode_request(&mut req, black_box(7), "echo1", black_box(&[&msg])).unwrap();
            let (msgid, params) = request_params(&mut decoder, &req);
            let (got,): (Echomsg,) = params.deserialize().unwrap();
            resp.clear();
            encode_response(&mut resp, msgid, &got).unwrap();
            let result = response_result(&mut decoder, &resp);
            black_box(result.deserialize::<Echomsg>().unwrap())
        })
    });
    g.bench_function("round_trip_borrowed", |b| {
        b.iter(|| {
            req.clear();
            encode_request(&mut req, black_box(7), "echo1", black_box(&[&msg])).unwrap();
            let (msgid, params) = request_params(&mut decoder, &req);
            let (got,): (EchomsgRef<'_>,) = params.deserialize().unwrap();
            resp.clear();
            encode_response(&mut resp, msgid, &got).unwrap();
            let result = response_result(&mut decoder, &resp);
            black_box(result.deserialize::<EchomsgRef<'_>>().unwrap());
        })
    });
    g.bench_function("round_trip_view", |b| {
        b.iter(|| {
            req.clear();
            encode_request(&mut req, black_box(7), "echo1", black_box(&[&msg])).unwrap();
            let (msgid, params) = request_params(&mut decoder, &req);
            let (got,): (EchomsgView<'_>,) = params.deserialize().unwrap();
            resp.clear();
            encode_response(&mut resp, msgid, &got).unwrap();
            let result = response_result(&mut decoder, &resp);
            black_box(result.deserialize::<EchomsgView<'_>>().unwrap());
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
