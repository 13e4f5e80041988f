//! Black-box tests of svrkit-idl: the seed samples parse into the expected model, every
//! broken IDL in `tests/broken/` gives exactly its snapshot message, and all mistakes are
//! reported together.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use expect_test::{expect, expect_file, Expect};
use svrkit_idl::{
    ClientMode, DispatchType, ErrorKind, Idl, Params, Returns, SelfWorkerType, Type, WorkerType,
};

fn data(name: &str) -> Idl {
    let path = Path::new("tests/data").join(name);
    match svrkit_idl::parse_file(&path) {
        Ok(idl) => idl,
        Err(e) => panic!("{} should parse:\n{e}", path.display()),
    }
}

/// The whole model in a compact text form, so a snapshot shows every resolved value.
fn describe(idl: &Idl) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "app {} (pid {})", idl.app, idl.pid_file());
    for (id, p) in idl.protos_with_ids() {
        let _ = write!(out, "proto#{} {} {{", id.index(), p.name);
        for f in &p.fields {
            let raw = if f.name.is_rust_keyword() { " (keyword)" } else { "" };
            let _ = write!(out, " {}{raw}: {};", f.name, idl.type_name(&f.ty));
        }
        out.push_str(" }\n");
    }
    let _ = writeln!(out, "client mode={}", idl.rpc_client.mode.as_str());
    let s = &idl.rpc_server;
    let _ = writeln!(
        out,
        "server {}:{} {} x{} coroutines={:?}",
        s.ip,
        s.port,
        s.worker_type.as_str(),
        s.worker_sum,
        s.coroutine_sum
    );
    for api in &s.apis {
        let params = match &api.params {
            Params::None => "()".to_owned(),
            Params::Proto(id) => format!("(req: {})", idl.proto(*id).name),
            Params::Args(args) => {
                let a: Vec<String> =
                    args.iter().map(|f| format!("{}: {}", f.name, idl.type_name(&f.ty))).collect();
                format!("({})", a.join(", "))
            }
            other => format!("{other:?}"),
        };
        let returns = match &api.returns {
            Returns::Nothing => "nothing".to_owned(),
            Returns::Value(t) => idl.type_name(t),
            other => format!("{other:?}"),
        };
        let _ = writeln!(out, "api {}{params} -> {returns}", api.name);
    }
    match &idl.self_server {
        None => out.push_str("no self_server\n"),
        Some(ss) => {
            let _ = writeln!(
                out,
                "self_server {} {}",
                ss.dispatch_type.as_str(),
                ss.worker_type.as_str()
            );
            for g in &ss.groups {
                let _ = writeln!(
                    out,
                    "  group {} x{} coroutines={:?}",
                    g.name, g.worker_sum, g.coroutine_sum
                );
            }
        }
    }
    out
}

fn check_sample(name: &str, expect: Expect) {
    expect.assert_eq(&describe(&data(name)));
}

