//! The svrkit JSON IDL: parses a service description into a validated [`Idl`] model, or
//! reports every mistake in it with its JSON path, `line:column`, and a fix.
//!
//! # What it does
//!
//! An IDL file (SPEC section 2) names the service (`app`), its message structs (`protos`),
//! how clients route (`rpc_client`), the RPC server and its APIs (`rpc_server`), and
//! optional background workers (`self_server`). Both dialects of the seeds are accepted,
//! also mixed in one file: APIs with `req_proto` / `res_proto` (seed 000) and APIs with
//! `args[{name, type}]` / `ret` (seed 001, where `"ret": true` means "any msgpack value";
//! `"ret": "<type>"` is an extension). [`parse`] turns the text into an [`Idl`] in which
//! every type is resolved ([`Type`]), every API has a shape ([`Params`], [`Returns`]), the
//! self_server groups are explicit ([`SelfServer::groups`]), and every default is filled
//! in. Code generation and the INI writers read only this model; it knows nothing of Rust
//! source or of the runtime.
//!
//! # How
//!
//! Parsing runs in two steps. A small strict JSON parser (`json.rs`, RFC 8259) keeps the
//! byte span of every key and value and the JSON path of every syntax error. It is written
//! by hand rather than taken from a crate: serde_json keeps no spans, and span-keeping
//! parsers such as `jsonc-parser` accept JSONC extensions by default and would still leave
//! us to write the error wording and the recovery we want: the parser reports trailing
//! commas, missing commas, comments and duplicate keys, then carries on as if they were
//! fixed, so later mistakes are reported in the same run. It is about 500 lines, bounds its
//! nesting depth, and is fuzzed (`fuzz/fuzz_targets/parse_idl.rs`). The second step
//! (`lower.rs`) walks the document with the IDL's rules, collecting a [`Diagnostic`] for
//! every problem rather than stopping at the first: unknown keys (with did-you-mean by edit
//! distance, or the allowed keys), missing keys, wrong JSON types, unknown enum values,
//! unknown types and protos, malformed `dict` subtypes and key types msgpack maps cannot
//! carry as hashable keys (`float`, containers, protos), duplicate names, names that
//! cannot become Rust identifiers, protos that contain themselves without a list or dict in
//! between, ports out of range, worker counts of 0, and keys that do not apply where they
//! are (`coroutine_sum` for thread workers, `groups` with `simple`, `req_proto` together
//! with `args`). A reference to a proto whose own definition is broken still resolves, so
//! one mistake gives one diagnostic, not a cascade.
//!
//! [`Diagnostics`] renders for a terminal, like rustc: `file:line:col: error: path:
//! message`, the offending line, carets under the offending value, and a `help:` line.
//! Columns count characters; a tab is one column (and shown as four spaces).
//!
//! # Rules worth knowing
//!
//! - Names (protos, fields, args, APIs, groups) are ASCII letters, digits and `_`, not
//!   starting with a digit. A Rust keyword such as `type` or `fn` is allowed and becomes a
//!   raw identifier (`r#type`; see [`Name::is_rust_keyword`]), except `self`, `Self`,
//!   `super` and `crate`, which Rust cannot escape. Protos are checked in their
//!   [`Name::upper_camel_case`] form, everything else in [`Name::snake_case`] form, and two
//!   names that become the same Rust name (`echo_msg`, `EchoMsg`) are duplicates. A proto
//!   cannot be named like a built-in type (`int`, `list`...).
//! - `app` is lower-case ASCII letters, digits and `_`, starting with a letter, and not a
//!   keyword, a built-in crate name (`std`, `core`, `alloc`, `test`, `proc_macro`) or
//!   `svrkit` (the generated crate depends on it): it names the crate, binaries and INI files.
//! - `list` / `tuple` need `subtype` (the element type), `dict` needs `"K:V"` with `K` one of
//!   `string`, `int`, `bool`, `bin`. An element or dict value is a scalar or a proto; a
//!   container inside a container goes through a proto. `ret` naming a type takes a scalar
//!   or a proto.
//! - Required: `app`, `rpc_server` with `port`, every `name` / `group_name`, a field's
//!   `type`, a proto's `fields` (may be `[]`), `self_server.dispatch_type`, and `groups`
//!   with `custom`. Everything else has a default, listed in [`defaults`]: `protos` `[]`,
//!   `rpc_client.mode` `hashring`, `rpc_server.ip` `0.0.0.0`, `worker_type` `thread`,
//!   `rpc_server.worker_sum` 4, self_server / group `worker_sum` 1, `coroutine_sum` 100
//!   where coroutines apply, `apis` `[]`, no self_server. [`Idl::pid_file`] is
//!   `/tmp/<app>.pid`.
//! - `coroutine_sum` is accepted only where the worker type runs coroutines; with `custom`
//!   dispatch, `worker_sum` and `coroutine_sum` go in each group; `groups` only with
//!   `custom`. A `simple` self_server becomes one implicit group named
//!   [`defaults::SIMPLE_GROUP_NAME`].
//! - Recursion is allowed only through `list`, `tuple` or `dict`.
//! - Syntax errors that the parser cannot recover from (an unclosed string, a missing `:`)
//!   stop at that point: later text is not checked in that run.
//!
//! # Example
//!
//! ```
//! use svrkit_idl::{Params, Returns, Type};
//!
//! let idl = svrkit_idl::parse(r#"{
//!     "app": "echo",
//!     "protos": [{"name": "echomsg", "fields": [
//!         {"name": "my_string", "type": "string"},
//!         {"name": "dict_string", "type": "dict", "subtype": "int:string"}
//!     ]}],
//!     "rpc_server": {"port": 3000, "apis": [
//!         {"name": "echo1", "req_proto": "echomsg", "res_proto": "echomsg"},
//!         {"name": "add", "args": [{"name": "a", "type": "int"}, {"name": "b", "type": "int"}], "ret": "int"}
//!     ]}
//! }"#).unwrap();
//! let echo1 = idl.api("echo1").unwrap();
//! let (msg, _) = idl.proto_by_name("echomsg").unwrap();
//! assert_eq!(echo1.params, Params::Proto(msg));
//! assert_eq!(echo1.returns, Returns::Value(Type::Proto(msg)));
//! assert_eq!(idl.protos[0].fields[1].ty, Type::Dict(Box::new(Type::Int), Box::new(Type::String)));
//! assert_eq!(idl.api("add").unwrap().returns, Returns::Value(Type::Int));
//! assert_eq!(idl.rpc_server.worker_sum, 4); // the default
//!
//! // Every mistake is reported, with a fix where one is known.
//! let err = svrkit_idl::parse(r#"{"app": "echo", "rpc_server": {"port": 3000, "worker_summ": 2,
//!     "apis": [{"name": "x", "req_proto": "echomsgg"}]}}"#).unwrap_err();
//! assert_eq!(err.len(), 2);
//! assert_eq!(
//!     err.items()[0].to_string(),
//!     r#"rpc_server.worker_summ (line 1:46): unknown key "worker_summ" in rpc_server; did you mean "worker_sum"?"#
//! );
//! println!("{err}"); // file:line:col, the line, a caret, help
//! ```

