//! Every marker width at its boundaries, on both sides of the fast paths: each integer in
//! every encoding that holds it, read as every integer type, alone (the exact-width slow
//! path at the end of the input) and followed by more bytes (the 8-byte-load fast path),
//! agrees with rmp-serde; strings, bins, arrays and maps at their width boundaries are
//! written byte-for-byte as rmp-serde writes them and read back, in frames too.

use std::collections::BTreeMap;
use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::Serialize;
use svrkit_codec::{encode_request, encode_value, from_slice, Decoder, Message};

/// Boundary integers, as i128 so both u64::MAX and i64::MIN fit.
const INTS: [i128; 26] = [
    0,
    1,
    127,
    128,
    255,
    256,
    32767,
    32768,
    65535,
    65536,
    2147483647,
    2147483648,
    4294967295,
    4294967296,
    9223372036854775807,
    18446744073709551615,
    -1,
    -32,
    -33,
    -128,
    -129,
    -32768,
    -32769,
    -2147483648,
    -2147483649,
    -9223372036854775808,
];

/// Every msgpack encoding of `v` (fixint included when it fits).
fn encodings(v: i128) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if (0..=127).contains(&v) || (-32..0).contains(&v) {
        out.push(vec![v as i8 as u8]);
    }
    let be = |marker: u8, width: usize| {
        let bytes = (v as u64).to_be_bytes();
        let mut e = vec![marker];
        e.extend_from_slice(&bytes[8 - width..]);
        e
    };
    for (marker, width, lo, hi) in [
        (0xcc, 1, 0, i128::from(u8::MAX)),
        (0xcd, 2, 0, i128::from(u16::MAX)),
        (0xce, 4, 0, i128::from(u32::MAX)),
        (0xcf, 8, 0, i128::from(u64::MAX)),
        (0xd0, 1, i128::from(i8::MIN), i128::from(i8::MAX)),
        (0xd1, 2, i128::from(i16::MIN), i128::from(i16::MAX)),
        (0xd2, 4, i128::from(i32::MIN), i128::from(i32::MAX)),
        (0xd3, 8, i128::from(i64::MIN), i128::from(i64::MAX)),
    ] {
        if (lo..=hi).contains(&v) {
            out.push(be(marker, width));
        }
    }
    out
}

/// Reads `bytes` as `T` alone, and as the first element of `[value, "padding..."]` (so
/// that at least 8 bytes follow it), and checks both against rmp-serde.
fn agree<T: DeserializeOwned + PartialEq + Debug + FromI128>(v: i128, bytes: &[u8]) {
    let expected = T::try_from_i128(v);
    let alone = from_slice::<T>(bytes).ok();
    assert_eq!(alone, expected, "{} alone: {bytes:02x?}", std::any::type_name::<T>());
    assert_eq!(rmp_serde::from_slice::<T>(bytes).ok(), expected, "rmp-serde {bytes:02x?}");
    let padded = [&[0x92][..], bytes, &[0xaa], b"0123456789"].concat();
    let got = from_slice::<(T, String)>(&padded).ok().map(|(t, _)| t);
    assert_eq!(got, expected, "{} padded: {bytes:02x?}", std::any::type_name::<T>());
    let theirs = rmp_serde::from_slice::<(T, String)>(&padded).ok().map(|(t, _)| t);
    assert_eq!(theirs, expected, "rmp-serde padded {bytes:02x?}");
}

/// `T::try_from(i128)` for the integer types under test.
trait FromI128: Sized {
    fn try_from_i128(v: i128) -> Option<Self>;
}

macro_rules! from_i128 {
    ($($t:ty)*) => {$(
        impl FromI128 for $t {
            fn try_from_i128(v: i128) -> Option<Self> {
                <$t>::try_from(v).ok()
            }
        }
    )*};
}
from_i128!(u8 u16 u32 u64 i8 i16 i32 i64);

fn agree_all<T: DeserializeOwned + PartialEq + Debug + FromI128>() {
    for v in INTS {
        for bytes in encodings(v) {
            agree::<T>(v, &bytes);
        }
    }
}

#[test]
fn every_integer_encoding_reads_as_every_integer_type_like_rmp_serde() {
    agree_all::<u8>();
    agree_all::<u16>();
    agree_all::<u32>();
    agree_all::<u64>();
    agree_all::<i8>();
    agree_all::<i16>();
    agree_all::<i32>();
    agree_all::<i64>();
}

