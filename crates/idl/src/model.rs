//! The validated IDL model: what codegen and the INI writers read. Every value here has
//! passed every check; nothing refers to a proto that does not exist.

use std::fmt;
use std::net::IpAddr;

use crate::diag::Span;
use crate::names;

/// Defaults used when the IDL leaves a key out (they go into the generated INI files).
pub mod defaults {
    /// `rpc_server.ip`: listen on every IPv4 address.
    pub const RPC_IP: &str = "0.0.0.0";
    /// `rpc_server.worker_type`.
    pub const RPC_WORKER_TYPE: super::WorkerType = super::WorkerType::Thread;
    /// `rpc_server.worker_sum` (seed 000's sample value).
    pub const RPC_WORKER_SUM: u32 = 4;
    /// `coroutine_sum` wherever coroutines apply and the key is left out (seed 001's value).
    pub const COROUTINE_SUM: u32 = 100;
    /// `self_server.worker_type`.
    pub const SELF_WORKER_TYPE: super::SelfWorkerType = super::SelfWorkerType::Thread;
    /// `self_server.worker_sum` (simple) and `groups[].worker_sum` (custom).
    pub const SELF_WORKER_SUM: u32 = 1;
    /// `rpc_client.mode` (consistent hashing suits stateless services, the common case).
    pub const CLIENT_MODE: super::ClientMode = super::ClientMode::Hashring;
    /// The largest `worker_sum` accepted (a typo should not fork thousands of processes).
    pub const MAX_WORKER_SUM: u32 = 4096;
    /// The largest `coroutine_sum` accepted.
    pub const MAX_COROUTINE_SUM: u32 = 1_000_000;
    /// The name of the one implicit group of a `simple` self_server.
    pub const SIMPLE_GROUP_NAME: &str = "default";
}

/// A name from the IDL (app, proto, field, arg, API, group) and where it was written.
///
/// Validation guarantees: ASCII letters, digits and `_`, not starting with a digit, not only
/// underscores, and neither it nor its [`snake_case`](Name::snake_case) /
/// [`upper_camel_case`](Name::upper_camel_case) form (whichever the kind of name is checked
/// for) is `self`, `Self`, `super` or `crate`. It may be another Rust keyword (`type`,
/// `fn`...): see [`Name::is_rust_keyword`]; such names need a raw identifier (`r#type`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Name {
    text: String,
    span: Span,
}

impl Name {
    pub(crate) fn new(text: impl Into<String>, span: Span) -> Name {
        Name { text: text.into(), span }
    }

    /// The name exactly as written in the IDL (also the name on the wire for APIs).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Where the name was written (the JSON string, quotes included).
    pub fn span(&self) -> Span {
        self.span
    }

    /// `echoMsg` -> `echo_msg`; already snake names are unchanged.
    pub fn snake_case(&self) -> String {
        names::snake_case(&self.text)
    }

    /// `echo_msg` -> `EchoMsg`, `echomsg` -> `Echomsg`.
    pub fn upper_camel_case(&self) -> String {
        names::upper_camel_case(&self.text)
    }

    /// Whether the name as written is a Rust keyword (strict or reserved, any edition up to
    /// 2024), so that code using it verbatim must write `r#name`.
    pub fn is_rust_keyword(&self) -> bool {
        names::is_keyword(&self.text)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

/// A validated IDL: the single source of truth for code generation and default configs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Idl {
    /// `app`: the service name, lower-case ASCII letters, digits and `_`, starting with a
    /// letter, not a Rust keyword (it names the crate, binaries and INI files).
    pub app: Name,
    /// `protos[]`, in IDL order; [`ProtoId`] indexes this list.
    pub protos: Vec<Proto>,
    /// `rpc_client` (defaults when left out).
    pub rpc_client: RpcClient,
    /// `rpc_server`.
    pub rpc_server: RpcServer,
    /// `self_server`, if the service has background workers.
    pub self_server: Option<SelfServer>,
}

impl Idl {
    /// The proto an id refers to.
    pub fn proto(&self, id: ProtoId) -> &Proto {
        &self.protos[id.0]
    }

    /// Looks a proto up by its IDL name.
    pub fn proto_by_name(&self, name: &str) -> Option<(ProtoId, &Proto)> {
        self.protos.iter().enumerate().find(|(_, p)| p.name == name).map(|(i, p)| (ProtoId(i), p))
    }

    /// Every proto with its id, in IDL order.
    pub fn protos_with_ids(&self) -> impl Iterator<Item = (ProtoId, &Proto)> {
        self.protos.iter().enumerate().map(|(i, p)| (ProtoId(i), p))
    }

