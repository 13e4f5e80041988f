//! The svrkit facade: server and client runtime (placeholder: the runtime issue fills this in).
