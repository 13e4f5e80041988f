//! Criterion bench: encode + decode of seeds/000's echomsg request and response (SPEC §9).
//!
//! `cargo bench -p svrkit-codec --bench codec`. The bar: a full round trip (encode request,
//! decode it + params, encode response, decode it + result) under 300 ns. `round_trip`
//! uses the owned proto generated code declares; `round_trip_borrowed` the same wire
//! bytes into a proto borrowing its strings, which isolates the codec from the allocator;
//! `round_trip_view` into a proto of views (`&str`, `ArrayRef`, `MapRef`): no allocation.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use svrkit_codec::{encode_request, encode_response, Decoder, Message};

#[path = "../examples/support/echomsg.rs"]
mod echomsg;
use echomsg::{sample, Echomsg, EchomsgRef, EchomsgView};

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
