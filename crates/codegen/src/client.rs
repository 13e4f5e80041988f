//! Renders `src/generated/client.rs`: a typed async client and a blocking one, both thin
//! layers over the facade's routing client.

use crate::emit::Code;
use crate::model::{Api, Service, Ty};
use crate::names::{camel, ident, lit};
use crate::protos::rust_ty;
use crate::service::{api_doc, params, tuple, type_imports};

/// `EchoClient` for app `echo`.
pub(crate) fn client_name(service: &Service) -> String {
    format!("{}Client", camel(&service.app))
}

/// `EchoBlockingClient` for app `echo`.
pub(crate) fn blocking_name(service: &Service) -> String {
    format!("{}BlockingClient", camel(&service.app))
}

/// How a client method takes a value of `ty`: small copies by value, the rest borrowed.
pub(crate) fn arg_ty(ty: &Ty) -> String {
    match ty {
        Ty::Int | Ty::Float | Ty::Bool => rust_ty(ty),
        Ty::String => "&str".to_string(),
        Ty::List(t) => format!("&[{}]", rust_ty(t)),
        other => format!("&{}", rust_ty(other)),
    }
}

fn arg_items(api: &Api) -> Vec<String> {
    let mut items = vec!["&self".to_string()];
    items.extend(params(api).iter().map(|(n, t)| format!("{}: {}", ident(n), arg_ty(t))));
    items
}

fn wire_tuple(api: &Api) -> String {
    let names: Vec<String> = params(api).iter().map(|(n, _)| ident(n)).collect();
    tuple(&names)
}

fn ret(api: &Api) -> String {
    api.ret.as_ref().map_or_else(|| "()".to_string(), rust_ty)
}

pub(crate) fn render(service: &Service, header: &str) -> String {
    let client = client_name(service);
    let blocking = blocking_name(service);
    let mut c = Code::new();
    c.line(header);
    c.line(format!(
        "//! Typed clients of the `{}` service: [`{client}`] (async) and [`{blocking}`].",
        service.app
    ));
    c.line("//!");
    c.line("//! Both route each call with the facade client (the `[server]` mode of the client");
    c.line("//! config: hashring or sharding), fail over to the next node and retry boundedly.");
    c.blank();
    let mut uses = type_imports(&service.server.apis, "super::protos");
    uses.push("use std::path::Path;".to_string());
    uses.push("use svrkit::client::{BlockingClient, Client, ClientError, Endpoint};".to_string());
    uses.push("use svrkit::discovery::DiscoveryError;".to_string());
    c.use_groups(uses);

    c.doc(&format!(
        "An async client of `{}`; cheap to clone (clones share connections).",
        service.app
    ));
    c.line("#[derive(Clone, Debug)]");
    c.open(format!("pub struct {client} {{"));
    c.line("inner: Client,");
    c.close("}");
    c.blank();
    c.open(format!("impl {client} {{"));
    c.doc("Wrap a facade client.");
    c.open(format!("pub fn new(inner: Client) -> {client} {{"));
    c.line(format!("{client} {{ inner }}"));
    c.close("}");
    c.blank();
    c.doc(
        "A client routed by a client config file (`*_cli.conf`); with `discovery = zk` its\n\
         servers follow ZooKeeper (this blocks while ZooKeeper is first listed).",
    );
    c.open(format!(
        "pub fn from_conf(path: impl AsRef<Path>) -> Result<{client}, DiscoveryError> {{"
    ));
    c.line(format!("svrkit::discovery::client_from_file(path).map({client}::new)"));
    c.close("}");
    c.blank();
    methods(
        &mut c,
        service,
        &Flavor {
            name: &client,
            facade: "Client",
            inner_doc: "The facade client underneath (routing keys, raw calls).",
            asyncness: "async ",
            await_: ".await",
            notify_doc_tail: " (no answer, no error from the handler)",
        },
    );
    c.close("}");
    c.blank();

    c.doc(&format!(
        "A blocking client of `{}`: each call waits for its answer on the calling thread.\n\n\
         It wraps the facade's [`BlockingClient`], which polls the socket itself (no\n\
         executor, no thread hand-off); do not call it from inside an async task.",
        service.app
    ));
    c.line("#[derive(Clone, Debug)]");
    c.open(format!("pub struct {blocking} {{"));
    c.line("inner: BlockingClient,");
    c.close("}");
    c.blank();
    c.doc("A blocking view of an async client (same connections, routing and key).");
    c.open(format!("impl From<{client}> for {blocking} {{"));
    c.open(format!("fn from(client: {client}) -> {blocking} {{"));
    c.line(format!("{blocking}::new(BlockingClient::from(client.inner))"));
    c.close("}");
    c.close("}");
    c.blank();
    c.open(format!("impl {blocking} {{"));
    c.doc("Wrap a facade blocking client.");
    c.open(format!("pub fn new(inner: BlockingClient) -> {blocking} {{"));
    c.line(format!("{blocking} {{ inner }}"));
    c.close("}");
    c.blank();
    c.doc(&format!(
        "A client routed by a client config file (`*_cli.conf`), see [`{client}::from_conf`]."
    ));
    c.open(format!(
        "pub fn from_conf(path: impl AsRef<Path>) -> Result<{blocking}, DiscoveryError> {{"
    ));
    c.line(format!("{client}::from_conf(path).map({blocking}::from)"));
    c.close("}");
    c.blank();
    methods(
        &mut c,
        service,
        &Flavor {
            name: &blocking,
            facade: "BlockingClient",
            inner_doc:
                "The facade client underneath (routing keys, raw calls; `as_async()` for async).",
            asyncness: "",
            await_: "",
            notify_doc_tail: "",
        },
    );
    c.close("}");
    c.finish()
}

