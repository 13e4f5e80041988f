//! Server throughput bench (not a test): seeds/000's echomsg echoed by svrkit servers in
//! each in-process worker mode, against a raw-TCP echo baseline of the same byte size, with
//! the server in a separate process. Prints one table (req/s, mean and p99 latency).
//!
//! ```text
//! cargo run --release -p svrkit --example server_bench            # all rows, 2 s each
//! cargo run --release -p svrkit --example server_bench -- --secs 5
//! taskset -c 0 cargo run --release -p svrkit --example server_bench   # both on one core
//! cargo run --release -p svrkit --example server_bench -- memory 10000  # idle conns only
//! ```
//!
//! Internally the same binary is also the server: `server_bench serve KIND WORKERS`
//! (KIND = raw | coroutine | thread) prints its address and serves until stdin closes.

use std::collections::BTreeMap;
use std::error::Error;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use svrkit::codec::{self, Decoder, Message, RawValue};
use svrkit::server::{bind_all, Mode, Router, Server, ServerOptions};
use svrkit::RpcError;

type Res<T> = Result<T, Box<dyn Error>>;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct Echomsg {
    my_string: String,
    vec_int: Vec<i64>,
    dict_string: BTreeMap<i64, String>,
}

fn sample() -> Echomsg {
    Echomsg {
        my_string: "x".repeat(64),
        vec_int: (1..=8).collect(),
        dict_string: (1..=4).map(|i| (i, format!("value{i}"))).collect(),
    }
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        return serve(&args[1], args[2].parse()?);
    }
    if args.first().map(String::as_str) == Some("codec") {
        return codec_only();
    }
    if args.first().map(String::as_str) == Some("memory") {
        return idle_memory(args.get(1).map_or(Ok(10_000), |n| n.parse())?);
    }
    if args.first().map(String::as_str) == Some("load") {
        // `load ADDR WORKLOAD SECS`: one workload against a server started elsewhere.
        let addr: SocketAddr = args[1].parse()?;
        let dur = Duration::from_secs_f64(args[3].parse()?);
        let s = match args[2].as_str() {
            "seq" => pipelined(addr, Proto::Rpc, 1, dur)?,
            "pipe" => pipelined(addr, Proto::Rpc, 128, dur)?,
            "conns" => many_conns(addr, Proto::Rpc, 32, dur)?,
            "notif" => notifications(addr, dur)?,
            other => return Err(format!("unknown workload {other}").into()),
        };
        println!("{}: {}/s", args[2], human(s.rate()));
        return Ok(());
    }
    let mut secs = 2.0;
    let mut only: Option<String> = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--secs" => {
                secs = args[i + 1].parse()?;
                i += 1;
            }
            "--only" => {
                only = Some(args[i + 1].clone());
                i += 1;
            }
            "--bench" => {}
            other => return Err(format!("unknown argument {other}").into()),
        }
        i += 1;
    }
    drive(Duration::from_secs_f64(secs), only.as_deref())
}

// ---------------------------------------------------------------- servers (child process)

fn serve(kind: &str, workers: usize) -> Res<()> {
    let addr = match kind {
        "raw" => {
            let l = TcpListener::bind("127.0.0.1:0")?;
            let addr = l.local_addr()?;
            std::thread::spawn(move || {
                for s in l.incoming().flatten() {
                    std::thread::spawn(move || raw_echo(s));
                }
            });
            addr
        }
        _ => {
            let mode = if kind == "thread" { Mode::Thread } else { Mode::Coroutine };
            let notes = Arc::new(AtomicU64::new(0));
            let n2 = notes.clone();
            let router = Router::new()
                .route("echo1", |(m,): (Echomsg,)| async move { Ok::<_, RpcError>(m) })
                .route("echo4", move |(m,): (Echomsg,)| {
                    n2.fetch_add(m.vec_int.len() as u64 / 8, Ordering::Relaxed);
                    async { Ok::<_, RpcError>(()) }
                })
                .route("notes", move |(): ()| {
                    let n = notes.load(Ordering::Relaxed);
                    async move { Ok::<_, RpcError>(n) }
                });
            let opts = ServerOptions { mode, workers, ..ServerOptions::default() };
            let running =
                Server::with_options(router, opts).start(bind_all(&["127.0.0.1:0".parse()?])?)?;
            let svrkit::transport::Addr::Tcp(addr) = running.local_addrs()[0] else {
                return Err("not tcp".into());
            };
            std::mem::forget(running); // lives until the process exits
            addr
        }
    };
    println!("LISTENING {addr}");
    std::io::stdout().flush()?;
    let mut sink = String::new();
    let _ = std::io::stdin().read_line(&mut sink); // parent closes stdin to stop us
    std::process::exit(0);
}

