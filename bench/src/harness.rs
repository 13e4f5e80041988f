//! The harness behind `cargo xtask bench`: runs every (placement, workload, impl) as a
//! server process plus one client process per repetition, then prints one table, checks
//! SPEC section 9's bars and writes the same as JSON.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::json;

use crate::measure::Report;
use crate::micro::{self, Micro};
use crate::{secs_flag, Flags, Impl, Workload};

/// Where client and server run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Placement {
    /// Wherever the scheduler puts them.
    Free,
    /// Both on CPU 0 (`taskset -c 0`).
    Pinned,
}

impl Placement {
    fn name(self) -> &'static str {
        match self {
            Placement::Free => "free",
            Placement::Pinned => "pinned",
        }
    }
}

/// A child process killed and reaped when dropped. Servers run in a process group of
/// their own, so the process-mode servers' worker processes are killed with them.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One measured (placement, workload, impl) cell.
#[derive(Clone, Debug, Serialize)]
struct Row {
    placement: Placement,
    workload: &'static str,
    #[serde(rename = "impl")]
    which: &'static str,
    /// The median repetition by req/s.
    median: Option<Report>,
    reps: Vec<Report>,
    error: Option<String>,
    x_raw: Option<f64>,
    x_tarpc: Option<f64>,
}

struct Settings {
    exe: PathBuf,
    logs: PathBuf,
    secs: f64,
    warmup: f64,
    reps: usize,
}

fn list<T: Copy>(
    f: &Flags,
    name: &str,
    all: &[T],
    label: impl Fn(T) -> &'static str,
) -> Result<Vec<T>, String> {
    match f.get(name) {
        None => Ok(all.to_vec()),
        Some(v) => v
            .split(',')
            .map(|s| {
                all.iter().copied().find(|x| label(*x) == s).ok_or(format!("--{name}: `{s}`?"))
            })
            .collect(),
    }
}

/// `svrkit-bench harness`.
pub(crate) fn run(f: &Flags) -> Result<(), String> {
    let quick = f.contains_key("quick");
    let started = Instant::now();
    let out = PathBuf::from(f.get("out").cloned().unwrap_or_else(|| "target/bench".into()));
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("create {}: {e}", logs.display()))?;
    let settings = Settings {
        exe: std::env::current_exe().map_err(|e| e.to_string())?,
        logs,
        // 50 cells (2 placements x 25 impl/workload pairs): about 1 minute quick,
        // 5 minutes full.
        secs: secs_flag(f, "secs", if quick { 0.6 } else { 1.5 })?,
        warmup: secs_flag(f, "warmup", if quick { 0.15 } else { 0.3 })?,
        reps: secs_flag(f, "reps", if quick { 1.0 } else { 3.0 })?.max(1.0) as usize,
    };
    let impls = list(f, "impls", &Impl::ALL, Impl::name)?;
    let workloads = list(f, "workloads", &Workload::ALL, Workload::name)?;
    let mut placements =
        list(f, "placements", &[Placement::Free, Placement::Pinned], Placement::name)?;
    if placements.contains(&Placement::Pinned) && !has_taskset() {
        eprintln!("taskset not found: skipping the pinned placement");
        placements.retain(|p| *p != Placement::Pinned);
    }

    let load_before = loadavg();
    let micro = micro::run(if quick { 0.6 } else { 2.0 });
    let mut rows = Vec::new();
    for &placement in &placements {
        for &workload in &workloads {
            let group: Vec<Impl> = impls
                .iter()
                .copied()
                .filter(|i| workload != Workload::Notify || i.has_notify())
                .collect();
            rows.extend(measure_group(&settings, placement, workload, &group));
        }
    }
    eprintln!("\r\x1b[Kdone in {:.0} s", started.elapsed().as_secs_f64());
    ratios(&mut rows);
    let bars = bars(&rows, &micro);

    let load_after = loadavg();
    print_table(&rows, &settings);
    println!(
        "load average (1 min) before / after: {} / {} on {} cpus (other work on the machine skews every row)",
        load_before.as_deref().unwrap_or("?"),
        load_after.as_deref().unwrap_or("?"),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!();
    micro::print(&micro);
    println!();
    for b in &bars {
        println!("{b}");
    }

    let stamp = timestamp();
    let doc = json!({
        "timestamp": stamp,
        "commit": commit(),
        "quick": quick,
        "secs": settings.secs,
        "reps": settings.reps,
        "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "rows": rows,
        "micro": micro,
        "bars": bars,
    });
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    for name in [format!("{stamp}.json"), "latest.json".to_string()] {
        let path = out.join(name);
        std::fs::write(&path, &text).map_err(|e| format!("write {}: {e}", path.display()))?;
    }
    println!("\nwritten: {}", out.join(format!("{stamp}.json")).display());
    Ok(())
}

/// The 1-minute load average, from /proc/loadavg.
fn loadavg() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next().map(str::to_string)
}

fn has_taskset() -> bool {
    Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn command(s: &Settings, placement: Placement) -> Command {
    match placement {
        Placement::Free => Command::new(&s.exe),
        Placement::Pinned => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg("0").arg(&s.exe);
            c
        }
    }
}

