//! Per-phase cost harness for instruction counting: runs one phase of the seed-000 echomsg
//! round trip `N` times, so `valgrind --tool=callgrind` (repeatable on a loaded machine)
//! can count instructions per phase.
//!
//! ```text
//! cargo build --release -p svrkit-codec --example phases
//! for p in encode_req decode_req de_params de_params_ref de_params_view encode_resp \
//!          decode_resp de_result de_result_ref de_result_view round_trip round_trip_ref \
//!          round_trip_view round_trip_view_read; do
//!   for n in 1000 11000; do
//!     valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!       target/release/examples/phases $p $n 2>&1 | grep -o 'refs: *[0-9,]*'
//!   done
//! done
//! ```
//!
//! Instructions per iteration = (refs at 11000 - refs at 1000) / 10000: start-up cost
//! cancels out. `phases all [MS]` (no valgrind) prints ns per call instead, timed like
//! `svrkit-bench micro`: the 10th percentile of ~200 us batches over MS milliseconds per
//! phase (default 1000).

use std::hint::black_box;
use std::time::Instant;

use svrkit_codec::{encode_request, encode_response, Decoder, Message, RawValue};

#[path = "support/echomsg.rs"]
mod echomsg;
use echomsg::{sample, Echomsg, EchomsgRef, EchomsgView};

/// What a handler reading every field of the view does: decodes each element once.
fn read_all(m: &EchomsgView<'_>) -> i64 {
    let ints: i64 = m.vec_int.iter().map(|x| x.unwrap()).fold(0, i64::wrapping_add);
    let dict =
        m.dict_string.iter().map(|kv| kv.unwrap()).fold(0, |acc, (k, v)| acc ^ k ^ v.len() as i64);
    ints ^ dict ^ m.my_string.len() as i64
}

fn params<'a>(decoder: &mut Decoder, buf: &'a [u8]) -> (u32, RawValue<'a>) {
    match decoder.decode(buf).ok().flatten().map(|d| d.message) {
        Some(Ok(Message::Request { msgid, params, .. })) => (msgid, params),
        other => panic!("not a request: {other:?}"),
    }
}

fn result<'a>(decoder: &mut Decoder, buf: &'a [u8]) -> RawValue<'a> {
    match decoder.decode(buf).ok().flatten().map(|d| d.message) {
        Some(Ok(Message::Response { result, .. })) => result,
        other => panic!("not a response: {other:?}"),
    }
}

const PHASES: [&str; 16] = [
    "encode_req",
    "encode_req_tuple",
    "decode_req",
    "de_params",
    "de_params_ref",
    "encode_resp",
    "decode_resp",
    "de_result",
    "de_result_ref",
    "round_trip",
    "round_trip_ref",
    "de_params_view",
    "de_result_view",
    "encode_resp_view",
    "round_trip_view",
    "round_trip_view_read",
];