fn raw_echo(mut s: TcpStream) {
    let _ = s.set_nodelay(true);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

struct ServerProc {
    child: Child,
    addr: SocketAddr,
}

impl ServerProc {
    fn start(kind: &str, workers: usize) -> Res<ServerProc> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["serve", kind, &workers.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
        let addr = line.trim().strip_prefix("LISTENING ").ok_or("server did not start")?.parse()?;
        Ok(ServerProc { child, addr })
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- load (this process)

struct Stats {
    n: u64,
    secs: f64,
    lat_us: Vec<f64>,
}

impl Stats {
    fn rate(&self) -> f64 {
        self.n as f64 / self.secs
    }
    fn mean_p99(&self) -> Option<(f64, f64)> {
        if self.lat_us.is_empty() {
            return None;
        }
        let mut v = self.lat_us.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        Some((mean, v[(v.len() * 99 / 100).min(v.len() - 1)]))
    }
}

/// How a client finds reply boundaries: raw = fixed size echo, rpc = the codec decoder.
#[derive(Clone, Copy)]
enum Proto {
    Raw(usize),
    Rpc,
}

struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
    start: usize,
    dec: Decoder,
    proto: Proto,
}

impl Conn {
    fn new(addr: SocketAddr, proto: Proto) -> Res<Conn> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        Ok(Conn {
            s,
            buf: Vec::with_capacity(256 * 1024),
            start: 0,
            dec: Decoder::default(),
            proto,
        })
    }

    /// Read at least one more reply; return the msgids (raw: sequence) of all complete ones.
    fn read_replies(&mut self, out: &mut Vec<u32>) -> Res<()> {
        out.clear();
        loop {
            match self.proto {
                Proto::Raw(len) => {
                    while self.buf.len() - self.start >= len {
                        self.start += len;
                        out.push(0);
                    }
                }
                Proto::Rpc => {
                    while let Some(d) = self.dec.decode(&self.buf[self.start..])? {
                        if let Ok(Message::Response { msgid, error, .. }) = d.message {
                            if let Some(e) = error {
                                return Err(RpcError::from_raw(e).to_string().into());
                            }
                            out.push(msgid);
                        }
                        self.start += d.len;
                    }
                }
            }
            if !out.is_empty() {
                return Ok(());
            }
            if self.start == self.buf.len() {
                self.buf.clear();
                self.start = 0;
            } else if self.start > 128 * 1024 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let old = self.buf.len();
            self.buf.resize(old + 64 * 1024, 0);
            let n = self.s.read(&mut self.buf[old..])?;
            self.buf.truncate(old + n);
            if n == 0 {
                return Err("server closed".into());
            }
        }
    }
}

/// One connection, `window` calls in flight, for `dur`.
fn pipelined(addr: SocketAddr, proto: Proto, window: usize, dur: Duration) -> Res<Stats> {
    let params = {
        let mut p = Vec::new();
        codec::encode_value(&mut p, &(sample(),))?;
        p
    };
    let params = RawValue::from_slice(&params)?.as_bytes().to_vec();
    let raw_req = {
        let mut r = Vec::new();
        codec::encode_request_raw(&mut r, 1, "echo1", RawValue::from_slice(&params)?);
        r
    };
    let mut c = Conn::new(addr, proto)?;
    let mut sent_at = vec![Instant::now(); 1 << 16];
    let mut next_id: u32 = 0;
    let mut fifo_head: u64 = 0;
    let mut out = Vec::with_capacity(window * raw_req.len());
    let mut write =
        |c: &mut Conn, k: usize, next_id: &mut u32, sent_at: &mut Vec<Instant>| -> Res<()> {
            out.clear();
            let now = Instant::now();
            for _ in 0..k {
                match proto {
                    Proto::Raw(_) => out.extend_from_slice(&raw_req),
                    Proto::Rpc => codec::encode_request_raw(
                        &mut out,
                        *next_id,
                        "echo1",
                        RawValue::from_slice(&params)?,
                    ),
                }
                sent_at[*next_id as usize & 0xffff] = now;
                *next_id = next_id.wrapping_add(1);
            }
            c.s.write_all(&out)?;
            Ok(())
        };
    let mut lat = Vec::new();
    let mut ids = Vec::new();
    let start = Instant::now();
    let end = start + dur;
    write(&mut c, window, &mut next_id, &mut sent_at)?;
    let mut done = 0u64;
    loop {
        c.read_replies(&mut ids)?;
        let now = Instant::now();
        for &id in &ids {
            let slot = match proto {
                Proto::Raw(_) => {
                    let s = fifo_head as usize & 0xffff;
                    fifo_head += 1;
                    s
                }
                Proto::Rpc => id as usize & 0xffff,
            };
            lat.push(now.duration_since(sent_at[slot]).as_secs_f64() * 1e6);
        }
        done += ids.len() as u64;
        if now >= end {
            break;
        }
        write(&mut c, ids.len(), &mut next_id, &mut sent_at)?;
    }
    Ok(Stats { n: done, secs: start.elapsed().as_secs_f64(), lat_us: lat })
}

fn many_conns(addr: SocketAddr, proto: Proto, conns: usize, dur: Duration) -> Res<Stats> {
    let threads: Vec<_> = (0..conns)
        .map(|_| {
            std::thread::spawn(move || pipelined(addr, proto, 1, dur).map_err(|e| e.to_string()))
        })
        .collect();
    let mut total = Stats { n: 0, secs: 0.0, lat_us: Vec::new() };
    for t in threads {
        let s = t.join().map_err(|_| "client thread panicked")??;
        total.n += s.n;
        total.secs = total.secs.max(s.secs);
        total.lat_us.extend(s.lat_us);
    }
    Ok(total)
}

/// Notifications as fast as the server takes them; the final call's reply comes after
/// every notification before it was handled (one connection is handled in order).
fn notifications(addr: SocketAddr, dur: Duration) -> Res<Stats> {
    let mut batch = Vec::new();
    for _ in 0..1024 {
        codec::encode_notification(&mut batch, "echo4", &(sample(),))?;
    }
    let mut c = Conn::new(addr, Proto::Rpc)?;
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < dur {
        c.s.write_all(&batch)?;
        n += 1024;
    }
    let mut req = Vec::new();
    codec::encode_request(&mut req, 7, "notes", &[0u8; 0])?;
    c.s.write_all(&req)?;
    let mut ids = Vec::new();
    c.read_replies(&mut ids)?;
    Ok(Stats { n, secs: start.elapsed().as_secs_f64(), lat_us: Vec::new() })
}

fn drive(dur: Duration, only: Option<&str>) -> Res<()> {
    let req_len = {
        let mut r = Vec::new();
        codec::encode_request(&mut r, 1, "echo1", &(sample(),))?;
        r.len()
    };
    println!(
        "echomsg request {req_len} bytes; {:.1}s per cell; server in a separate process; {} cores",
        dur.as_secs_f64(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let servers: &[(&str, &str, usize)] = &[
        ("raw TCP echo", "raw", 0),
        ("svrkit coroutine w=1", "coroutine", 1),
        ("svrkit coroutine w=2", "coroutine", 2),
        ("svrkit thread w=2", "thread", 2),
    ];
    println!(
        "{:<24} {:>22} {:>22} {:>22} {:>14}",
        "server",
        "1 conn, 1 in flight",
        "1 conn, 128 in flight",
        "32 conns, 1 each",
        "notifications"
    );
    for &(label, kind, workers) in servers {
        if only.is_some_and(|o| !label.contains(o)) {
            continue;
        }
        let srv = ServerProc::start(kind, workers)?;
        let proto = if kind == "raw" { Proto::Raw(req_len) } else { Proto::Rpc };
        let pid = srv.child.id();
        let mut cpu = Vec::new();
        let mut cell = |run: &dyn Fn() -> Res<Stats>| -> Res<String> {
            let c0 = cpu_ns(pid);
            let s = run()?;
            cpu.push((cpu_ns(pid) - c0) as f64 / s.n.max(1) as f64);
            Ok(match s.mean_p99() {
                Some((m, p)) => format!("{:>8} {:>5.0}/{:<5.0}us", human(s.rate()), m, p),
                None => format!("{:>8}", human(s.rate())),
            })
        };
        let a = cell(&|| pipelined(srv.addr, proto, 1, dur))?;
        let b = cell(&|| pipelined(srv.addr, proto, 128, dur))?;
        let c = cell(&|| many_conns(srv.addr, proto, 32, dur))?;
        let d =
            if kind == "raw" { "—".to_string() } else { cell(&|| notifications(srv.addr, dur))? };
        println!("{label:<24} {a:>22} {b:>22} {c:>22} {d:>14}");
        let cpu_row: Vec<String> = cpu.iter().map(|ns| format!("{ns:.0} ns")).collect();
        println!(
            "{:<24} {:>22} {:>22} {:>22} {:>14}",
            "  server CPU per msg",
            cpu_row[0],
            cpu_row[1],
            cpu_row[2],
            cpu_row.get(3).map_or("—", String::as_str)
        );
    }
    println!("(cells: req/s, then mean/p99 latency in microseconds)");
    if only.is_none() {
        idle_memory(10_000)?;
    }
    Ok(())
}

/// CPU time (user + system) of process `pid` so far, exited threads included, in
/// nanoseconds (from /proc/PID/stat, 10 ms resolution).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0 };
    // Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| f.get(n - 3).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    (field(14) + field(15)) * 10_000_000
}

fn rss_kib(pid: u32) -> Res<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).ok_or("no VmRSS")?;
    Ok(line.split_whitespace().nth(1).ok_or("bad VmRSS")?.parse()?)
}

