//! Black-box tests with real processes and signals, driving the demo binary as a master
//! with rpc and self worker processes, and as a daemon.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::process::{kill_process, kill_process_group, Pid, Signal};

const DEMO: &str = env!("CARGO_BIN_EXE_svrkit-worker-demo");
const WAIT: Duration = Duration::from_secs(15);

fn pid(n: u32) -> Pid {
    Pid::from_raw(n as i32).unwrap()
}

fn signal(n: u32, sig: Signal) {
    let _ = kill_process(pid(n), sig);
}

fn alive(n: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{n}/stat")) {
        Ok(stat) => {
            let state = stat[stat.rfind(')').unwrap() + 1..].trim_start().chars().next();
            !matches!(state, Some('Z' | 'X'))
        }
        Err(_) => false,
    }
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("svrkit-worker-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A master process in its own process group, with its stdout as a line channel.
/// Dropping it SIGKILLs the whole group and reaps the master.
struct Tree {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    used: Vec<usize>,
}

impl Tree {
    fn start(args: &[&str]) -> Tree {
        Tree::start_env(args, &[])
    }

    fn start_env(args: &[&str], env: &[(&str, &str)]) -> Tree {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new(DEMO)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("spawn demo");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Tree { child, lines, seen: Vec::new(), used: Vec::new() }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The first line not matched before that satisfies `pred` (lines may arrive in
    /// any order relative to other expectations).
    fn expect(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        if let Some(i) =
            (0..self.seen.len()).find(|i| !self.used.contains(i) && pred(&self.seen[*i]))
        {
            self.used.push(i);
            return self.seen[i].clone();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        self.used.push(self.seen.len() - 1);
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("timed out waiting for {what}; output so far: {:#?}", self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("master closed stdout before {what}; output: {:#?}", self.seen)
                }
            }
        }
    }

    fn addr(&mut self) -> SocketAddr {
        let line = self.expect("LISTEN", |l| l.starts_with("LISTEN "));
        line["LISTEN ".len()..].parse().unwrap()
    }

    /// Waits for `started <worker> <pid>` and returns the pid.
    fn started(&mut self, worker: &str) -> u32 {
        let prefix = format!("EVENT started {worker} ");
        let line = self.expect(&prefix, |l| l.starts_with(&prefix));
        line[prefix.len()..].trim().parse().unwrap()
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Collect the rest of the output.
                while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
                    self.seen.push(line);
                }
                return status;
            }
            assert!(Instant::now() < deadline, "master did not exit; output: {:#?}", self.seen);
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = kill_process_group(pid(self.child.id()), Signal::KILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn connect(addr: SocketAddr) -> std::io::Result<(TcpStream, BufReader<TcpStream>)> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let r = BufReader::new(s.try_clone()?);
    Ok((s, r))
}

fn request(w: &mut TcpStream, r: &mut BufReader<TcpStream>, line: &str) -> std::io::Result<String> {
    w.write_all(format!("{line}\n").as_bytes())?;
    let mut reply = String::new();
    if r.read_line(&mut reply)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(reply.trim().to_string())
}

/// One PING on a fresh connection; the pid of the worker that answered.
fn ping(addr: SocketAddr) -> std::io::Result<u32> {
    let (mut w, mut r) = connect(addr)?;
    let reply = request(&mut w, &mut r, "PING")?;
    let mut parts = reply.split(' ');
    assert_eq!(parts.next(), Some("PONG"), "{reply}");
    Ok(parts.next().unwrap().parse().unwrap())
}

#[test]
fn sigkilled_rpc_worker_is_replaced_and_others_keep_answering() {
    let mut tree = Tree::start(&["--rpc-workers", "3", "--restart-ms", "100:1000"]);
    let addr = tree.addr();
    let pids: Vec<u32> = (0..3).map(|i| tree.started(&format!("rpc#{i}"))).collect();

    // Load: fresh connections, one PING each, until told to stop (bounded in count).
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let load = {
        let (stop, ok) = (Arc::clone(&stop), Arc::clone(&ok));
        std::thread::spawn(move || {
            let mut failed = 0;
            for _ in 0..20_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                match ping(addr) {
                    Ok(_) => {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => failed += 1,
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            failed
        })
    };
    wait_until("load before the kill", || ok.load(Ordering::SeqCst) >= 20);
    // Up: every worker reported ready; a crash from now on is restarted, not fatal.
    tree.expect("ready", |l| l == "EVENT ready");

    let killed_at = Instant::now();
    signal(pids[1], Signal::KILL);
    let exited = format!("EVENT exited rpc#1 {} signal=9 restart=true", pids[1]);
    tree.expect(&exited, |l| l.starts_with(&exited));
    let new_pid = tree.started("rpc#1");
    eprintln!("rpc#1 replaced in {:?}", killed_at.elapsed());
    assert_ne!(new_pid, pids[1]);
    assert!(alive(new_pid));

    let after = ok.load(Ordering::SeqCst);
    wait_until("load after the kill", || ok.load(Ordering::SeqCst) >= after + 50);
    stop.store(true, Ordering::SeqCst);
    let failed = load.join().unwrap();
    // Only requests caught on the killed worker's accepted connections may fail.
    assert!(failed <= 5, "{failed} failed requests");

    // The replacement serves the shared port: freeze the others, it alone can answer.
    signal(pids[0], Signal::STOP);
    signal(pids[2], Signal::STOP);
    let answered = ping(addr);
    signal(pids[0], Signal::CONT);
    signal(pids[2], Signal::CONT);
    assert_eq!(answered.unwrap(), new_pid);

    signal(tree.pid(), Signal::TERM);
    assert!(tree.wait_exit().success(), "{:#?}", tree.seen);
    for p in [pids[0], new_pid, pids[2]] {
        assert!(!alive(p), "worker {p} outlived the master");
    }
}

#[test]
fn sigterm_answers_accepted_request_then_master_exits_zero() {
    let mut tree = Tree::start(&["--rpc-workers", "2", "--drain-ms", "5000"]);
    let addr = tree.addr();
    let pids = [tree.started("rpc#0"), tree.started("rpc#1")];
    let (mut w, mut r) = connect(addr).unwrap();
    let ack = request(&mut w, &mut r, "SLEEP 500").unwrap();
    assert!(ack.starts_with("ACK "), "{ack}");

    signal(tree.pid(), Signal::TERM);
    let mut done = String::new();
    r.read_line(&mut done).unwrap();
    assert_eq!(done.trim(), ack.replace("ACK", "DONE"));

    let status = tree.wait_exit();
    assert!(status.success(), "{status:?} {:#?}", tree.seen);
    assert!(tree.seen.iter().any(|l| l == "SHUTDOWN force_killed=0"), "{:#?}", tree.seen);
    for p in pids {
        assert!(!alive(p), "worker {p} outlived the master");
    }
    // Every process closed the listener: the port refuses connections now.
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err());
}

#[test]
fn drain_timeout_bounds_a_stuck_worker() {
    let mut tree = Tree::start(&["--rpc-workers", "1", "--drain-ms", "200"]);
    let addr = tree.addr();
    let worker = tree.started("rpc#0");
    assert_eq!(ping(addr).unwrap(), worker, "ready: its SIGTERM handler is installed");
    // Freeze the worker: it cannot drain, the master must kill it after the deadline.
    signal(worker, Signal::STOP);
    signal(tree.pid(), Signal::TERM);
    let killed = format!("EVENT killed rpc#0 {worker}");
    tree.expect(&killed, |l| l == killed);
    assert!(tree.wait_exit().success(), "{:#?}", tree.seen);
    assert!(tree.seen.iter().any(|l| l == "SHUTDOWN force_killed=1"));
}

fn event_lines(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(' ').map(str::to_string).collect())
        .collect()
}

#[test]
fn panicking_self_worker_process_is_restarted() {
    let dir = temp_dir("self-panic");
    let events = dir.join("events");
    let mut tree = Tree::start(&[
        "--rpc-workers",
        "0",
        "--self",
        "ev:2",
        "--self-behavior",
        "panic-once",
        "--restart-ms",
        "50:500",
        "--events",
        events.to_str().unwrap(),
    ]);
    for id in 0..2 {
        let first = tree.started(&format!("self:ev#{id}"));
        let _ = first;
    }
    // Each worker panics on its first run (exit code 70) and is started again.
    let exited = "EVENT exited self:ev#";
    let line = tree.expect("a self worker exit", |l| l.starts_with(exited));
    assert!(line.contains("restart=true (exit code 70)"), "{line}");
    wait_until("both workers running twice", || {
        let ev = event_lines(&events);
        (0..2).all(|id| {
            let id = id.to_string();
            ev.iter().filter(|l| l[0] == "start" && l[1] == "ev" && l[2] == id).count() == 2
        })
    });
    let ev = event_lines(&events);
    for id in ["0", "1"] {
        let pids: Vec<&String> =
            ev.iter().filter(|l| l[0] == "start" && l[2] == id).map(|l| &l[4]).collect();
        assert_ne!(pids[0], pids[1], "a new process replaces the dead one");
    }
    signal(tree.pid(), Signal::TERM);
    assert!(tree.wait_exit().success(), "{:#?}", tree.seen);
    // The restarted workers got the stop signal and returned.
    let stops = event_lines(&events).iter().filter(|l| l[0] == "stop").count();
    assert_eq!(stops, 2);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn process_coroutine_worker_restarts_a_panicking_task_in_place() {
    let dir = temp_dir("self-coroutine");
    let events = dir.join("events");
    let mut tree = Tree::start(&[
        "--rpc-workers",
        "0",
        "--self",
        "co:1:3",
        "--self-behavior",
        "panic-once",
        "--restart-ms",
        "20:200",
        "--events",
        events.to_str().unwrap(),
    ]);
    let worker = tree.started("self:co#0");
    wait_until("every task restarted once", || {
        let ev = event_lines(&events);
        ev.iter().filter(|l| l[0] == "start" && l[5] == "1").count() == 3
    });
    let ev = event_lines(&events);
    // Same process for every start: tasks restart inside it, the process never died.
    assert!(ev.iter().all(|l| l[4] == worker.to_string()), "{ev:?}");
    let mut tasks: Vec<&String> = ev.iter().filter(|l| l[0] == "start").map(|l| &l[3]).collect();
    tasks.sort();
    assert_eq!(tasks, ["0", "0", "1", "1", "2", "2"]);
    signal(tree.pid(), Signal::TERM);
    assert!(tree.wait_exit().success(), "{:#?}", tree.seen);
    assert!(!tree
        .seen
        .iter()
        .any(|l| l.starts_with("EVENT exited self:co#0") && l.contains("restart=true")));
    assert_eq!(event_lines(&events).iter().filter(|l| l[0] == "stop").count(), 3);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn crash_looping_self_worker_backs_off() {
    let dir = temp_dir("crash-loop");
    let events = dir.join("events");
    let mut tree = Tree::start(&[
        "--rpc-workers",
        "0",
        "--self",
        "ev:1",
        "--self-behavior",
        "crash",
        "--restart-ms",
        "50:400",
        "--events",
        events.to_str().unwrap(),
    ]);
    tree.started("self:ev#0");
    // Delays 50, 100, 200, 400, 400... ms: about 8 starts fit in 2.5 s. A fixed 50 ms
    // delay would give ~40, no delay thousands.
    std::thread::sleep(Duration::from_millis(2500));
    let starts = event_lines(&events).iter().filter(|l| l[0] == "start").count();
    signal(tree.pid(), Signal::TERM);
    assert!(tree.wait_exit().success(), "{:#?}", tree.seen);
    assert!((3..=14).contains(&starts), "{starts} starts in 2.5 s");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn thread_self_server_starts_exactly_its_workers_threads() {
    let out = Command::new(DEMO).args(["--threads", "5"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let value = |key: &str| -> Vec<usize> {
        let line = text.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("{text}"));
        line.split(' ').skip(1).map(|n| n.parse().unwrap()).collect()
    };
    let before = value("BEFORE")[0];
    let running = value("RUNNING");
    assert_eq!(running[0], 5, "{text}");
    assert_eq!(running[1], before + 5, "{text}");
    assert_eq!(value("JOINED")[0], before, "{text}");
}

/// Runs a one-shot command of the demo (start/stop/status/restart), bounded in time.
fn run(args: &[&str]) -> (i32, String) {
    let mut child = Command::new(DEMO)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} did not finish");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (status.code().unwrap_or(-1), out + &err)
}

/// Kills the daemon's session (its process group) on drop, whatever the test did.
struct DaemonGuard(PathBuf);

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        if let Ok(text) = std::fs::read_to_string(&self.0) {
            if let Ok(p) = text.trim().parse::<u32>() {
                if alive(p) {
                    let _ = kill_process_group(pid(p), Signal::KILL);
                }
            }
        }
    }
}

fn daemon_pid(out: &str) -> u32 {
    out.lines()
        .find_map(|l| l.strip_prefix("DAEMON "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no DAEMON line in {out:?}"))
        .parse()
        .unwrap()
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[test]
fn daemon_start_status_restart_stop_round_trip() {
    let dir = temp_dir("daemon");
    // A folder that does not exist yet: `start` creates it for the pid and log files.
    let pid_file = dir.join("run/demo.pid");
    let log = dir.join("run/demo.log");
    let _guard = DaemonGuard(pid_file.clone());
    let p = pid_file.to_str().unwrap();
    let l = log.to_str().unwrap();
    let common = ["--rpc-workers", "1", "--pid", p, "--log", l];
    let with = |cmd: &'static str| -> Vec<&str> {
        let mut v = common.to_vec();
        v.push(cmd);
        v
    };

    let (code, out) = run(&with("start"));
    assert_eq!(code, 0, "{out}");
    let first = daemon_pid(&out);
    assert_eq!(read_pid(&pid_file), Some(first));
    // Detached: it leads its own session.
    let stat = std::fs::read_to_string(format!("/proc/{first}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let session: u32 = after.split(' ').nth(3).unwrap().parse().unwrap();
    assert_eq!(session, first);
    // It serves: the log file has its LISTEN line and events.
    wait_until("daemon log", || {
        std::fs::read_to_string(&log).unwrap_or_default().contains("EVENT started rpc#0")
    });
    let text = std::fs::read_to_string(&log).unwrap();
    let addr: SocketAddr =
        text.lines().find_map(|l| l.strip_prefix("LISTEN ")).unwrap().parse().unwrap();
    assert!(ping(addr).is_ok());

    let (code, out) = run(&with("status"));
    assert_eq!((code, out.trim()), (0, format!("running (pid {first})").as_str()));

    // A second start is refused while the first runs.
    let (code, out) = run(&with("start"));
    assert_ne!(code, 0, "{out}");
    assert!(out.contains(&format!("already running as pid {first}")), "{out}");

    let (code, out) = run(&with("restart"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("Stopped {{ pid: {first} }}")), "{out}");
    let second = daemon_pid(&out);
    assert_ne!(second, first);
    assert!(!alive(first));
    assert_eq!(read_pid(&pid_file), Some(second));

    let (code, out) = run(&with("stop"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("Stopped {{ pid: {second} }}")), "{out}");
    assert!(!alive(second));
    assert!(!pid_file.exists(), "clean exit removes the pid file");

    let (code, out) = run(&with("status"));
    assert_eq!((code, out.trim()), (3, "not running"));
    let (code, out) = run(&with("stop"));
    assert_eq!((code, out.trim()), (0, "NotRunning"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn another_build_of_the_binary_stops_the_running_one() {
    let dir = temp_dir("other-build");
    let pid_file = dir.join("demo.pid");
    let _guard = DaemonGuard(pid_file.clone());
    let p = pid_file.to_str().unwrap();
    // `target/release/x` started it, `target/debug/x` stops it (or a redeployed copy).
    let copy = dir.join("bin/svrkit-worker-demo");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(DEMO, &copy).unwrap();
    let (code, out) = run(&["--rpc-workers", "1", "--pid", p, "start"]);
    assert_eq!(code, 0, "{out}");
    let daemon = daemon_pid(&out);
    let out = Command::new(&copy).args(["--pid", p, "status"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.trim(), format!("running (pid {daemon})"));
    let out = Command::new(&copy).args(["--pid", p, "stop"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.trim(), format!("Stopped {{ pid: {daemon} }}"));
    assert!(!alive(daemon));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn stale_pid_files_are_detected_and_replaced() {
    let dir = temp_dir("stale");
    let pid_file = dir.join("demo.pid");
    let _guard = DaemonGuard(pid_file.clone());
    let p = pid_file.to_str().unwrap();
    let common = ["--rpc-workers", "1", "--pid", p];
    let with = |cmd: &'static str| -> Vec<&str> {
        let mut v = common.to_vec();
        v.push(cmd);
        v
    };

    // A pid that no longer exists.
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    std::fs::write(&pid_file, format!("{dead}\n")).unwrap();
    let (code, out) = run(&with("status"));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("stale pid file: pid {dead} is gone")), "{out}");

    // A pid reused by another program.
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    std::fs::write(&pid_file, format!("{}\n", sleeper.id())).unwrap();
    let (code, out) = run(&with("status"));
    let stopped = run(&with("stop"));
    let sleeper_alive = sleeper.try_wait().unwrap().is_none();
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("now runs") && out.contains("sleep"), "{out}");
    // `stop` must not signal the unrelated process; it removes the stale file.
    assert!(stopped.1.contains("Stale"), "{stopped:?}");
    assert!(sleeper_alive);
    assert!(!pid_file.exists());

    // `start` over a stale file replaces it.
    std::fs::write(&pid_file, format!("{dead}\n")).unwrap();
    let (code, out) = run(&with("start"));
    assert_eq!(code, 0, "{out}");
    let daemon = daemon_pid(&out);
    assert_eq!(read_pid(&pid_file), Some(daemon));
    let (code, out) = run(&with("stop"));
    assert_eq!(code, 0, "{out}");
    assert!(!alive(daemon));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn sighup_reload_replaces_every_worker_without_refusing_a_connection() {
    let mut tree = Tree::start(&["--rpc-workers", "2", "--drain-ms", "3000"]);
    let addr = tree.addr();
    let old = [tree.started("rpc#0"), tree.started("rpc#1")];

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let load = {
        let (stop, ok) = (Arc::clone(&stop), Arc::clone(&ok));
        std::thread::spawn(move || {
            let mut errors = Vec::new();
            for _ in 0..20_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                match ping(addr) {
                    Ok(_) => {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => errors.push(e.to_string()),
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            errors
        })
    };
    wait_until("load before the reload", || ok.load(Ordering::SeqCst) >= 20);
    signal(tree.pid(), Signal::HUP);
    tree.expect("reloading", |l| l.starts_with("EVENT other reloading"));
    let new = [tree.started("rpc#0"), tree.started("rpc#1")];
    for (o, n) in old.iter().zip(&new) {
        assert_ne!(o, n);
    }
    for p in old {
        tree.expect(&format!("old worker {p} to exit"), |l| {
            l.starts_with("EVENT exited rpc#")
                && l.contains(&format!(" {p} "))
                && l.contains("restart=false")
        });
    }
    let after = ok.load(Ordering::SeqCst);
    wait_until("load after the reload", || ok.load(Ordering::SeqCst) >= after + 20);
    stop.store(true, Ordering::SeqCst);
    let errors = load.join().unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    for p in old {
        assert!(!alive(p));
    }
    signal(tree.pid(), Signal::TERM);
    assert!(tree.wait_exit().success(), "{:#?}", tree.seen);
}

#[test]
fn a_reload_whose_new_workers_cannot_start_keeps_the_old_ones_serving() {
    let dir = temp_dir("reload-fail");
    let trigger = dir.join("fail");
    let mut tree = Tree::start_env(
        &["--rpc-workers", "2", "--restart-ms", "50:100"],
        &[("DEMO_RPC_FAIL_IF", trigger.to_str().unwrap())],
    );
    let addr = tree.addr();
    let old = [tree.started("rpc#0"), tree.started("rpc#1")];
    tree.expect("ready", |l| l == "EVENT ready");
    // From now on new rpc workers fail their start-up (think: a broken config file).
    std::fs::write(&trigger, "").unwrap();
    signal(tree.pid(), Signal::HUP);
    for (i, p) in old.iter().enumerate() {
        let want = format!("EVENT other rpc#{i}: reload failed: rpc#{i}: DEMO_RPC_FAIL is set");
        let line = tree.expect(&want, |l| l.starts_with(&want));
        assert!(line.ends_with(&format!("keeping the old process (pid {p})")), "{line}");
    }
    for p in old {
        assert!(alive(p), "the old worker {p} was kept");
    }
    // They still serve, and nothing is retried until the next SIGHUP.
    let answered: Vec<u32> = (0..20).map(|_| ping(addr).unwrap()).collect();
    assert!(answered.iter().all(|p| old.contains(p)), "{answered:?}");
    // A reload that works now replaces them.
    std::fs::remove_file(&trigger).unwrap();
    signal(tree.pid(), Signal::HUP);
    for p in old {
        tree.expect(&format!("old worker {p} to exit"), |l| {
            l.starts_with("EVENT exited rpc#") && l.contains(&format!(" {p} "))
        });
    }
    let newest = ping(addr).unwrap();
    assert!(!old.contains(&newest));
    signal(tree.pid(), Signal::TERM);
    assert!(tree.wait_exit().success(), "{:#?}", tree.seen);
    let starts = tree.seen.iter().filter(|l| l.starts_with("EVENT started rpc#")).count();
    assert_eq!(starts, 6, "2 at start, 2 failed, 2 good: no retry loop; {:#?}", tree.seen);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn workers_do_not_outlive_a_sigkilled_master() {
    let dir = temp_dir("orphans");
    let events = dir.join("events");
    let mut tree = Tree::start(&[
        "--rpc-workers",
        "2",
        "--self",
        "ev:1",
        "--events",
        events.to_str().unwrap(),
    ]);
    let pids = [tree.started("rpc#0"), tree.started("rpc#1"), tree.started("self:ev#0")];
    wait_until("self worker running", || event_lines(&events).iter().any(|l| l[0] == "start"));
    signal(tree.pid(), Signal::KILL);
    // The parent-death signal (SIGTERM) stops each worker gracefully.
    wait_until("every worker gone", || pids.iter().all(|p| !alive(*p)));
    assert!(event_lines(&events).iter().any(|l| l[0] == "stop"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn thread_self_workers_in_the_master_stop_with_the_tree() {
    let dir = temp_dir("self-threads");
    let events = dir.join("events");
    let mut tree = Tree::start(&[
        "--rpc-workers",
        "1",
        "--self",
        "ev:2",
        "--self",
        "val:1",
        "--self-type",
        "thread",
        "--events",
        events.to_str().unwrap(),
    ]);
    let master = tree.pid().to_string();
    tree.started("rpc#0");
    wait_until("three self threads running", || {
        event_lines(&events).iter().filter(|l| l[0] == "start").count() == 3
    });
    signal(tree.pid(), Signal::TERM);
    assert!(tree.wait_exit().success(), "{:#?}", tree.seen);
    let ev = event_lines(&events);
    let mut stopped: Vec<(String, String)> =
        ev.iter().filter(|l| l[0] == "stop").map(|l| (l[1].clone(), l[2].clone())).collect();
    stopped.sort();
    assert_eq!(
        stopped,
        [("ev".into(), "0".into()), ("ev".into(), "1".into()), ("val".into(), "0".into())]
    );
    // They ran in the master process itself.
    assert!(ev.iter().all(|l| l[4] == master), "{ev:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn stop_handle_stops_the_tree_like_sigterm() {
    let mut tree = Tree::start(&["--rpc-workers", "2", "--stop-after-ms", "300"]);
    let workers = [tree.started("rpc#0"), tree.started("rpc#1")];
    tree.expect("stopping on request", |l| l == "EVENT other stopping on request");
    assert!(tree.wait_exit().success(), "{:#?}", tree.seen);
    for w in workers {
        assert!(
            tree.seen.iter().any(|l| l.starts_with("EVENT exited rpc#")
                && l.contains(&format!(" {w} "))
                && l.contains("restart=false")),
            "{:#?}",
            tree.seen
        );
    }
    assert!(tree.seen.iter().any(|l| l == "SHUTDOWN force_killed=0"));
}

#[test]
fn rpc_worker_failing_before_ready_fails_the_start_and_stops_the_others() {
    let mut tree = Tree::start_env(
        &["--rpc-workers", "2", "--self", "ev:1", "--restart-ms", "50:100"],
        &[("DEMO_RPC_FAIL", "1")],
    );
    let self_pid = tree.started("self:ev#0");
    let line = tree.expect("FAILED", |l| l.starts_with("FAILED "));
    assert!(line.contains("failed to start: rpc#"), "{line}");
    assert!(line.contains("DEMO_RPC_FAIL is set"), "{line}");
    let status = tree.wait_exit();
    assert!(!status.success(), "{status}: {:#?}", tree.seen);
    // Not restarted, and nothing left behind: the self worker was stopped too.
    assert!(!tree.seen.iter().any(|l| l.contains("restart=true")), "{:#?}", tree.seen);
    assert!(!tree.seen.iter().any(|l| l == "EVENT ready"), "{:#?}", tree.seen);
    assert!(!alive(self_pid));
}

/// Pids of live processes whose environment says the daemon started by `starter`
/// (the daemon and its workers).
fn daemon_tree_of(starter: u32) -> Vec<u32> {
    let needle = format!("SVRKIT_DAEMON={starter}");
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let env = std::fs::read(format!("/proc/{p}/environ")).unwrap_or_default();
        if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) && alive(p) {
            found.push(p);
        }
    }
    found
}

/// `run`, also returning the starter's pid.
fn run_with_pid(args: &[&str], env: &[(&str, &str)]) -> (i32, String, u32) {
    let mut child = Command::new(DEMO)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let starter = child.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} did not finish");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (status.code().unwrap_or(-1), out + &err, starter)
}

#[test]
fn daemon_start_reports_what_kept_it_from_serving() {
    let dir = temp_dir("daemon-fail");
    let pid_file = dir.join("demo.pid");
    let log = dir.join("demo.log");
    let _guard = DaemonGuard(pid_file.clone());
    let (p, l) = (pid_file.to_str().unwrap(), log.to_str().unwrap());

    // The port is taken: the start fails, naming the address; the pid file is gone.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, out, starter) =
        run_with_pid(&["--listen", &addr, "--pid", p, "--log", l, "start"], &[]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains(&format!("did not start: bind {addr}")), "{out}");
    assert!(out.contains(l), "the log file is named: {out}");
    assert!(!pid_file.exists());
    assert!(daemon_tree_of(starter).is_empty());

    // An rpc worker fails before it is ready: its error, and no process left behind.
    let (code, out, starter) = run_with_pid(
        &["--rpc-workers", "2", "--pid", p, "--log", l, "start"],
        &[("DEMO_RPC_FAIL", "1")],
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("failed to start: rpc#"), "{out}");
    assert!(out.contains("DEMO_RPC_FAIL is set"), "{out}");
    assert!(!pid_file.exists());
    assert!(daemon_tree_of(starter).is_empty(), "{:?}", daemon_tree_of(starter));

    // A good start reports the address it serves.
    let (code, out, _) =
        run_with_pid(&["--rpc-workers", "1", "--pid", p, "--log", l, "start"], &[]);
    assert_eq!(code, 0, "{out}");
    let served: SocketAddr = out
        .lines()
        .find_map(|l| l.split_once(" LISTEN ").map(|(_, a)| a.trim().to_string()))
        .unwrap_or_else(|| panic!("no address in {out:?}"))
        .parse()
        .unwrap();
    assert!(ping(served).is_ok(), "ready means it answers");
    let (code, out, _) = run_with_pid(&["--pid", p, "stop"], &[]);
    assert_eq!(code, 0, "{out}");
    std::fs::remove_dir_all(dir).unwrap();
}