    /// Looks an API up by its IDL (wire) name.
    pub fn api(&self, name: &str) -> Option<&Api> {
        self.rpc_server.apis.iter().find(|a| a.name == name)
    }

    /// The default pid file for the server INI: `/tmp/<app>.pid`.
    pub fn pid_file(&self) -> String {
        format!("/tmp/{}.pid", self.app)
    }

    /// A type written the way the IDL writes it: `int`, `list<int>`, `dict<int:string>`,
    /// `echomsg`, `dynamic` (for messages and comments in generated code).
    pub fn type_name(&self, ty: &Type) -> String {
        match ty {
            Type::String => "string".to_owned(),
            Type::Bool => "bool".to_owned(),
            Type::Int => "int".to_owned(),
            Type::Float => "float".to_owned(),
            Type::Bin => "bin".to_owned(),
            Type::List(t) => format!("list<{}>", self.type_name(t)),
            Type::Tuple(t) => format!("tuple<{}>", self.type_name(t)),
            Type::Dict(k, v) => format!("dict<{}:{}>", self.type_name(k), self.type_name(v)),
            Type::Proto(id) => self.proto(*id).name.to_string(),
            Type::Dynamic => "dynamic".to_owned(),
        }
    }
}

/// Index of a proto in [`Idl::protos`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtoId(pub(crate) usize);

impl ProtoId {
    /// The index into [`Idl::protos`].
    pub fn index(self) -> usize {
        self.0
    }
}

/// `protos[i]`: a message struct, encoded as a msgpack array of its fields in this order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Proto {
    /// `name`; unique, also after [`Name::upper_camel_case`], and not a built-in type name.
    pub name: Name,
    /// `fields[]`, in IDL (= wire) order; names unique, also after [`Name::snake_case`].
    pub fields: Vec<Field>,
    /// The proto's JSON object.
    pub span: Span,
}

/// A proto field or an API argument (`{name, type, subtype?}`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Field {
    /// `name`.
    pub name: Name,
    /// `type` (+ `subtype`), resolved.
    pub ty: Type,
    /// The `type` value in the source.
    pub type_span: Span,
}

/// A resolved IDL type. Never contains a proto recursively without a `List`, `Tuple` or
/// `Dict` in between, so a struct holding it directly has a finite size.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Type {
    /// `string`: UTF-8 text (msgpack str).
    String,
    /// `bool`.
    Bool,
    /// `int`: i64.
    Int,
    /// `float`: f64.
    Float,
    /// `bin`: bytes (msgpack bin).
    Bin,
    /// `list` with `subtype` = element type.
    List(Box<Type>),
    /// `tuple` with `subtype` = element type: a homogeneous sequence like `list` (Python
    /// tuples), also encoded as a msgpack array.
    Tuple(Box<Type>),
    /// `dict` with `subtype` `"K:V"`; `K` is `String`, `Int`, `Bool` or `Bin`.
    Dict(Box<Type>, Box<Type>),
    /// Another proto.
    Proto(ProtoId),
    /// Any msgpack value (only as the result of `"ret": true`).
    Dynamic,
}

impl Type {
    /// `string`, `bool`, `int`, `float` or `bin`.
    pub fn is_scalar(&self) -> bool {
        matches!(self, Type::String | Type::Bool | Type::Int | Type::Float | Type::Bin)
    }
}

/// `rpc_client`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RpcClient {
    /// `mode`; default [`defaults::CLIENT_MODE`].
    pub mode: ClientMode,
}

/// How a client routes calls (`rpc_client.mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientMode {
    /// `sharding`: `shard = id % shardsum`, with backup servers.
    Sharding,
    /// `hashring`: ketama consistent hashing.
    Hashring,
}

impl ClientMode {
    /// The IDL / INI spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientMode::Sharding => "sharding",
            ClientMode::Hashring => "hashring",
        }
    }
}

/// `rpc_server`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RpcServer {
    /// `ip`; default [`defaults::RPC_IP`].
    pub ip: IpAddr,
    /// `port` (required, 1..=65535).
    pub port: u16,
    /// `worker_type`; default [`defaults::RPC_WORKER_TYPE`].
    pub worker_type: WorkerType,
    /// `worker_sum` (1..=[`defaults::MAX_WORKER_SUM`]); default [`defaults::RPC_WORKER_SUM`].
    pub worker_sum: u32,
    /// `coroutine_sum`: `Some` exactly when `worker_type` uses coroutines (given or
    /// [`defaults::COROUTINE_SUM`]).
    pub coroutine_sum: Option<u32>,
    /// `apis[]`, in IDL order; names unique, also after [`Name::snake_case`].
    pub apis: Vec<Api>,
}