fn log_file(s: &Settings, name: &str) -> Result<(PathBuf, File), String> {
    let path = s.logs.join(name);
    let file = File::create(&path).map_err(|e| format!("create {}: {e}", path.display()))?;
    Ok((path, file))
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

/// A running server: its guard, address, pid and log.
struct Running {
    guard: Guard,
    addr: String,
    pid: u32,
    log: PathBuf,
}

/// Measures one (placement, workload) for every impl in `group`: all servers run at once
/// and the repetitions are interleaved (rep 1 of each impl, then rep 2 of each...), so a
/// burst of other work on the machine hits every impl alike and the ratios stay fair.
fn measure_group(
    s: &Settings,
    placement: Placement,
    workload: Workload,
    group: &[Impl],
) -> Vec<Row> {
    let mut rows: Vec<Row> = group
        .iter()
        .map(|which| Row {
            placement,
            workload: workload.name(),
            which: which.name(),
            median: None,
            reps: Vec::new(),
            error: None,
            x_raw: None,
            x_tarpc: None,
        })
        .collect();
    let mut servers: Vec<Option<Running>> = Vec::new();
    for (row, &which) in rows.iter_mut().zip(group) {
        let tag = format!("{}-{}-{}", placement.name(), workload.name(), which.name());
        match start_server(s, placement, workload, which, &tag) {
            Ok(r) => servers.push(Some(r)),
            Err(e) => {
                row.error = Some(e);
                servers.push(None);
            }
        }
    }
    for rep in 0..s.reps {
        for ((row, &which), server) in rows.iter_mut().zip(group).zip(&mut servers) {
            let Some(running) = server else { continue };
            eprint!(
                "\r\x1b[K{} {} {} rep {}/{} ...",
                placement.name(),
                workload.name(),
                which.name(),
                rep + 1,
                s.reps
            );
            let tag = format!("{}-{}-{}", placement.name(), workload.name(), which.name());
            match run_client(
                s,
                placement,
                workload,
                which,
                running,
                &format!("{tag}.client{rep}.log"),
            ) {
                Ok(report) => row.reps.push(report),
                Err(e) => {
                    row.error = Some(e);
                    *server = None;
                }
            }
        }
    }
    for row in &mut rows {
        if row.error.is_none() {
            row.reps.sort_by(|a, b| a.rps.total_cmp(&b.rps));
            row.median = row.reps.get(row.reps.len() / 2).cloned();
        }
    }
    rows
}

fn start_server(
    s: &Settings,
    placement: Placement,
    workload: Workload,
    which: Impl,
    tag: &str,
) -> Result<Running, String> {
    let (log, server_err) = log_file(s, &format!("{tag}.server.log"))?;
    let mut cmd = command(s, placement);
    cmd.args(["server", "--impl", which.name(), "--addr", "127.0.0.1:0"]);
    if workload == Workload::Notify
        && matches!(which, Impl::SvrkitProcess | Impl::SvrkitProcessCoroutine)
    {
        // The notification counter lives in the serving process: one worker process.
        cmd.args(["--workers", "1"]);
    }
    let mut server = Guard(
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(server_err)
            .spawn()
            .map_err(|e| format!("spawn server: {e}"))?,
    );
    let pid = server.0.id();
    let stdout = server.0.stdout.take().ok_or("no server stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| format!("server did not announce its address in 10 s: {}", tail(&log)))?;
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .ok_or_else(|| format!("server said `{}`: {}", line.trim(), tail(&log)))?
        .to_string();
    Ok(Running { guard: server, addr, pid, log })
}

fn run_client(
    s: &Settings,
    placement: Placement,
    workload: Workload,
    which: Impl,
    server: &mut Running,
    log_name: &str,
) -> Result<Report, String> {
    let (client_log, client_err) = log_file(s, log_name)?;
    let mut client = Guard(
        command(s, placement)
            .args(["client", "--impl", which.name(), "--workload", workload.name()])
            .args(["--addr", &server.addr, "--server-pid", &server.pid.to_string()])
            .args(["--secs", &s.secs.to_string(), "--warmup", &s.warmup.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(client_err)
            .spawn()
            .map_err(|e| format!("spawn client: {e}"))?,
    );
    let limit = Duration::from_secs_f64(s.secs + s.warmup + 15.0);
    let t = Instant::now();
    let status = loop {
        match client.0.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if t.elapsed() < limit => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => return Err(format!("client still running after {limit:?}")),
            Err(e) => return Err(format!("wait client: {e}")),
        }
    };
    let mut text = String::new();
    if let Some(mut out) = client.0.stdout.take() {
        let _ = out.read_to_string(&mut text);
    }
    if let Ok(Some(status)) = server.guard.0.try_wait() {
        return Err(format!("server exited during the run ({status}): {}", tail(&server.log)));
    }
    if !status.success() {
        return Err(format!("client failed ({status}): {}", tail(&client_log)));
    }
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .map_err(|e| format!("client output `{last}`: {e}: {}", tail(&client_log)))
}

fn ratios(rows: &mut [Row]) {
    let rps = |rows: &[Row], p: Placement, w: &str, i: Impl| {
        rows.iter()
            .find(|r| r.placement == p && r.workload == w && r.which == i.name())
            .and_then(|r| r.median.as_ref())
            .map(|m| m.rps)
            .filter(|v| *v > 0.0)
    };
    let base: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                rps(rows, r.placement, r.workload, Impl::Raw),
                rps(rows, r.placement, r.workload, Impl::Tarpc),
            )
        })
        .collect();
    for (row, (raw, tarpc)) in rows.iter_mut().zip(base) {
        let Some(m) = &row.median else { continue };
        row.x_raw = raw.map(|b| m.rps / b);
        row.x_tarpc = tarpc.map(|b| m.rps / b);
    }
}

