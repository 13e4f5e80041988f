//! Lowering: checks a parsed JSON document against the IDL's rules and builds the model,
//! collecting every problem instead of stopping at the first.

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::RangeInclusive;

use crate::diag::{Diagnostic, ErrorKind, Span};
use crate::json::{push_key, Kind, Member, Value};
use crate::model::{
    defaults, Api, ClientMode, DispatchType, Field, Group, Idl, Name, Params, Proto, ProtoId,
    Returns, RpcClient, RpcServer, SelfServer, SelfWorkerType, Type, WorkerType,
};
use crate::names;

const SCALARS: &[(&str, Type)] = &[
    ("string", Type::String),
    ("bool", Type::Bool),
    ("int", Type::Int),
    ("float", Type::Float),
    ("bin", Type::Bin),
];
const CONTAINERS: &[&str] = &["list", "tuple", "dict"];
const KEY_TYPES: &str = "string, int, bool or bin";

/// Names people bring from other languages, and the IDL type they mean.
const TYPE_ALIASES: &[(&str, &str)] = &[
    ("str", "string"),
    ("text", "string"),
    ("integer", "int"),
    ("i64", "int"),
    ("i32", "int"),
    ("long", "int"),
    ("number", "int"),
    ("double", "float"),
    ("f64", "float"),
    ("f32", "float"),
    ("boolean", "bool"),
    ("bytes", "bin"),
    ("binary", "bin"),
    ("array", "list"),
    ("vec", "list"),
    ("map", "dict"),
    ("object", "dict"),
];

/// Crate names cargo refuses besides keywords.
const RESERVED_CRATES: &[&str] = &["std", "core", "alloc", "test", "proc_macro"];

/// Which Rust form a name will take, so that form is checked too.
#[derive(Clone, Copy, PartialEq)]
enum NameUse {
    /// A type name (protos): `upper_camel_case`.
    Type,
    /// A value or function name (fields, args, APIs, groups): `snake_case`.
    Value,
}

pub(crate) fn lower(src: &str, root: &Value, diags: &mut Vec<Diagnostic>) -> Option<Idl> {
    let before = diags.len();
    let mut cx = Cx { src, diags };
    let idl = cx.idl(root);
    if cx.diags.len() > before {
        None
    } else {
        idl
    }
}

struct Cx<'a> {
    src: &'a str,
    diags: &'a mut Vec<Diagnostic>,
}

/// A JSON object being checked: its members, and the keys a typo was taken for.
struct Obj<'v> {
    path: String,
    span: Span,
    members: &'v [Member],
    suggested: Vec<&'static str>,
}

impl<'v> Obj<'v> {
    fn get(&self, key: &str) -> Option<&'v Member> {
        self.members.iter().find(|m| m.key == key)
    }

    fn path(&self, key: &str) -> String {
        let mut p = if self.path == "(top level)" { String::new() } else { self.path.clone() };
        push_key(&mut p, key);
        p
    }
}