/// `rpc_server.worker_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WorkerType {
    /// `thread`: blocking handlers on `worker_sum` threads.
    Thread,
    /// `coroutine`: async handlers; `coroutine_sum` caps requests in flight.
    Coroutine,
    /// `process`: `worker_sum` processes sharing the port.
    Process,
    /// `process_coroutine`: `worker_sum` processes, each with `coroutine_sum` coroutines.
    ProcessCoroutine,
}

impl WorkerType {
    /// The IDL / INI spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerType::Thread => "thread",
            WorkerType::Coroutine => "coroutine",
            WorkerType::Process => "process",
            WorkerType::ProcessCoroutine => "process_coroutine",
        }
    }

    /// Whether `coroutine_sum` applies.
    pub fn uses_coroutines(self) -> bool {
        matches!(self, WorkerType::Coroutine | WorkerType::ProcessCoroutine)
    }

    /// Whether workers are processes.
    pub fn uses_processes(self) -> bool {
        matches!(self, WorkerType::Process | WorkerType::ProcessCoroutine)
    }
}

/// One API of `rpc_server.apis[]`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Api {
    /// `name`: the msgpack-rpc method name.
    pub name: Name,
    /// What the call takes.
    pub params: Params,
    /// What the call returns.
    pub returns: Returns,
    /// The API's JSON object.
    pub span: Span,
}

/// What an API takes; also decides the wire `params` array.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Params {
    /// No `req_proto` and no (or empty) `args`: `params = []`.
    None,
    /// `req_proto` (seed 000): `params = [req]`.
    Proto(ProtoId),
    /// `args[]` (seed 001), never empty: `params = [arg1, arg2, ...]`; names unique, also
    /// after [`Name::snake_case`].
    Args(Vec<Field>),
}

/// What an API returns. Every API answers (nil for `Nothing`), so callers see errors.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Returns {
    /// No `res_proto`, `"ret": false` or no `ret`: the response carries nil.
    Nothing,
    /// `res_proto` (a proto), `"ret": "<type>"` (extension), or `"ret": true`, which is
    /// [`Type::Dynamic`] (seed 001's handlers returned any value).
    Value(Type),
}

/// `self_server`: background workers that take no RPC requests.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SelfServer {
    /// `dispatch_type`.
    pub dispatch_type: DispatchType,
    /// `worker_type`; default [`defaults::SELF_WORKER_TYPE`].
    pub worker_type: SelfWorkerType,
    /// Never empty. `custom`: `groups[]` in IDL order, names unique (also after
    /// [`Name::snake_case`]). `simple`: one implicit group named
    /// [`defaults::SIMPLE_GROUP_NAME`] holding the `worker_sum` / `coroutine_sum` given on
    /// `self_server` itself (its name's span is the `dispatch_type` value).
    pub groups: Vec<Group>,
    /// The `self_server` JSON object.
    pub span: Span,
}

/// `self_server.dispatch_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DispatchType {
    /// `simple`: `worker_sum` identical workers.
    Simple,
    /// `custom`: named groups doing different jobs.
    Custom,
}

impl DispatchType {
    /// The IDL / INI spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DispatchType::Simple => "simple",
            DispatchType::Custom => "custom",
        }
    }
}

/// `self_server.worker_type` (no plain `coroutine`, unlike [`WorkerType`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SelfWorkerType {
    /// `thread`.
    Thread,
    /// `process`.
    Process,
    /// `process_coroutine`: `worker_sum` processes, each running `coroutine_sum` coroutines.
    ProcessCoroutine,
}

impl SelfWorkerType {
    /// The IDL / INI spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SelfWorkerType::Thread => "thread",
            SelfWorkerType::Process => "process",
            SelfWorkerType::ProcessCoroutine => "process_coroutine",
        }
    }

    /// Whether `coroutine_sum` applies.
    pub fn uses_coroutines(self) -> bool {
        matches!(self, SelfWorkerType::ProcessCoroutine)
    }

    /// Whether workers are processes.
    pub fn uses_processes(self) -> bool {
        matches!(self, SelfWorkerType::Process | SelfWorkerType::ProcessCoroutine)
    }
}

/// A self_server worker group.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Group {
    /// `group_name` (or [`defaults::SIMPLE_GROUP_NAME`] for `simple`).
    pub name: Name,
    /// `worker_sum` (1..=[`defaults::MAX_WORKER_SUM`]); default [`defaults::SELF_WORKER_SUM`].
    pub worker_sum: u32,
    /// `coroutine_sum`: `Some` exactly when the worker type is `process_coroutine`.
    pub coroutine_sum: Option<u32>,
}
