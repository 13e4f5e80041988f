//! `svrkit-bench`: echomsg benchmarks of svrkit against a raw TCP baseline and tarpc, with
//! client and server in separate processes, and the harness behind `cargo xtask bench`.
//!
//! # Design
//!
//! One binary, four subcommands:
//!
//! - `server --impl IMPL [--addr 127.0.0.1:0] [--workers N]` binds, prints
//!   `listening ADDR` on stdout and serves until killed.
//! - `client --impl IMPL --addr ADDR --workload W [--secs S] [--warmup S] [--server-pid P]
//!   [--svrkit-client local|async-io]` warms up, records for `secs`, and prints one JSON
//!   [`measure::Report`] line: requests, req/s, mean / p50 / p99 latency from an HDR
//!   histogram, and the CPU time client and server used over the recorded window (from
//!   `/proc/<pid>/stat`). svrkit's client runs on the svrkit reactor of its thread
//!   (`Client::on_local_reactor` under `svrkit::reactor::block_on`, the fastest way to
//!   drive it from one thread) unless `--svrkit-client async-io` asks for the default
//!   client under `smol::block_on`.
//! - `micro [--secs S]`: the codec round trip and ring lookup, timed in-process.
//! - `harness [--quick] [--out DIR] [--impls a,b] [--workloads a,b] [--placements a,b]`:
//!   for each placement and workload, starts one server process per implementation, runs
//!   the client processes with the repetitions interleaved across implementations (so a
//!   burst of other work on the machine hits them alike), takes each median by req/s,
//!   prints one table and writes it as JSON to `DIR/<timestamp>.json` and `DIR/latest.json`.
//!
//! Implementations: `raw` (fixed-size frames of svrkit's byte sizes, no parsing),
//! `raw-rmp` (the same frames through rmp-serde on both sides), `svrkit-coroutine`,
//! `svrkit-thread`, `svrkit-process`, `svrkit-process-coroutine` (svrkit in each worker
//! mode, driven by svrkit's client; the process modes are a real `svrkit::app::App`
//! binary, `svrkit-bench-app`, whose master supervises 2 worker processes sharing the
//! listener — 1 for the notification workload, whose counter lives in the serving
//! process) and `tarpc` (tarpc 0.38, Bincode over TCP, tokio). Workloads: `seq` (1 connection, 1 in flight),
//! `pipelined` (1 connection, 128 in flight), `conns` (32 connections, 1 in flight each),
//! `notify` (one-way, counted at the server; svrkit only). Placements: `free` and
//! `pinned` (client and server both `taskset -c 0`).
//!
//! Every child is killed and reaped on every exit path (a Drop guard), every wait is
//! bounded, and everything runs on loopback.

mod echo;
mod harness;
mod measure;
mod micro;
mod msg;
mod peer;
mod raw;
mod svr;

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use measure::{Gate, Report};

/// The implementations under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Impl {
    Raw,
    RawRmp,
    SvrkitCoroutine,
    SvrkitThread,
    SvrkitProcess,
    SvrkitProcessCoroutine,
    Tarpc,
}

impl Impl {
    pub(crate) const ALL: [Impl; 7] = [
        Impl::Raw,
        Impl::RawRmp,
        Impl::SvrkitCoroutine,
        Impl::SvrkitThread,
        Impl::SvrkitProcess,
        Impl::SvrkitProcessCoroutine,
        Impl::Tarpc,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Impl::Raw => "raw",
            Impl::RawRmp => "raw-rmp",
            Impl::SvrkitCoroutine => "svrkit-coroutine",
            Impl::SvrkitThread => "svrkit-thread",
            Impl::SvrkitProcess => "svrkit-process",
            Impl::SvrkitProcessCoroutine => "svrkit-process-coroutine",
            Impl::Tarpc => "tarpc",
        }
    }

    fn parse(s: &str) -> Result<Impl, String> {
        Impl::ALL.into_iter().find(|i| i.name() == s).ok_or_else(|| {
            format!("unknown impl `{s}` (one of {})", names(Impl::ALL.map(Impl::name)))
        })
    }

    /// Whether it has one-way messages (notifications).
    pub(crate) fn has_notify(self) -> bool {
        self.is_svrkit()
    }

    /// Whether it is svrkit (served by the facade, driven by svrkit's client).
    pub(crate) fn is_svrkit(self) -> bool {
        matches!(
            self,
            Impl::SvrkitCoroutine
                | Impl::SvrkitThread
                | Impl::SvrkitProcess
                | Impl::SvrkitProcessCoroutine
        )
    }
}