fn index_path(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// Proto names known so far, with their ids.
#[derive(Default)]
struct ProtoTable {
    names: Vec<String>,
    ids: HashMap<String, ProtoId>,
    /// False when `protos` itself was unusable: then unknown names are not reported again.
    complete: bool,
}

impl ProtoTable {
    fn find(&self, name: &str) -> Option<ProtoId> {
        self.ids.get(name).copied()
    }

    fn add(&mut self, name: &str) {
        self.ids.insert(name.to_owned(), ProtoId(self.names.len()));
        self.names.push(name.to_owned());
    }

    fn listing(&self) -> String {
        if self.names.is_empty() {
            "no protos are defined".to_owned()
        } else {
            const SHOWN: usize = 12;
            let mut list = self.names.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
            if self.names.len() > SHOWN {
                list.push_str(&format!(" and {} more", self.names.len() - SHOWN));
            }
            format!("defined protos: {list}")
        }
    }
}

/// First occurrences of names in one namespace, to report duplicates.
struct Unique {
    what: &'static str,
    rust_form: NameUse,
    /// Exact name -> where it was first given.
    exact: HashMap<String, Span>,
    /// Rust form -> (exact name, where).
    forms: HashMap<String, (String, Span)>,
}

impl Unique {
    fn new(what: &'static str, rust_form: NameUse) -> Unique {
        Unique { what, rust_form, exact: HashMap::new(), forms: HashMap::new() }
    }
}

impl Cx<'_> {
    fn err(
        &mut self,
        kind: ErrorKind,
        path: &str,
        span: Span,
        message: String,
        help: Option<String>,
    ) {
        self.diags.push(Diagnostic {
            kind,
            path: if path.is_empty() { "(top level)".to_owned() } else { path.to_owned() },
            span,
            line: 0,
            column: 0,
            message,
            help,
        });
    }

    fn line_of(&self, span: Span) -> usize {
        1 + self.src[..span.start.min(self.src.len())].matches('\n').count()
    }

    /// The span of `len` bytes at `offset` inside the string value `v`, when the string has
    /// no escapes (so decoded and source offsets agree); else the whole string.
    fn part_span(&self, v: &Value, offset: usize, len: usize) -> Span {
        let inner = self.src.get(v.span.start + 1..v.span.end.saturating_sub(1));
        match (&v.kind, inner) {
            (Kind::String(s), Some(raw)) if raw == s => {
                Span::new(v.span.start + 1 + offset, v.span.start + 1 + offset + len)
            }
            _ => v.span,
        }
    }

    fn wrong_type(&mut self, v: &Value, path: &str, expected: &str) {
        let help = match &v.kind {
            Kind::String(s) if expected.contains("integer") && s.trim().parse::<i64>().is_ok() => {
                Some(format!("remove the quotes: {}", s.trim()))
            }
            Kind::String(s) if expected.contains("boolean") && (s == "true" || s == "false") => {
                Some(format!("remove the quotes: {s}"))
            }
            _ => None,
        };
        self.err(
            ErrorKind::WrongType,
            path,
            v.span,
            format!("expected {expected}, found {}", v.describe()),
            help,
        );
    }

    fn object<'v>(
        &mut self,
        v: &'v Value,
        path: String,
        what: &str,
        allowed: &[&'static str],
    ) -> Option<Obj<'v>> {
        let Kind::Object(members) = &v.kind else {
            self.wrong_type(v, &path, &format!("an object ({what})"));
            return None;
        };
        let mut obj = Obj { path, span: v.span, members, suggested: Vec::new() };
        for m in members {
            if allowed.contains(&m.key.as_str()) {
                continue;
            }
            let guess = names::did_you_mean(&m.key, allowed.iter().copied()).or_else(|| {
                allowed.iter().copied().find(|a| {
                    !m.key.is_empty()
                        && (a.ends_with(&format!("_{}", m.key))
                            || a.starts_with(&format!("{}_", m.key)))
                })
            });
            let help = match guess {
                Some(g) => {
                    obj.suggested.push(g);
                    if obj.get(g).is_some() {
                        format!("did you mean \"{g}\"? (it is also given; remove one)")
                    } else {
                        format!("did you mean \"{g}\"?")
                    }
                }
                None => format!("allowed keys here: {}", allowed.join(", ")),
            };
            let path = obj.path(&m.key);
            self.err(
                ErrorKind::UnknownKey,
                &path,
                m.key_span,
                format!("unknown key \"{}\" in {what}", m.key),
                Some(help),
            );
        }
        Some(obj)
    }

    /// A required member; reports it missing (unless a typo of it was already reported).
    fn required<'v>(
        &mut self,
        obj: &Obj<'v>,
        key: &'static str,
        what_for: &str,
    ) -> Option<&'v Member> {
        let m = obj.get(key);
        if m.is_none() && !obj.suggested.contains(&key) {
            self.err(
                ErrorKind::MissingKey,
                &obj.path,
                Span::new(obj.span.start, obj.span.start + 1),
                format!("missing key \"{key}\" ({what_for})"),
                None,
            );
        }
        m
    }

    fn string<'v>(&mut self, v: &'v Value, path: &str, expected: &str) -> Option<&'v str> {
        match &v.kind {
            Kind::String(s) => Some(s),
            _ => {
                self.wrong_type(v, path, expected);
                None
            }
        }
    }

    /// An integer in `range`; `zero_help` explains why 0 in particular is refused.
    fn integer(
        &mut self,
        v: &Value,
        path: &str,
        key: &str,
        range: RangeInclusive<i64>,
        zero_help: Option<&str>,
    ) -> Option<i64> {
        let expected = format!("an integer from {} to {}", range.start(), range.end());
        let Kind::Number(text) = &v.kind else {
            self.wrong_type(v, path, &expected);
            return None;
        };
        let Ok(n) = text.parse::<i64>() else {
            let is_whole = !text.contains(['.', 'e', 'E']);
            let message = if is_whole {
                format!("{key} must be from {} to {}, not {text}", range.start(), range.end())
            } else {
                format!("expected {expected}, found the number {text}")
            };
            self.err(ErrorKind::InvalidValue, path, v.span, message, None);
            return None;
        };
        if !range.contains(&n) {
            self.err(
                ErrorKind::InvalidValue,
                path,
                v.span,
                format!("{key} must be from {} to {}, not {n}", range.start(), range.end()),
                zero_help.filter(|_| n == 0).map(str::to_owned),
            );
            return None;
        }
        Some(n)
    }

    fn choice<T: Copy>(
        &mut self,
        v: &Value,
        path: &str,
        key: &str,
        choices: &[(&str, T)],
        hints: &[(&str, &str)],
    ) -> Option<T> {
        let allowed: Vec<&str> = choices.iter().map(|(s, _)| *s).collect();
        let expected = format!("one of {}", quoted_list(&allowed));
        let s = self.string(v, path, &expected)?;
        if let Some((_, t)) = choices.iter().find(|(c, _)| *c == s) {
            return Some(*t);
        }
        let help = if let Some((_, h)) = hints.iter().find(|(bad, _)| *bad == s) {
            (*h).to_owned()
        } else if let Some(g) = names::did_you_mean(s, allowed.iter().copied()) {
            format!("did you mean \"{g}\"?")
        } else {
            format!("{key} is {expected}")
        };
        self.err(
            ErrorKind::InvalidValue,
            path,
            v.span,
            format!("unknown {key} \"{s}\""),
            Some(help),
        );
        None
    }

    /// A name that will become a Rust identifier. Problems are reported; the name is still
    /// returned (so that references to it do not cascade into "unknown" errors).
    fn name(&mut self, v: &Value, path: &str, what: &str, rust_form: NameUse) -> Option<Name> {
        let s = self.string(v, path, &format!("a string ({what})"))?;
        let name = Name::new(s, v.span);
        let problem = names::ident_problem(s).map(|p| (p, names::fix_ident(s))).or_else(|| {
            let form = match rust_form {
                NameUse::Type => names::upper_camel_case(s),
                NameUse::Value => names::snake_case(s),
            };
            let stem = s.trim_end_matches('_');
            let fix = match rust_form {
                NameUse::Type if form.starts_with(|c: char| c.is_ascii_digit()) => {
                    format!("msg{stem}")
                }
                NameUse::Type => format!("{stem}_msg"),
                NameUse::Value => format!("{form}_"),
            };
            names::ident_problem(&form).map(|p| (format!("it becomes `{form}` in Rust: {p}"), fix))
        });
        if let Some((problem, fix)) = problem {
            let help = if s.is_ascii() {
                format!("rename it, e.g. \"{fix}\"")
            } else {
                "rename it with ASCII letters, digits and '_'".to_owned()
            };
            self.err(
                ErrorKind::InvalidName,
                path,
                v.span,
                format!("{what} \"{s}\" cannot be a Rust identifier: {problem}"),
                Some(help),
            );
        }
        Some(name)
    }

    /// Records `name`; reports it if it (or its Rust form) was seen before. True if new.
    fn unique(&mut self, seen: &mut Unique, name: &Name, path: &str) -> bool {
        let form = match seen.rust_form {
            NameUse::Type => name.upper_camel_case(),
            NameUse::Value => name.snake_case(),
        };
        let clash = match seen.exact.get(name.as_str()) {
            Some(first) => Some((name.as_str().to_owned(), *first)),
            None => seen.forms.get(&form).cloned(),
        };
        if let Some((exact, first)) = clash {
            let line = self.line_of(first);
            let message = if exact == name.as_str() {
                format!("duplicate {} \"{exact}\" (first defined on line {line})", seen.what)
            } else {
                format!(
                    "{} \"{}\" clashes with \"{exact}\" (line {line}): both become `{form}` in Rust",
                    seen.what,
                    name.as_str()
                )
            };
            self.err(
                ErrorKind::Duplicate,
                path,
                name.span(),
                message,
                Some("rename one of them".to_owned()),
            );
            return false;
        }
        seen.exact.insert(name.as_str().to_owned(), name.span());
        seen.forms.insert(form, (name.as_str().to_owned(), name.span()));
        true
    }

    fn idl(&mut self, root: &Value) -> Option<Idl> {
        let allowed = ["app", "protos", "rpc_client", "rpc_server", "self_server"];
        let top = self.object(root, "(top level)".to_owned(), "the IDL document", &allowed)?;

        let app = self
            .required(&top, "app", "the service name, e.g. \"echo\"")
            .and_then(|m| self.app(&m.value));

        let (protos, table) = match top.get("protos") {
            Some(m) => self.protos(&m.value),
            None => (Some(Vec::new()), ProtoTable { complete: true, ..ProtoTable::default() }),
        };

        let rpc_client = match top.get("rpc_client") {
            Some(m) => self.rpc_client(&m.value),
            None => Some(RpcClient { mode: defaults::CLIENT_MODE }),
        };

        let rpc_server = self
            .required(&top, "rpc_server", "the RPC server: port and apis")
            .and_then(|m| self.rpc_server(&m.value, &table));

        let self_server = match top.get("self_server") {
            Some(m) => self.self_server(&m.value).map(Some),
            None => Some(None),
        };

        Some(Idl {
            app: app?,
            protos: protos?,
            rpc_client: rpc_client?,
            rpc_server: rpc_server?,
            self_server: self_server?,
        })
    }

    fn app(&mut self, v: &Value) -> Option<Name> {
        let s = self.string(v, "app", "a string (the service name)")?;
        let ok_chars = s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        let problem = if !ok_chars {
            Some("use lower-case ASCII letters, digits and '_', starting with a letter".to_owned())
        } else if names::is_keyword(s) {
            Some(format!("\"{s}\" is a Rust keyword"))
        } else if RESERVED_CRATES.contains(&s) {
            Some(format!("\"{s}\" is the name of a built-in Rust crate"))
        } else if s == "svrkit" {
            Some(
                "the generated crate depends on the svrkit crate, so it cannot be named svrkit too"
                    .to_owned(),
            )
        } else {
            None
        };
        if let Some(problem) = problem {
            let mut fix: String = s
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
                .collect();
            if !fix.starts_with(|c: char| c.is_ascii_lowercase()) {
                fix.insert_str(0, "app_");
            }
            if names::is_keyword(&fix) || RESERVED_CRATES.contains(&fix.as_str()) || fix == "svrkit"
            {
                fix.push_str("_svc");
            }
            self.err(
                ErrorKind::InvalidName,
                "app",
                v.span,
                format!("app name \"{s}\" cannot name a Rust crate: {problem}"),
                Some(format!("e.g. \"{fix}\"")),
            );
        }
        Some(Name::new(s, v.span))
    }

    fn protos(&mut self, v: &Value) -> (Option<Vec<Proto>>, ProtoTable) {
        let mut table = ProtoTable { complete: true, ..ProtoTable::default() };
        let Kind::Array(items) = &v.kind else {
            self.wrong_type(v, "protos", "an array of protos");
            table.complete = false;
            return (None, table);
        };
        // Pass 1: names, so that fields may refer to protos defined later.
        let mut seen = Unique::new("proto name", NameUse::Type);
        let mut decls = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = index_path("protos", i);
            let Some(obj) =
                self.object(item, path, "a proto: {\"name\", \"fields\"}", &["name", "fields"])
            else {
                continue;
            };
            let Some(m) = self.required(&obj, "name", "the proto's name") else { continue };
            let name_path = obj.path("name");
            let Some(name) = self.name(&m.value, &name_path, "proto name", NameUse::Type) else {
                continue;
            };
            if SCALARS.iter().any(|(s, _)| name == *s) || CONTAINERS.contains(&name.as_str()) {
                self.err(
                    ErrorKind::InvalidName,
                    &name_path,
                    name.span(),
                    format!("proto name \"{name}\" is a built-in type name"),
                    Some(format!("rename the proto, e.g. \"{name}_msg\"")),
                );
                continue;
            }
            if self.unique(&mut seen, &name, &name_path) {
                table.add(name.as_str());
                decls.push((i, name, obj));
            }
        }
        // Pass 2: fields.
        let mut protos = Vec::new();
        let mut ok = true;
        let mut edges: Vec<Vec<Edge>> = Vec::new();
        for (_, name, obj) in &decls {
            let fields_path = obj.path("fields");
            let mut fields = Vec::new();
            let mut direct = Vec::new();
            if let Some(m) = self.required(obj, "fields", "the proto's fields, may be []") {
                if let Kind::Array(items) = &m.value.kind {
                    let mut seen = Unique::new("field name", NameUse::Value);
                    for (k, item) in items.iter().enumerate() {
                        let path = index_path(&fields_path, k);
                        match self.field(item, &path, &table, &mut seen) {
                            Some(f) => {
                                if let Type::Proto(to) = f.ty {
                                    direct.push(Edge { field: fields.len(), json_index: k, to });
                                }
                                fields.push(f);
                            }
                            None => ok = false,
                        }
                    }
                } else {
                    self.wrong_type(&m.value, &fields_path, "an array of fields");
                    ok = false;
                }
            } else {
                ok = false;
            }
            edges.push(direct);
            protos.push(Proto { name: name.clone(), fields, span: obj.span });
        }
        self.check_recursion(
            &decls.iter().map(|(i, _, _)| *i).collect::<Vec<_>>(),
            &protos,
            &edges,
        );
        (ok.then_some(protos), table)
    }

    /// Reports protos that contain themselves through direct fields (no list/dict between).
    fn check_recursion(&mut self, array_index: &[usize], protos: &[Proto], edges: &[Vec<Edge>]) {
        #[derive(Clone, Copy, PartialEq)]
        enum State {
            New,
            OnStack,
            Done,
        }
        // Iterative depth-first walk (a long chain of protos must not overflow the stack).
        let mut state = vec![State::New; protos.len()];
        let mut cycles: Vec<Vec<(usize, Edge)>> = Vec::new();
        // (proto, index of its next edge to follow)
        let mut frames: Vec<(usize, usize)> = Vec::new();
        // The edges taken from frames[i] to frames[i + 1], with their source proto.
        let mut path: Vec<(usize, Edge)> = Vec::new();
        for root in 0..protos.len() {
            if state[root] != State::New {
                continue;
            }
            state[root] = State::OnStack;
            frames.push((root, 0));
            while let Some((p, next)) = frames.last_mut() {
                let p = *p;
                let Some(&edge) = edges[p].get(*next) else {
                    state[p] = State::Done;
                    frames.pop();
                    path.pop();
                    continue;
                };
                *next += 1;
                let q = edge.to.0;
                match state[q] {
                    State::New => {
                        path.push((p, edge));
                        state[q] = State::OnStack;
                        frames.push((q, 0));
                    }
                    State::OnStack => {
                        let from = path.iter().position(|&(s, _)| s == q).unwrap_or(path.len());
                        let mut cycle = path[from..].to_vec();
                        cycle.push((p, edge));
                        cycles.push(cycle);
                    }
                    State::Done => {}
                }
            }
        }
        for cycle in cycles {
            let Some(&(last, closing)) = cycle.last() else { continue };
            let target = &protos[closing.to.0].name;
            let link = |&(p, e): &(usize, Edge)| {
                format!("{}.{}", protos[p].name, protos[p].fields[e.field].name)
            };
            // A very long cycle shows its ends: the message stays one readable line.
            let chain: Vec<String> = if cycle.len() <= 12 {
                cycle.iter().map(link).collect()
            } else {
                let mut c: Vec<String> = cycle[..5].iter().map(link).collect();
                c.push(format!("({} more)", cycle.len() - 10));
                c.extend(cycle[cycle.len() - 5..].iter().map(link));
                c
            };
            let path = format!("protos[{}].fields[{}].type", array_index[last], closing.json_index);
            self.err(
                ErrorKind::Recursion,
                &path,
                protos[last].fields[closing.field].type_span,
                format!("proto \"{target}\" contains itself: {} -> {target}", chain.join(" -> ")),
                Some(format!(
                    "a struct cannot hold itself directly; make one of these fields a list, e.g. \"type\": \"list\", \"subtype\": \"{target}\""
                )),
            );
        }
    }

    fn field(
        &mut self,
        v: &Value,
        path: &str,
        table: &ProtoTable,
        seen: &mut Unique,
    ) -> Option<Field> {
        let obj = self.object(
            v,
            path.to_owned(),
            "a field: {\"name\", \"type\", \"subtype\"?}",
            &["name", "type", "subtype"],
        )?;
        let name = self
            .required(&obj, "name", "the field's name")
            .and_then(|m| self.name(&m.value, &obj.path("name"), "field name", NameUse::Value));
        if let Some(name) = &name {
            self.unique(seen, name, &obj.path("name"));
        }
        let ty_member = self.required(&obj, "type", "the field's type, e.g. \"string\"")?;
        let ty = self.resolve(&obj, &ty_member.value, table);
        Some(Field { name: name?, ty: ty?, type_span: ty_member.value.span })
    }

    /// Resolves `type` (+ `subtype` from `obj`).
    fn resolve(&mut self, obj: &Obj<'_>, ty: &Value, table: &ProtoTable) -> Option<Type> {
        let ty_path = obj.path("type");
        let s = self.string(ty, &ty_path, "a string (a type name)")?;
        let subtype = obj.get("subtype");
        let sub_path = obj.path("subtype");
        match s {
            "list" | "tuple" | "dict" => {
                let Some(sub) = subtype else {
                    let example = if s == "dict" {
                        "\"subtype\": \"int:string\" (key:value)"
                    } else {
                        "\"subtype\": \"int\" (the element type)"
                    };
                    self.err(
                        ErrorKind::MissingKey,
                        &ty_path,
                        ty.span,
                        format!("{s} needs a subtype"),
                        Some(format!("add {example}")),
                    );
                    return None;
                };
                let text = self.string(&sub.value, &sub_path, "a string (the element type)")?;
                if s == "dict" {
                    self.dict(&sub.value, text, &sub_path, table)
                } else {
                    let elem = self.element(&sub.value, text, 0, &sub_path, table, s)?;
                    Some(if s == "list" {
                        Type::List(Box::new(elem))
                    } else {
                        Type::Tuple(Box::new(elem))
                    })
                }
            }
            _ => {
                let t = self.named_type(s, ty.span, &ty_path, table, "type")?;
                if let Some(sub) = subtype {
                    self.err(
                        ErrorKind::NotApplicable,
                        &sub_path,
                        sub.key_span,
                        format!("subtype applies only to list, tuple and dict, not to {s}"),
                        Some("remove \"subtype\", or change the type".to_owned()),
                    );
                }
                Some(t)
            }
        }
    }

    /// A scalar or proto name (no containers).
    fn named_type(
        &mut self,
        s: &str,
        span: Span,
        path: &str,
        table: &ProtoTable,
        what: &str,
    ) -> Option<Type> {
        if let Some((_, t)) = SCALARS.iter().find(|(n, _)| *n == s) {
            return Some(t.clone());
        }
        if let Some(id) = table.find(s) {
            return Some(Type::Proto(id));
        }
        if !table.complete {
            return None;
        }
        let alias = TYPE_ALIASES.iter().find(|(a, _)| a.eq_ignore_ascii_case(s)).map(|(_, t)| *t);
        let mut candidates: Vec<&str> = SCALARS.iter().map(|(n, _)| *n).collect();
        candidates.extend(CONTAINERS);
        candidates.extend(table.names.iter().map(String::as_str));
        let help = match alias.or_else(|| names::did_you_mean(s, candidates.iter().copied())) {
            Some(g) => format!("did you mean \"{g}\"?"),
            None => format!(
                "a {what} is string, bool, int, float, bin, list, tuple, dict or a proto name ({})",
                table.listing()
            ),
        };
        self.err(ErrorKind::UnknownType, path, span, format!("unknown {what} \"{s}\""), Some(help));
        None
    }

    /// An element type inside a subtype: a scalar or a proto, not a container.
    fn element(
        &mut self,
        v: &Value,
        text: &str,
        offset: usize,
        path: &str,
        table: &ProtoTable,
        container: &str,
    ) -> Option<Type> {
        let trimmed = text.trim();
        let off = offset + (text.len() - text.trim_start().len());
        let span = self.part_span(v, off, trimmed.len());
        if CONTAINERS.contains(&trimmed) {
            self.err(
                ErrorKind::UnknownType,
                path,
                span,
                format!("a {container} cannot hold a {trimmed} directly"),
                Some(format!(
                    "define a proto with a {trimmed} field and use the proto's name here"
                )),
            );
            return None;
        }
        self.named_type(trimmed, span, path, table, "type")
    }

    fn dict(&mut self, v: &Value, text: &str, path: &str, table: &ProtoTable) -> Option<Type> {
        let Some((k, val)) = text.split_once(':') else {
            self.err(
                ErrorKind::UnknownType,
                path,
                v.span,
                format!("dict subtype must be \"key:value\", found \"{text}\""),
                Some(match text.split_once([',', '-', '=', '>', ' ', '/', ';', '|']) {
                    Some((k, v))
                        if !k.trim().is_empty() && !v.trim_start_matches(['>', ' ']).is_empty() =>
                    {
                        format!(
                            "did you mean \"{}:{}\"?",
                            k.trim(),
                            v.trim_start_matches(['>', ' ']).trim()
                        )
                    }
                    _ => format!("e.g. \"int:string\"; keys are {KEY_TYPES}"),
                }),
            );
            return None;
        };
        let kt = k.trim();
        let koff = k.len() - k.trim_start().len();
        let kspan = self.part_span(v, koff, kt.len());
        let key = match kt {
            "string" => Some(Type::String),
            "int" => Some(Type::Int),
            "bool" => Some(Type::Bool),
            "bin" => Some(Type::Bin),
            "float" => {
                self.err(
                    ErrorKind::InvalidValue,
                    path,
                    kspan,
                    "float cannot be a dict key".to_owned(),
                    Some(format!("floats have no exact equality (NaN != NaN), so maps cannot hash them; keys are {KEY_TYPES}")),
                );
                None
            }
            _ if CONTAINERS.contains(&kt) || table.find(kt).is_some() => {
                let what = if table.find(kt).is_some() {
                    format!("a proto ({kt})")
                } else {
                    format!("a {kt}")
                };
                self.err(
                    ErrorKind::InvalidValue,
                    path,
                    kspan,
                    format!("{what} cannot be a dict key"),
                    Some(format!("msgpack map keys here are scalars: {KEY_TYPES}")),
                );
                None
            }
            _ => {
                let key_types = ["string", "int", "bool", "bin"];
                let alias = TYPE_ALIASES
                    .iter()
                    .find(|(a, t)| a.eq_ignore_ascii_case(kt) && key_types.contains(t))
                    .map(|(_, t)| *t);
                let help = match alias.or_else(|| names::did_you_mean(kt, key_types)) {
                    Some(g) => format!("did you mean \"{g}\"?"),
                    None => format!("keys are {KEY_TYPES}"),
                };
                self.err(
                    ErrorKind::UnknownType,
                    path,
                    kspan,
                    format!("unknown dict key type \"{kt}\""),
                    Some(help),
                );
                None
            }
        };
        let value = self.element(v, val, k.len() + 1, path, table, "dict");
        Some(Type::Dict(Box::new(key?), Box::new(value?)))
    }

    fn rpc_client(&mut self, v: &Value) -> Option<RpcClient> {
        let obj = self.object(v, "rpc_client".to_owned(), "rpc_client", &["mode"])?;
        let mode = match obj.get("mode") {
            Some(m) => self.choice(
                &m.value,
                &obj.path("mode"),
                "mode",
                &[("sharding", ClientMode::Sharding), ("hashring", ClientMode::Hashring)],
                &[
                    ("consistent_hash", "consistent hashing is \"hashring\""),
                    ("ketama", "ketama consistent hashing is \"hashring\""),
                ],
            )?,
            None => defaults::CLIENT_MODE,
        };
        Some(RpcClient { mode })
    }

    fn rpc_server(&mut self, v: &Value, table: &ProtoTable) -> Option<RpcServer> {
        let allowed = ["ip", "port", "worker_type", "worker_sum", "coroutine_sum", "apis"];
        let obj = self.object(v, "rpc_server".to_owned(), "rpc_server", &allowed)?;

        let ip = match obj.get("ip") {
            Some(m) => self.ip(&m.value, &obj.path("ip")),
            None => defaults::RPC_IP.parse().ok(),
        };
        let port =
            self.required(&obj, "port", "the TCP port to listen on, 1 to 65535").and_then(|m| {
                self.integer(
                    &m.value,
                    &obj.path("port"),
                    "port",
                    1..=65535,
                    Some("port 0 would let the OS pick a port that clients cannot know"),
                )
            });
        let worker_type = match obj.get("worker_type") {
            Some(m) => self.choice(
                &m.value,
                &obj.path("worker_type"),
                "worker_type",
                &[
                    ("thread", WorkerType::Thread),
                    ("coroutine", WorkerType::Coroutine),
                    ("process", WorkerType::Process),
                    ("process_coroutine", WorkerType::ProcessCoroutine),
                ],
                &[
                    ("async", "async handlers are \"coroutine\""),
                    ("gevent", "gevent's green threads are \"coroutine\""),
                ],
            ),
            None => Some(defaults::RPC_WORKER_TYPE),
        };
        let worker_sum = self.worker_sum(&obj, defaults::RPC_WORKER_SUM);
        let coroutine_sum = self.coroutine_sum(
            &obj,
            worker_type.map(|w| (w.uses_coroutines(), w.as_str())),
            "coroutine or process_coroutine",
        );

        let apis = match obj.get("apis") {
            Some(m) => self.apis(&m.value, table),
            None => Some(Vec::new()),
        };
        Some(RpcServer {
            ip: ip?,
            port: u16::try_from(port?).ok()?,
            worker_type: worker_type?,
            worker_sum: worker_sum?,
            coroutine_sum: coroutine_sum?,
            apis: apis?,
        })
    }

    fn ip(&mut self, v: &Value, path: &str) -> Option<IpAddr> {
        let s = self.string(v, path, "a string (an IP address)")?;
        if let Ok(ip) = s.parse() {
            return Some(ip);
        }
        let help = if s == "localhost" {
            "write \"127.0.0.1\" for localhost".to_owned()
        } else if s == "*" || s.is_empty() {
            "write \"0.0.0.0\" to listen on every IPv4 address, \"::\" for IPv6 too".to_owned()
        } else {
            "write an IPv4 or IPv6 address, e.g. \"0.0.0.0\" (every address) or \"127.0.0.1\""
                .to_owned()
        };
        self.err(
            ErrorKind::InvalidValue,
            path,
            v.span,
            format!("\"{s}\" is not an IP address"),
            Some(help),
        );
        None
    }

    fn worker_sum(&mut self, obj: &Obj<'_>, default: u32) -> Option<u32> {
        match obj.get("worker_sum") {
            Some(m) => {
                let n = self.integer(
                    &m.value,
                    &obj.path("worker_sum"),
                    "worker_sum",
                    1..=i64::from(defaults::MAX_WORKER_SUM),
                    Some(
                        "at least one worker is needed; remove the section (or group) to have none",
                    ),
                )?;
                u32::try_from(n).ok()
            }
            None => Some(default),
        }
    }

    /// `coroutine_sum`: `Some(Some(n))` where coroutines apply, `Some(None)` where they do not
    /// (and the key is absent). `applies` is `None` when the worker type itself was invalid.
    fn coroutine_sum(
        &mut self,
        obj: &Obj<'_>,
        applies: Option<(bool, &str)>,
        where_: &str,
    ) -> Option<Option<u32>> {
        let path = obj.path("coroutine_sum");
        let given = match obj.get("coroutine_sum") {
            Some(m) => {
                let n = self.integer(
                    &m.value,
                    &path,
                    "coroutine_sum",
                    1..=i64::from(defaults::MAX_COROUTINE_SUM),
                    None,
                );
                if let Some((false, worker_type)) = applies {
                    self.err(
                        ErrorKind::NotApplicable,
                        &path,
                        m.key_span,
                        format!("coroutine_sum applies only to {where_} workers, and worker_type is {worker_type}"),
                        Some(format!("remove coroutine_sum, or set worker_type to {where_}")),
                    );
                    return None;
                }
                Some(u32::try_from(n?).ok()?)
            }
            None => None,
        };
        match applies {
            Some((true, _)) => Some(Some(given.unwrap_or(defaults::COROUTINE_SUM))),
            Some((false, _)) => Some(None),
            None => None,
        }
    }

    fn apis(&mut self, v: &Value, table: &ProtoTable) -> Option<Vec<Api>> {
        let Kind::Array(items) = &v.kind else {
            self.wrong_type(v, "rpc_server.apis", "an array of APIs");
            return None;
        };
        let mut seen = Unique::new("API name", NameUse::Value);
        let mut apis = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.api(item, &index_path("rpc_server.apis", i), table, &mut seen) {
                Some(api) => apis.push(api),
                None => ok = false,
            }
        }
        ok.then_some(apis)
    }

    fn api(&mut self, v: &Value, path: &str, table: &ProtoTable, seen: &mut Unique) -> Option<Api> {
        let allowed = ["name", "req_proto", "res_proto", "args", "ret"];
        let obj = self.object(v, path.to_owned(), "an API", &allowed)?;
        let name = self
            .required(&obj, "name", "the API's method name")
            .and_then(|m| self.name(&m.value, &obj.path("name"), "API name", NameUse::Value));
        if let Some(name) = &name {
            self.unique(seen, name, &obj.path("name"));
        }

        let req = obj.get("req_proto");
        let args = obj.get("args");
        let params = match (req, args) {
            (Some(_), Some(a)) => {
                self.err(
                    ErrorKind::NotApplicable,
                    &obj.path("args"),
                    a.key_span,
                    "an API takes either req_proto (one proto) or args (a list of arguments), not both".to_owned(),
                    Some("remove one of them".to_owned()),
                );
                None
            }
            (Some(r), None) => self
                .proto_ref(&r.value, &obj.path("req_proto"), table, "req_proto")
                .map(Params::Proto),
            (None, Some(a)) => self.args(&a.value, &obj.path("args"), table),
            (None, None) => Some(Params::None),
        };

        let res = obj.get("res_proto");
        let ret = obj.get("ret");
        let returns = match (res, ret) {
            (Some(_), Some(r)) => {
                self.err(
                    ErrorKind::NotApplicable,
                    &obj.path("ret"),
                    r.key_span,
                    "an API returns either res_proto or ret, not both".to_owned(),
                    Some("remove one of them".to_owned()),
                );
                None
            }
            (Some(r), None) => self
                .proto_ref(&r.value, &obj.path("res_proto"), table, "res_proto")
                .map(|id| Returns::Value(Type::Proto(id))),
            (None, Some(r)) => self.ret(&r.value, &obj.path("ret"), table),
            (None, None) => Some(Returns::Nothing),
        };
        Some(Api { name: name?, params: params?, returns: returns?, span: obj.span })
    }

    fn proto_ref(
        &mut self,
        v: &Value,
        path: &str,
        table: &ProtoTable,
        key: &str,
    ) -> Option<ProtoId> {
        let s = self.string(v, path, "a string (a proto name)")?;
        if let Some(id) = table.find(s) {
            return Some(id);
        }
        if SCALARS.iter().any(|(n, _)| *n == s) || CONTAINERS.contains(&s) {
            let help = if key == "req_proto" {
                format!(
                    "to take {} {s}, use \"args\": [{{\"name\": \"value\", \"type\": \"{s}\"}}]",
                    article(s)
                )
            } else {
                format!("to return {} {s}, use \"ret\": \"{s}\"", article(s))
            };
            self.err(
                ErrorKind::InvalidValue,
                path,
                v.span,
                format!("{key} names a proto, and \"{s}\" is a built-in type"),
                Some(help),
            );
            return None;
        }
        if !table.complete {
            return None;
        }
        let help = match names::did_you_mean(s, table.names.iter().map(String::as_str)) {
            Some(g) => format!("did you mean \"{g}\"?"),
            None => table.listing(),
        };
        self.err(
            ErrorKind::UnknownType,
            path,
            v.span,
            format!("unknown proto \"{s}\""),
            Some(help),
        );
        None
    }

    fn args(&mut self, v: &Value, path: &str, table: &ProtoTable) -> Option<Params> {
        let Kind::Array(items) = &v.kind else {
            self.wrong_type(v, path, "an array of arguments: [{\"name\", \"type\"}]");
            return None;
        };
        let mut seen = Unique::new("argument name", NameUse::Value);
        let mut args = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.field(item, &index_path(path, i), table, &mut seen) {
                Some(f) => args.push(f),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        Some(if args.is_empty() { Params::None } else { Params::Args(args) })
    }

    fn ret(&mut self, v: &Value, path: &str, table: &ProtoTable) -> Option<Returns> {
        match &v.kind {
            Kind::Bool(true) => Some(Returns::Value(Type::Dynamic)),
            Kind::Bool(false) => Some(Returns::Nothing),
            Kind::String(s) if CONTAINERS.contains(&s.as_str()) => {
                self.err(
                    ErrorKind::InvalidValue,
                    path,
                    v.span,
                    format!("ret cannot name a {s}: it has no subtype here"),
                    Some(format!("return a proto that holds the {s} (\"ret\": \"<proto>\" or res_proto), or \"ret\": true for any value")),
                );
                None
            }
            Kind::String(s) => {
                self.named_type(s, v.span, path, table, "ret type").map(Returns::Value)
            }
            _ => {
                self.wrong_type(v, path, "true, false or a type name");
                None
            }
        }
    }

    fn self_server(&mut self, v: &Value) -> Option<SelfServer> {
        let allowed = ["dispatch_type", "worker_type", "worker_sum", "coroutine_sum", "groups"];
        let obj = self.object(v, "self_server".to_owned(), "self_server", &allowed)?;
        let dispatch_member = self.required(&obj, "dispatch_type", "\"simple\" or \"custom\"");
        let dispatch = dispatch_member.and_then(|m| {
            self.choice(
                &m.value,
                &obj.path("dispatch_type"),
                "dispatch_type",
                &[("simple", DispatchType::Simple), ("custom", DispatchType::Custom)],
                &[("groups", "named groups are \"custom\"")],
            )
        });
        let worker_type = match obj.get("worker_type") {
            Some(m) => self.choice(
                &m.value,
                &obj.path("worker_type"),
                "worker_type",
                &[
                    ("thread", SelfWorkerType::Thread),
                    ("process", SelfWorkerType::Process),
                    ("process_coroutine", SelfWorkerType::ProcessCoroutine),
                ],
                &[("coroutine", "self_server workers cannot be plain coroutines: use \"process_coroutine\" (processes running coroutines) or \"thread\"")],
            ),
            None => Some(defaults::SELF_WORKER_TYPE),
        };
        let applies = worker_type.map(|w| (w.uses_coroutines(), w.as_str()));

        let groups = match dispatch {
            Some(DispatchType::Simple) => {
                if let Some(g) = obj.get("groups") {
                    self.err(
                        ErrorKind::NotApplicable,
                        &obj.path("groups"),
                        g.key_span,
                        "groups apply only to dispatch_type \"custom\"".to_owned(),
                        Some("set \"dispatch_type\": \"custom\", or remove groups and use worker_sum".to_owned()),
                    );
                }
                let worker_sum = self.worker_sum(&obj, defaults::SELF_WORKER_SUM);
                let coroutine_sum = self.coroutine_sum(&obj, applies, "process_coroutine");
                let span = dispatch_member.map_or(obj.span, |m| m.value.span);
                Some(vec![Group {
                    name: Name::new(defaults::SIMPLE_GROUP_NAME, span),
                    worker_sum: worker_sum?,
                    coroutine_sum: coroutine_sum?,
                }])
            }
            Some(DispatchType::Custom) => {
                for key in ["worker_sum", "coroutine_sum"] {
                    if let Some(m) = obj.get(key) {
                        self.err(
                            ErrorKind::NotApplicable,
                            &obj.path(key),
                            m.key_span,
                            format!("with dispatch_type \"custom\", {key} is set per group"),
                            Some(format!("move {key} into each of groups[]")),
                        );
                    }
                }
                match self.required(&obj, "groups", "the worker groups of custom dispatch") {
                    Some(m) => self.groups(&m.value, applies),
                    None => None,
                }
            }
            None => {
                // Still check the groups for their own mistakes.
                if let Some(m) = obj.get("groups") {
                    self.groups(&m.value, applies);
                }
                None
            }
        };
        Some(SelfServer {
            dispatch_type: dispatch?,
            worker_type: worker_type?,
            groups: groups?,
            span: obj.span,
        })
    }

    fn groups(&mut self, v: &Value, applies: Option<(bool, &str)>) -> Option<Vec<Group>> {
        let path = "self_server.groups";
        let Kind::Array(items) = &v.kind else {
            self.wrong_type(v, path, "an array of groups: [{\"group_name\", \"worker_sum\"}]");
            return None;
        };
        if items.is_empty() {
            self.err(
                ErrorKind::InvalidValue,
                path,
                v.span,
                "custom dispatch needs at least one group".to_owned(),
                Some("add {\"group_name\": \"...\", \"worker_sum\": 1}, or use \"dispatch_type\": \"simple\"".to_owned()),
            );
            return None;
        }
        let mut seen = Unique::new("group name", NameUse::Value);
        let mut groups = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let path = index_path(path, i);
            let Some(obj) =
                self.object(item, path, "a group", &["group_name", "worker_sum", "coroutine_sum"])
            else {
                ok = false;
                continue;
            };
            let name = self.required(&obj, "group_name", "the group's name").and_then(|m| {
                self.name(&m.value, &obj.path("group_name"), "group name", NameUse::Value)
            });
            if let Some(name) = &name {
                self.unique(&mut seen, name, &obj.path("group_name"));
            }
            let worker_sum = self.worker_sum(&obj, defaults::SELF_WORKER_SUM);
            let coroutine_sum = self.coroutine_sum(&obj, applies, "process_coroutine");
            match (name, worker_sum, coroutine_sum) {
                (Some(name), Some(worker_sum), Some(coroutine_sum)) => {
                    groups.push(Group { name, worker_sum, coroutine_sum })
                }
                _ => ok = false,
            }
        }
        ok.then_some(groups)
    }
}

/// A field that holds another proto directly.
#[derive(Clone, Copy)]
struct Edge {
    /// Index in the lowered `Proto::fields`.
    field: usize,
    /// Index in the JSON `fields` array (for the path).
    json_index: usize,
    to: ProtoId,
}

fn quoted_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("\"{s}\"")).collect();
    match quoted.split_last() {
        Some((last, [only])) => format!("{only} or {last}"),
        Some((last, rest)) if !rest.is_empty() => format!("{}, or {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}
