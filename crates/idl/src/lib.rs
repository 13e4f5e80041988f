//! The svrkit JSON IDL (placeholder: the IDL issue fills this in).
