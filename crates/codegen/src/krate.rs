//! Renders the crate around the generated modules: Cargo.toml, INI files, README, lib.rs,
//! main.rs, the server glue, the user's handler / worker / init stubs and the tests.

use crate::client::{blocking_name, client_name};
use crate::emit::Code;
use crate::model::{ClientMode, Dispatch, Params, Service, Ty};
use crate::names::{camel, crate_ident, ident, lit};
use crate::self_server::{self, groups};
use crate::service::{self as svc, params, trait_name};
use crate::{Options, SvrkitDep, Workspace};

/// `# Created by ...` first line of user-owned TOML / INI files.
pub(crate) fn user_hash_header(opts: &Options) -> String {
    format!(
        "# Created by cargo-svrkit from {}; yours to edit (`cargo svrkit gen` never overwrites it).",
        opts.idl_file
    )
}

pub(crate) fn cargo_toml(service: &Service, opts: &Options) -> String {
    let dep = match &opts.svrkit {
        SvrkitDep::Path(p) => format!("svrkit = {{ path = {} }}", toml_str(p)),
        SvrkitDep::Version(v) => format!("svrkit = {}", toml_str(v)),
    };
    let mut c = Code::new();
    c.line(user_hash_header(opts));
    c.line("[package]");
    c.line(format!("name = {}", toml_str(&opts.package)));
    c.line("version = \"0.1.0\"");
    c.line("edition = \"2021\"");
    c.line(format!(
        "description = {}",
        toml_str(&format!("The {} msgpack-rpc service.", service.app))
    ));
    c.line("publish = false");
    c.blank();
    c.line("[dependencies]");
    c.line(dep);
    if opts.workspace == Workspace::Standalone {
        c.blank();
        c.line("# A workspace of its own, so the crate builds wherever it lives.");
        c.line("[workspace]");
    }
    c.finish()
}

fn toml_str(s: &str) -> String {
    // TOML basic strings share Rust's escapes for what appears in names and paths.
    format!("{s:?}")
}

pub(crate) fn server_conf(service: &Service, opts: &Options) -> String {
    let s = &service.server;
    let mut c = Code::new();
    c.line(format!(
        "; Created by cargo-svrkit from {}; yours to edit (`cargo svrkit gen` never overwrites it).",
        opts.idl_file
    ));
    c.line("[app]");
    c.line(format!("name={}", service.app));
    c.line(format!("pid=/tmp/{}.pid", service.app));
    c.blank();
    c.line("[rpc_server]");
    c.line(format!("ip={}", s.ip));
    c.line(format!("port={}", s.port));
    c.line(format!("worker_type={}", s.worker_type.as_str()));
    c.line(format!("worker_sum={}", s.worker_sum));
    if let Some(co) = s.coroutine_sum {
        c.line(format!("coroutine_sum={co}"));
    }
    if let Some(ss) = &service.self_server {
        c.blank();
        c.line("[self_server]");
        match &ss.dispatch {
            Dispatch::Simple { worker_sum, coroutine_sum } => {
                c.line("dispatch_type=simple");
                c.line(format!("worker_type={}", ss.worker_type.as_str()));
                c.line(format!("worker_sum={worker_sum}"));
                if let Some(co) = coroutine_sum {
                    c.line(format!("coroutine_sum={co}"));
                }
            }
            Dispatch::Custom(gs) => {
                c.line("dispatch_type=custom");
                c.line(format!("worker_type={}", ss.worker_type.as_str()));
                c.line(format!("group_sum={}", gs.len()));
                for (i, g) in gs.iter().enumerate() {
                    c.blank();
                    c.line(format!("[self_group{i}]"));
                    c.line(format!("group_name={}", g.name));
                    c.line(format!("worker_sum={}", g.worker_sum));
                    if let Some(co) = g.coroutine_sum {
                        c.line(format!("coroutine_sum={co}"));
                    }
                }
            }
        }
    }
    c.finish()
}