/// What tells the async client's methods from the blocking one's.
struct Flavor<'a> {
    /// The generated type (`EchoClient`, `EchoBlockingClient`).
    name: &'a str,
    /// The facade type it wraps.
    facade: &'a str,
    inner_doc: &'a str,
    /// `"async "` or nothing.
    asyncness: &'a str,
    /// `".await"` or nothing.
    await_: &'a str,
    notify_doc_tail: &'a str,
}

/// The methods both clients have: `connect`, `inner`, `with_key`, and a call and a
/// notification method per API.
fn methods(c: &mut Code, service: &Service, f: &Flavor<'_>) {
    let Flavor { name, facade, asyncness, await_, .. } = f;
    c.doc("A client of one server (a `SocketAddr` or an [`Endpoint`]), no routing.");
    c.open(format!("pub fn connect(server: impl Into<Endpoint>) -> {name} {{"));
    c.line(format!("{name}::new({facade}::connect_to(server))"));
    c.close("}");
    c.blank();
    c.doc(f.inner_doc);
    c.open(format!("pub fn inner(&self) -> &{facade} {{"));
    c.line("&self.inner");
    c.close("}");
    c.blank();
    c.doc(
        "This client with its calls routed by `key` (hashring; an all-digits key is a shard id).",
    );
    c.open(format!("pub fn with_key(self, key: impl AsRef<[u8]>) -> {name} {{"));
    c.line(format!("{name}::new(self.inner.with_key(key))"));
    c.close("}");
    for api in &service.server.apis {
        let method = ident(&api.method);
        c.blank();
        c.doc(&format!("Call {}", api_doc(api)));
        c.list(
            &format!("pub {asyncness}fn {method}("),
            &arg_items(api),
            &format!(") -> Result<{}, ClientError> {{", ret(api)),
        );
        c.push_indent();
        c.line(format!("self.inner.call({}, &{}){await_}", lit(&api.name), wire_tuple(api)));
        c.close("}");
        c.blank();
        c.doc(&format!("Send `{}` as a one-way notification{}.", api.name, f.notify_doc_tail));
        c.list(
            &format!("pub {asyncness}fn {}_notify(", api.method),
            &arg_items(api),
            ") -> Result<(), ClientError> {",
        );
        c.push_indent();
        c.line(format!("self.inner.notify({}, &{}){await_}", lit(&api.name), wire_tuple(api)));
        c.close("}");
    }
}
