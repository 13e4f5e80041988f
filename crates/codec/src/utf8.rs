//! UTF-8 checks with an ASCII fast path: wire strings are short and nearly always ASCII.

use std::str::Utf8Error;

/// `std::str::from_utf8`, faster on the short ASCII strings msgpack-rpc carries.
///
/// std's validator is tuned for long text; on a 5-64 byte string its set-up costs more than
/// the check (callgrind: ~80 instructions per string vs ~15 here, see the crate docs'
/// phase table). ASCII is checked 8 bytes at a time; anything else goes to std.
#[inline]
pub(crate) fn from_utf8(bytes: &[u8]) -> Result<&str, Utf8Error> {
    if is_ascii(bytes) {
        ascii_str(bytes)
    } else {
        std::str::from_utf8(bytes)
    }
}

/// Wraps bytes already checked to be ASCII.
#[inline]
#[allow(unsafe_code)]
fn ascii_str(bytes: &[u8]) -> Result<&str, Utf8Error> {
    debug_assert!(bytes.is_ascii());
    // SAFETY: the only caller checked (is_ascii) that every byte is < 0x80, and ASCII is
    // valid UTF-8.
    Ok(unsafe { std::str::from_utf8_unchecked(bytes) })
}

/// Are all bytes < 0x80? Whole 8-byte words, then the last 8 bytes again (overlapping)
/// for the tail; shorter strings with two overlapping 4-byte reads or three byte reads.
/// No byte-at-a-time loop: wire strings are mostly a few bytes past a multiple of 8.
#[inline]
fn is_ascii(bytes: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    if let Some(last) = bytes.last_chunk::<8>() {
        let (words, _) = bytes.as_chunks::<8>();
        let mut acc = u64::from_ne_bytes(*last);
        for w in words {
            acc |= u64::from_ne_bytes(*w);
        }
        acc & HIGH == 0
    } else if let (Some(first), Some(last)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        (u32::from_ne_bytes(*first) | u32::from_ne_bytes(*last)) & 0x8080_8080 == 0
    } else {
        // 0 to 3 bytes: the first, middle and last cover them all.
        let n = bytes.len();
        let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
        (at(0) | at(n / 2) | at(n.wrapping_sub(1))) < 0x80
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_std() {
        let samples: &[&[u8]] = &[
            b"",
            b"echo1",
            b"value 1",
            b"exactly8",
            b"svrkit echo payload: 64 bytes of text to echo back and forth....",
            "h\u{e9}llo w\u{f6}rld, long enough for a word".as_bytes(),
            b"ascii then \xff",
            b"\xc3",
            b"12345678\x80",
            b"1234567\x80",
            b"\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac",
        ];
        for s in samples {
            assert_eq!(from_utf8(s), std::str::from_utf8(s), "{s:?}");
        }
        // Every single byte value in every position of a 17-byte string.
        for pos in 0..17 {
            for b in 0..=255u8 {
                let mut s = *b"abcdefghijklmnopq";
                s[pos] = b;
                assert_eq!(from_utf8(&s), std::str::from_utf8(&s));
            }
        }
        // Every length from 0 to 40 (the short-string branches and the overlapping tail
        // read), with a non-ASCII byte in each position.
        let text = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH";
        for len in 0..=40 {
            let s = &text[..len];
            assert!(is_ascii(s), "{len}");
            assert_eq!(from_utf8(s), std::str::from_utf8(s));
            for pos in 0..len {
                for b in [0x80u8, 0xc3, 0xff] {
                    let mut s = text[..len].to_vec();
                    s[pos] = b;
                    assert!(!is_ascii(&s), "len {len} pos {pos}");
                    assert_eq!(from_utf8(&s), std::str::from_utf8(&s));
                }
            }
        }
    }
}
