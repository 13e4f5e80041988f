//! `cargo svrkit` end to end: scaffold each seed IDL into a temporary folder, build it, run
//! its generated tests, regenerate after IDL changes and prove user code survives, and
//! drive a live server with `cargo svrkit call` and the binary's `stop` / `status`.
//!
//! The scaffolded crates are standalone workspaces that depend on this checkout's facade by
//! path; they share one target directory (`<target>/e2e-scaffold`) and this workspace's
//! Cargo.lock, so dependencies compile once and nothing is fetched.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// The workspace's target directory (where `cargo test` built this test).
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => repo().join("target"),
    }
}

/// Build cargo-svrkit once and return its path.
fn cargo_svrkit() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let out = Command::new(cargo())
            .current_dir(repo())
            .args(["build", "--quiet", "-p", "cargo-svrkit"])
            .output()
            .expect("run cargo build");
        assert!(out.status.success(), "building cargo-svrkit failed:\n{}", text(&out));
        target_dir().join("debug").join("cargo-svrkit")
    })
    .clone()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("svrkit-e2e-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed and reaped on drop.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `cargo svrkit <args>` in `dir`; returns its output, asserting success.
fn svrkit(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(cargo_svrkit())
        .current_dir(dir)
        .arg("svrkit")
        .args(args)
        .output()
        .expect("run cargo-svrkit");
    assert!(out.status.success(), "cargo svrkit {args:?} failed:\n{}", text(&out));
    text(&out)
}

/// `cargo <args>` in the scaffolded crate `dir`, with the shared target dir.
fn cargo_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(cargo())
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir().join("e2e-scaffold"))
        .args(args)
        .output()
        .expect("run cargo")
}

