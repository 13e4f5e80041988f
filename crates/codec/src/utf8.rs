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

/// Are all bytes < 0x80? Whole 8-byte words first, then the tail.
#[inline]
fn is_ascii(bytes: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // (`as_chunks` would read better but needs Rust 1.88; the MSRV is 1.85.)
    let mut words = bytes.chunks_exact(8);
    let mut acc = 0u64;
    for w in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        acc |= u64::from_ne_bytes(word);
    }
    let mut tail = 0u8;
    for &b in words.remainder() {
        tail |= b;
    }
    acc & HIGH == 0 && tail < 0x80
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
    }
}