pub(crate) fn client_conf(service: &Service, opts: &Options) -> String {
    let port = service.server.port;
    let mut c = Code::new();
    c.line(format!(
        "; Created by cargo-svrkit from {}; yours to edit (`cargo svrkit gen` never overwrites it).",
        opts.idl_file
    ));
    c.line("[server]");
    c.line("sum=1");
    match service.client_mode {
        ClientMode::Hashring => {
            c.line("mode=hashring");
            c.blank();
            c.line("[server0]");
            c.line("ip=127.0.0.1");
            c.line(format!("port={port}"));
            c.line("weight=100");
        }
        ClientMode::Sharding => {
            c.line("mode=sharding");
            c.line("shardsum=1000");
            c.blank();
            c.line("[server0]");
            c.line("ip=127.0.0.1");
            c.line(format!("port={port}"));
            c.line("ip_bak=127.0.0.1");
            c.line(format!("port_bak={port}"));
            c.line("shardbegin=0");
            c.line("shardend=999");
        }
    }
    c.finish()
}

pub(crate) fn readme(service: &Service, opts: &Options) -> String {
    let app = &service.app;
    let first_call = service
        .server
        .apis
        .first()
        .map(|a| format!("cargo svrkit call {} '{}'", a.name, sample_json(service, a)))
        .unwrap_or_default();
    let mut apis = String::new();
    for a in &service.server.apis {
        apis.push_str(&format!("- {}\n", svc::api_doc(a)));
    }
    format!(
        "# {package}\n\n\
         The `{app}` msgpack-rpc service, scaffolded by `cargo svrkit` from `{idl}`.\n\n\
         ```sh\n\
         cargo svrkit run                 # build and run the server ({app}_svr.conf); -d = daemon\n\
         \x20                                # (-d returns once it serves, or says why it cannot)\n\
         {first_call}\n\
         cargo test                       # generated tests call every API on a live server\n\
         cargo svrkit status              # running? pid, uptime, worker processes\n\
         cargo svrkit stop                # graceful stop via the pid file\n\
         cargo svrkit gen                 # after editing {idl}: regenerate, your code is kept\n\
         ```\n\n\
         ## APIs\n\n{apis}\n\
         ## Files\n\n\
         | file | owner |\n\
         |---|---|\n\
         | `src/generated/`, `src/lib.rs`, `src/main.rs`, `tests/generated.rs` | generated: rewritten by `cargo svrkit gen` |\n\
         | `src/handlers.rs` | yours: the API handlers |\n\
         | `src/self_workers.rs` | yours: the self_server worker groups |\n\
         | `src/init.rs` | yours: start-up hook building the shared state |\n\
         | `tests/handlers.rs` | yours: tests of what your handlers return |\n\
         | `Cargo.toml`, `{app}_svr.conf`, `{app}_cli.conf`, this README | yours, created once |\n\n\
         When `{idl}` gains an API, `cargo svrkit gen` prints the method to add to\n\
         `src/handlers.rs`, and until it is there the compiler says\n\
         `not all trait items implemented, missing: ...`.\n",
        package = opts.package,
        idl = opts.idl_file,
    )
}

