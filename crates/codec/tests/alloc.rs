//! The decode hot path allocates nothing: frames, messages and borrowed params come out of
//! the caller's buffer, and a proto of views (`ArrayRef`, `MapRef`, `&str`) round-trips
//! without allocating. Own test binary, because it installs a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use serde::Deserialize;
use svrkit_codec::{encode_request, encode_response, Decoder, Message};

struct Counting;

thread_local! {
    /// Allocations made by this thread: tests run in parallel threads, each counts its own.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// This thread's allocations so far.
fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is the only
// addition. Unsafe is required by the `GlobalAlloc` trait itself.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // A const-initialized thread-local without a destructor: reading it never allocates.
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Deserialize)]
struct Borrowed<'a> {
    name: &'a str,
    id: u32,
    tags: (&'a str, &'a str),
}

#[test]
fn decoding_and_borrowed_params_do_not_allocate() {
    let mut wire = Vec::new();
    for i in 0..100u32 {
        encode_request(&mut wire, i, "lookup", &[("name", i, ("a", "b"))]).unwrap();
        encode_response(&mut wire, i, &[1, 2, 3]).unwrap();
    }
    let mut decoder = Decoder::default();
    // Warm up: the scanner's stack grows once to the stream's nesting depth.
    let first = decoder.decode(&wire).unwrap().unwrap();
    let mut at = first.len;

    let before = allocations();
    let mut ids = 0u64;
    while let Some(d) = decoder.decode(&wire[at..]).unwrap() {
        at += d.len;
        match d.message.unwrap() {
            Message::Request { params, method: "lookup", .. } => {
                let (p,): (Borrowed<'_>,) = params.deserialize().unwrap();
                assert_eq!((p.name, p.tags), ("name", ("a", "b")));
                ids += u64::from(p.id);
            }
            Message::Response { result, .. } => assert_eq!(result.array_len(), Some(3)),
            other => panic!("unexpected {other:?}"),
        }
    }
    let allocations = allocations() - before;
    assert_eq!(at, wire.len());
    assert_eq!(ids, (1..100).sum::<u64>());
    assert_eq!(allocations, 0, "the decode loop allocated {allocations} times");
}

/// seed 000's echomsg with every container left in the buffer.
#[derive(serde::Serialize, Deserialize, Default)]
#[serde(default)]
struct EchomsgView<'a> {
    #[serde(borrow)]
    my_string: &'a str,
    #[serde(borrow)]
    vec_int: svrkit_codec::ArrayRef<'a, i64>,
    #[serde(borrow)]
    dict_string: svrkit_codec::MapRef<'a, i64, &'a str>,
}

#[test]
fn a_view_round_trip_reading_every_field_does_not_allocate() {
    let msg = (
        "x".repeat(64),
        vec![1i64, -2, 300, -40_000, 5_000_000, -600_000_000, 7_000_000_000, i64::MIN],
        (1..=4i64).map(|k| (k, format!("value {k}"))).collect::<std::collections::BTreeMap<_, _>>(),
    );
    let mut req = Vec::with_capacity(1024);
    let mut resp = Vec::with_capacity(1024);
    encode_request(&mut req, 1, "echo1", &[&msg]).unwrap();
    let mut decoder = Decoder::default();
    let first = decoder.decode(&req).unwrap().unwrap();
    assert_eq!(first.len, req.len());

    let before = allocations();
    let mut checksum = 0i64;
    for msgid in 0..100u32 {
        let d = decoder.decode(&req).unwrap().unwrap();
        let Ok(Message::Request { params, .. }) = d.message else { panic!() };
        let (view,): (EchomsgView<'_>,) = params.deserialize().unwrap();
        checksum = checksum
            .wrapping_add(view.vec_int.iter().map(Result::unwrap).fold(0, i64::wrapping_add));
        for pair in view.dict_string.iter() {
            let (k, v) = pair.unwrap();
            checksum += k + v.len() as i64;
        }
        resp.clear();
        encode_response(&mut resp, msgid, &view).unwrap();
        let d = decoder.decode(&resp).unwrap().unwrap();
        let Ok(Message::Response { result, .. }) = d.message else { panic!() };
        let back: EchomsgView<'_> = result.deserialize().unwrap();
        assert_eq!(back.my_string.len(), 64);
        assert_eq!(back.vec_int.len(), 8);
    }
    let allocations = allocations() - before;
    let sum: i64 = msg.1.iter().fold(0, |a, &b| a.wrapping_add(b));
    assert_eq!(
        checksum,
        (0..100).fold(0i64, |acc, _| acc.wrapping_add(sum).wrapping_add(10 + 4 * 7))
    );
    assert_eq!(allocations, 0, "the view round trip allocated {allocations} times");
}
