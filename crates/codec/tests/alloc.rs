//! The decode hot path allocates nothing: frames, messages and borrowed params come out of
//! the caller's buffer. Own test binary, because it installs a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize;
use svrkit_codec::{encode_request, encode_response, Decoder, Message};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is the only
// addition. Unsafe is required by the `GlobalAlloc` trait itself.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
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

    let before = ALLOCATIONS.load(Ordering::Relaxed);
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
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(at, wire.len());
    assert_eq!(ids, (1..100).sum::<u64>());
    assert_eq!(allocations, 0, "the decode loop allocated {allocations} times");
}