/// Hold `n` connections, each having made one call, and report the server's memory per
/// connection.
fn idle_memory(n: usize) -> Res<()> {
    let srv = ServerProc::start("coroutine", 1)?;
    let pid = srv.child.id();
    let mut warm = Conn::new(srv.addr, Proto::Rpc)?;
    let mut req = Vec::new();
    codec::encode_request(&mut req, 1, "echo1", &(sample(),))?;
    let mut ids = Vec::new();
    warm.s.write_all(&req)?;
    warm.read_replies(&mut ids)?;
    let before = rss_kib(pid)?;
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut c = Conn::new(srv.addr, Proto::Rpc)?;
        c.buf = Vec::new();
        c.s.write_all(&req)?;
        conns.push(c);
    }
    for c in &mut conns {
        c.read_replies(&mut ids)?;
    }
    let after = rss_kib(pid)?;
    // The calls above prove every connection is served; one more round proves they all
    // still are.
    for c in conns.iter_mut().step_by(97) {
        c.s.write_all(&req)?;
        c.read_replies(&mut ids)?;
    }
    println!(
        "{n} idle connections held (each made a call): server RSS +{} KiB = {:.1} KiB per connection",
        after.saturating_sub(before),
        after.saturating_sub(before) as f64 / n as f64
    );
    Ok(())
}

/// The codec work of one echo call, alone: decode the request, deserialize the params,
/// encode the response.
fn codec_only() -> Res<()> {
    let mut req = Vec::new();
    codec::encode_request(&mut req, 12345, "echo1", &(sample(),))?;
    let mut out = Vec::with_capacity(1 << 20);
    let n = 2_000_000u32;
    let t = Instant::now();
    for _ in 0..n {
        let mut dec = Decoder::default();
        let d = dec.decode(&req)?.ok_or("partial")?;
        if let Ok(Message::Request { msgid, params, .. }) = d.message {
            let (m,): (Echomsg,) = params.deserialize()?;
            codec::encode_response(&mut out, msgid, &m)?;
        }
        if out.len() > (1 << 19) {
            out.clear();
        }
    }
    let per = t.elapsed().as_secs_f64() / f64::from(n) * 1e9;
    println!("codec decode+deserialize+encode of one echo call: {per:.0} ns");
    Ok(())
}

fn human(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else {
        format!("{:.1}k", r / 1e3)
    }
}
