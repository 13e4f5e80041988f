//! The codec demo: one seed-000 `echo1` call on the wire, then the round-trip cost.
//!
//! Run with `cargo xtask demo` (or `cargo run --release -p svrkit-codec --example demo`).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use svrkit_codec::{encode_request, encode_response, Decoder, Message};

/// seeds/000's `echomsg` proto, as generated code declares it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Echomsg {
    my_string: String,
    vec_int: Vec<i64>,
    dict_string: BTreeMap<i64, String>,
}

const ITERATIONS: u32 = 1_000_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let msg = Echomsg {
        my_string: "svrkit echo payload: 64 bytes of text to echo back and forth....".into(),
        vec_int: vec![1, -2, 300, -40_000, 5_000_000, -600_000_000, 7_000_000_000, i64::MIN],
        dict_string: (1..=4).map(|k| (k, format!("value {k}"))).collect(),
    };
    assert_eq!(msg.my_string.len(), 64);

    // One request, byte by byte.
    let mut wire = Vec::new();
    encode_request(&mut wire, 1, "echo1", &[&msg])?;
    println!("echo1 request [0, msgid, \"echo1\", [echomsg]]: {} bytes", wire.len());
    for line in wire.chunks(32) {
        let hex: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
        println!("  {}", hex.join(" "));
    }

    // Decoded back, params deserialized straight from the buffer.
    let mut decoder = Decoder::default();
    let decoded = decoder.decode(&wire)?.ok_or("incomplete frame")?;
    let Ok(Message::Request { msgid, method, params }) = decoded.message else {
        return Err(format!("not a request: {:?}", decoded.message).into());
    };
    let (back,): (Echomsg,) = params.deserialize()?;
    assert_eq!(back, msg);
    println!("decoded: msgid {msgid}, method {method:?}, params {params}");

    // The full round trip: encode request, decode it + params, encode response, decode it
    // + result. Buffers are reused as a connection would.
    let mut req_buf = Vec::with_capacity(256);
    let mut resp_buf = Vec::with_capacity(256);
    let start = Instant::now();
    let cpu_start = thread_cpu_ns();
    for i in 0..ITERATIONS {
        req_buf.clear();
        encode_request(&mut req_buf, i, "echo1", &[&msg])?;
        let d = decoder.decode(black_box(&req_buf))?.ok_or("incomplete")?;
        let Ok(Message::Request { msgid, params, .. }) = d.message else {
            return Err("bad".into());
        };
        let (req,): (Echomsg,) = params.deserialize()?;

        resp_buf.clear();
        encode_response(&mut resp_buf, msgid, &req)?;
        let d = decoder.decode(black_box(&resp_buf))?.ok_or("incomplete")?;
        let Ok(Message::Response { result, .. }) = d.message else { return Err("bad".into()) };
        black_box(result.deserialize::<Echomsg>()?);
    }
    let elapsed = start.elapsed();
    let cpu = thread_cpu_ns().zip(cpu_start).map(|(end, start)| end.saturating_sub(start));
    let per = |ns: f64| ns / f64::from(ITERATIONS);
    println!(
        "round trip (encode req, decode req + params, encode resp, decode resp + result), \
         {ITERATIONS} iterations:"
    );
    println!("  wall clock: {:.0} ns each", per(elapsed.as_nanos() as f64));
    match cpu {
        // On a busy machine, wall clock includes time other processes ran on this core.
        Some(cpu) => println!("  CPU time:   {:.0} ns each (this thread only)", per(cpu as f64)),
        None => println!("  CPU time:   unavailable (no /proc/thread-self/schedstat)"),
    }
    Ok(())
}

/// Nanoseconds this thread has run on a CPU (Linux: the first field of
/// `/proc/thread-self/schedstat`); `None` elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}
