//! The generator's view of a service: exactly what rendering needs, built from the
//! validated IDL model in one place ([`Service::from_idl`]) so the renderers never depend on
//! the IDL crate's shapes.

/// A field or argument type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Ty {
    String,
    Bool,
    Int,
    Float,
    Bin,
    List(Box<Ty>),
    Dict(Box<Ty>, Box<Ty>),
    /// Another proto, by IDL name.
    Proto(String),
    /// Any msgpack value (seed 001's `"ret": true`).
    Dynamic,
}

#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) ty: Ty,
}

#[derive(Clone, Debug)]
pub(crate) struct Proto {
    pub(crate) name: String,
    pub(crate) fields: Vec<Field>,
}

/// What an API takes, in wire order.
#[derive(Clone, Debug)]
pub(crate) enum Params {
    /// Dialect 000: `params = [req]`.
    Req(String),
    /// Dialect 000 without `req_proto`, or dialect 001 without args: `params = []`.
    Nothing,
    /// Dialect 001: `params = [arg1, arg2, ...]`.
    Args(Vec<Field>),
}

#[derive(Clone, Debug)]
pub(crate) struct Api {
    /// The wire name.
    pub(crate) name: String,
    /// The Rust method name (snake case).
    pub(crate) method: String,
    pub(crate) params: Params,
    /// `None`: the API answers nil.
    pub(crate) ret: Option<Ty>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClientMode {
    Sharding,
    Hashring,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WorkerType {
    Thread,
    Coroutine,
    Process,
    ProcessCoroutine,
}

impl WorkerType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WorkerType::Thread => "thread",
            WorkerType::Coroutine => "coroutine",
            WorkerType::Process => "process",
            WorkerType::ProcessCoroutine => "process_coroutine",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct RpcServer {
    pub(crate) ip: String,
    pub(crate) port: u16,
    pub(crate) worker_type: WorkerType,
    pub(crate) worker_sum: u32,
    pub(crate) coroutine_sum: Option<u32>,
    pub(crate) apis: Vec<Api>,
}

#[derive(Clone, Debug)]
pub(crate) struct Group {
    /// The group name (config and wire).
    pub(crate) name: String,
    /// The Rust method name (snake case).
    pub(crate) method: String,
    pub(crate) worker_sum: u32,
    pub(crate) coroutine_sum: Option<u32>,
}

#[derive(Clone, Debug)]
pub(crate) enum Dispatch {
    /// `worker_sum` identical workers.
    Simple { worker_sum: u32, coroutine_sum: Option<u32> },
    /// Named groups, one handler each.
    Custom(Vec<Group>),
}

#[derive(Clone, Debug)]
pub(crate) struct SelfServer {
    pub(crate) worker_type: WorkerType,
    pub(crate) dispatch: Dispatch,
}

#[derive(Clone, Debug)]
pub(crate) struct Service {
    pub(crate) app: String,
    pub(crate) protos: Vec<Proto>,
    pub(crate) client_mode: ClientMode,
    pub(crate) server: RpcServer,
    pub(crate) self_server: Option<SelfServer>,
}

impl Service {
    pub(crate) fn proto(&self, name: &str) -> Option<&Proto> {
        self.protos.iter().find(|p| p.name == name)
    }
}

impl Service {
    /// The view of a validated IDL.
    pub(crate) fn from_idl(idl: &svrkit_idl::Idl) -> Service {
        use svrkit_idl as m;
        fn ty(idl: &m::Idl, t: &m::Type) -> Ty {
            match t {
                m::Type::String => Ty::String,
                m::Type::Bool => Ty::Bool,
                m::Type::Int => Ty::Int,
                m::Type::Float => Ty::Float,
                m::Type::Bin => Ty::Bin,
                m::Type::List(t) | m::Type::Tuple(t) => Ty::List(Box::new(ty(idl, t))),
                m::Type::Dict(k, v) => Ty::Dict(Box::new(ty(idl, k)), Box::new(ty(idl, v))),
                m::Type::Proto(id) => Ty::Proto(idl.proto(*id).name.to_string()),
                _ => Ty::Dynamic,
            }
        }
        let field = |f: &m::Field| Field { name: f.name.snake_case(), ty: ty(idl, &f.ty) };
        let worker_type = |w: m::WorkerType| match w {
            m::WorkerType::Coroutine => WorkerType::Coroutine,
            m::WorkerType::Process => WorkerType::Process,
            m::WorkerType::ProcessCoroutine => WorkerType::ProcessCoroutine,
            _ => WorkerType::Thread,
        };
        let apis = idl
            .rpc_server
            .apis
            .iter()
            .map(|a| Api {
                name: a.name.to_string(),
                method: a.name.snake_case(),
                params: match &a.params {
                    m::Params::Proto(id) => Params::Req(idl.proto(*id).name.to_string()),
                    m::Params::Args(args) => Params::Args(args.iter().map(field).collect()),
                    _ => Params::Nothing,
                },
                ret: match &a.returns {
                    m::Returns::Value(t) => Some(ty(idl, t)),
                    _ => None,
                },
            })
            .collect();
        let self_server = idl.self_server.as_ref().map(|s| SelfServer {
            worker_type: match s.worker_type {
                m::SelfWorkerType::Process => WorkerType::Process,
                m::SelfWorkerType::ProcessCoroutine => WorkerType::ProcessCoroutine,
                _ => WorkerType::Thread,
            },
            dispatch: match s.dispatch_type {
                m::DispatchType::Simple => Dispatch::Simple {
                    worker_sum: s.groups.first().map_or(1, |g| g.worker_sum),
                    coroutine_sum: s.groups.first().and_then(|g| g.coroutine_sum),
                },
                _ => Dispatch::Custom(
                    s.groups
                        .iter()
                        .map(|g| Group {
                            name: g.name.to_string(),
                            method: g.name.snake_case(),
                            worker_sum: g.worker_sum,
                            coroutine_sum: g.coroutine_sum,
                        })
                        .collect(),
                ),
            },
        });
        Service {
            app: idl.app.to_string(),
            protos: idl
                .protos
                .iter()
                .map(|p| Proto {
                    name: p.name.to_string(),
                    fields: p.fields.iter().map(field).collect(),
                })
                .collect(),
            client_mode: match idl.rpc_client.mode {
                m::ClientMode::Sharding => ClientMode::Sharding,
                _ => ClientMode::Hashring,
            },
            server: RpcServer {
                ip: idl.rpc_server.ip.to_string(),
                port: idl.rpc_server.port,
                worker_type: worker_type(idl.rpc_server.worker_type),
                worker_sum: idl.rpc_server.worker_sum,
                coroutine_sum: idl.rpc_server.coroutine_sum,
                apis,
            },
            self_server,
        }
    }
}
