//! Renders `src/generated/service.rs` (the service trait and its router) and the matching
//! handler stubs of the user's `src/handlers.rs`.

use std::collections::BTreeSet;

use crate::emit::Code;
use crate::model::{Api, Params, Service, Ty};
use crate::names::{camel, ident, lit};
use crate::protos::{idl_ty, rust_ty, uses_bytes, uses_map, uses_value};

/// The trait every service implements: `EchoService` for app `echo`.
pub(crate) fn trait_name(service: &Service) -> String {
    format!("{}Service", camel(&service.app))
}

/// `(name, rust type)` of each parameter, in wire order.
pub(crate) fn params(api: &Api) -> Vec<(String, Ty)> {
    match &api.params {
        Params::Req(proto) => vec![("req".to_string(), Ty::Proto(proto.clone()))],
        Params::Nothing => Vec::new(),
        Params::Args(args) => args.iter().map(|a| (a.name.clone(), a.ty.clone())).collect(),
    }
}

/// The Rust result type of a handler (`()` when the API returns nothing).
pub(crate) fn ret_rust(api: &Api) -> String {
    api.ret.as_ref().map_or_else(|| "()".to_string(), rust_ty)
}

/// `["req: Echomsg", "n: i64"]`: the parameters as declared.
pub(crate) fn param_items(api: &Api) -> Vec<String> {
    params(api).iter().map(|(n, t)| format!("{}: {}", ident(n), rust_ty(t))).collect()
}

/// `&self` followed by `items`.
pub(crate) fn self_and(items: Vec<String>) -> Vec<String> {
    let mut all = vec!["&self".to_string()];
    all.extend(items);
    all
}

/// The tuple type of the wire params: `(Echomsg,)`, `()`, `(i64, String)`.
pub(crate) fn params_tuple_ty(api: &Api) -> String {
    let tys: Vec<String> = params(api).iter().map(|(_, t)| rust_ty(t)).collect();
    tuple(&tys)
}

/// The tuple pattern binding the wire params: `(req,)`, `()`, `(n, s)`.
pub(crate) fn params_tuple_pat(api: &Api) -> String {
    let names: Vec<String> = params(api).iter().map(|(n, _)| ident(n)).collect();
    tuple(&names)
}

pub(crate) fn tuple(items: &[String]) -> String {
    match items {
        [] => "()".to_string(),
        [one] => format!("({one},)"),
        many => format!("({})", many.join(", ")),
    }
}

/// Every type an API mentions (parameters and result).
pub(crate) fn api_types(api: &Api) -> Vec<Ty> {
    let mut tys: Vec<Ty> = params(api).into_iter().map(|(_, t)| t).collect();
    tys.extend(api.ret.clone());
    tys
}

