//! IDL model to Rust source (placeholder: the codegen issue fills this in).