#[test]
fn seed_000_echo_has_all_four_api_shapes() {
    let idl = data("echo.json");
    check_sample(
        "echo.json",
        expect![[r#"
            app echo (pid /tmp/echo.pid)
            proto#0 echomsg { my_string: string; vec_int: list<int>; dict_string: dict<int:string>; }
            client mode=sharding
            server 0.0.0.0:3000 thread x4 coroutines=None
            api echo1(req: echomsg) -> echomsg
            api echo2() -> echomsg
            api echo3() -> nothing
            api echo4(req: echomsg) -> nothing
            self_server custom thread
              group event x2 coroutines=None
              group value x2 coroutines=None
        "#]],
    );
    // The same facts through the typed model, as codegen reads them.
    let (msg, proto) = idl.proto_by_name("echomsg").unwrap();
    assert_eq!(proto.fields[1].ty, Type::List(Box::new(Type::Int)));
    assert_eq!(proto.fields[2].ty, Type::Dict(Box::new(Type::Int), Box::new(Type::String)));
    let shapes: Vec<(&Params, &Returns)> =
        idl.rpc_server.apis.iter().map(|a| (&a.params, &a.returns)).collect();
    assert_eq!(
        shapes,
        [
            (&Params::Proto(msg), &Returns::Value(Type::Proto(msg))),
            (&Params::None, &Returns::Value(Type::Proto(msg))),
            (&Params::None, &Returns::Nothing),
            (&Params::Proto(msg), &Returns::Nothing),
        ]
    );
    assert_eq!(idl.rpc_client.mode, ClientMode::Sharding);
    assert_eq!(idl.rpc_server.worker_type, WorkerType::Thread);
    let ss = idl.self_server.as_ref().unwrap();
    assert_eq!((ss.dispatch_type, ss.worker_type), (DispatchType::Custom, SelfWorkerType::Thread));
    // Spans point into the file: echo1's name is on line 29.
    let text = std::fs::read_to_string("tests/data/echo.json").unwrap();
    let span = idl.api("echo1").unwrap().name.span();
    assert_eq!(&text[span.start..span.end], "\"echo1\"");
}

#[test]
fn seed_001_svr_with_args_and_ret_true() {
    let idl = data("svr.json");
    check_sample(
        "svr.json",
        expect![[r#"
            app echo (pid /tmp/echo.pid)
            proto#0 echomsg { value: string; }
            client mode=hashring
            server 0.0.0.0:3000 thread x4 coroutines=None
            api echo(msg: echomsg) -> dynamic
            self_server custom process_coroutine
              group event x2 coroutines=Some(3)
              group value x2 coroutines=Some(3)
        "#]],
    );
    assert_eq!(idl.rpc_server.apis[0].returns, Returns::Value(Type::Dynamic));
}

#[test]
fn seed_001_self_server_variants() {
    check_sample(
        "self_simple_thread.json",
        expect![[r#"
            app echo (pid /tmp/echo.pid)
            proto#0 echomsg { value: string; }
            client mode=hashring
            server 0.0.0.0:3000 thread x4 coroutines=None
            api echo(msg: echomsg) -> dynamic
            self_server simple thread
              group default x4 coroutines=None
        "#]],
    );
    check_sample(
        "self_simple_process_coroutine.json",
        expect![[r#"
            app echo (pid /tmp/echo.pid)
            proto#0 echomsg { value: string; }
            client mode=hashring
            server 0.0.0.0:3000 thread x4 coroutines=None
            api echo(msg: echomsg) -> dynamic
            self_server simple process_coroutine
              group default x2 coroutines=Some(100)
        "#]],
    );
    check_sample(
        "self_custom_process.json",
        expect![[r#"
            app echo (pid /tmp/echo.pid)
            proto#0 echomsg { value: string; }
            client mode=hashring
            server 0.0.0.0:3000 thread x4 coroutines=None
            api echo(msg: echomsg) -> dynamic
            self_server custom process
              group event x2 coroutines=None
              group value x2 coroutines=None
        "#]],
    );
    check_sample(
        "self_custom_process_coroutine.json",
        expect![[r#"
            app echo (pid /tmp/echo.pid)
            proto#0 echomsg { value: string; }
            client mode=hashring
            server 0.0.0.0:3000 thread x4 coroutines=None
            api echo(msg: echomsg) -> dynamic
            self_server custom process_coroutine
              group event x2 coroutines=Some(100)
              group value x2 coroutines=Some(100)
        "#]],
    );
}

#[test]
fn mixed_dialects_nested_protos_and_defaults() {
    let idl = data("mixed.json");
    check_sample(
        "mixed.json",
        expect![[r#"
            app kv_store (pid /tmp/kv_store.pid)
            proto#0 tree { label: string; children: list<tree>; by_name: dict<string:tree>; meta: entry; }
            proto#1 entry { type (keyword): int; flag: bool; score: float; blob: bin; pair: tuple<float>; flags: dict<bool:bin>; raw: dict<bin:int>; }
            proto#2 empty { }
            client mode=sharding
            server ::1:65535 process_coroutine x2 coroutines=Some(100)
            api get(key: string, ids: list<int>) -> entry
            api put(req: entry) -> nothing
            api count() -> int
            api dump() -> dynamic
            api walk(req: tree) -> tree
            api fn(match: empty) -> nothing
            self_server simple thread
              group default x1 coroutines=None
        "#]],
    );
    // Recursion through list and dict is fine; a proto may be used before it is defined.
    let (tree, _) = idl.proto_by_name("tree").unwrap();
    let (entry, _) = idl.proto_by_name("entry").unwrap();
    assert_eq!(idl.proto(tree).fields[1].ty, Type::List(Box::new(Type::Proto(tree))));
    assert_eq!(idl.proto(tree).fields[3].ty, Type::Proto(entry));
    assert!(idl.proto(entry).fields[0].name.is_rust_keyword());
    assert_eq!(idl.api("fn").unwrap().name.snake_case(), "fn");
    // args: [] takes nothing; a ret type is the extension.
    assert_eq!(idl.api("count").unwrap().params, Params::None);
    assert_eq!(idl.api("get").unwrap().returns, Returns::Value(Type::Proto(entry)));
}

#[test]
fn defaults_fill_a_minimal_idl() {
    let idl = svrkit_idl::parse(r#"{"app": "tiny", "rpc_server": {"port": 1}}"#).unwrap();
    expect![[r#"
        app tiny (pid /tmp/tiny.pid)
        client mode=hashring
        server 0.0.0.0:1 thread x4 coroutines=None
        no self_server
    "#]]
    .assert_eq(&describe(&idl));
    let idl = svrkit_idl::parse(
        r#"{"app": "tiny", "rpc_server": {"port": 1, "worker_type": "coroutine"}}"#,
    )
    .unwrap();
    assert_eq!(idl.rpc_server.coroutine_sum, Some(svrkit_idl::defaults::COROUTINE_SUM));
}

/// Every `tests/broken/*.json` holds one mistake: exactly one diagnostic, rendered as in the
/// `.expect` file next to it (`UPDATE_EXPECT=1 cargo test -p svrkit-idl` rewrites them).
#[test]
fn broken_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "the corpus shrank to {} files", files.len());
    let mut kinds = std::collections::HashSet::new();
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap();
        let relative = Path::new("tests/broken").join(name);
        let err = match svrkit_idl::parse_file(&relative) {
            Ok(_) => panic!("{name} parsed, but it holds a mistake"),
            Err(svrkit_idl::Error::Invalid(d)) => d,
            Err(e) => panic!("{name}: {e}"),
        };
        assert_eq!(err.len(), 1, "{name} should give one diagnostic:\n{err}");
        kinds.insert(err.items()[0].kind);
        expect_file![file.with_extension("expect")].assert_eq(&format!("{err}\n"));
    }
    for kind in [
        ErrorKind::Syntax,
        ErrorKind::UnknownKey,
        ErrorKind::MissingKey,
        ErrorKind::WrongType,
        ErrorKind::InvalidValue,
        ErrorKind::UnknownType,
        ErrorKind::Duplicate,
        ErrorKind::InvalidName,
        ErrorKind::Recursion,
        ErrorKind::NotApplicable,
    ] {
        assert!(kinds.contains(&kind), "no broken IDL covers {kind:?}");
    }
}

#[test]
fn every_mistake_is_reported_not_just_the_first() {
    let src = r#"{
    "app": "echo",
    "protos": [{"name": "echomsg", "fields": [{"name": "value", "type": "strng"}]}],
    "rpc_server": {
        "port": 3000,
        "worker_summ": 4,
        "apis": [{"name": "echo", "req_proto": "echomsgg"}]
    }
}"#;
    let err = svrkit_idl::parse(src).unwrap_err();
    assert_eq!(err.len(), 3, "{err}");
    let kinds: Vec<ErrorKind> = err.items().iter().map(|d| d.kind).collect();
    assert_eq!(kinds, [ErrorKind::UnknownType, ErrorKind::UnknownKey, ErrorKind::UnknownType]);
    expect![[r#"
        <idl>:3:73: error: protos[0].fields[0].type: unknown type "strng"
          |
        3 |     "protos": [{"name": "echomsg", "fields": [{"name": "value", "type": "strng"}]}],
          |                                                                         ^^^^^^^
          = help: did you mean "string"?

        <idl>:6:9: error: rpc_server.worker_summ: unknown key "worker_summ" in rpc_server
          |
        6 |         "worker_summ": 4,
          |         ^^^^^^^^^^^^^
          = help: did you mean "worker_sum"?

        <idl>:7:48: error: rpc_server.apis[0].req_proto: unknown proto "echomsgg"
          |
        7 |         "apis": [{"name": "echo", "req_proto": "echomsgg"}]
          |                                                ^^^^^^^^^^
          = help: did you mean "echomsg"?

        3 errors in the IDL"#]]
    .assert_eq(&err.to_string());
}

#[test]
fn syntax_slips_do_not_hide_later_mistakes() {
    let src = "{\"app\": \"echo\",\n \"rpc_server\": {\"port\": 3000, \"apis\": [],},\n \"rpc_client\": {\"mode\": \"ring\"}}";
    let err = svrkit_idl::parse(src).unwrap_err();
    let lines: Vec<String> = err.items().iter().map(ToString::to_string).collect();
    expect![[r#"
        [
            "rpc_server (line 2:41): trailing comma is not allowed in JSON; remove this comma",
            "rpc_client.mode (line 3:25): unknown mode \"ring\"; mode is one of \"sharding\" or \"hashring\"",
        ]
    "#]]
    .assert_debug_eq(&lines);
}

#[test]
fn file_errors_name_the_file() {
    let missing = svrkit_idl::parse_file("tests/data/no_such_file.json").unwrap_err();
    assert!(matches!(missing, svrkit_idl::Error::Read { .. }));
    assert_eq!(missing.to_string(), "cannot read IDL file tests/data/no_such_file.json");

    let dir = std::env::temp_dir().join(format!("svrkit-idl-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("latin1.json");
    std::fs::write(&path, b"{\"app\": \"caf\xe9\"}").unwrap();
    let err = svrkit_idl::parse_file(&path).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(err, svrkit_idl::Error::NotUtf8 { offset: 12, .. }), "{err:?}");
}

/// What must hold for any input: no panic; on success every proto id resolves; on failure
/// at least one diagnostic, each inside the text, on a char boundary, and renderable.
fn check_invariants(text: &str) {
    match svrkit_idl::parse(text) {
        Ok(idl) => {
            for p in &idl.protos {
                for f in &p.fields {
                    let _ = idl.type_name(&f.ty);
                }
            }
            for api in &idl.rpc_server.apis {
                if let Params::Proto(id) = &api.params {
                    let _ = idl.proto(*id);
                }
                if let Returns::Value(t) = &api.returns {
                    let _ = idl.type_name(t);
                }
            }
        }
        Err(d) => {
            assert!(!d.is_empty());
            for item in d.items() {
                assert!(
                    item.span.start <= item.span.end && item.span.end <= text.len(),
                    "{item:?}"
                );
                assert!(
                    text.is_char_boundary(item.span.start) && text.is_char_boundary(item.span.end)
                );
                assert!(item.line >= 1 && item.column >= 1);
            }
            assert!(!d.to_string().is_empty());
        }
    }
}

/// A bounded, deterministic cousin of the fuzz target: every truncation of the samples and
/// every single-character deletion parses without panicking and keeps the invariants.
#[test]
fn mangled_samples_never_panic() {
    for name in ["echo.json", "svr.json", "mixed.json"] {
        let text = std::fs::read_to_string(Path::new("tests/data").join(name)).unwrap();
        let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        for &i in &boundaries {
            check_invariants(&text[..i]);
            let next = text[i..].chars().next().map_or(0, char::len_utf8);
            let deleted = format!("{}{}", &text[..i], &text[i + next..]);
            check_invariants(&deleted);
        }
    }
}

/// A long chain of protos closing on itself: one diagnostic naming the whole cycle, no stack
/// overflow (the walk is iterative; test threads have small stacks).
#[test]
fn long_recursive_chain_is_one_diagnostic() {
    let n = 20_000;
    let protos: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"name": "p{i}", "fields": [{{"name": "next", "type": "p{}"}}]}}"#,
                (i + 1) % n
            )
        })
        .collect();
    let src = format!(
        r#"{{"app": "x", "protos": [{}], "rpc_server": {{"port": 1}}}}"#,
        protos.join(",\n")
    );
    let err = svrkit_idl::parse(&src).unwrap_err();
    assert_eq!(err.len(), 1);
    let d = &err.items()[0];
    assert_eq!(d.kind, ErrorKind::Recursion);
    assert_eq!(d.path, format!("protos[{}].fields[0].type", n - 1));
    assert!(
        d.message.starts_with(r#"proto "p0" contains itself: p0.next -> p1.next -> "#),
        "{}",
        d.message
    );
    assert!(d.message.ends_with(&format!("p{}.next -> p0", n - 1)));
    check_invariants(&src);
}
