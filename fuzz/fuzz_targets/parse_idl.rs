//! Fuzz target: parsing any text as an IDL never panics; a success holds only ids that
//! resolve, and a failure holds located diagnostics that render.
#![no_main]

use libfuzzer_sys::fuzz_target;
use svrkit_idl::{Params, Returns};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match svrkit_idl::parse(text) {
        Ok(idl) => {
            for proto in &idl.protos {
                for field in &proto.fields {
                    let _ = idl.type_name(&field.ty);
                }
            }
            for api in &idl.rpc_server.apis {
                match &api.params {
                    Params::Proto(id) => assert!(id.index() < idl.protos.len()),
                    Params::Args(args) => {
                        assert!(!args.is_empty());
                        for arg in args {
                            let _ = idl.type_name(&arg.ty);
                        }
                    }
                    _ => {}
                }
                if let Returns::Value(ty) = &api.returns {
                    let _ = idl.type_name(ty);
                }
            }
            if let Some(ss) = &idl.self_server {
                assert!(!ss.groups.is_empty());
            }
        }
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty());
            for d in diagnostics.items() {
                assert!(d.span.start <= d.span.end && d.span.end <= text.len());
                assert!(text.is_char_boundary(d.span.start) && text.is_char_boundary(d.span.end));
                assert!(d.line >= 1 && d.column >= 1);
            }
            let _ = diagnostics.to_string();
        }
    }
});
