//! Demo server (and the test subject of `tests/processes.rs`): a line-echo service whose
//! rpc workers are supervised processes sharing one port, plus self_server workers.
//!
//! ```text
//! svrkit-worker-demo [--listen 127.0.0.1:0] [--rpc-workers 2] [--self GROUP:N[:COROUTINES]]...
//!     [--self-behavior run|panic-once|crash] [--events FILE] [--drain-ms 2000]
//!     [--self-type thread|process] [--restart-ms INITIAL:MAX] [--pid FILE] [--log FILE] [-d]
//!     [--stop-after-ms MS] [start|stop|restart|status]
//! svrkit-worker-demo --threads N      # thread self_server of N workers; prints thread counts
//! ```
//! Protocol, one line each: `PING` -> `PONG <pid> <worker id>`;
//! `SLEEP <ms>` -> `ACK <pid>`, then after the sleep `DONE <pid>`.
//! The master prints `LISTEN <addr>` and one `EVENT ...` line per supervisor event.
//! An rpc worker fails its start-up (reports failed, exits 3) when `DEMO_RPC_FAIL` is set
//! or the file named by `DEMO_RPC_FAIL_IF` exists.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use svrkit_worker::{
    DaemonConfig, Daemonized, Event, GroupSpec, Listener, PidFile, ReadyNotifier, RestartPolicy,
    Role, SelfServer, StopSource, StopToken, Supervisor, SupervisorConfig, WorkerContext,
};

