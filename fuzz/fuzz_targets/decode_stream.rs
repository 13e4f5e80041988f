//! Fuzz target: arbitrary bytes, split at arbitrary points, through the streaming decoder.
//!
//! Input: 4 control bytes (split seed, max_depth, max_frame) then the stream. Must never
//! panic, and decoding the stream in pieces must give exactly what decoding it at once does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use svrkit_codec::Limits;
use svrkit_fuzz::decode_chunks;

fuzz_target!(|data: &[u8]| {
    let Some((ctl, stream)) = data.split_first_chunk::<4>() else { return };
    let limits = Limits {
        max_depth: usize::from(ctl[1] % 80) + 1,
        max_frame: match u16::from_le_bytes([ctl[2], ctl[3]]) {
            0 => svrkit_codec::DEFAULT_MAX_FRAME,
            n => usize::from(n),
        },
    };
    let whole = decode_chunks(&[stream], limits);
    // The first errors render too (all of them would make runs slow under the sanitizer).
    for (step, _) in whole.0.iter().take(8) {
        if let svrkit_fuzz::Step::Invalid(e) = step {
            let _ = (e.msgid(), e.to_string());
        }
    }
    if let Err(e) = &whole.1 {
        let _ = e.to_string();
    }

    // Pseudo-random piece sizes from the seed (1..=16 bytes, or 1 byte at a time for seed 0).
    let mut state = u32::from(ctl[0]).wrapping_mul(2_654_435_761) | 1;
    let mut chunks = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = if ctl[0] == 0 { 1 } else { (state % 16) as usize + 1 }.min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        chunks.push(chunk);
        rest = tail;
    }
    let pieces = decode_chunks(&chunks, limits);
    assert_eq!(pieces, whole, "chunked decoding disagrees with one-shot decoding");
});
