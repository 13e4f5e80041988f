//! `cargo svrkit call METHOD JSON`: call one API of a running service, JSON in and out.
//!
//! The IDL gives each API's parameter and result types, so JSON converts both ways the
//! way the generated code encodes: a proto is an array of its fields in IDL order (a
//! JSON object by field name, or an array), `dict int:string` keys are ints, `bin` is
//! bytes. Results come back as JSON with protos shown as objects.

use anyhow::{anyhow, bail, Context, Result};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::Value as Json;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use svrkit::client::{Client, ClientError, Endpoint};
use svrkit_idl::{Idl, Params, Returns, Type};

use crate::project;
use crate::CallArgs;

/// A msgpack value built from JSON or decoded from a reply.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Msg {
    Nil,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Bin(Vec<u8>),
    Array(Vec<Msg>),
    Map(Vec<(Msg, Msg)>),
}

impl Serialize for Msg {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Msg::Nil => s.serialize_unit(),
            Msg::Bool(b) => s.serialize_bool(*b),
            Msg::Int(i) => s.serialize_i64(*i),
            Msg::UInt(u) => s.serialize_u64(*u),
            Msg::Float(f) => s.serialize_f64(*f),
            Msg::Str(t) => s.serialize_str(t),
            Msg::Bin(b) => s.serialize_bytes(b),
            Msg::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Msg::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

pub(crate) fn run(a: CallArgs) -> Result<ExitCode> {
    let here = Path::new(".");
    let idl_path = match &a.idl {
        Some(p) => p.clone(),
        None => project::find_idl(here)?,
    };
    let idl = project::load_idl(&idl_path)?;
    let Some(api) = idl.api(&a.method) else {
        let names: Vec<&str> = idl.rpc_server.apis.iter().map(|x| x.name.as_str()).collect();
        bail!(
            "`{}` is not an API of {} ({}); its APIs: {}",
            a.method,
            idl.app,
            idl_path.display(),
            names.join(", ")
        );
    };
    let json: Json = serde_json::from_str(a.json.as_deref().unwrap_or("{}"))
        .context("the request is not valid JSON")?;
    let params = params_from_json(&idl, &api.params, &json)?;
    let client = client(&a, &idl)?;
    if a.notify {
        svrkit::block_on(client.notify(&a.method, &params))
            .map_err(|e| anyhow!("{}: {e}", a.method))?;
        println!("null");
        return Ok(ExitCode::SUCCESS);
    }
    match svrkit::block_on(client.call_raw(&a.method, &params)) {
        Ok(bytes) => {
            let (msg, _) = decode(&bytes, 0).map_err(|e| anyhow!("undecodable reply: {e}"))?;
            let ty = match &api.returns {
                Returns::Value(ty) => Some(ty),
                _ => None,
            };
            let mut out = String::new();
            write_pretty(&to_json(&idl, ty, &msg), &order(&idl, ty, &msg), 0, &mut out);
            println!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        Err(ClientError::Remote { code, message, .. }) => {
            eprintln!("error {code}: {message}");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(anyhow!("{}: {e}", a.method)),
    }
}

/// `cargo svrkit bench`: the API's params from JSON via the IDL, then the load generator.
pub(crate) fn bench(a: crate::BenchArgs) -> Result<ExitCode> {
    let idl_path = match &a.idl {
        Some(p) => p.clone(),
        None => project::find_idl(Path::new("."))?,
    };
    let idl = project::load_idl(&idl_path)?;
    let Some(api) = idl.api(&a.method) else {
        bail!("`{}` is not an API of {} ({})", a.method, idl.app, idl_path.display());
    };
    let json: Json = serde_json::from_str(a.json.as_deref().unwrap_or("{}"))
        .context("the request is not valid JSON")?;
    let params = params_from_json(&idl, &api.params, &json)?;
    let endpoint = match &a.addr {
        Some(addr) => endpoint(addr)?,
        None => {
            let ip = idl.rpc_server.ip;
            let host = if ip.is_unspecified() { "127.0.0.1".to_string() } else { ip.to_string() };
            Endpoint::tcp(host, idl.rpc_server.port)
        }
    };
    let mut spec = crate::bench::LoadSpec::new(endpoint, vec![(a.method.clone(), params)]);
    spec.connections = a.connections;
    spec.depth = a.pipeline;
    spec.duration = a.duration.map(Duration::from_secs_f64);
    spec.count = a.count;
    spec.rate = a.rate;
    spec.notify = a.notify;
    spec.timeout = Duration::from_secs_f64(a.timeout);
    spec.threads = a.threads;
    spec.progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let report = crate::bench::run(&spec).map_err(|e| anyhow!("{e}"))?;
    print!("{}", report.render());
    Ok(if report.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn client(a: &CallArgs, idl: &Idl) -> Result<Client> {
    if let Some(addr) = &a.addr {
        return Ok(Client::connect_to(endpoint(addr)?));
    }
    let conf = match &a.conf {
        Some(c) => Some(c.clone()),
        None => project::client_conf(Path::new(".")).ok(),
    };
    if let Some(conf) = conf {
        // `discovery = zk` in the file: the servers registered in ZooKeeper.
        let mut client = svrkit::discovery::client_from_file(&conf).map_err(|e| anyhow!("{e}"))?;
        match &a.key {
            Some(key) => client.set_key(key),
            // Sharding needs a shard id; shard 0 is as good as any for a one-off call.
            None => client.set_sharding_id(0),
        }
        return Ok(client);
    }
    let ip = idl.rpc_server.ip;
    let host = if ip.is_unspecified() { "127.0.0.1".to_string() } else { ip.to_string() };
    Ok(Client::connect_to(Endpoint::tcp(host, idl.rpc_server.port)))
}

fn endpoint(addr: &str) -> Result<Endpoint> {
    if let Ok(sock) = addr.parse::<std::net::SocketAddr>() {
        return Ok(Endpoint::from(sock));
    }
    if let Some(path) = addr.strip_prefix("unix:") {
        return Ok(Endpoint::unix(path));
    }
    let (host, port) = addr
        .rsplit_once(':')
        .and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h, p)))
        .ok_or_else(|| anyhow!("--addr {addr}: expected HOST:PORT or unix:PATH"))?;
    Ok(Endpoint::tcp(host, port))
}

/// The params array of an API from the user's JSON.
pub(crate) fn params_from_json(idl: &Idl, params: &Params, json: &Json) -> Result<Msg> {
    match params {
        Params::Proto(id) => {
            let ty = Type::Proto(*id);
            // `[{...}]` (the params array itself) or just the proto.
            let value = match json {
                Json::Array(items) if items.len() == 1 && items[0].is_object() => &items[0],
                other => other,
            };
            Ok(Msg::Array(vec![from_json(idl, &ty, value, "req")?]))
        }
        Params::Args(args) => {
            let mut out = Vec::with_capacity(args.len());
            match json {
                Json::Object(map) => {
                    for key in map.keys() {
                        if !args.iter().any(|a| a.name == key.as_str()) {
                            let names: Vec<&str> = args.iter().map(|a| a.name.as_str()).collect();
                            bail!(
                                "unknown argument `{key}`; the arguments are: {}",
                                names.join(", ")
                            );
                        }
                    }
                    for arg in args {
                        let name = arg.name.as_str();
                        let value =
                            map.get(name).ok_or_else(|| anyhow!("missing argument `{name}`"))?;
                        out.push(from_json(idl, &arg.ty, value, name)?);
                    }
                }
                Json::Array(items) => {
                    if items.len() != args.len() {
                        bail!("expected {} arguments, got {}", args.len(), items.len());
                    }
                    for (arg, value) in args.iter().zip(items) {
                        out.push(from_json(idl, &arg.ty, value, arg.name.as_str())?);
                    }
                }
                other => bail!("expected the arguments as a JSON object or array, got {other}"),
            }
            Ok(Msg::Array(out))
        }
        _ => match json {
            Json::Null => Ok(Msg::Array(Vec::new())),
            Json::Object(m) if m.is_empty() => Ok(Msg::Array(Vec::new())),
            Json::Array(a) if a.is_empty() => Ok(Msg::Array(Vec::new())),
            other => bail!("this API takes no parameters; pass {{}} (got {other})"),
        },
    }
}

/// A typed msgpack value from JSON; `at` names the place for errors.
fn from_json(idl: &Idl, ty: &Type, json: &Json, at: &str) -> Result<Msg> {
    let wrong = || anyhow!("{at}: expected {}, got {json}", idl.type_name(ty));
    Ok(match ty {
        Type::String => Msg::Str(json.as_str().ok_or_else(wrong)?.to_string()),
        Type::Bool => Msg::Bool(json.as_bool().ok_or_else(wrong)?),
        Type::Int => Msg::Int(json.as_i64().ok_or_else(wrong)?),
        Type::Float => Msg::Float(json.as_f64().ok_or_else(wrong)?),
        Type::Bin => Msg::Bin(bytes_from_json(json).ok_or_else(wrong)?),
        Type::List(t) | Type::Tuple(t) => {
            let items = json.as_array().ok_or_else(wrong)?;
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(from_json(idl, t, item, &format!("{at}[{i}]"))?);
            }
            Msg::Array(out)
        }
        Type::Dict(k, v) => {
            let map = json.as_object().ok_or_else(wrong)?;
            let mut out = Vec::with_capacity(map.len());
            for (key, value) in map {
                let key_json = match **k {
                    Type::Int => key.parse::<i64>().map(Json::from).map_err(|_| {
                        anyhow!(
                            "{at}: key {key:?} is not an int (dict keys are {})",
                            idl.type_name(k)
                        )
                    })?,
                    Type::Bool => key
                        .parse::<bool>()
                        .map(Json::from)
                        .map_err(|_| anyhow!("{at}: key {key:?} is not true or false"))?,
                    _ => Json::from(key.as_str()),
                };
                let at = format!("{at}[{key:?}]");
                out.push((from_json(idl, k, &key_json, &at)?, from_json(idl, v, value, &at)?));
            }
            Msg::Map(out)
        }
        Type::Proto(id) => {
            let proto = idl.proto(*id);
            match json {
                Json::Object(map) => {
                    for key in map.keys() {
                        if !proto.fields.iter().any(|f| f.name == key.as_str()) {
                            let names: Vec<&str> =
                                proto.fields.iter().map(|f| f.name.as_str()).collect();
                            bail!(
                                "{at}: `{}` has no field `{key}`; its fields: {}",
                                proto.name,
                                names.join(", ")
                            );
                        }
                    }
                    let mut out = Vec::with_capacity(proto.fields.len());
                    for f in &proto.fields {
                        let at = format!("{at}.{}", f.name);
                        out.push(match map.get(f.name.as_str()) {
                            Some(v) => from_json(idl, &f.ty, v, &at)?,
                            None => default_of(idl, &f.ty),
                        });
                    }
                    Msg::Array(out)
                }
                Json::Array(items) => {
                    let mut out = Vec::with_capacity(proto.fields.len());
                    for (f, v) in proto.fields.iter().zip(items) {
                        out.push(from_json(idl, &f.ty, v, &format!("{at}.{}", f.name))?);
                    }
                    Msg::Array(out)
                }
                _ => return Err(wrong()),
            }
        }
        _ => dynamic_from_json(json),
    })
}

fn bytes_from_json(json: &Json) -> Option<Vec<u8>> {
    match json {
        Json::String(s) => Some(s.as_bytes().to_vec()),
        Json::Array(items) => {
            items.iter().map(|v| v.as_u64().and_then(|b| u8::try_from(b).ok())).collect()
        }
        _ => None,
    }
}

fn dynamic_from_json(json: &Json) -> Msg {
    match json {
        Json::Null => Msg::Nil,
        Json::Bool(b) => Msg::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Msg::Int(i),
            (None, Some(u)) => Msg::UInt(u),
            _ => Msg::Float(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => Msg::Str(s.clone()),
        Json::Array(items) => Msg::Array(items.iter().map(dynamic_from_json).collect()),
        Json::Object(map) => {
            Msg::Map(map.iter().map(|(k, v)| (Msg::Str(k.clone()), dynamic_from_json(v))).collect())
        }
    }
}

/// The value a missing proto field takes (what the generated `Default` gives).
fn default_of(idl: &Idl, ty: &Type) -> Msg {
    match ty {
        Type::String => Msg::Str(String::new()),
        Type::Bool => Msg::Bool(false),
        Type::Int => Msg::Int(0),
        Type::Float => Msg::Float(0.0),
        Type::Bin => Msg::Bin(Vec::new()),
        Type::List(_) | Type::Tuple(_) => Msg::Array(Vec::new()),
        Type::Dict(..) => Msg::Map(Vec::new()),
        Type::Proto(id) => {
            Msg::Array(idl.proto(*id).fields.iter().map(|f| default_of(idl, &f.ty)).collect())
        }
        _ => Msg::Nil,
    }
}

/// JSON for a reply, protos shown as objects when the type is known.
pub(crate) fn to_json(idl: &Idl, ty: Option<&Type>, msg: &Msg) -> Json {
    match (ty, msg) {
        (Some(Type::Proto(id)), Msg::Array(items)) => {
            let proto = idl.proto(*id);
            let mut map = serde_json::Map::new();
            for (i, item) in items.iter().enumerate() {
                match proto.fields.get(i) {
                    Some(f) => map.insert(f.name.to_string(), to_json(idl, Some(&f.ty), item)),
                    None => map.insert(format!("#{i}"), to_json(idl, None, item)),
                };
            }
            Json::Object(map)
        }
        (Some(Type::List(t) | Type::Tuple(t)), Msg::Array(items)) => {
            Json::Array(items.iter().map(|m| to_json(idl, Some(t), m)).collect())
        }
        (Some(Type::Dict(_, v)), Msg::Map(entries)) => Json::Object(
            entries.iter().map(|(k, val)| (key_string(k), to_json(idl, Some(v), val))).collect(),
        ),
        (_, Msg::Nil) => Json::Null,
        (_, Msg::Bool(b)) => Json::from(*b),
        (_, Msg::Int(i)) => Json::from(*i),
        (_, Msg::UInt(u)) => Json::from(*u),
        (_, Msg::Float(f)) => Json::from(*f),
        (_, Msg::Str(s)) => Json::from(s.as_str()),
        (_, Msg::Bin(b)) => Json::Array(b.iter().map(|x| Json::from(*x)).collect()),
        (_, Msg::Array(items)) => {
            Json::Array(items.iter().map(|m| to_json(idl, None, m)).collect())
        }
        (_, Msg::Map(entries)) => Json::Object(
            entries.iter().map(|(k, v)| (key_string(k), to_json(idl, None, v))).collect(),
        ),
    }
}

/// Object keys in IDL field order (serde_json's map sorts them), mirroring `to_json`.
#[derive(Debug, Default)]
pub(crate) struct Order {
    keys: Vec<String>,
    children: Vec<Order>,
}

pub(crate) fn order(idl: &Idl, ty: Option<&Type>, msg: &Msg) -> Order {
    match (ty, msg) {
        (Some(Type::Proto(id)), Msg::Array(items)) => {
            let proto = idl.proto(*id);
            let mut o = Order::default();
            for (i, item) in items.iter().enumerate() {
                let f = proto.fields.get(i);
                o.keys.push(f.map_or_else(|| format!("#{i}"), |f| f.name.to_string()));
                o.children.push(order(idl, f.map(|f| &f.ty), item));
            }
            o
        }
        (Some(Type::List(t) | Type::Tuple(t)), Msg::Array(items)) => Order {
            keys: Vec::new(),
            children: items.iter().map(|m| order(idl, Some(t), m)).collect(),
        },
        (Some(Type::Dict(_, v)), Msg::Map(entries)) => Order {
            keys: entries.iter().map(|(k, _)| key_string(k)).collect(),
            children: entries.iter().map(|(_, m)| order(idl, Some(v), m)).collect(),
        },
        (_, Msg::Array(items)) => Order {
            keys: Vec::new(),
            children: items.iter().map(|m| order(idl, None, m)).collect(),
        },
        (_, Msg::Map(entries)) => Order {
            keys: entries.iter().map(|(k, _)| key_string(k)).collect(),
            children: entries.iter().map(|(_, m)| order(idl, None, m)).collect(),
        },
        _ => Order::default(),
    }
}

/// Pretty JSON (two-space indent) with object keys in `order`.
pub(crate) fn write_pretty(json: &Json, order: &Order, depth: usize, out: &mut String) {
    let pad = |d: usize| "  ".repeat(d);
    match json {
        Json::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                let child = order.children.get(i);
                write_pretty(item, child.unwrap_or(&Order::default()), depth + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(depth));
            out.push(']');
        }
        Json::Object(map) if !map.is_empty() => {
            out.push_str("{\n");
            let mut keys: Vec<(usize, &String)> = Vec::new();
            for (i, k) in order.keys.iter().enumerate() {
                if map.contains_key(k) && !keys.iter().any(|(_, seen)| *seen == k) {
                    keys.push((i, k));
                }
            }
            for k in map.keys() {
                if !keys.iter().any(|(_, seen)| *seen == k) {
                    keys.push((usize::MAX, k));
                }
            }
            for (n, (i, k)) in keys.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                out.push_str(&Json::from(k.as_str()).to_string());
                out.push_str(": ");
                let child = order.children.get(*i);
                write_pretty(&map[k.as_str()], child.unwrap_or(&Order::default()), depth + 1, out);
                out.push_str(if n + 1 < keys.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(depth));
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn key_string(key: &Msg) -> String {
    match key {
        Msg::Str(s) => s.clone(),
        Msg::Int(i) => i.to_string(),
        Msg::UInt(u) => u.to_string(),
        Msg::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// Decode one msgpack value at `pos`; returns it and the position after it.
pub(crate) fn decode(b: &[u8], pos: usize) -> Result<(Msg, usize), String> {
    let byte = |p: usize| b.get(p).copied().ok_or_else(|| "truncated value".to_string());
    let take = |p: usize, n: usize| -> Result<&[u8], String> {
        b.get(p..p.checked_add(n).ok_or("length overflow")?)
            .ok_or_else(|| "truncated value".to_string())
    };
    let be = |p: usize, n: usize| -> Result<u64, String> {
        Ok(take(p, n)?.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)))
    };
    let m = byte(pos)?;
    let p = pos + 1;
    let str_at = |p: usize, n: usize| -> Result<(Msg, usize), String> {
        let raw = take(p, n)?;
        Ok((Msg::Str(String::from_utf8_lossy(raw).into_owned()), p + n))
    };
    let bin_at = |p: usize, n: usize| -> Result<(Msg, usize), String> {
        Ok((Msg::Bin(take(p, n)?.to_vec()), p + n))
    };
    let array_at = |mut p: usize, n: usize| -> Result<(Msg, usize), String> {
        let mut items = Vec::new();
        for _ in 0..n {
            let (item, next) = decode(b, p)?;
            items.push(item);
            p = next;
        }
        Ok((Msg::Array(items), p))
    };
    let map_at = |mut p: usize, n: usize| -> Result<(Msg, usize), String> {
        let mut entries = Vec::new();
        for _ in 0..n {
            let (k, next) = decode(b, p)?;
            let (v, next) = decode(b, next)?;
            entries.push((k, v));
            p = next;
        }
        Ok((Msg::Map(entries), p))
    };
    let len = |n: u64| usize::try_from(n).map_err(|_| "length too large".to_string());
    match m {
        0x00..=0x7f => Ok((Msg::Int(i64::from(m)), p)),
        0x80..=0x8f => map_at(p, usize::from(m & 0x0f)),
        0x90..=0x9f => array_at(p, usize::from(m & 0x0f)),
        0xa0..=0xbf => str_at(p, usize::from(m & 0x1f)),
        0xc0 => Ok((Msg::Nil, p)),
        0xc2 => Ok((Msg::Bool(false), p)),
        0xc3 => Ok((Msg::Bool(true), p)),
        0xc4 => bin_at(p + 1, len(be(p, 1)?)?),
        0xc5 => bin_at(p + 2, len(be(p, 2)?)?),
        0xc6 => bin_at(p + 4, len(be(p, 4)?)?),
        0xc7..=0xc9 => {
            let n = match m {
                0xc7 => 1,
                0xc8 => 2,
                _ => 4,
            };
            let size = len(be(p, n)?)?;
            bin_at(p + n + 1, size) // ext: type byte skipped, payload shown as bytes
        }
        0xca => Ok((Msg::Float(f64::from(f32::from_bits(be(p, 4)? as u32))), p + 4)),
        0xcb => Ok((Msg::Float(f64::from_bits(be(p, 8)?)), p + 8)),
        0xcc => Ok((Msg::Int(be(p, 1)? as i64), p + 1)),
        0xcd => Ok((Msg::Int(be(p, 2)? as i64), p + 2)),
        0xce => Ok((Msg::Int(be(p, 4)? as i64), p + 4)),
        0xcf => {
            let u = be(p, 8)?;
            Ok((i64::try_from(u).map_or(Msg::UInt(u), Msg::Int), p + 8))
        }
        0xd0 => Ok((Msg::Int(i64::from(be(p, 1)? as u8 as i8)), p + 1)),
        0xd1 => Ok((Msg::Int(i64::from(be(p, 2)? as u16 as i16)), p + 2)),
        0xd2 => Ok((Msg::Int(i64::from(be(p, 4)? as u32 as i32)), p + 4)),
        0xd3 => Ok((Msg::Int(be(p, 8)? as i64), p + 8)),
        0xd4..=0xd8 => bin_at(p + 1, 1 << (m - 0xd4)),
        0xd9 => str_at(p + 1, len(be(p, 1)?)?),
        0xda => str_at(p + 2, len(be(p, 2)?)?),
        0xdb => str_at(p + 4, len(be(p, 4)?)?),
        0xdc => array_at(p + 2, len(be(p, 2)?)?),
        0xdd => array_at(p + 4, len(be(p, 4)?)?),
        0xde => map_at(p + 2, len(be(p, 2)?)?),
        0xdf => map_at(p + 4, len(be(p, 4)?)?),
        0xe0..=0xff => Ok((Msg::Int(i64::from(m as i8)), p)),
        0xc1 => Err("reserved marker 0xc1".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ECHO: &str = include_str!("../idl/echo.json");

    fn encode(msg: &Msg) -> Vec<u8> {
        let mut buf = Vec::new();
        svrkit::codec::encode_response(&mut buf, 1, msg).unwrap();
        // [1, 1, nil, value]: the value starts after the 4-byte header.
        buf.split_off(4)
    }

    #[test]
    fn echo1_request_round_trips_through_msgpack() {
        let idl = svrkit_idl::parse(ECHO).unwrap();
        let api = idl.api("echo1").unwrap();
        let json: Json =
            serde_json::from_str(r#"{"my_string":"hi","vec_int":[1,-2],"dict_string":{"1":"a"}}"#)
                .unwrap();
        let params = params_from_json(&idl, &api.params, &json).unwrap();
        let Msg::Array(items) = &params else { panic!("{params:?}") };
        assert_eq!(
            items[0],
            Msg::Array(vec![
                Msg::Str("hi".into()),
                Msg::Array(vec![Msg::Int(1), Msg::Int(-2)]),
                Msg::Map(vec![(Msg::Int(1), Msg::Str("a".into()))]),
            ])
        );
        let bytes = encode(&items[0]);
        let (back, end) = decode(&bytes, 0).unwrap();
        assert_eq!(end, bytes.len());
        assert_eq!(back, items[0]);
        let Returns::Value(ty) = &api.returns else { panic!() };
        assert_eq!(to_json(&idl, Some(ty), &back), json);
        let mut text = String::new();
        write_pretty(&to_json(&idl, Some(ty), &back), &order(&idl, Some(ty), &back), 0, &mut text);
        let compact: String = text.split_whitespace().collect();
        assert_eq!(compact, r#"{"my_string":"hi","vec_int":[1,-2],"dict_string":{"1":"a"}}"#);
    }

    #[test]
    fn missing_fields_default_and_unknown_ones_are_named() {
        let idl = svrkit_idl::parse(ECHO).unwrap();
        let api = idl.api("echo4").unwrap();
        let p =
            params_from_json(&idl, &api.params, &serde_json::json!({"my_string": "x"})).unwrap();
        assert_eq!(
            p,
            Msg::Array(vec![Msg::Array(vec![
                Msg::Str("x".into()),
                Msg::Array(vec![]),
                Msg::Map(vec![])
            ])])
        );
        let err =
            params_from_json(&idl, &api.params, &serde_json::json!({"my_strin": "x"})).unwrap_err();
        assert!(err.to_string().contains("has no field `my_strin`"), "{err}");
        let err = params_from_json(&idl, &api.params, &serde_json::json!({"vec_int": ["x"]}))
            .unwrap_err();
        assert_eq!(err.to_string(), "req.vec_int[0]: expected int, got \"x\"");
        let none = idl.api("echo3").unwrap();
        assert_eq!(
            params_from_json(&idl, &none.params, &serde_json::json!({})).unwrap(),
            Msg::Array(vec![])
        );
    }

    #[test]
    fn decodes_every_integer_width_and_rejects_truncation() {
        for v in
            [0i64, 127, 128, 255, 256, 65535, 65536, -1, -32, -33, -129, -40000, i64::MIN, i64::MAX]
        {
            let bytes = encode(&Msg::Int(v));
            assert_eq!(decode(&bytes, 0).unwrap().0, Msg::Int(v), "{v}");
        }
        assert!(decode(&[0x92, 0x01], 0).is_err());
        assert!(decode(&[0xdb, 0xff, 0xff, 0xff, 0xff], 0).is_err());
    }
}