#[derive(Debug, Clone)]
struct Args {
    listen: String,
    rpc_workers: usize,
    groups: Vec<GroupSpec>,
    behavior: String,
    events: Option<PathBuf>,
    drain: Duration,
    restart: RestartPolicy,
    pid: Option<PathBuf>,
    log: Option<PathBuf>,
    daemon: bool,
    command: Option<String>,
    threads: Option<usize>,
    self_threads: bool,
    stop_after: Option<Duration>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        listen: "127.0.0.1:0".into(),
        rpc_workers: 2,
        groups: Vec::new(),
        behavior: "run".into(),
        events: None,
        drain: Duration::from_secs(2),
        restart: RestartPolicy::default(),
        pid: None,
        log: None,
        daemon: false,
        command: None,
        threads: None,
        self_threads: false,
        stop_after: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        let num = |v: String| v.parse::<u64>().map_err(|_| format!("not a number: {v}"));
        match arg.as_str() {
            "--listen" => a.listen = value()?,
            "--rpc-workers" => a.rpc_workers = num(value()?)? as usize,
            "--self" => {
                let v = value()?;
                let parts: Vec<&str> = v.split(':').collect();
                let mut g = GroupSpec::new(parts[0], 1);
                if let Some(n) = parts.get(1) {
                    g.workers = num(n.to_string())? as usize;
                }
                if let Some(c) = parts.get(2) {
                    g.coroutines = num(c.to_string())? as usize;
                }
                a.groups.push(g);
            }
            "--self-behavior" => a.behavior = value()?,
            "--events" => a.events = Some(value()?.into()),
            "--drain-ms" => a.drain = Duration::from_millis(num(value()?)?),
            "--restart-ms" => {
                let v = value()?;
                let (i, m) = v.split_once(':').ok_or("expected INITIAL:MAX")?;
                a.restart.initial_delay = Duration::from_millis(num(i.into())?);
                a.restart.max_delay = Duration::from_millis(num(m.into())?);
            }
            "--pid" => a.pid = Some(value()?.into()),
            "--log" => a.log = Some(value()?.into()),
            "--threads" => a.threads = Some(num(value()?)? as usize),
            "--self-type" => a.self_threads = value()? == "thread",
            "--stop-after-ms" => a.stop_after = Some(Duration::from_millis(num(value()?)?)),
            "-d" => a.daemon = true,
            "start" | "stop" | "restart" | "status" => a.command = Some(arg),
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("svrkit-worker-demo: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match svrkit_worker::init() {
        Ok(Role::Master) => master(&args),
        Ok(Role::Rpc(mut w)) => {
            let id = w.id();
            let fail_if = std::env::var_os("DEMO_RPC_FAIL_IF").map(PathBuf::from);
            if std::env::var_os("DEMO_RPC_FAIL").is_some() || fail_if.is_some_and(|f| f.exists()) {
                w.notifier().failed(&format!("rpc#{id}: DEMO_RPC_FAIL is set"));
                return ExitCode::from(3);
            }
            w.notifier().ready("");
            rpc_worker(id, w.take_listeners(), w.stop_token());
            Ok(ExitCode::SUCCESS)
        }
        Ok(Role::SelfWorker(w)) => Ok(if w.coroutines() == 0 {
            svrkit_worker::run_self_process(&w, |ctx| self_handler(&args, ctx))
        } else {
            let args = args.clone();
            svrkit_worker::run_self_coroutines(&w, args.restart, move |ctx| {
                let args = args.clone();
                async move { self_task(&args, ctx).await }
            })
        }),
        Err(e) => Err(e.to_string()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("svrkit-worker-demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn master(args: &Args) -> Result<ExitCode, String> {
    if let Some(n) = args.threads {
        return thread_count_check(n);
    }
    let pid_file = args.pid.as_ref().map(PidFile::new);
    let in_daemon = std::env::var_os(svrkit_worker::ENV_DAEMON).is_some();
    let mut daemon = args.daemon;
    match args.command.as_deref() {
        Some("status") => {
            let pf = pid_file.ok_or("status needs --pid")?;
            let status = pf.status().map_err(|e| e.to_string())?;
            println!("{status}");
            return Ok(ExitCode::from(status.lsb_exit_code()));
        }
        Some("stop") => {
            let pf = pid_file.ok_or("stop needs --pid")?;
            let outcome =
                svrkit_worker::stop(&pf, Duration::from_secs(20)).map_err(|e| e.to_string())?;
            println!("{outcome:?}");
            return Ok(ExitCode::SUCCESS);
        }
        Some("restart") => {
            let pf = pid_file.as_ref().ok_or("restart needs --pid")?;
            if !in_daemon {
                let outcome =
                    svrkit_worker::stop(pf, Duration::from_secs(20)).map_err(|e| e.to_string())?;
                println!("{outcome:?}");
            }
            daemon = true;
        }
        Some("start") => daemon = true,
        _ => {}
    }
    let (_guard, ready) = match (&pid_file, daemon) {
        (Some(pf), true) => {
            let mut config = DaemonConfig::new(pf.clone());
            config.log_file = args.log.clone();
            config.ready_timeout = Duration::from_secs(20);
            match svrkit_worker::daemonize(&config).map_err(|e| e.to_string())? {
                Daemonized::Parent { pid, detail } => {
                    println!("DAEMON {pid} {detail}");
                    return Ok(ExitCode::SUCCESS);
                }
                Daemonized::Daemon { pid_file, ready } => (Some(pid_file), ready),
            }
        }
        (None, true) => return Err("-d needs --pid".into()),
        (Some(pf), false) => {
            (Some(pf.acquire().map_err(|e| e.to_string())?), ReadyNotifier::none())
        }
        (None, false) => (None, ReadyNotifier::none()),
    };
    let listener = TcpListener::bind(&args.listen).map_err(|e| {
        let e = format!("bind {}: {e}", args.listen);
        ready.failed(&e);
        e
    })?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("LISTEN {addr}");
    let config = SupervisorConfig {
        rpc_workers: args.rpc_workers,
        listeners: vec![Listener::from(listener)],
        self_groups: if args.self_threads { Vec::new() } else { args.groups.clone() },
        drain_timeout: args.drain,
        restart: args.restart,
    };
    let supervisor = Supervisor::new(config).map_err(|e| e.to_string())?;
    // thread self workers live in the master and stop with the tree.
    let self_threads = if args.self_threads {
        let handler_args = args.clone();
        let server =
            SelfServer::start(&args.groups, args.restart, supervisor.stop_token(), move |ctx| {
                self_handler(&handler_args, ctx)
            })
            .map_err(|e| e.to_string())?;
        Some(server)
    } else {
        None
    };
    if let Some(after) = args.stop_after {
        // Stops the tree from another thread, as an embedding program would.
        let handle = supervisor.stop_handle();
        std::thread::spawn(move || {
            std::thread::sleep(after);
            handle.stop();
        });
    }
    let on_failure = ready.clone();
    let supervisor = supervisor.on_event(move |ev| {
        let line = match ev {
            Event::Ready => {
                ready.ready(&format!("LISTEN {addr}"));
                "ready".to_string()
            }
            Event::Started { worker, pid } => format!("started {worker} {pid}"),
            Event::Exited { worker, pid, reason, restart_in, .. } => format!(
                "exited {worker} {pid} signal={} restart={} ({reason})",
                reason.signal().unwrap_or(0),
                restart_in.is_some()
            ),
            Event::ForceKilled { worker, pid } => format!("killed {worker} {pid}"),
            other => format!("other {other}"),
        };
        println!("EVENT {line}");
    });
    let report = supervisor.run().map_err(|e| {
        let e = e.to_string();
        println!("FAILED {e}");
        on_failure.failed(&e);
        e
    })?;
    if let Some(server) = self_threads {
        server.join();
    }
    println!("SHUTDOWN force_killed={}", report.force_killed);
    Ok(ExitCode::SUCCESS)
}

/// Accepts on the shared listener until stopped; answers accepted connections' requests.
fn rpc_worker(id: usize, listeners: Vec<Listener>, stop: StopToken) {
    let Some(Listener::Tcp(listener)) = listeners.into_iter().next() else {
        eprintln!("rpc#{id}: no TCP listener inherited");
        return;
    };
    listener.set_nonblocking(true).expect("nonblocking listener");
    let mut conns = Vec::new();
    while !stop.is_stopped() {
        let mut fds = [
            rustix::event::PollFd::new(&listener, rustix::event::PollFlags::IN),
            rustix::event::PollFd::new(&stop, rustix::event::PollFlags::IN),
        ];
        let _ = rustix::event::poll(&mut fds, None);
        if stop.is_stopped() {
            break;
        }
        if let Ok((stream, _)) = listener.accept() {
            let stop = stop.clone();
            conns.push(std::thread::spawn(move || serve_conn(id, stream, stop)));
        }
    }
    // Stop accepting: queued connections go to the other workers (or the next generation).
    drop(listener);
    for c in conns {
        let _ = c.join();
    }
}

fn serve_conn(id: usize, stream: TcpStream, stop: StopToken) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    let pid = std::process::id();
    // A stopping worker closes idle connections, but not one it accepted a moment ago
    // whose first request is still on its way.
    let mut served = false;
    let accepted = Instant::now();
    loop {
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) if line.ends_with(b"\n") => {}
            Ok(_) => return,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if stop.is_stopped()
                    && line.is_empty()
                    && (served || accepted.elapsed() > Duration::from_secs(1))
                {
                    return; // idle connection of a stopping worker
                }
                continue;
            }
            Err(_) => return,
        }
        let text = String::from_utf8_lossy(&line).trim().to_string();
        line.clear();
        served = true;
        let reply = if text == "PING" {
            format!("PONG {pid} {id}\n")
        } else if let Some(ms) = text.strip_prefix("SLEEP ") {
            let ms: u64 = ms.parse().unwrap_or(0);
            if writer.write_all(format!("ACK {pid}\n").as_bytes()).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(ms.min(10_000)));
            format!("DONE {pid}\n")
        } else {
            format!("ERR unknown command {text:?}\n")
        };
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn record(args: &Args, what: &str, ctx: &WorkerContext) {
    let Some(path) = &args.events else { return };
    let line = format!(
        "{what} {} {} {} {} {}\n",
        ctx.group(),
        ctx.id(),
        ctx.coroutine().map_or("-".to_string(), |c| c.to_string()),
        std::process::id(),
        ctx.restarts()
    );
    // O_APPEND + one write per line: lines from many processes never interleave.
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = f.write_all(line.as_bytes());
    }
}

