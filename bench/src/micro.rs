//! In-process micro-benchmarks: the echomsg codec round trip (the < 300 ns bar) and ketama
//! ring lookups, timed with a plain loop (batches of iterations, 10th percentile ns per op) rather
//! than criterion, so the harness runs them in a second without a bench-profile build.
//! The criterion benches (`cargo bench -p svrkit-codec`, `-p svrkit-ring`) measure the
//! same operations in more detail.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde::Serialize;
use svrkit_codec::{encode_request, encode_response, Decoder, Message};
use svrkit_ring::{key_hash, Ring};

use crate::msg::{self, Echomsg, EchomsgView, ECHO};

/// One micro-benchmark's result.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Micro {
    pub(crate) name: &'static str,
    pub(crate) ns_per_op: f64,
}

/// ns per call of `f`: the 10th percentile of batches of about 200 us filling `budget`
/// (other processes only ever add time, so a low percentile is the robust estimate on a
/// busy machine; the median would measure the neighbours).
fn time(budget: Duration, mut f: impl FnMut()) -> f64 {
    // Calibrate a batch of about 200 us.
    let mut batch = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..batch {
            f();
        }
        if t.elapsed() >= Duration::from_micros(200) || batch >= 1 << 24 {
            break;
        }
        batch *= 2;
    }
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < budget || samples.len() < 20 {
        let t = Instant::now();
        for _ in 0..batch {
            f();
        }
        samples.push(t.elapsed().as_nanos() as f64 / batch as f64);
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 10]
}

fn codec_round_trip(decoder: &mut Decoder, req: &mut Vec<u8>, resp: &mut Vec<u8>, m: &Echomsg) {
    req.clear();
    encode_request(req, 1, ECHO, &(m,)).expect("encode request");
    let decoded = decoder.decode(req).expect("frame").expect("complete");
    let Ok(Message::Request { msgid, params, .. }) = decoded.message else {
        panic!("not a request")
    };
    let (got,): (Echomsg,) = params.deserialize().expect("params");
    resp.clear();
    encode_response(resp, msgid, &got).expect("encode response");
    let decoded = decoder.decode(resp).expect("frame").expect("complete");
    let Ok(Message::Response { result, .. }) = decoded.message else { panic!("not a response") };
    black_box(result.deserialize::<Echomsg>().expect("result"));
}

