//! `cargo svrkit call METHOD JSON`: call one API of a running service, JSON in and out.
//!
//! The IDL gives each API's parameter and result types, so JSON converts both ways the
//! way the generated code encodes: a proto is an array of its fields in IDL order (a
//! JSON object by field name, or an array), `dict int:string` keys are ints, `bin` is
//! bytes. Results come back as JSON with protos shown as objects.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value as Json;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use svrkit::client::{Client, ClientError, Endpoint};
use svrkit::Value;
use svrkit_idl::{Idl, Params, Returns, Type};

use crate::project;
use crate::CallArgs;

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
            let msg = decode(&bytes).map_err(|e| anyhow!("undecodable reply: {e}"))?;
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
pub(crate) fn params_from_json(idl: &Idl, params: &Params, json: &Json) -> Result<Value> {
    match params {
        Params::Proto(id) => {
            let ty = Type::Proto(*id);
            // `[{...}]` (the params array itself) or just the proto.
            let value = match json {
                Json::Array(items) if items.len() == 1 && items[0].is_object() => &items[0],
                other => other,
            };
            Ok(Value::Array(vec![from_json(idl, &ty, value, "req")?]))
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
            Ok(Value::Array(out))
        }
        _ => match json {
            Json::Null => Ok(Value::Array(Vec::new())),
            Json::Object(m) if m.is_empty() => Ok(Value::Array(Vec::new())),
            Json::Array(a) if a.is_empty() => Ok(Value::Array(Vec::new())),
            other => bail!("this API takes no parameters; pass {{}} (got {other})"),
        },
    }
}

