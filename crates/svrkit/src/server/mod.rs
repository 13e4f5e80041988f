//! The msgpack-rpc server: dispatcher, worker modes, graceful stop.