/// The same round trip with both ends on [`EchomsgView`]: the server decodes the params
/// as a view and echoes it (its containers copied as bytes), the client reads the result
/// as a view. Only the caller's request is encoded from the owned message.
fn codec_round_trip_view(
    decoder: &mut Decoder,
    req: &mut Vec<u8>,
    resp: &mut Vec<u8>,
    m: &Echomsg,
) {
    req.clear();
    encode_request(req, 1, ECHO, &(m,)).expect("encode request");
    let decoded = decoder.decode(req).expect("frame").expect("complete");
    let Ok(Message::Request { msgid, params, .. }) = decoded.message else {
        panic!("not a request")
    };
    let (got,): (EchomsgView<'_>,) = params.deserialize().expect("params");
    resp.clear();
    encode_response(resp, msgid, &got).expect("encode response");
    let decoded = decoder.decode(resp).expect("frame").expect("complete");
    let Ok(Message::Response { result, .. }) = decoded.message else { panic!("not a response") };
    black_box(result.deserialize::<EchomsgView<'_>>().expect("result"));
}

/// The name of the owned round trip row (the bar's first reading).
pub(crate) const ROUND_TRIP: &str = "codec round trip (encode+decode req and resp, owned echomsg)";
/// The name of the zero-allocation round trip row.
pub(crate) const ROUND_TRIP_VIEW: &str =
    "codec round trip (same, both ends on zero-allocation views: &str, ArrayRef, MapRef)";

/// Runs every micro-benchmark, `secs` in all.
pub(crate) fn run(secs: f64) -> Vec<Micro> {
    let each = Duration::from_secs_f64(secs / 8.0);
    let m = msg::sample();
    let mut decoder = Decoder::default();
    let (mut req, mut resp) = (Vec::with_capacity(256), Vec::with_capacity(256));
    let mut out = Vec::new();
    out.push(Micro {
        name: ROUND_TRIP,
        ns_per_op: time(each, || codec_round_trip(&mut decoder, &mut req, &mut resp, &m)),
    });
    out.push(Micro {
        name: ROUND_TRIP_VIEW,
        ns_per_op: time(each, || codec_round_trip_view(&mut decoder, &mut req, &mut resp, &m)),
    });
    out.push(Micro {
        name: "codec encode request",
        ns_per_op: time(each, || {
            req.clear();
            encode_request(&mut req, 1, ECHO, black_box(&(&m,))).expect("encode");
        }),
    });
    let (wreq, wresp) = msg::wire_frames(&m);
    out.push(Micro {
        name: "codec decode request + params (owned echomsg)",
        ns_per_op: time(each, || {
            let decoded = decoder.decode(black_box(&wreq)).expect("frame").expect("complete");
            let Ok(Message::Request { params, .. }) = decoded.message else { panic!() };
            black_box(params.deserialize::<(Echomsg,)>().expect("params"));
        }),
    });
    out.push(Micro {
        name: "codec encode response",
        ns_per_op: time(each, || {
            resp.clear();
            encode_response(&mut resp, 1, black_box(&m)).expect("encode");
        }),
    });
    out.push(Micro {
        name: "codec decode response + result (owned echomsg)",
        ns_per_op: time(each, || {
            let decoded = decoder.decode(black_box(&wresp)).expect("frame").expect("complete");
            let Ok(Message::Response { result, .. }) = decoded.message else { panic!() };
            black_box(result.deserialize::<Echomsg>().expect("result"));
        }),
    });
    let nodes: Vec<(String, u32)> = (0..100)
        .map(|i| (format!("10.0.{}.{}:11211", i / 256, i % 256), 1 + (i % 4) as u32))
        .collect();
    let ring = Ring::new(nodes).expect("ring");
    let keys: Vec<String> = (0..1024).map(|i| format!("user:{i}")).collect();
    let hashes: Vec<u32> = keys.iter().map(key_hash).collect();
    let mut i = 0;
    out.push(Micro {
        name: "ring lookup, 100 nodes (md5 + search)",
        ns_per_op: time(each, || {
            i = (i + 1) % keys.len();
            black_box(ring.lookup(black_box(&keys[i])));
        }),
    });
    out.push(Micro {
        name: "ring lookup_hash, 100 nodes (search only)",
        ns_per_op: time(each, || {
            i = (i + 1) % hashes.len();
            black_box(ring.lookup_hash(black_box(hashes[i])));
        }),
    });
    out
}

/// Prints the results, one line each.
pub(crate) fn print(results: &[Micro]) {
    for r in results {
        println!("{:>10.1} ns  {}", r.ns_per_op, r.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_round_trip_echoes_the_message() {
        let m = msg::sample();
        let mut decoder = Decoder::default();
        let (mut req, mut resp) = (Vec::new(), Vec::new());
        codec_round_trip(&mut decoder, &mut req, &mut resp, &m);
        let (wreq, wresp) = msg::wire_frames(&m);
        assert_eq!((&req, &resp), (&wreq, &wresp));
        // The view round trip puts the very same bytes on the wire both ways.
        let (mut vreq, mut vresp) = (Vec::new(), Vec::new());
        codec_round_trip_view(&mut decoder, &mut vreq, &mut vresp, &m);
        assert_eq!((vreq, vresp), (wreq, wresp));
    }

    #[test]
    fn the_view_reads_the_same_message() {
        let m = msg::sample();
        let (_, wresp) = msg::wire_frames(&m);
        let mut decoder = Decoder::default();
        let decoded = decoder.decode(&wresp).unwrap().unwrap();
        let Ok(Message::Response { result, .. }) = decoded.message else { panic!() };
        let v: EchomsgView<'_> = result.deserialize().unwrap();
        assert_eq!(v.my_string, m.my_string);
        assert_eq!(v.vec_int.to_vec().unwrap(), m.vec_int);
        let dict: Vec<(i64, &str)> = v.dict_string.iter().map(Result::unwrap).collect();
        let want: Vec<(i64, &str)> = m.dict_string.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(dict, want);
    }
}
