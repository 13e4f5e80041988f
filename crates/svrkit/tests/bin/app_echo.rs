//! `svrkit-app-echo`: a small service on [`svrkit::App`] that the app tests run as a real
//! process in every worker mode. Methods: `echo(s)`, `add(a, b)`, `whoami()` -> `[pid,
//! init_pid]`, `slow(ms, tag)` (appends `tag` to `$APP_ECHO_DIR/slow.log` on arrival, then
//! sleeps). Self workers write a heartbeat file `$APP_ECHO_DIR/hb-<group>-<id>` every 50 ms;
//! a worker of group `crashy` panics on its first run (marker file `crashed-<group>-<id>`).
//! The init hook fails when `APP_ECHO_FAIL_INIT` is set, and panics when
//! `APP_ECHO_PANIC_INIT` is.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use svrkit::config::ServerConfig;
use svrkit::server::Router;
use svrkit::worker::WorkerContext;
use svrkit::{App, BoxError, RpcError};

struct State {
    init_pid: u32,
    dir: PathBuf,
}

fn init(_config: &ServerConfig) -> Result<State, BoxError> {
    if let Ok(why) = std::env::var("APP_ECHO_FAIL_INIT") {
        return Err(format!("refusing to start: {why}").into());
    }
    if let Ok(why) = std::env::var("APP_ECHO_PANIC_INIT") {
        panic!("init panicked on purpose: {why}");
    }
    let dir =
        std::env::var_os("APP_ECHO_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    Ok(State { init_pid: std::process::id(), dir })
}

fn router(state: Arc<State>) -> Router {
    let whoami = Arc::clone(&state);
    Router::new()
        .route("echo", |(s,): (String,)| async move { Ok::<_, RpcError>(s) })
        .route("add", |(a, b): (i64, i64)| async move { Ok::<_, RpcError>(a + b) })
        .route("whoami", move |(): ()| {
            let pids = (std::process::id(), whoami.init_pid);
            async move { Ok::<_, RpcError>(pids) }
        })
        .route("slow", move |(ms, tag): (u64, String)| {
            let log = state.dir.join("slow.log");
            async move {
                let mut f =
                    std::fs::OpenOptions::new().create(true).append(true).open(log).map_err(
                        |e| RpcError::new(svrkit::codes::INTERNAL, format!("slow.log: {e}")),
                    )?;
                let _ = f.write_all(format!("{tag}\n").as_bytes());
                async_io::Timer::after(Duration::from_millis(ms)).await;
                Ok::<_, RpcError>(tag)
            }
        })
}

async fn self_worker(state: Arc<State>, ctx: WorkerContext) {
    let name = match ctx.coroutine() {
        Some(c) => format!("{}-{}-{c}", ctx.group(), ctx.id()),
        None => format!("{}-{}", ctx.group(), ctx.id()),
    };
    if ctx.group() == "crashy" {
        let marker = state.dir.join(format!("crashed-{name}"));
        if !marker.exists() {
            let _ = std::fs::write(&marker, std::process::id().to_string());
            panic!("crashy worker {name}: the first run panics on purpose");
        }
    }
    let (file, tmp) = (state.dir.join(format!("hb-{name}")), state.dir.join(format!(".hb-{name}")));
    for beat in 1u64.. {
        let line = format!("{beat} {} {}\n", std::process::id(), ctx.restarts());
        if std::fs::write(&tmp, line).is_ok() {
            let _ = std::fs::rename(&tmp, &file);
        }
        if ctx.stop().stopped_or_timeout(Duration::from_millis(50)).await {
            break;
        }
    }
}

fn main() -> ExitCode {
    App::new("app_echo", init, router)
        .self_worker(self_worker)
        .self_groups(&["beat", "crashy"])
        .main()
}