/// A typed msgpack value from JSON; `at` names the place for errors.
fn from_json(idl: &Idl, ty: &Type, json: &Json, at: &str) -> Result<Value> {
    let wrong = || anyhow!("{at}: expected {}, got {json}", idl.type_name(ty));
    Ok(match ty {
        Type::String => Value::Str(json.as_str().ok_or_else(wrong)?.to_string()),
        Type::Bool => Value::Bool(json.as_bool().ok_or_else(wrong)?),
        Type::Int => Value::Int(json.as_i64().ok_or_else(wrong)?),
        Type::Float => Value::Float(json.as_f64().ok_or_else(wrong)?),
        Type::Bin => Value::Bin(bytes_from_json(json).ok_or_else(wrong)?),
        Type::List(t) | Type::Tuple(t) => {
            let items = json.as_array().ok_or_else(wrong)?;
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(from_json(idl, t, item, &format!("{at}[{i}]"))?);
            }
            Value::Array(out)
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
            Value::Map(out)
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
                    Value::Array(out)
                }
                Json::Array(items) => {
                    let mut out = Vec::with_capacity(proto.fields.len());
                    for (f, v) in proto.fields.iter().zip(items) {
                        out.push(from_json(idl, &f.ty, v, &format!("{at}.{}", f.name))?);
                    }
                    Value::Array(out)
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

fn dynamic_from_json(json: &Json) -> Value {
    match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::UInt(u),
            _ => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(dynamic_from_json).collect()),
        Json::Object(map) => Value::Map(
            map.iter().map(|(k, v)| (Value::Str(k.clone()), dynamic_from_json(v))).collect(),
        ),
    }
}

/// The value a missing proto field takes (what the generated `Default` gives).
fn default_of(idl: &Idl, ty: &Type) -> Value {
    match ty {
        Type::String => Value::Str(String::new()),
        Type::Bool => Value::Bool(false),
        Type::Int => Value::Int(0),
        Type::Float => Value::Float(0.0),
        Type::Bin => Value::Bin(Vec::new()),
        Type::List(_) | Type::Tuple(_) => Value::Array(Vec::new()),
        Type::Dict(..) => Value::Map(Vec::new()),
        Type::Proto(id) => {
            Value::Array(idl.proto(*id).fields.iter().map(|f| default_of(idl, &f.ty)).collect())
        }
        _ => Value::Nil,
    }
}

/// JSON for a reply, protos shown as objects when the type is known.
pub(crate) fn to_json(idl: &Idl, ty: Option<&Type>, msg: &Value) -> Json {
    match (ty, msg) {
        (Some(Type::Proto(id)), Value::Array(items)) => {
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
        (Some(Type::List(t) | Type::Tuple(t)), Value::Array(items)) => {
            Json::Array(items.iter().map(|m| to_json(idl, Some(t), m)).collect())
        }
        (Some(Type::Dict(_, v)), Value::Map(entries)) => Json::Object(
            entries.iter().map(|(k, val)| (key_string(k), to_json(idl, Some(v), val))).collect(),
        ),
        (_, Value::Nil) => Json::Null,
        (_, Value::Bool(b)) => Json::from(*b),
        (_, Value::Int(i)) => Json::from(*i),
        (_, Value::UInt(u)) => Json::from(*u),
        (_, Value::Float(f)) => Json::from(*f),
        (_, Value::Str(s)) => Json::from(s.as_str()),
        (_, Value::Bin(b)) => Json::Array(b.iter().map(|x| Json::from(*x)).collect()),
        (_, Value::Array(items)) => {
            Json::Array(items.iter().map(|m| to_json(idl, None, m)).collect())
        }
        (_, Value::Map(entries)) => Json::Object(
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

pub(crate) fn order(idl: &Idl, ty: Option<&Type>, msg: &Value) -> Order {
    match (ty, msg) {
        (Some(Type::Proto(id)), Value::Array(items)) => {
            let proto = idl.proto(*id);
            let mut o = Order::default();
            for (i, item) in items.iter().enumerate() {
                let f = proto.fields.get(i);
                o.keys.push(f.map_or_else(|| format!("#{i}"), |f| f.name.to_string()));
                o.children.push(order(idl, f.map(|f| &f.ty), item));
            }
            o
        }
        (Some(Type::List(t) | Type::Tuple(t)), Value::Array(items)) => Order {
            keys: Vec::new(),
            children: items.iter().map(|m| order(idl, Some(t), m)).collect(),
        },
        (Some(Type::Dict(_, v)), Value::Map(entries)) => Order {
            keys: entries.iter().map(|(k, _)| key_string(k)).collect(),
            children: entries.iter().map(|(_, m)| order(idl, Some(v), m)).collect(),
        },
        (_, Value::Array(items)) => Order {
            keys: Vec::new(),
            children: items.iter().map(|m| order(idl, None, m)).collect(),
        },
        (_, Value::Map(entries)) => Order {
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

fn key_string(key: &Value) -> String {
    match key {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// Decodes a reply's result with svrkit's codec (depth-bounded; a string that is not UTF-8
/// comes back as bytes, an ext value as `[tag, bytes]`).
pub(crate) fn decode(b: &[u8]) -> Result<Value, String> {
    svrkit::codec::RawValue::from_slice(b)
        .and_then(|raw| raw.deserialize::<Value>())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ECHO: &str = include_str!("../idl/echo.json");

    fn encode(msg: &Value) -> Vec<u8> {
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
        let Value::Array(items) = &params else { panic!("{params:?}") };
        assert_eq!(
            items[0],
            Value::Array(vec![
                Value::Str("hi".into()),
                Value::Array(vec![Value::Int(1), Value::Int(-2)]),
                Value::Map(vec![(Value::Int(1), Value::Str("a".into()))]),
            ])
        );
        let bytes = encode(&items[0]);
        let back = decode(&bytes).unwrap();
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
            Value::Array(vec![Value::Array(vec![
                Value::Str("x".into()),
                Value::Array(vec![]),
                Value::Map(vec![])
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
            Value::Array(vec![])
        );
    }

    #[test]
    fn decodes_every_integer_width_and_rejects_truncation() {
        for v in
            [0i64, 127, 128, 255, 256, 65535, 65536, -1, -32, -33, -129, -40000, i64::MIN, i64::MAX]
        {
            let bytes = encode(&Value::Int(v));
            assert_eq!(decode(&bytes).unwrap(), Value::Int(v), "{v}");
        }
        assert!(decode(&[0x92, 0x01]).is_err());
        // A string that is not UTF-8 is shown as bytes, an ext as [tag, bytes].
        assert_eq!(decode(&[0xa2, 0xff, 0xfe]).unwrap(), Value::Bin(vec![0xff, 0xfe]));
        assert_eq!(
            decode(&[0xd4, 0x05, 0x2a]).unwrap(),
            Value::Array(vec![Value::Int(5), Value::Bin(vec![0x2a])])
        );
        // A hostile reply nested a million deep is an error, not a stack overflow.
        let mut deep = vec![0x91u8; 1_000_000];
        deep.push(0xc0);
        assert!(decode(&deep).is_err());
        assert!(decode(&[0xdb, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