fn run(phase: &str, n: u32) {
    let msg = sample();
    let mut decoder = Decoder::default();
    let mut req = Vec::with_capacity(256);
    let mut resp = Vec::with_capacity(256);
    encode_request(&mut req, 1, "echo1", &[&msg]).unwrap();
    encode_response(&mut resp, 1, &msg).unwrap();
    let req_wire = req.clone();
    let resp_wire = resp.clone();
    match phase {
        "encode_req" => (0..n).for_each(|i| {
            req.clear();
            encode_request(&mut req, black_box(i), "echo1", black_box(&[&msg])).unwrap();
        }),
        // What svrkit-bench micro encodes: params as a tuple `(&msg,)`.
        "encode_req_tuple" => (0..n).for_each(|_| {
            req.clear();
            encode_request(&mut req, 1, "echo1", black_box(&(&msg,))).unwrap();
        }),
        "decode_req" => (0..n).for_each(|_| {
            black_box(params(&mut decoder, black_box(&req_wire)));
        }),
        "de_params" => {
            let (_, p) = params(&mut decoder, &req_wire);
            (0..n).for_each(|_| {
                black_box(black_box(p).deserialize::<(Echomsg,)>().unwrap());
            })
        }
        "de_params_ref" => {
            let (_, p) = params(&mut decoder, &req_wire);
            (0..n).for_each(|_| {
                black_box(black_box(p).deserialize::<(EchomsgRef<'_>,)>().unwrap());
            })
        }
        "encode_resp" => (0..n).for_each(|i| {
            resp.clear();
            encode_response(&mut resp, black_box(i), black_box(&msg)).unwrap();
        }),
        "decode_resp" => (0..n).for_each(|_| {
            black_box(result(&mut decoder, black_box(&resp_wire)));
        }),
        "de_result" => {
            let r = result(&mut decoder, &resp_wire);
            (0..n).for_each(|_| {
                black_box(black_box(r).deserialize::<Echomsg>().unwrap());
            })
        }
        "de_result_ref" => {
            let r = result(&mut decoder, &resp_wire);
            (0..n).for_each(|_| {
                black_box(black_box(r).deserialize::<EchomsgRef<'_>>().unwrap());
            })
        }
        "round_trip" => (0..n).for_each(|i| {
            req.clear();
            encode_request(&mut req, black_box(i), "echo1", black_box(&[&msg])).unwrap();
            let (msgid, p) = params(&mut decoder, black_box(&req));
            let (got,): (Echomsg,) = p.deserialize().unwrap();
            resp.clear();
            encode_response(&mut resp, msgid, &got).unwrap();
            let r = result(&mut decoder, black_box(&resp));
            black_box(r.deserialize::<Echomsg>().unwrap());
        }),
        "round_trip_ref" => (0..n).for_each(|i| {
            req.clear();
            encode_request(&mut req, black_box(i), "echo1", black_box(&[&msg])).unwrap();
            let (msgid, p) = params(&mut decoder, black_box(&req));
            let (got,): (EchomsgRef<'_>,) = p.deserialize().unwrap();
            resp.clear();
            encode_response(&mut resp, msgid, &got).unwrap();
            let r = result(&mut decoder, black_box(&resp));
            black_box(r.deserialize::<EchomsgRef<'_>>().unwrap());
        }),
        "de_params_view" => {
            let (_, p) = params(&mut decoder, &req_wire);
            (0..n).for_each(|_| {
                black_box(black_box(p).deserialize::<(EchomsgView<'_>,)>().unwrap());
            })
        }
        "de_result_view" => {
            let r = result(&mut decoder, &resp_wire);
            (0..n).for_each(|_| {
                black_box(black_box(r).deserialize::<EchomsgView<'_>>().unwrap());
            })
        }
        "encode_resp_view" => {
            let (_, p) = params(&mut decoder, &req_wire);
            let (view,): (EchomsgView<'_>,) = p.deserialize().unwrap();
            (0..n).for_each(|i| {
                resp.clear();
                encode_response(&mut resp, black_box(i), black_box(&view)).unwrap();
            })
        }
        "round_trip_view" | "round_trip_view_read" => {
            let read = phase == "round_trip_view_read";
            (0..n).for_each(|i| {
                req.clear();
                encode_request(&mut req, black_box(i), "echo1", black_box(&[&msg])).unwrap();
                let (msgid, p) = params(&mut decoder, black_box(&req));
                let (got,): (EchomsgView<'_>,) = p.deserialize().unwrap();
                if read {
                    black_box(read_all(&got));
                }
                resp.clear();
                encode_response(&mut resp, msgid, &got).unwrap();
                let r = result(&mut decoder, black_box(&resp));
                let back = r.deserialize::<EchomsgView<'_>>().unwrap();
                if read {
                    black_box(read_all(&back));
                }
                black_box(back);
            })
        }
        other => panic!("unknown phase {other:?}; one of {PHASES:?} or all"),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let phase = args.next().unwrap_or_else(|| "all".to_string());
    let n: u32 = args.next().map_or(1_000, |s| s.parse().expect("iterations or ms"));
    if phase != "all" {
        run(&phase, n);
        return;
    }
    // The way bench/src/micro.rs times: batches of about 200 us for a fixed budget, the
    // 10th percentile of ns per call (other processes only ever add time, so a low
    // percentile is the robust estimate on a busy machine).
    let budget = std::time::Duration::from_millis(u64::from(n.clamp(100, 10_000)));
    println!("{:>20}  {:>8}  {:>8}", "phase", "p10 ns", "min ns");
    for p in PHASES {
        let mut batch = 1u32;
        while batch < 1 << 24 {
            let t = Instant::now();
            run(p, batch);
            if t.elapsed() >= std::time::Duration::from_micros(200) {
                break;
            }
            batch *= 2;
        }
        let mut samples = Vec::new();
        let start = Instant::now();
        while start.elapsed() < budget || samples.len() < 20 {
            let t = Instant::now();
            run(p, batch);
            samples.push(t.elapsed().as_nanos() as f64 / f64::from(batch));
        }
        samples.sort_by(f64::total_cmp);
        println!("{p:>20}  {:8.1}  {:8.1}", samples[samples.len() / 10], samples[0]);
    }
}