/// The echomsg workloads of SPEC section 9.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Workload {
    Seq,
    Pipelined,
    Conns,
    Notify,
}

impl Workload {
    pub(crate) const ALL: [Workload; 4] =
        [Workload::Seq, Workload::Pipelined, Workload::Conns, Workload::Notify];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Workload::Seq => "seq",
            Workload::Pipelined => "pipelined",
            Workload::Conns => "conns",
            Workload::Notify => "notify",
        }
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            Workload::Seq => "1 conn, 1 in flight",
            Workload::Pipelined => "1 conn, 128 in flight",
            Workload::Conns => "32 conns, 1 in flight each",
            Workload::Notify => "notifications, 1 conn (server rx)",
        }
    }

    fn parse(s: &str) -> Result<Workload, String> {
        Workload::ALL.into_iter().find(|w| w.name() == s).ok_or_else(|| {
            format!("unknown workload `{s}` (one of {})", names(Workload::ALL.map(Workload::name)))
        })
    }

    /// (connections, in flight per connection).
    fn shape(self) -> (usize, usize) {
        match self {
            Workload::Seq => (1, 1),
            Workload::Pipelined | Workload::Notify => (1, 128),
            Workload::Conns => (32, 1),
        }
    }
}

fn names<const N: usize>(all: [&str; N]) -> String {
    all.join(", ")
}

const USAGE: &str = "\
usage:
  svrkit-bench server  --impl IMPL [--addr 127.0.0.1:0] [--workers N]
  svrkit-bench client  --impl IMPL --addr ADDR --workload W [--secs 3] [--warmup 0.3]
                       [--server-pid PID] [--conns N] [--depth N]
                       [--svrkit-client local|async-io]
  svrkit-bench micro   [--secs 1]
  svrkit-bench harness [--quick] [--out DIR] [--secs S] [--reps N]
                       [--impls a,b] [--workloads a,b] [--placements free,pinned]
impls: raw, raw-rmp, svrkit-coroutine, svrkit-thread, svrkit-process,
       svrkit-process-coroutine, tarpc
workloads: seq, pipelined, conns, notify";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("server") => flags(&args[1..]).and_then(|f| server(&f)),
        Some("client") => flags(&args[1..]).and_then(|f| client(&f)),
        Some("micro") => flags(&args[1..]).and_then(|f| {
            micro::print(&micro::run(secs_flag(&f, "secs", 1.0)?));
            Ok(())
        }),
        Some("harness") => flags(&args[1..]).and_then(|f| harness::run(&f)),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("svrkit-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--name value` pairs and bare `--switch`es.
pub(crate) type Flags = HashMap<String, String>;

fn flags(args: &[String]) -> Result<Flags, String> {
    let mut out = Flags::new();
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        let Some(name) = a.strip_prefix("--") else {
            return Err(format!("unexpected argument `{a}`\n\n{USAGE}"));
        };
        let value = match it.peek() {
            Some(v) if !v.starts_with("--") => it.next().cloned().unwrap_or_default(),
            _ => String::new(),
        };
        out.insert(name.to_string(), value);
    }
    Ok(out)
}

pub(crate) fn secs_flag(f: &Flags, name: &str, default: f64) -> Result<f64, String> {
    f.get(name).map_or(Ok(default), |v| v.parse().map_err(|e| format!("--{name} {v}: {e}")))
}

fn num_flag(f: &Flags, name: &str) -> Result<Option<usize>, String> {
    f.get(name).map(|v| v.parse().map_err(|e| format!("--{name} {v}: {e}"))).transpose()
}

fn required<'a>(f: &'a Flags, name: &str) -> Result<&'a str, String> {
    f.get(name).map(String::as_str).ok_or_else(|| format!("--{name} is required\n\n{USAGE}"))
}

