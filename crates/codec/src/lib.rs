//! msgpack-rpc messages and stream framing (placeholder: the codec issue fills this in).
