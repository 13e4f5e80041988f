//! Black-box tests of svrkit-codec: one test binary, one module per concern.

mod common;
mod errors;
mod golden;
mod props;
mod protos;
mod roundtrip;
mod rpc_error;
mod views;
mod widths;