fn addr_flag(f: &Flags, default: Option<&str>) -> Result<SocketAddr, String> {
    let s = f.get("addr").map(String::as_str).or(default).ok_or("--addr is required")?;
    s.parse().map_err(|e| format!("--addr {s}: {e}"))
}

/// Tells the harness where the server listens: the first line of its stdout.
pub(crate) fn announce(addr: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening {addr}");
    let _ = out.flush();
}

fn server(f: &Flags) -> Result<(), String> {
    let which = Impl::parse(required(f, "impl")?)?;
    let addr = addr_flag(f, Some("127.0.0.1:0"))?;
    let workers = num_flag(f, "workers")?;
    match which {
        Impl::Raw | Impl::RawRmp => {
            let listener = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
            announce(&listener.local_addr().map_err(|e| e.to_string())?.to_string());
            raw::serve(listener, raw::Frames::new(which == Impl::RawRmp)).map_err(|e| e.to_string())
        }
        Impl::SvrkitCoroutine => svr::serve(addr, svrkit::server::Mode::Coroutine, workers),
        Impl::SvrkitThread => svr::serve(addr, svrkit::server::Mode::Thread, workers),
        Impl::SvrkitProcess => svr::serve_app(addr, "process", workers),
        Impl::SvrkitProcessCoroutine => svr::serve_app(addr, "process_coroutine", workers),
        Impl::Tarpc => peer::serve(addr),
    }
}

fn client(f: &Flags) -> Result<(), String> {
    let which = Impl::parse(required(f, "impl")?)?;
    let workload = Workload::parse(required(f, "workload")?)?;
    let addr = addr_flag(f, None)?;
    let secs = Duration::from_secs_f64(secs_flag(f, "secs", 3.0)?);
    let warmup = Duration::from_secs_f64(secs_flag(f, "warmup", 0.3)?);
    let server_pid = num_flag(f, "server-pid")?.map(|p| p as u32);
    let (mut conns, mut depth) = workload.shape();
    conns = num_flag(f, "conns")?.unwrap_or(conns);
    depth = num_flag(f, "depth")?.unwrap_or(depth);
    let io = svr::ClientIo::parse(f.get("svrkit-client").map_or("local", String::as_str))?;
    let report = measure_client(which, workload, addr, conns, depth, io, secs, warmup, server_pid)?;
    println!("{}", serde_json::to_string(&report).map_err(|e| e.to_string())?);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn measure_client(
    which: Impl,
    workload: Workload,
    addr: SocketAddr,
    conns: usize,
    depth: usize,
    io: svr::ClientIo,
    secs: Duration,
    warmup: Duration,
    server_pid: Option<u32>,
) -> Result<Report, String> {
    let gate = Arc::new(Gate::default());
    if workload == Workload::Notify {
        if !which.has_notify() {
            return Err(format!("{} has no notifications", which.name()));
        }
        let handle = svr::notify_client(addr, conns, depth, io, Arc::clone(&gate));
        let window = measure::run_window(&gate, warmup, secs, server_pid);
        let got = handle.join().map_err(|_| "notify client panicked".to_string())??;
        let mut report = measure::report(&measure::Tally::new(), &window);
        report.requests = got.count;
        report.secs = got.server_secs;
        report.rps = if got.server_secs > 0.0 { got.count as f64 / got.server_secs } else { 0.0 };
        return Ok(report);
    }
    let handle = match which {
        Impl::Raw | Impl::RawRmp => raw::client(
            addr,
            conns,
            depth,
            raw::Frames::new(which == Impl::RawRmp),
            Arc::clone(&gate),
        )
        .map_err(|e| format!("connect {addr}: {e}"))?,
        Impl::SvrkitCoroutine
        | Impl::SvrkitThread
        | Impl::SvrkitProcess
        | Impl::SvrkitProcessCoroutine => svr::client(addr, conns, depth, io, Arc::clone(&gate)),
        Impl::Tarpc => peer::client(addr, conns, depth, Arc::clone(&gate))?,
    };
    let window = measure::run_window(&gate, warmup, secs, server_pid);
    let tally = handle.join().map_err(|_| "client panicked".to_string())?;
    Ok(measure::report(&tally, &window))
}
