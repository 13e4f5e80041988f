//! Black-box tests of svrkit-codec: one test binary, one module per concern.

mod common;
mod roundtrip;
