//! Renders `src/generated/protos.rs`: one serde struct per IDL proto, encoded as a msgpack
//! array of its fields in IDL order and decoded tolerantly (missing trailing fields take
//! their defaults, extra trailing ones are skipped) so a proto can grow by appending fields.

use crate::emit::Code;
use crate::model::{Proto, Service, Ty};
use crate::names::{camel, ident};

/// The Rust type for an IDL type, as written inside the generated crate's modules (protos
/// by their bare name: every module imports the ones it uses).
pub(crate) fn rust_ty(ty: &Ty) -> String {
    match ty {
        Ty::String => "String".to_string(),
        Ty::Bool => "bool".to_string(),
        Ty::Int => "i64".to_string(),
        Ty::Float => "f64".to_string(),
        Ty::Bin => "Bytes".to_string(),
        Ty::List(t) => format!("Vec<{}>", rust_ty(t)),
        Ty::Dict(k, v) => format!("BTreeMap<{}, {}>", rust_ty(k), rust_ty(v)),
        Ty::Proto(name) => camel(name),
        Ty::Dynamic => "Value".to_string(),
    }
}

/// The IDL spelling of a type, for docs.
pub(crate) fn idl_ty(ty: &Ty) -> String {
    match ty {
        Ty::String => "string".to_string(),
        Ty::Bool => "bool".to_string(),
        Ty::Int => "int".to_string(),
        Ty::Float => "float".to_string(),
        Ty::Bin => "bin".to_string(),
        Ty::List(t) => format!("list of {}", idl_ty(t)),
        Ty::Dict(k, v) => format!("dict {}:{}", idl_ty(k), idl_ty(v)),
        Ty::Proto(name) => name.clone(),
        Ty::Dynamic => "any msgpack value".to_string(),
    }
}

/// Whether a type mentions `BTreeMap` (so the module imports it).
pub(crate) fn uses_map(ty: &Ty) -> bool {
    match ty {
        Ty::Dict(..) => true,
        Ty::List(t) => uses_map(t),
        _ => false,
    }
}

/// Whether a type mentions `Bytes`.
pub(crate) fn uses_bytes(ty: &Ty) -> bool {
    match ty {
        Ty::Bin => true,
        Ty::List(t) => uses_bytes(t),
        Ty::Dict(k, v) => uses_bytes(k) || uses_bytes(v),
        _ => false,
    }
}

/// Whether a type mentions the dynamic `Value`.
pub(crate) fn uses_value(ty: &Ty) -> bool {
    match ty {
        Ty::Dynamic => true,
        Ty::List(t) => uses_value(t),
        Ty::Dict(k, v) => uses_value(k) || uses_value(v),
        _ => false,
    }
}

/// Whether values of the type support `Eq` (floats and dynamic values do not).
fn is_eq(service: &Service, ty: &Ty, depth: usize) -> bool {
    match ty {
        Ty::Float | Ty::Dynamic => false,
        Ty::List(t) => is_eq(service, t, depth),
        Ty::Dict(k, v) => is_eq(service, k, depth) && is_eq(service, v, depth),
        Ty::Proto(name) => {
            depth > 16
                || service
                    .proto(name)
                    .is_none_or(|p| p.fields.iter().all(|f| is_eq(service, &f.ty, depth + 1)))
        }
        _ => true,
    }
}

pub(crate) fn render(service: &Service, header: &str) -> String {
    let mut c = Code::new();
    c.line(header);
    c.line(format!(
        "//! The protos of the `{}` service: msgpack arrays of their fields in IDL order.",
        service.app
    ));
    c.line("//!");
    c.line(
        "//! Decoding is tolerant (svrkit's decoder with `#[serde(default)]`): missing trailing",
    );
    c.line("//! fields take their default and extra trailing fields are skipped, so a proto can");
    c.line("//! grow by appending fields.");
    c.blank();
    let fields = || service.protos.iter().flat_map(|p| p.fields.iter());
    let mut uses = Vec::new();
    if fields().any(|f| uses_map(&f.ty)) {
        uses.push("use std::collections::BTreeMap;".to_string());
    }
    if fields().any(|f| uses_value(&f.ty)) {
        uses.push("use svrkit::Value;".to_string());
    }
    if fields().any(|f| uses_bytes(&f.ty)) {
        uses.push("use svrkit::Bytes;".to_string());
    }
    if !service.protos.is_empty() {
        uses.push("use svrkit::serde::{Deserialize, Serialize};".to_string());
    }
    c.use_groups(uses);
    for proto in &service.protos {
        c.blank();
        render_proto(&mut c, service, proto);
    }
    c.finish()
}

fn render_proto(c: &mut Code, service: &Service, proto: &Proto) {
    let ty = camel(&proto.name);
    let field_list = proto.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ");
    c.doc(&format!("The `{}` proto; on the wire the array `[{field_list}]`.", proto.name));
    let eq = if is_eq(service, &Ty::Proto(proto.name.clone()), 0) { ", Eq" } else { "" };
    c.line(format!("#[derive(Clone, Debug, Default, PartialEq{eq}, Serialize, Deserialize)]"));
    c.line("#[serde(crate = \"svrkit::serde\", default)]");
    if proto.fields.is_empty() {
        c.line(format!("pub struct {ty} {{}}"));
        return;
    }
    c.open(format!("pub struct {ty} {{"));
    for f in &proto.fields {
        c.doc(&format!("`{}`: {}.", f.name, idl_ty(&f.ty)));
        c.line(format!("pub {}: {},", ident(&f.name), rust_ty(&f.ty)));
    }
    c.close("}");
}