#[test]
fn integers_write_like_rmp_serde_and_read_back_in_a_sequence() {
    let signed: Vec<i64> = INTS.iter().filter_map(|&v| i64::try_from(v).ok()).collect();
    let unsigned: Vec<u64> = INTS.iter().filter_map(|&v| u64::try_from(v).ok()).collect();
    for v in &signed {
        same_as_rmp(v);
    }
    for v in &unsigned {
        same_as_rmp(v);
    }
    // In a sequence every element but the last few takes the fast path.
    same_as_rmp(&signed);
    same_as_rmp(&unsigned);
}

/// Encodes like rmp-serde, byte for byte, and reads back (ours and theirs).
fn same_as_rmp<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) {
    let mut ours = Vec::new();
    encode_value(&mut ours, value).unwrap();
    assert_eq!(ours, rmp_serde::to_vec(value).unwrap(), "{value:?}");
    assert_eq!(&from_slice::<T>(&ours).unwrap(), value);
}

#[test]
fn strings_bins_arrays_and_maps_at_every_width_boundary() {
    for n in [0, 1, 7, 8, 9, 15, 16, 31, 32, 33, 255, 256, 65535, 65536] {
        let s = "s".repeat(n);
        same_as_rmp(&s);
        let mut bin = Vec::new();
        encode_value(&mut bin, &serde_bytes_like(&s)).unwrap();
        assert_eq!(bin, rmp_serde::to_vec(&serde_bytes_like(&s)).unwrap());
        // A bin where a string is expected (valid UTF-8) reads as the string.
        assert_eq!(from_slice::<String>(&bin).unwrap(), s);
        let array: Vec<u8> = (0..n).map(|i| i as u8).collect();
        same_as_rmp(&array);
        let map: BTreeMap<u32, bool> = (0..n as u32).map(|i| (i, i % 2 == 0)).collect();
        same_as_rmp(&map);
    }
}

/// A str's bytes serialized as msgpack bin.
fn serde_bytes_like(s: &str) -> impl Serialize + '_ {
    struct Bin<'a>(&'a [u8]);
    impl Serialize for Bin<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }
    Bin(s.as_bytes())
}

#[test]
fn frames_with_every_width_decode_whole() {
    let mut wire = Vec::new();
    for (i, n) in [0usize, 31, 32, 255, 256, 65536].into_iter().enumerate() {
        let params =
            ("m".repeat(n), (0..n.min(300) as i64).map(|x| x * 977 - 100_000).collect::<Vec<_>>());
        encode_request(&mut wire, i as u32, "w", &params).unwrap();
    }
    let mut decoder = Decoder::default();
    let mut at = 0;
    for (i, n) in [0usize, 31, 32, 255, 256, 65536].into_iter().enumerate() {
        let d = decoder.decode(&wire[at..]).unwrap().unwrap();
        at += d.len;
        let Ok(Message::Request { msgid, params, .. }) = d.message else { panic!() };
        assert_eq!(msgid, i as u32);
        let (s, ints): (String, Vec<i64>) = params.deserialize().unwrap();
        assert_eq!(s.len(), n);
        assert_eq!(ints, (0..n.min(300) as i64).map(|x| x * 977 - 100_000).collect::<Vec<_>>());
    }
    assert_eq!(at, wire.len());
}

#[test]
fn every_short_string_length_appends_like_rmp_serde_whatever_the_buffer_holds() {
    // fixstr and str8 are written with one length update into the spare capacity: check
    // every length against rmp-serde, appended to buffers that are empty, full (the write
    // must grow them) and roomy.
    let text: String = (0..300).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    for n in 0..300 {
        let s = &text[..n];
        let expected = rmp_serde::to_vec(s).unwrap();
        for prefix in [0usize, 1, 7, 64] {
            for spare in [0usize, 1, n, 512] {
                let mut buf = Vec::with_capacity(prefix + spare);
                buf.extend(std::iter::repeat_n(0xc0, prefix));
                buf.shrink_to(prefix + spare);
                encode_value(&mut buf, s).unwrap();
                assert_eq!(&buf[..prefix], &vec![0xc0; prefix][..]);
                assert_eq!(
                    &buf[prefix..],
                    &expected[..],
                    "len {n}, prefix {prefix}, spare {spare}"
                );
                assert_eq!(from_slice::<&str>(&buf[prefix..]).unwrap(), s);
            }
        }
    }
    // Multi-byte UTF-8 around the fixstr / str8 boundaries.
    for s in ["é".repeat(15), "é".repeat(16), "€".repeat(85), "€".repeat(86)] {
        same_as_rmp(&s);
    }
}