/// Proto type names mentioned by `tys` (recursively through lists and dicts).
pub(crate) fn protos_in(tys: &[Ty]) -> BTreeSet<String> {
    fn walk(ty: &Ty, out: &mut BTreeSet<String>) {
        match ty {
            Ty::Proto(p) => {
                out.insert(camel(p));
            }
            Ty::List(t) => walk(t, out),
            Ty::Dict(k, v) => {
                walk(k, out);
                walk(v, out);
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for t in tys {
        walk(t, &mut out);
    }
    out
}

/// The `use` lines a module needs for the types of `apis`.
pub(crate) fn type_imports(apis: &[Api], protos_path: &str) -> Vec<String> {
    let tys: Vec<Ty> = apis.iter().flat_map(api_types).collect();
    let mut out = Vec::new();
    if tys.iter().any(uses_map) {
        out.push("use std::collections::BTreeMap;".to_string());
    }
    let protos: Vec<String> = protos_in(&tys).into_iter().collect();
    out.extend(use_list(protos_path, &protos));
    if tys.iter().any(uses_value) {
        out.push("use svrkit::Value;".to_string());
    }
    if tys.iter().any(uses_bytes) {
        out.push("use svrkit::Bytes;".to_string());
    }
    out
}

/// `use path::{a, b};` (or `use path::a;`), nothing for an empty list.
pub(crate) fn use_list(path: &str, names: &[String]) -> Option<String> {
    match names {
        [] => None,
        [one] => Some(format!("use {path}::{one};")),
        many => Some(format!("use {path}::{{{}}};", many.join(", "))),
    }
}

/// One line describing an API's shape for docs.
pub(crate) fn api_doc(api: &Api) -> String {
    let takes = match &api.params {
        Params::Req(p) => format!("takes `{p}`"),
        Params::Nothing => "takes nothing".to_string(),
        Params::Args(args) => format!(
            "takes ({})",
            args.iter()
                .map(|a| format!("`{}`: {}", a.name, idl_ty(&a.ty)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let gives = match &api.ret {
        None => "answers nil".to_string(),
        Some(t) => format!("returns {}", idl_ty(t)),
    };
    format!("`{}`: {takes}, {gives}.", api.name)
}

pub(crate) fn render(service: &Service, header: &str) -> String {
    let tr = trait_name(service);
    let mut c = Code::new();
    c.line(header);
    c.line(format!(
        "//! The `{}` service trait (one method per API) and the router that serves it.",
        service.app
    ));
    c.blank();
    let mut uses = type_imports(&service.server.apis, "super::protos");
    uses.extend(
        [
            "use std::future::Future;",
            "use std::sync::Arc;",
            "use svrkit::server::Router;",
            "use svrkit::RpcError;",
        ]
        .map(String::from),
    );
    c.use_groups(uses);
    c.doc(&format!(
        "The APIs of `{}`. Implement it in `src/handlers.rs`; when the IDL gains an API the\n\
         compiler names the method to add (`not all trait items implemented, missing: ...`).\n\n\
         Handlers are async; in `thread` and `process` worker modes they run on worker\n\
         threads, so blocking inside them is fine there.",
        service.app
    ));
    c.open(format!("pub trait {tr}: Send + Sync + 'static {{"));
    for (i, api) in service.server.apis.iter().enumerate() {
        if i > 0 {
            c.blank();
        }
        c.doc(&api_doc(api));
        c.list(
            &format!("fn {}(", ident(&api.method)),
            &self_and(param_items(api)),
            &format!(") -> impl Future<Output = Result<{}, RpcError>> + Send;", ret_rust(api)),
        );
    }
    c.close("}");
    c.blank();
    c.doc("The wire names of every API, in IDL order.");
    c.line(format!(
        "pub const METHODS: &[&str] = &[{}];",
        service.server.apis.iter().map(|a| lit(&a.name)).collect::<Vec<_>>().join(", ")
    ));
    c.blank();
    c.doc("A router that dispatches every API to `service`.");
    c.open(format!("pub fn router<S: {tr}>(service: Arc<S>) -> Router {{"));
    c.line("let mut router = Router::new();");
    for api in &service.server.apis {
        c.open("{");
        c.line("let service = Arc::clone(&service);");
        let pat = params_tuple_pat(api);
        let call_args = params(api).iter().map(|(n, _)| ident(n)).collect::<Vec<_>>().join(", ");
        let closure_param = if params(api).is_empty() {
            "(): ()".to_string()
        } else {
            format!("{pat}: {}", params_tuple_ty(api))
        };
        c.open(format!("router = router.route({}, move |{closure_param}| {{", lit(&api.name)));
        c.line("let service = Arc::clone(&service);");
        c.line(format!("async move {{ service.{}({call_args}).await }}", ident(&api.method)));
        c.close("});");
        c.close("}");
    }
    c.line("router");
    c.close("}");
    c.finish()
}

/// The stub body for a handler: echo the input when the types match, else a default.
pub(crate) fn stub_body(api: &Api) -> String {
    let ps = params(api);
    match &api.ret {
        None => "Ok(())".to_string(),
        Some(ret) => {
            if let [(name, ty)] = ps.as_slice() {
                if ty == ret {
                    return format!("Ok({})", ident(name));
                }
            }
            if *ret == Ty::Dynamic {
                return "Ok(Value::Nil)".to_string();
            }
            "Ok(Default::default())".to_string()
        }
    }
}

/// Whether the stub of `api` returns its input unchanged (so tests can check it).
pub(crate) fn stub_echoes(api: &Api) -> bool {
    matches!((params(api).as_slice(), &api.ret), ([(_, ty)], Some(ret)) if ty == ret)
}

/// The code of one handler method as the user writes it.
pub(crate) fn handler_method(api: &Api, indent: usize) -> String {
    let mut c = Code::at(indent);
    c.list(
        &format!("async fn {}(", ident(&api.method)),
        &self_and(params_unused_prefix(api)),
        &format!(") -> Result<{}, RpcError> {{", ret_rust(api)),
    );
    c.line(format!("    {}", stub_body(api)));
    c.line("}");
    let text = c.finish();
    // Strip the indent again: the caller places the text.
    text.lines()
        .map(|l| l.strip_prefix(&" ".repeat(indent * 4)).unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The parameters with `_` prefixes on those the stub body does not use.
fn params_unused_prefix(api: &Api) -> Vec<String> {
    let body = stub_body(api);
    params(api)
        .iter()
        .map(|(n, t)| {
            let id = ident(n);
            let used = body.contains(&format!("({id})")) || body.contains(&format!("&{id})"));
            let shown = if used { id } else { format!("_{}", n) };
            format!("{shown}: {}", rust_ty(t))
        })
        .collect()
}