fn fmt_rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.prec$}"))
}

fn print_table(rows: &[Row], s: &Settings) {
    println!(
        "echomsg echo, client and server in separate processes; req/s is the median of {} x {} s",
        s.reps, s.secs
    );
    println!(
        "{:<7} {:<34} {:<17} {:>9} {:>9} {:>9} {:>10} {:>7} {:>8}",
        "place", "workload", "impl", "req/s", "mean us", "p99 us", "cpu us/rq", "x raw", "x tarpc"
    );
    for r in rows {
        let w = Workload::ALL.iter().find(|w| w.name() == r.workload).map_or("?", |w| w.describe());
        match (&r.median, &r.error) {
            (Some(m), _) => println!(
                "{:<7} {:<34} {:<17} {:>9} {:>9} {:>9} {:>10} {:>7} {:>8}",
                r.placement.name(),
                w,
                r.which,
                fmt_rate(m.rps),
                opt(m.mean_us, 1),
                opt(m.p99_us, 1),
                opt(m.cpu_us_per_req(), 2),
                opt(r.x_raw, 2),
                opt(r.x_tarpc, 2),
            ),
            (None, e) => println!(
                "{:<7} {:<34} {:<17} FAILED: {}",
                r.placement.name(),
                w,
                r.which,
                e.as_deref().unwrap_or("no result")
            ),
        }
    }
}

/// SPEC section 9's bars, one verdict line per svrkit mode.
fn bars(rows: &[Row], micro: &[Micro]) -> Vec<String> {
    let mut out = Vec::new();
    let find = |p: Placement, w: Workload, i: Impl| {
        rows.iter().find(|r| r.placement == p && r.workload == w.name() && r.which == i.name())
    };
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    for which in Impl::ALL.into_iter().filter(|i| i.is_svrkit()) {
        let ratio_bar = |p: Placement, w: Workload, min: f64, what: &str| {
            find(p, w, which).and_then(|r| r.x_raw).map(|x| {
                format!(
                    "{} {}: {what} {x:.2}x raw (bar >= {min}x)",
                    verdict(x >= min),
                    which.name()
                )
            })
        };
        let rate_bar = |w: Workload, min: f64, what: &str| {
            find(Placement::Free, w, which).and_then(|r| r.median.as_ref()).map(|m| {
                format!(
                    "{} {}: {what} {} /s (bar >= {})",
                    verdict(m.rps >= min),
                    which.name(),
                    fmt_rate(m.rps),
                    fmt_rate(min)
                )
            })
        };
        out.extend(ratio_bar(Placement::Free, Workload::Seq, 0.9, "1 conn 1 in flight, free,"));
        out.extend(ratio_bar(Placement::Pinned, Workload::Seq, 0.8, "1 conn 1 in flight, pinned,"));
        out.extend(rate_bar(Workload::Pipelined, 500e3, "1 conn 128 in flight, free,"));
        out.extend(ratio_bar(Placement::Free, Workload::Conns, 0.9, "32 conns, free,"));
        out.extend(rate_bar(Workload::Notify, 1.5e6, "notifications, free,"));
    }
    for (name, what) in [(micro::ROUND_TRIP, "owned protos"), (micro::ROUND_TRIP_VIEW, "views")] {
        if let Some(m) = micro.iter().find(|m| m.name == name) {
            out.push(format!(
                "{} codec round trip, {what}: {:.0} ns (bar < 300 ns)",
                verdict(m.ns_per_op < 300.0),
                m.ns_per_op
            ));
        }
    }
    out
}

fn commit() -> Option<String> {
    let out = Command::new("git").args(["rev-parse", "--short", "HEAD"]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// UTC `YYYYMMDDTHHMMSSZ` of now (from `date -u`; `unix-SECONDS` where there is none).
fn timestamp() -> String {
    let out = Command::new("date").args(["-u", "+%Y%m%dT%H%M%SZ"]).output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => {
            let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            format!("unix-{secs}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_sort_as_text_and_name_files() {
        let t = timestamp();
        let b = t.as_bytes();
        assert_eq!(b.len(), 16, "{t}");
        assert!(b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit), "{t}");
        assert_eq!((b[8], b[15]), (b'T', b'Z'), "{t}");
        assert!(t.as_str() >= "20260101T000000Z", "{t}");
    }
}
