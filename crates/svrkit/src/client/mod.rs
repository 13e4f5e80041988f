//! The msgpack-rpc client: multiplexed connections, routing, failover.