/// A JSON request for `api` built from sample values (for docs and `cargo svrkit call`).
pub(crate) fn sample_json(service: &Service, api: &crate::model::Api) -> String {
    fn val(service: &Service, ty: &Ty, depth: usize) -> String {
        match ty {
            Ty::String => "\"hello\"".to_string(),
            Ty::Bool => "true".to_string(),
            Ty::Int => "7".to_string(),
            Ty::Float => "1.5".to_string(),
            Ty::Bin => "[1,2,3]".to_string(),
            Ty::List(t) => format!("[{}]", val(service, t, depth + 1)),
            Ty::Dict(k, v) => {
                let key = match **k {
                    Ty::Int => "\"1\"".to_string(),
                    Ty::Bool => "\"true\"".to_string(),
                    _ => "\"key\"".to_string(),
                };
                format!("{{{key}:{}}}", val(service, v, depth + 1))
            }
            Ty::Proto(p) => match service.proto(p) {
                Some(proto) if depth < 3 => format!(
                    "{{{}}}",
                    proto
                        .fields
                        .iter()
                        .map(|f| format!("\"{}\":{}", f.name, val(service, &f.ty, depth + 1)))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                _ => "{}".to_string(),
            },
            Ty::Dynamic => "null".to_string(),
        }
    }
    match &api.params {
        Params::Req(p) => val(service, &Ty::Proto(p.clone()), 0),
        Params::Nothing => "{}".to_string(),
        Params::Args(args) => format!(
            "{{{}}}",
            args.iter()
                .map(|a| format!("\"{}\":{}", a.name, val(service, &a.ty, 1)))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

pub(crate) fn lib_rs(service: &Service, header: &str) -> String {
    let mut c = Code::new();
    c.line(header);
    c.line(format!("//! The `{}` msgpack-rpc service.", service.app));
    c.line("//!");
    c.line("//! [`generated`] is rewritten by `cargo svrkit gen`; [`handlers`], [`self_workers`]");
    c.line("//! and [`init`] are yours.");
    c.blank();
    c.line("pub mod generated;");
    c.line("pub mod handlers;");
    c.line("pub mod init;");
    c.line("pub mod self_workers;");
    c.blank();
    c.line("pub use generated::*;");
    c.finish()
}

pub(crate) fn main_rs(service: &Service, opts: &Options, header: &str) -> String {
    let krate = crate_ident(&opts.package);
    let mut c = Code::new();
    c.line(header);
    c.line(format!(
        "//! The `{}` server: `{} [-c CONF] [-d] [-h] [start|stop|restart|status]`.",
        service.app, opts.package
    ));
    c.blank();
    c.open("fn main() -> std::process::ExitCode {");
    c.line(format!("{krate}::generated::server::main()"));
    c.close("}");
    c.finish()
}

pub(crate) fn generated_mod(service: &Service, header: &str) -> String {
    let mut c = Code::new();
    c.line(header);
    c.line(format!(
        "//! Everything generated from the `{}` IDL. The names your code needs are re-exported",
        service.app
    ));
    c.line("//! here, so `use crate::generated::*;` is all a handler file imports.");
    c.blank();
    c.line("pub mod client;");
    c.line("pub mod protos;");
    c.line("pub mod samples;");
    c.line("pub mod self_server;");
    c.line("pub mod server;");
    c.line("pub mod service;");
    c.blank();
    let mut protos: Vec<String> = service.protos.iter().map(|p| camel(&p.name)).collect();
    protos.sort();
    let mut uses = vec![
        format!("pub use client::{{{}, {}}};", blocking_name(service), client_name(service)),
        format!("pub use self_server::{};", self_server::trait_name(service)),
        format!("pub use service::{};", trait_name(service)),
        "pub use svrkit::app::BoxError;".to_string(),
        "pub use std::collections::BTreeMap;".to_string(),
        "pub use svrkit::client::ClientError;".to_string(),
        "pub use svrkit::config::ServerConfig;".to_string(),
        "pub use svrkit::worker::WorkerContext;".to_string(),
        "pub use svrkit::RpcError;".to_string(),
    ];
    if crate::needs_value_module(service) {
        uses.push("pub use svrkit::{Bytes, Value};".to_string());
    }
    uses.extend(svc::use_list("protos", &protos).map(|u| format!("pub {u}")));
    c.uses(uses);
    c.finish()
}

pub(crate) fn server_rs(service: &Service, header: &str) -> String {
    let mut c = Code::new();
    c.line(header);
    c.line(format!(
        "//! The `{}` program on the facade's `App`: command line, config, init hook, worker\n\
         //! modes, self_server groups, daemon and pid file, graceful stop.",
        service.app
    ));
    c.blank();
    c.use_groups(
        [
            "use std::process::ExitCode;",
            "use svrkit::app::{BoxError, LocalServer};",
            "use svrkit::App;",
            "use crate::handlers::Handlers;",
        ]
        .map(String::from)
        .to_vec(),
    );
    c.doc("The app name, as in the IDL and the `[app] name` of the server config.");
    c.line(format!("pub const APP: &str = {};", lit(&service.app)));
    c.blank();
    c.doc("The program: the init hook, the router over its state, and the self workers.");
    c.open("pub fn app() -> App<Handlers> {");
    if service.self_server.is_some() {
        c.line("App::new(APP, crate::init::init, super::service::router)");
        c.push_indent();
        c.open(".self_worker(|handlers, ctx| async move {");
        c.line("super::self_server::run_worker(&*handlers, ctx).await;");
        c.close("})");
        c.line(".self_groups(super::self_server::GROUPS)");
        c.pop_indent();
    } else {
        c.line("App::new(APP, crate::init::init, super::service::router)");
    }
    c.close("}");
    c.blank();
    c.doc(&format!(
        "The server binary's `main`: `{} [-c CONF] [-d] [-h] [start|stop|restart|status]`.",
        service.app
    ));
    c.open("pub fn main() -> ExitCode {");
    c.line("app().main()");
    c.close("}");
    c.blank();
    c.doc("The crate's server config, `<app>_svr.conf` beside Cargo.toml.");
    c.line(format!(
        "pub const CONF: &str = concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/{}_svr.conf\");",
        service.app
    ));
    c.blank();
    c.doc(
        "Start the server in this process on a free loopback port, configured by [`CONF`]\n\
         (worker mode and limits), after the init hook, with the self workers on threads. For\n\
         tests: it stops them and the server gracefully when dropped; `local_addr()` is where\n\
         to connect.",
    );
    c.open("pub fn start_local() -> Result<LocalServer<Handlers>, BoxError> {");
    c.line("Ok(app().start_local_file(CONF)?)");
    c.close("}");
    c.finish()
}

pub(crate) fn handlers_rs(service: &Service, opts: &Options) -> String {
    let mut c = Code::new();
    c.line(format!(
        "//! Your `{}` API handlers (created by cargo-svrkit from {}; `gen` never overwrites it).",
        service.app, opts.idl_file
    ));
    c.line("//!");
    c.line("//! When the IDL gains an API, the compiler names the method to add here and");
    c.line("//! `cargo svrkit gen` prints its exact signature.");
    c.blank();
    c.line("use crate::generated::*;");
    c.blank();
    c.doc("The state every handler and self worker shares, built by [`crate::init::init`].");
    c.line("#[derive(Debug, Default)]");
    c.line("pub struct Handlers {}");
    c.blank();
    if service.server.apis.is_empty() {
        c.line(format!("impl {} for Handlers {{}}", trait_name(service)));
    } else {
        c.open(format!("impl {} for Handlers {{", trait_name(service)));
        for (i, api) in service.server.apis.iter().enumerate() {
            if i > 0 {
                c.blank();
            }
            c.line(svc::handler_method(api, 1));
        }
        c.close("}");
    }
    c.finish()
}

pub(crate) fn self_workers_rs(service: &Service, opts: &Options) -> String {
    let tr = self_server::trait_name(service);
    let gs = groups(service);
    let mut c = Code::new();
    c.line(format!(
        "//! Your `{}` self_server workers (created by cargo-svrkit from {}; `gen` never\n\
         //! overwrites it): one method per group, each running until the server stops.",
        service.app, opts.idl_file
    ));
    c.blank();
    let generated = if gs.is_empty() {
        format!("use crate::generated::{tr};")
    } else {
        "use crate::generated::*;".to_string()
    };
    c.uses(vec![generated, "use crate::handlers::Handlers;".to_string()]);
    if gs.is_empty() {
        c.line(format!("impl {tr} for Handlers {{}}"));
    } else {
        c.open(format!("impl {tr} for Handlers {{"));
        for (i, (method, group, _, _)) in gs.iter().enumerate() {
            if i > 0 {
                c.blank();
            }
            c.line(self_server::worker_method(method, group));
        }
        c.close("}");
    }
    c.finish()
}

pub(crate) fn init_rs(service: &Service, opts: &Options) -> String {
    let mut c = Code::new();
    c.line(format!(
        "//! Your `{}` start-up hook (created by cargo-svrkit from {}; `gen` never overwrites it).",
        service.app, opts.idl_file
    ));
    c.blank();
    c.uses(vec![
        "use crate::generated::{BoxError, ServerConfig};".to_string(),
        "use crate::handlers::Handlers;".to_string(),
    ]);
    c.doc(
        "Runs once in every serving process before it takes requests: open connections,\n\
         load data, and return the state the handlers and self workers share. An error\n\
         stops the start-up with its message.",
    );
    c.open("pub fn init(_config: &ServerConfig) -> Result<Handlers, BoxError> {");
    c.line("Ok(Handlers::default())");
    c.close("}");
    c.finish()
}

/// Rust expression of a sample value of `ty`. Only the outermost proto is spelled out;
/// nested ones are `X::default()`, so every expression stays short.
fn sample_rust(ty: &Ty) -> String {
    match ty {
        Ty::String => "\"hello\".to_string()".to_string(),
        Ty::Bool => "true".to_string(),
        Ty::Int => "7".to_string(),
        Ty::Float => "1.5".to_string(),
        Ty::Bin => "Bytes::from(vec![1, 2, 3])".to_string(),
        Ty::List(t) => format!("vec![{}]", sample_rust(t)),
        Ty::Dict(k, v) => format!("BTreeMap::from([({}, {})])", sample_rust(k), sample_rust(v)),
        Ty::Proto(p) => format!("{}::default()", camel(p)),
        Ty::Dynamic => "Value::Nil".to_string(),
    }
}

/// `let NAME = <sample of ty>;`, a proto spelled out field by field.
fn bind_sample(c: &mut Code, service: &Service, name: &str, ty: &Ty) {
    let _ = service;
    match ty {
        Ty::Proto(p) => {
            c.line(format!("let {name} = samples::{}();", sample_fn(p)));
        }
        other => {
            c.line(format!("let {name} = {};", sample_rust(other)));
        }
    }
}

/// The name of the sample function of proto `p` in `samples.rs`.
fn sample_fn(p: &str) -> String {
    let mut snake = String::new();
    for (i, ch) in p.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 && !snake.ends_with('_') {
                snake.push('_');
            }
            snake.push(ch.to_ascii_lowercase());
        } else {
            snake.push(ch);
        }
    }
    ident(&snake)
}

/// `src/generated/samples.rs`: one sample value per proto, every field set (nested protos
/// at their default), for the generated tests and yours: a test written against
/// `samples::echomsg()` keeps compiling when the proto gains a field.
pub(crate) fn samples_rs(service: &Service, header: &str) -> String {
    let mut c = Code::new();
    c.line(header);
    c.line(format!(
        "//! Sample values of the `{}` protos (every field set), for tests and examples.",
        service.app
    ));
    c.blank();
    let mut uses = Vec::new();
    let tys: Vec<Ty> =
        service.protos.iter().flat_map(|p| p.fields.iter().map(|f| f.ty.clone())).collect();
    if tys.iter().any(crate::protos::uses_map) {
        uses.push("use std::collections::BTreeMap;".to_string());
    }
    if crate::needs_value_module(service) && tys.iter().any(crate::protos::uses_bytes) {
        uses.push("use svrkit::Bytes;".to_string());
    }
    if tys.iter().any(crate::protos::uses_value) {
        uses.push("use svrkit::Value;".to_string());
    }
    let mut names: Vec<String> = service.protos.iter().map(|p| camel(&p.name)).collect();
    names.sort();
    uses.extend(svc::use_list("super::protos", &names));
    c.use_groups(uses);
    for proto in &service.protos {
        c.blank();
        let ty = camel(&proto.name);
        c.doc(&format!("A `{}` with every field set.", proto.name));
        c.open(format!("pub fn {}() -> {ty} {{", sample_fn(&proto.name)));
        if proto.fields.is_empty() {
            c.line(format!("{ty} {{}}"));
        } else {
            let fields: Vec<String> = proto
                .fields
                .iter()
                .map(|f| format!("{}: {}", ident(&f.name), sample_rust(&f.ty)))
                .collect();
            c.list(&format!("{ty} {{ "), &fields, " }");
        }
        c.close("}");
    }
    c.finish()
}

/// Emit bindings for the sample arguments of `api`; returns the argument list.
fn sample_args(c: &mut Code, service: &Service, api: &crate::model::Api) -> String {
    params(api)
        .iter()
        .map(|(n, t)| match t {
            Ty::Int | Ty::Float | Ty::Bool => sample_rust(t),
            Ty::String => "\"hello\"".to_string(),
            _ => {
                bind_sample(c, service, &ident(n), t);
                format!("&{}", ident(n))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The imports and `start()` shared by both test files.
fn test_prelude(c: &mut Code, opts: &Options) {
    let krate = crate_ident(&opts.package);
    c.use_groups(vec![
        "use std::net::SocketAddr;".to_string(),
        format!("use {krate}::generated::server::start_local;"),
        format!("use {krate}::generated::*;"),
        format!("use {krate}::handlers::Handlers;"),
        "use svrkit::app::LocalServer;".to_string(),
    ]);
    c.doc("The server in this process on a free loopback port; it stops when dropped.");
    c.open("fn start() -> (LocalServer<Handlers>, SocketAddr) {");
    c.line("let server = start_local().expect(\"the server starts on a free port\");");
    c.line("let addr = server.local_addr().expect(\"a TCP address\");");
    c.line("(server, addr)");
    c.close("}");
    c.blank();
}

/// One call of every API (`.await` when `awaited`), each after its sample bindings.
fn call_every_api(c: &mut Code, service: &Service, suffix: &str, awaited: &str) {
    for api in &service.server.apis {
        let args = sample_args(c, service, api);
        c.line(format!(
            "client.{}{suffix}({args}){awaited}.expect({});",
            ident(&api.method),
            lit(&format!("{} answers", api.name))
        ));
    }
}

pub(crate) fn generated_tests(service: &Service, opts: &Options, header: &str) -> String {
    let client = client_name(service);
    let blocking = blocking_name(service);
    let mut c = Code::new();
    c.line(header);
    c.line(format!(
        "//! Starts the `{}` server in this process on a free loopback port and calls every API\n\
         //! through the typed clients.",
        service.app
    ));
    c.blank();
    test_prelude(&mut c, opts);
    c.line("#[test]");
    c.open("fn every_api_answers_the_blocking_client() {");
    c.line("let (_server, addr) = start();");
    c.line(format!("let client = {blocking}::connect(addr);"));
    call_every_api(&mut c, service, "", "");
    c.close("}");
    c.blank();
    c.line("#[test]");
    c.open("fn every_api_answers_the_async_client() {");
    c.line("let (_server, addr) = start();");
    c.line(format!("let client = {client}::connect(addr);"));
    c.open("svrkit::block_on(async {");
    call_every_api(&mut c, service, "", ".await");
    c.close("});");
    c.close("}");
    c.blank();
    c.line("#[test]");
    c.open("fn every_api_takes_notifications() {");
    c.line("let (_server, addr) = start();");
    c.line(format!("let client = {blocking}::connect(addr);"));
    call_every_api(&mut c, service, "_notify", "");
    c.line("// The connection still serves calls after the notifications.");
    call_every_api(&mut c, service, "", "");
    c.close("}");
    c.blank();
    c.line("#[test]");
    c.open("fn an_unknown_method_is_an_error_not_a_hang() {");
    c.line("let (_server, addr) = start();");
    c.line(format!("let client = {client}::connect(addr);"));
    c.line("let call = client.inner().call::<()>(\"no_such_api\", &());");
    c.line("let err = svrkit::block_on(call).expect_err(\"unknown method\");");
    c.line("assert!(err.to_string().contains(\"no such method\"), \"{err}\");");
    c.close("}");
    c.finish()
}

pub(crate) fn handler_tests(service: &Service, opts: &Options) -> String {
    let blocking = blocking_name(service);
    let mut c = Code::new();
    c.line(format!(
        "//! Your tests of what the `{}` handlers return (created by cargo-svrkit from {};\n\
         //! `gen` never overwrites it). The stubs echo their input, so these check that.",
        service.app, opts.idl_file
    ));
    c.blank();
    test_prelude(&mut c, opts);
    let echoing: Vec<_> = service.server.apis.iter().filter(|a| svc::stub_echoes(a)).collect();
    c.line("#[test]");
    c.open("fn handlers_answer_as_written() {");
    c.line("let (_server, addr) = start();");
    c.line(format!("let client = {blocking}::connect(addr);"));
    if echoing.is_empty() {
        call_every_api(&mut c, service, "", "");
    }
    for api in echoing {
        let (_, ty) = &params(api)[0];
        bind_sample(&mut c, service, "sent", ty);
        let arg = match ty {
            Ty::Int | Ty::Float | Ty::Bool => "sent",
            _ => "&sent",
        };
        c.line(format!(
            "assert_eq!(client.{}({arg}).expect({}), sent);",
            ident(&api.method),
            lit(&format!("{} answers", api.name))
        ));
    }
    c.close("}");
    c.finish()
}