/// First run of this worker slot (across process restarts)? Uses a marker file.
fn first_time(args: &Args, ctx: &WorkerContext) -> bool {
    let Some(events) = &args.events else { return false };
    let marker = PathBuf::from(format!(
        "{}.{}.{}.{}.panicked",
        events.display(),
        ctx.group(),
        ctx.id(),
        ctx.coroutine().map_or(0, |c| c + 1)
    ));
    std::fs::OpenOptions::new().write(true).create_new(true).open(marker).is_ok()
}

fn self_handler(args: &Args, ctx: &WorkerContext) {
    record(args, "start", ctx);
    match args.behavior.as_str() {
        "crash" => {}
        "panic-once" if first_time(args, ctx) => panic!("demo: panic-once (expected)"),
        _ => {
            ctx.stop().wait();
            record(args, "stop", ctx);
        }
    }
}

async fn self_task(args: &Args, ctx: WorkerContext) {
    record(args, "start", &ctx);
    match args.behavior.as_str() {
        "crash" => {}
        "panic-once" if first_time(args, &ctx) => panic!("demo: panic-once (expected)"),
        _ => {
            ctx.stop().stopped().await;
            record(args, "stop", &ctx);
        }
    }
}

fn task_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

/// Starts a thread self_server of `n` workers and prints the process's thread count
/// while they run and after they are joined.
fn thread_count_check(n: usize) -> Result<ExitCode, String> {
    let before = task_count();
    let stop = StopSource::new().map_err(|e| e.to_string())?;
    let running = Arc::new(AtomicUsize::new(0));
    let server =
        SelfServer::start(&[GroupSpec::new("t", n)], RestartPolicy::default(), stop.token(), {
            let running = Arc::clone(&running);
            move |ctx| {
                running.fetch_add(1, Ordering::SeqCst);
                ctx.stop().wait();
            }
        })
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while running.load(Ordering::SeqCst) < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    println!("BEFORE {before}");
    println!("RUNNING {} {}", running.load(Ordering::SeqCst), task_count());
    stop.stop();
    server.join();
    // A joined thread's /proc entry can outlive the join by a moment: wait (bounded).
    let deadline = Instant::now() + Duration::from_secs(2);
    while task_count() > before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    println!("JOINED {}", task_count());
    Ok(ExitCode::SUCCESS)
}