/// Scaffold `idl` as package `name` under `parent`; returns the crate dir.
fn scaffold(parent: &Path, name: &str, idl: &str) -> PathBuf {
    let idl = repo().join("cargo-svrkit/idl").join(idl);
    let facade = repo().join("crates/svrkit");
    svrkit(
        parent,
        &["new", name, "--idl", idl.to_str().unwrap(), "--svrkit-path", facade.to_str().unwrap()],
    );
    let dir = parent.join(name);
    // The checkout's lock file: same versions as the workspace, nothing to resolve or fetch.
    std::fs::copy(repo().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    dir
}

fn assert_tests_pass(dir: &Path) -> String {
    let out = cargo_in(dir, &["test", "--quiet"]);
    let all = text(&out);
    assert!(out.status.success(), "cargo test in {} failed:\n{all}", dir.display());
    assert!(all.contains("test result: ok"), "{all}");
    all
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn scaffolded_seed_services_build_and_pass_their_generated_tests() {
    let tmp = TempDir::new("scaffold-seeds");
    for (name, idl) in [("pysvrkit-echo", "svr.json"), ("compute", "compute.json")] {
        let dir = scaffold(&tmp.0, name, idl);
        let out = assert_tests_pass(&dir);
        // The generated tests ran: every API through both clients, notifications, errors.
        assert!(out.contains("test result: ok. 4 passed"), "{name}:\n{out}");
    }
}

#[test]
fn echo_regenerates_after_idl_changes_and_keeps_user_code() {
    let tmp = TempDir::new("scaffold-echo");
    let dir = scaffold(&tmp.0, "echo", "echo.json");
    assert_tests_pass(&dir);

    // Regenerating an unchanged IDL writes nothing.
    let again = svrkit(&dir, &["gen"]);
    assert!(!again.contains("created") && !again.contains("updated"), "{again}");

    // The user changes a handler.
    let handlers = dir.join("src/handlers.rs");
    let user_code = std::fs::read_to_string(&handlers).unwrap().replace(
        "async fn echo2(&self) -> Result<Echomsg, RpcError> {\n        Ok(Default::default())",
        "async fn echo2(&self) -> Result<Echomsg, RpcError> {\n        \
         // user code: survives regeneration\n        \
         Ok(Echomsg { my_string: \"from the user\".to_string(), ..Default::default() })",
    );
    assert!(user_code.contains("survives regeneration"), "the stub changed shape");
    std::fs::write(&handlers, &user_code).unwrap();

    // The IDL gains a field and an API.
    let idl_path = dir.join("echo.json");
    let idl = std::fs::read_to_string(&idl_path).unwrap();
    let idl = idl
        .replace(
            "\"subtype\": \"int:string\"\n\t\t}]",
            "\"subtype\": \"int:string\"\n\t\t},{\n\t\t\t\"name\": \"extra\",\n\t\t\t\"type\": \"int\"\n\t\t}]",
        )
        .replace(
            "\"name\": \"echo4\",\n\t\t\t\"req_proto\": \"echomsg\"\n\t\t}]",
            "\"name\": \"echo4\",\n\t\t\t\"req_proto\": \"echomsg\"\n\t\t},{\n\t\t\t\"name\": \"echo5\",\n\t\t\t\"args\": [{\"name\": \"n\", \"type\": \"int\"}],\n\t\t\t\"ret\": \"int\"\n\t\t}]",
        );
    assert!(idl.contains("extra") && idl.contains("echo5"), "the sample IDL changed shape");
    std::fs::write(&idl_path, idl).unwrap();

    // gen names the missing handler with its exact code and keeps the user's file.
    let gen = svrkit(&dir, &["gen"]);
    assert!(gen.contains("updated src/generated/protos.rs"), "{gen}");
    assert!(gen.contains("kept src/handlers.rs (yours)"), "{gen}");
    assert!(gen.contains("add inside `impl EchoService for Handlers`"), "{gen}");
    assert!(gen.contains("async fn echo5(&self, n: i64) -> Result<i64, RpcError> {"), "{gen}");
    assert_eq!(std::fs::read_to_string(&handlers).unwrap(), user_code);

    // Until the user adds it, the compiler names it too.
    let build = cargo_in(&dir, &["build", "--quiet"]);
    let errors = text(&build);
    assert!(!build.status.success(), "built without echo5:\n{errors}");
    assert!(errors.contains("not all trait items implemented, missing: `echo5`"), "{errors}");

    // The user pastes the printed method; everything builds and the tests pass.
    let stub =
        "    async fn echo5(&self, n: i64) -> Result<i64, RpcError> {\n        Ok(n)\n    }\n";
    let with_echo5 = match user_code.rfind('}') {
        Some(end) => format!("{}\n{stub}}}\n", user_code[..end].trim_end()),
        None => panic!("handlers.rs has no closing brace"),
    };
    std::fs::write(&handlers, with_echo5).unwrap();
    let out = assert_tests_pass(&dir);
    assert!(out.contains("test result: ok. 4 passed"), "{out}");
    let protos = std::fs::read_to_string(dir.join("src/generated/protos.rs")).unwrap();
    assert!(protos.contains("pub extra: i64,"), "{protos}");
    assert!(std::fs::read_to_string(&handlers).unwrap().contains("survives regeneration"));

    // A live server: call every API with `cargo svrkit call`, then stop it via its pid file.
    let port = free_port();
    let conf = dir.join("e2e_svr.conf");
    let pid = tmp.0.join("echo-e2e.pid");
    std::fs::write(
        &conf,
        format!(
            "[app]\nname=echo\npid={}\n\n[rpc_server]\nip=127.0.0.1\nport={port}\nworker_type=thread\nworker_sum=2\n\n\
             [self_server]\ndispatch_type=custom\nworker_type=thread\ngroup_sum=2\n\n\
             [self_group0]\ngroup_name=event\nworker_sum=1\n\n[self_group1]\ngroup_name=value\nworker_sum=1\n",
            pid.display()
        ),
    )
    .unwrap();
    let bin = target_dir().join("e2e-scaffold/debug/echo");
    let server = ChildGuard(
        Command::new(&bin)
            .current_dir(&dir)
            .args(["-c", conf.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the echo server"),
    );
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "the server did not listen on {addr}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let call = |args: &[&str]| -> String {
        let mut all = vec!["call"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--addr", &addr]);
        svrkit(&dir, &all).split_whitespace().collect()
    };
    let echo1 = call(&["echo1", r#"{"my_string":"hi","vec_int":[1,2],"dict_string":{"1":"a"}}"#]);
    assert_eq!(echo1, r#"{"my_string":"hi","vec_int":[1,2],"dict_string":{"1":"a"},"extra":0}"#);
    assert!(call(&["echo2"]).contains(r#""my_string":"fromtheuser""#));
    assert_eq!(call(&["echo3", "{}"]), "null");
    assert_eq!(call(&["echo4", r#"{"extra": 5}"#]), "null");
    assert_eq!(call(&["echo5", r#"{"n": 41}"#]), "41");

    let status = Command::new(&bin)
        .current_dir(&dir)
        .args(["-c", conf.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    assert!(status.status.success(), "status: {}", text(&status));
    let stop = Command::new(&bin)
        .current_dir(&dir)
        .args(["-c", conf.to_str().unwrap(), "stop"])
        .output()
        .unwrap();
    assert!(stop.status.success(), "stop: {}", text(&stop));
    let mut server = server;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(code) = server.0.try_wait().unwrap() {
            assert!(code.success(), "the server exited with {code}");
            break;
        }
        assert!(Instant::now() < deadline, "the server did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}
