//! Black-box tests of svrkit-ring: libketama vectors, ring properties, shard table errors.

mod ketama_vectors;
mod ring_props;
mod shard_errors;