mod diag;
mod json;
mod lower;
mod model;
mod names;

use std::fmt;
use std::path::{Path, PathBuf};

pub use diag::{Diagnostic, Diagnostics, ErrorKind, Span};
pub use model::{
    defaults, Api, ClientMode, DispatchType, Field, Group, Idl, Name, Params, Proto, ProtoId,
    Returns, RpcClient, RpcServer, SelfServer, SelfWorkerType, Type, WorkerType,
};

/// Parses and validates IDL text. On failure, every problem found is returned.
pub fn parse(source: &str) -> Result<Idl, Diagnostics> {
    let mut diags = Vec::new();
    let idl =
        json::parse(source, &mut diags).and_then(|root| lower::lower(source, &root, &mut diags));
    match idl {
        Some(idl) if diags.is_empty() => Ok(idl),
        _ => {
            if diags.is_empty() {
                // Unreachable by construction (lowering fails only with a diagnostic); kept
                // so that a bug shows up as an error, not a panic.
                diags.push(Diagnostic {
                    kind: ErrorKind::Syntax,
                    path: "(top level)".to_owned(),
                    span: Span::default(),
                    line: 0,
                    column: 0,
                    message: "the IDL could not be read".to_owned(),
                    help: None,
                });
            }
            Err(Diagnostics::new(source, diags))
        }
    }
}

/// Reads and parses an IDL file; diagnostics name the file as given.
pub fn parse_file(path: impl AsRef<Path>) -> Result<Idl, Error> {
    let path = path.as_ref();
    let bytes =
        std::fs::read(path).map_err(|source| Error::Read { path: path.to_owned(), source })?;
    let text = String::from_utf8(bytes).map_err(|e| Error::NotUtf8 {
        path: path.to_owned(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    parse(&text).map_err(|d| Error::Invalid(d.with_file(path.display().to_string())))
}

/// Why an IDL file could not be turned into an [`Idl`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not UTF-8 text.
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// The IDL has mistakes; each one is in the [`Diagnostics`].
    Invalid(Diagnostics),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read { path, .. } => write!(f, "cannot read IDL file {}", path.display()),
            Error::NotUtf8 { path, offset } => {
                write!(
                    f,
                    "IDL file {} is not UTF-8 text (invalid byte at offset {offset})",
                    path.display()
                )
            }
            Error::Invalid(d) => d.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Read { source, .. } => Some(source),
            // Display already shows the diagnostics.
            Error::Invalid(_) | Error::NotUtf8 { .. } => None,
        }
    }
}
