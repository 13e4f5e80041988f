//! End-to-end tests of `svrkit::App` through a real service process (`svrkit-app-echo`):
//! the four worker modes, self workers and their restarts, graceful stop under load,
//! worker replacement after SIGKILL, daemon commands, config errors and ZooKeeper
//! registration.

mod app_support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app_support::*;
use svrkit::client::ClientError;

const LONG: Duration = Duration::from_secs(20);

/// One mode: the same calls, the self workers of `self_type` (beating, `crashy`
/// restarted after its panic), init in the serving process, then SIGTERM → exit 0.
fn check_mode(mode: &str, self_type: &str) {
    let dir = TempDir::new(mode);
    let conf = dir.conf(&(rpc_conf(&dir, mode) + &self_conf(self_type)));
    let mut server = Server::start(&dir, &conf, &[]);
    let master = server.pid();
    let rpc_in_process = mode.starts_with("process");

    let c = client(server.addr, 1, Duration::from_secs(5));
    assert_eq!(c.call::<String>("echo", &("hi",)).unwrap(), "hi");
    assert_eq!(c.call::<i64>("add", &(2, 3)).unwrap(), 5);
    let (pid, init_pid): (u32, u32) = c.call("whoami", &()).unwrap();
    assert_eq!(pid, init_pid, "{mode}: the init hook ran in the serving process");
    assert_eq!(pid != master, rpc_in_process, "{mode}: served by pid {pid}, master {master}");
    let err = c.call::<()>("nope", &()).unwrap_err();
    assert!(err.to_string().contains("no such method"), "{err}");

    // Several connections at once, each with many calls.
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let addr = server.addr;
            std::thread::spawn(move || {
                let c = client(addr, 1, Duration::from_secs(5));
                for i in 0..100 {
                    let s = format!("{t}-{i}");
                    assert_eq!(c.call::<String>("echo", &(&s,)).unwrap(), s);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // The configured threads are the threads there are: worker_sum = 2.
    let count = |pid, handlers, io| {
        let got = (threads_named(pid, "svrkit-handler"), threads_named(pid, "svrkit-worker"));
        assert_eq!(got, (handlers, io), "{mode}: (handler, I/O) threads of pid {pid}");
    };
    match mode {
        "thread" => count(master, 2, 1),
        "coroutine" => count(master, 0, 2),
        _ => {
            count(master, 0, 0);
            let rpc: Vec<u32> =
                children(master).into_iter().filter(|(_, r)| r == "rpc").map(|(p, _)| p).collect();
            assert_eq!(rpc.len(), 2, "{mode}: worker_sum = 2 rpc processes");
            for pid in rpc {
                // process: one handler thread per process; process_coroutine: one executor.
                count(pid, usize::from(mode == "process"), 1);
            }
        }
    }

    // Self workers: every one beats, in the master for `thread`, in workers otherwise.
    let names: Vec<String> = match self_type {
        "process_coroutine" => vec!["beat-0-0", "beat-0-1", "beat-1-0", "beat-1-1", "crashy-0-0"],
        _ => vec!["beat-0", "beat-1", "crashy-0"],
    }
    .into_iter()
    .map(String::from)
    .collect();
    for name in &names {
        let (_, pid, _) =
            wait_for(LONG, &format!("{mode}: heartbeat {name}"), || heartbeat(&dir, name));
        assert_eq!(pid == master, self_type == "thread", "{mode}: {name} runs in pid {pid}");
    }
    // `crashy` panicked on its first run and was restarted; it keeps beating.
    let crashy = names.last().unwrap();
    let crashed_pid: u32 =
        std::fs::read_to_string(dir.join(&format!("crashed-{crashy}"))).unwrap().parse().unwrap();
    let (first, pid, restarts) = heartbeat(&dir, crashy).unwrap();
    match self_type {
        "process" => assert_ne!(pid, crashed_pid, "a new process replaced the panicked one"),
        _ => {
            assert_eq!(pid, crashed_pid, "restarted in place");
            assert!(restarts >= 1, "{mode}: restarts = {restarts}");
        }
    }
    wait_for(LONG, "crashy to keep beating", || {
        heartbeat(&dir, crashy).filter(|(n, _, _)| *n >= first + 3)
    });

    // SIGINT (Ctrl-C) stops as gracefully as SIGTERM; so does a terminal's hang-up
    // (SIGHUP) in a one-process mode, which has nothing to reload.
    server.signal(match mode {
        "thread" => "HUP",
        m if m.ends_with("coroutine") => "INT",
        _ => "TERM",
    });
    let st = server.wait_exit(LONG);
    assert_eq!(st.code(), Some(0), "{mode}: exit status {st}\n{}", server.log_text());
    assert!(!dir.join("app_echo.pid").exists(), "the pid file is removed at exit");
    if rpc_in_process || self_type != "thread" {
        wait_for(LONG, "no worker left", || children(master).is_empty().then_some(()));
    }
}

#[test]
fn thread_mode_with_thread_self_workers() {
    check_mode("thread", "thread");
}

#[test]
fn coroutine_mode_with_process_self_workers() {
    check_mode("coroutine", "process");
}

#[test]
fn process_mode_with_process_coroutine_self_workers() {
    check_mode("process", "process_coroutine");
}

#[test]
fn process_coroutine_mode_with_thread_self_workers() {
    check_mode("process_coroutine", "thread");
}

/// Echo load from `n` connections until `stop`; returns (ok count, errors).
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    threads: Vec<std::thread::JoinHandle<Vec<ClientError>>>,
}

impl Load {
    fn start(addr: std::net::SocketAddr, n: usize, retries: u32) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let threads = (0..n)
            .map(|t| {
                let (stop, ok) = (Arc::clone(&stop), Arc::clone(&ok));
                std::thread::spawn(move || {
                    let c = client(addr, retries, Duration::from_secs(3));
                    let mut errors = Vec::new();
                    for i in 0u64.. {
                        if stop.load(Ordering::SeqCst) || errors.len() > 20 || i > 1_000_000 {
                            break;
                        }
                        let s = format!("{t}:{i}");
                        match c.call::<String>("echo", &(&s,)) {
                            Ok(r) => {
                                assert_eq!(r, s);
                                ok.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(e) => errors.push(e),
                        }
                    }
                    errors
                })
            })
            .collect();
        Load { stop, ok, threads }
    }

    fn ok(&self) -> usize {
        self.ok.load(Ordering::SeqCst)
    }

    fn finish(self) -> (usize, Vec<ClientError>) {
        self.stop.store(true, Ordering::SeqCst);
        let errors = self.threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
        (self.ok.load(Ordering::SeqCst), errors)
    }
}

/// SIGTERM while `slow` calls run and echo load flows: every accepted call is answered,
/// exit 0.
fn sigterm_under_load(mode: &str) {
    let dir = TempDir::new(&format!("term-{mode}"));
    let conf = dir.conf(&rpc_conf(&dir, mode));
    let mut server = Server::start(&dir, &conf, &[]);
    let load = Load::start(server.addr, 2, 1);
    wait_for(LONG, "echo load to flow", || (load.ok() > 20).then_some(()));

    const SLOW: usize = 4;
    let slow: Vec<_> = (0..SLOW)
        .map(|i| {
            let addr = server.addr;
            std::thread::spawn(move || {
                let c = client(addr, 1, Duration::from_secs(10));
                // Warm the connection up, so the slow call goes to an accepted one.
                c.call::<String>("echo", &("warm",)).unwrap();
                c.call::<String>("slow", &(600u64, format!("slow{i}")))
            })
        })
        .collect();
    wait_for(LONG, "every slow call to reach its handler", || {
        (slow_calls(&dir) >= SLOW).then_some(())
    });
    server.signal("TERM");
    for (i, t) in slow.into_iter().enumerate() {
        let r = t.join().unwrap();
        assert_eq!(r.unwrap(), format!("slow{i}"), "{mode}: an accepted call was not answered");
    }
    let st = server.wait_exit(LONG);
    assert_eq!(st.code(), Some(0), "{mode}: {st}\n{}", server.log_text());
    let (ok, errors) = load.finish();
    assert!(ok > 20);
    for e in &errors {
        // Calls sent after the stop find the port closed or the connection closing;
        // none may hang or be answered wrongly.
        assert!(
            matches!(e, ClientError::Connect { .. } | ClientError::ConnectionLost { .. }),
            "{mode}: unexpected error under stop: {e}"
        );
    }
}

#[test]
fn sigterm_under_load_in_coroutine_mode_answers_every_accepted_call() {
    sigterm_under_load("coroutine");
}

#[test]
fn sigterm_under_load_in_process_mode_answers_every_accepted_call() {
    sigterm_under_load("process");
}

/// A call that outlives `drain_timeout` does not hold the stop: it is dropped, exit 0.
fn drain_is_bounded(mode: &str) {
    let dir = TempDir::new(&format!("drain-{mode}"));
    let conf =
        dir.conf(&rpc_conf(&dir, mode).replace("drain_timeout = 5s", "drain_timeout = 300ms"));
    let mut server = Server::start(&dir, &conf, &[]);
    let addr = server.addr;
    let stuck = std::thread::spawn(move || {
        client(addr, 1, Duration::from_secs(30)).call::<String>("slow", &(60_000u64, "stuck"))
    });
    wait_for(LONG, "the stuck call to start", || (slow_calls(&dir) == 1).then_some(()));
    server.signal("TERM");
    let st = server.wait_exit(LONG);
    assert_eq!(st.code(), Some(0), "{mode}: {st}\n{}", server.log_text());
    let err = stuck.join().unwrap().unwrap_err();
    assert!(matches!(err, ClientError::ConnectionLost { .. }), "{mode}: {err}");
}

#[test]
fn drain_timeout_bounds_the_stop_in_coroutine_mode() {
    drain_is_bounded("coroutine");
}

#[test]
fn drain_timeout_bounds_the_stop_in_process_mode() {
    drain_is_bounded("process");
}

#[test]
fn sigkilled_process_worker_is_replaced_and_calls_keep_succeeding() {
    let dir = TempDir::new("sigkill");
    let conf = dir.conf(&rpc_conf(&dir, "process"));
    let mut server = Server::start(&dir, &conf, &[]);
    let master = server.pid();
    let rpc = |pids: &[(u32, String)]| -> Vec<u32> {
        pids.iter().filter(|(_, r)| r == "rpc").map(|(p, _)| *p).collect()
    };
    let before =
        wait_for(LONG, "two rpc workers", || Some(rpc(&children(master))).filter(|p| p.len() == 2));
    // Default retries (3). A call in flight on the killed worker's connection fails with
    // a typed error (the client does not retry a single-node call on the same node); the
    // next call reconnects and a live worker accepts it from the shared queue.
    const CONNS: usize = 3;
    let load = Load::start(server.addr, CONNS, 3);
    wait_for(LONG, "load to flow", || (load.ok() > 100).then_some(()));

    let victim = before[0];
    let killed_at = Instant::now();
    assert!(kill("KILL", &victim.to_string()));
    let after = wait_for(LONG, "the killed worker to be replaced", || {
        Some(rpc(&children(master))).filter(|p| p.len() == 2 && !p.contains(&victim))
    });
    println!("figure: SIGKILLed rpc worker replaced in {:?}", killed_at.elapsed());
    assert!(after.contains(&before[1]), "the other worker was not disturbed");
    let mark = load.ok();
    wait_for(LONG, "load to go on after the replacement", || {
        (load.ok() > mark + 100).then_some(())
    });
    let (ok, errors) = load.finish();
    assert!(errors.len() <= CONNS, "{} of {} calls failed: {:?}", errors.len(), ok, errors);
    for e in &errors {
        assert!(matches!(e, ClientError::ConnectionLost { .. }), "unexpected error: {e}");
    }
    let log = server.log_text();
    assert!(log.contains(&format!("(pid {victim}) ended")), "the master logs the death:\n{log}");

    server.signal("TERM");
    assert_eq!(server.wait_exit(LONG).code(), Some(0));
}

#[test]
fn sighup_with_a_broken_config_keeps_the_old_workers_serving() {
    let dir = TempDir::new("reload");
    let good = rpc_conf(&dir, "process");
    let conf = dir.conf(&good);
    let mut server = Server::start(&dir, &conf, &[]);
    let master = server.pid();
    let rpc = || -> Vec<u32> {
        children(master).into_iter().filter(|(_, r)| r == "rpc").map(|(p, _)| p).collect()
    };
    let old = wait_for(LONG, "two rpc workers", || Some(rpc()).filter(|p| p.len() == 2));
    wait_for(LONG, "the tree to be ready", || {
        server.log_text().contains("app_echo ready").then_some(())
    });

    // A typo in the config, then a reload: the new workers cannot start, the old serve on.
    dir.conf(&good.replace("worker_type = process", "worker_type = proces"));
    server.signal("HUP");
    wait_for(LONG, "both reloads to fail", || {
        (server.log_text().matches("reload failed: ").count() >= 2).then_some(())
    });
    let log = server.log_text();
    assert!(log.contains("[rpc_server] worker_type: invalid value \"proces\""), "{log}");
    assert_eq!(rpc(), old, "the old workers were kept");
    let c = client(server.addr, 1, Duration::from_secs(5));
    let (pid, _): (u32, u32) = c.call("whoami", &()).unwrap();
    assert!(old.contains(&pid));

    // Fixed config, reload: new workers take over, the old ones leave.
    dir.conf(&good);
    server.signal("HUP");
    let new = wait_for(LONG, "a new generation", || {
        Some(rpc()).filter(|p| p.len() == 2 && !p.iter().any(|p| old.contains(p)))
    });
    let c = client(server.addr, 1, Duration::from_secs(5));
    let (pid, _): (u32, u32) = c.call("whoami", &()).unwrap();
    assert!(new.contains(&pid), "{pid} not in {new:?}");
    server.signal("TERM");
    assert_eq!(server.wait_exit(LONG).code(), Some(0));
}

#[test]
fn process_mode_serves_a_unix_socket_too_and_removes_it() {
    let dir = TempDir::new("unix");
    let sock = dir.join("app_echo.sock");
    // A stale socket file (nobody listening) is replaced.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    let conf = rpc_conf(&dir, "process")
        .replace("port = 0\n", &format!("port = 0\nunix_socket = {}\n", sock.display()));
    let mut server = Server::start(&dir, &dir.conf(&conf), &[]);
    let unix = svrkit::client::BlockingClient::new(
        svrkit::config::ClientConfig::single(svrkit::client::Endpoint::unix(&sock)).with_retries(1),
    )
    .unwrap();
    assert_eq!(unix.call::<String>("echo", &("over unix",)).unwrap(), "over unix");
    let (pid, _): (u32, u32) = unix.call("whoami", &()).unwrap();
    assert_ne!(pid, server.pid(), "an rpc worker answers on the inherited Unix listener");
    let tcp = client(server.addr, 1, Duration::from_secs(5));
    assert_eq!(tcp.call::<String>("echo", &("over tcp",)).unwrap(), "over tcp");
    server.signal("TERM");
    assert_eq!(server.wait_exit(LONG).code(), Some(0));
    assert!(!sock.exists(), "the master removes its socket file");
}

/// Kills a daemon's whole session on drop (it runs in its own session and group).
struct DaemonGuard(Mutex<Vec<u32>>);

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        for pid in self.0.lock().unwrap().iter() {
            kill("KILL", &format!("-{pid}"));
        }
    }
}

#[test]
fn daemon_start_status_restart_stop_round_trip() {
    let dir = TempDir::new("daemon");
    let conf = dir.conf(&(rpc_conf(&dir, "process") + &self_conf("thread")));
    let conf = conf.to_str().unwrap();
    let pid_file = dir.join("app_echo.pid");
    let log_file = dir.join("app_echo.log");
    let guard = DaemonGuard(Mutex::new(Vec::new()));
    let read_pid =
        || -> u32 { std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap() };

    let (code, out, err) = run(&dir, &["-c", conf, "start"], &[]);
    assert_eq!(code, 0, "start: {out}{err}");
    let pid = read_pid();
    guard.0.lock().unwrap().push(pid);
    assert!(out.contains(&format!("started (pid {pid}; listening on 127.0.0.1:")), "{out}");
    assert!(out.contains(&format!("log {}", log_file.display())), "{out}");
    // `start` returned after the workers reported ready: the printed address answers.
    let addr = listening_addr(&out).unwrap_or_else(|| panic!("no address in {out:?}"));
    let c = client(addr, 1, Duration::from_secs(5));
    assert_eq!(c.call::<String>("echo", &("daemon",)).unwrap(), "daemon");

    let (code, out, _) = run(&dir, &["-c", conf, "status"], &[]);
    assert_eq!(code, 0, "{out}");
    let out = out.trim();
    assert!(out.starts_with(&format!("app_echo: running (pid {pid}; up ")), "{out}");
    assert!(out.ends_with("s; 2 rpc workers)"), "worker_sum = 2 processes: {out}");
    // A second start is refused while it runs.
    let (code, _, err) = run(&dir, &["-c", conf, "-d"], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&pid.to_string()), "{err}");

    let (code, out, err) = run(&dir, &["-c", conf, "restart"], &[]);
    assert_eq!(code, 0, "restart: {out}{err}");
    let pid2 = read_pid();
    guard.0.lock().unwrap().push(pid2);
    assert_ne!(pid2, pid);
    assert!(out.contains(&format!("stopped (pid {pid})")), "{out}");
    assert!(!is_alive(pid), "the old daemon is gone");
    let addr2 = wait_for(LONG, "the new daemon to listen", || {
        let log = std::fs::read_to_string(&log_file).unwrap_or_default();
        listening_addr(&log).filter(|a| *a != addr || log.matches(" listening on ").count() >= 2)
    });
    let c = client(addr2, 1, Duration::from_secs(5));
    assert_eq!(c.call::<String>("echo", &("again",)).unwrap(), "again");

    let (code, out, err) = run(&dir, &["-c", conf, "stop"], &[]);
    assert_eq!(code, 0, "stop: {out}{err}");
    assert!(out.contains(&format!("stopped (pid {pid2})")), "{out}");
    assert!(!is_alive(pid2));
    assert!(!pid_file.exists());
    let (code, out, _) = run(&dir, &["-c", conf, "status"], &[]);
    assert_eq!((code, out.trim()), (3, "app_echo: not running"));
    let (code, out, _) = run(&dir, &["-c", conf, "stop"], &[]);
    assert_eq!((code, out.trim()), (0, "app_echo: not running"));
    let log = std::fs::read_to_string(&log_file).unwrap();
    assert_eq!(log.matches("app_echo stopped").count(), 2, "{log}");
}

#[test]
fn usage_and_config_errors_are_one_line_and_exit_2() {
    let dir = TempDir::new("errors");
    let bt = [("RUST_BACKTRACE", "1")];
    let check = |args: &[&str], env: &[(&str, &str)], want_code: i32, want: &[&str]| {
        let (code, out, err) = run(&dir, args, env);
        assert_eq!(code, want_code, "{args:?}: {out}{err}");
        for w in want {
            assert!(err.contains(w), "{args:?}: {err:?} lacks {w:?}");
        }
        assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    };
    check(&["-x"], &bt, 2, &["unknown argument `-x`", "usage: app_echo [-c CONF]"]);
    check(&[], &bt, 2, &["app_echo_svr.conf: cannot read"]);

    let good = rpc_conf(&dir, "coroutine");
    let conf = dir.conf(&good.replace("worker_type = coroutine", "worker_type = proces"));
    let conf = conf.to_str().unwrap();
    check(&["-c", conf], &bt, 2, &["app_echo_svr.conf: [rpc_server] worker_type: invalid value"]);

    let groups = self_conf("thread").replace("group_name = crashy", "group_name = crashe");
    dir.conf(&(good.clone() + &groups));
    check(
        &["-c", conf],
        &bt,
        2,
        &["[self_group1] group_name: invalid value \"crashe\"", "known: beat, crashy"],
    );

    dir.conf(&good.replace(&format!("pid = {}\n", dir.join("app_echo.pid").display()), ""));
    check(&["-c", conf, "status"], &bt, 2, &["[app] pid: missing; `status` needs a pid file"]);

    dir.conf(&good);
    check(
        &["-c", conf],
        &[("APP_ECHO_FAIL_INIT", "disk full")],
        1,
        &["init hook failed: refusing to start: disk full"],
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    dir.conf(&rpc_conf(&dir, "process").replace("port = 0", &format!("port = {port}")));
    check(&["-c", conf], &bt, 1, &[&format!("cannot listen on 127.0.0.1:{port}")]);

    let (code, out, _) = run(&dir, &["-h"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("start    run as a daemon"), "{out}");
}

/// SIGKILLs whatever a test left of its service (daemons run in their own session).
struct TreeGuard<'a>(&'a TempDir);

impl Drop for TreeGuard<'_> {
    fn drop(&mut self) {
        for pid in processes_of(self.0) {
            kill("KILL", &pid.to_string());
        }
    }
}

#[test]
fn a_one_process_daemon_ignores_sighup() {
    let dir = TempDir::new("daemon-hup");
    let _guard = TreeGuard(&dir);
    let conf = dir.conf(&rpc_conf(&dir, "coroutine"));
    let conf = conf.to_str().unwrap();
    let (code, out, err) = run(&dir, &["-c", conf, "start"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    let pid: u32 =
        std::fs::read_to_string(dir.join("app_echo.pid")).unwrap().trim().parse().unwrap();
    let addr = listening_addr(&out).unwrap();
    assert!(kill("HUP", &pid.to_string()));
    // Still the same process, still answering (SIGHUP's default action would kill it).
    let c = client(addr, 1, Duration::from_secs(5));
    assert_eq!(c.call::<String>("echo", &("after HUP",)).unwrap(), "after HUP");
    assert!(is_alive(pid));
    let (code, out, _) = run(&dir, &["-c", conf, "stop"], &[]);
    assert_eq!((code, out.trim()), (0, format!("app_echo: stopped (pid {pid})").as_str()));
}

#[test]
fn daemon_start_on_a_taken_port_fails_naming_the_address() {
    for mode in ["coroutine", "process"] {
        let dir = TempDir::new(&format!("taken-{mode}"));
        let _guard = TreeGuard(&dir);
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let conf = dir.conf(&rpc_conf(&dir, mode).replace("port = 0", &format!("port = {port}")));
        let (code, out, err) = run(&dir, &["-c", conf.to_str().unwrap(), "start"], &[]);
        assert_eq!(code, 1, "{mode}: {out}{err}");
        assert!(
            err.contains(&format!("app_echo: did not start: cannot listen on 127.0.0.1:{port}")),
            "{mode}: {err}"
        );
        assert!(err.contains(&dir.join("app_echo.log").display().to_string()), "{err}");
        assert!(!out.contains("started"), "{mode}: {out}");
        assert!(!dir.join("app_echo.pid").exists(), "{mode}: no pid file left");
        assert_eq!(processes_of(&dir), Vec::<u32>::new(), "{mode}: nothing left running");
    }
}

#[test]
fn init_failure_in_a_process_worker_fails_the_start_and_leaves_nothing() {
    let fail = [("APP_ECHO_FAIL_INIT", "disk full")];
    let want = "failed to start: init hook failed: refusing to start: disk full";
    for mode in ["process", "process_coroutine"] {
        let dir = TempDir::new(&format!("initfail-{mode}"));
        let _guard = TreeGuard(&dir);
        let conf = dir.conf(&(rpc_conf(&dir, mode) + &self_conf("process")));
        let conf = conf.to_str().unwrap();
        // Foreground: the master stops the other workers and exits 1 with the error,
        // instead of restarting the failing worker forever.
        let (code, out, err) = run(&dir, &["-c", conf], &fail);
        assert_eq!(code, 1, "{mode}: {out}{err}");
        // Whichever worker failed first is named: rpc or self workers (process self
        // workers run the init hook too).
        let names_a_worker = |l: &str| l.starts_with("rpc#") || l.starts_with("self:");
        let last = err.lines().rev().find(|l| l.starts_with("app_echo: ")).unwrap_or_default();
        let last = last.trim_start_matches("app_echo: ");
        assert!(names_a_worker(last) && last.ends_with(want), "{mode}: {err}");
        assert_eq!(processes_of(&dir), Vec::<u32>::new(), "{mode}: nothing left running");
        assert!(!dir.join("app_echo.pid").exists());

        // Daemon: `start` prints the same error and exits 1.
        let (code, out, err) = run(&dir, &["-c", conf, "start"], &fail);
        assert_eq!(code, 1, "{mode}: {out}{err}");
        let line = err.lines().find_map(|l| l.strip_prefix("app_echo: did not start: "));
        assert!(line.is_some_and(|l| names_a_worker(l) && l.contains(want)), "{mode}: {err}");
        assert_eq!(processes_of(&dir), Vec::<u32>::new(), "{mode}: nothing left running");
        assert!(!dir.join("app_echo.pid").exists());
        let log = std::fs::read_to_string(dir.join("app_echo.log")).unwrap();
        assert!(!log.contains("restarting in"), "not restarted: {log}");
    }
}

#[test]
fn an_init_hook_that_panics_fails_the_start_with_its_message() {
    let panic = [("APP_ECHO_PANIC_INIT", "no DATABASE_URL")];
    let want = "init panicked on purpose: no DATABASE_URL";
    for mode in ["process", "coroutine"] {
        let dir = TempDir::new(&format!("panic-{mode}"));
        let _guard = TreeGuard(&dir);
        let conf = dir.conf(&rpc_conf(&dir, mode));
        let (code, out, err) = run(&dir, &["-c", conf.to_str().unwrap(), "start"], &panic);
        assert_eq!(code, 1, "{mode}: {out}{err}");
        let line = err.lines().find(|l| l.starts_with("app_echo: did not start: ")).unwrap_or("");
        assert!(line.contains("panicked at ") && line.contains(want), "{mode}: {err}");
        if mode == "process" {
            assert!(line.contains("rpc#"), "names the worker: {line}");
        }
        assert_eq!(processes_of(&dir), Vec::<u32>::new(), "{mode}: nothing left running");
        assert!(!dir.join("app_echo.pid").exists());
    }
}

mod registry {
    use super::*;
    use svrkit_discovery::testing::ZkServer;
    use svrkit_discovery::{Watcher, ZkOptions};

    /// The node appears once the server listens and is gone while an accepted call is
    /// still being answered (deregister first, then drain).
    fn registers_then_leaves_before_draining(mode: &str) {
        let zk = ZkServer::start().expect("a ZooKeeper for the test (apt-get install zookeeper)");
        let dir = TempDir::new(&format!("zk-{mode}"));
        let conf = rpc_conf(&dir, mode)
            + &format!("\n[registry]\nzk = {}\npath = /svrkit\nweight = 7\n", zk.hosts());
        let conf = dir.conf(&conf);
        let mut server = Server::start(&dir, &conf, &[]);
        let addr = server.addr;

        smol::block_on(async {
            let opts = ZkOptions::new(&zk.hosts()).unwrap();
            let watcher = Watcher::watch(&opts, "app_echo").await.unwrap();
            let mut updates = watcher.subscribe();
            let deadline = Instant::now() + LONG;
            let mut now = watcher.current();
            while !now.addrs().contains(&addr) {
                assert!(Instant::now() < deadline, "{addr} never registered");
                let next = futures_lite::future::or(updates.changed(), async {
                    async_io::Timer::after(Duration::from_millis(200)).await;
                    None
                });
                now = next.await.unwrap_or_else(|| watcher.current());
            }
            let me = now.providers().iter().find(|p| p.addr == addr).unwrap();
            assert_eq!(me.meta.weight, 7);

            let done = Arc::new(AtomicBool::new(false));
            let slow = std::thread::spawn({
                let done = Arc::clone(&done);
                move || {
                    let c = client(addr, 1, Duration::from_secs(10));
                    let r = c.call::<String>("slow", &(1500u64, "last".to_string()));
                    done.store(true, Ordering::SeqCst);
                    r
                }
            });
            wait_for(LONG, "the slow call to start", || (slow_calls(&dir) == 1).then_some(()));
            server.signal("TERM");
            let mut now = watcher.current();
            while now.addrs().contains(&addr) {
                assert!(Instant::now() < deadline, "{addr} never left the registry");
                let next = futures_lite::future::or(updates.changed(), async {
                    async_io::Timer::after(Duration::from_millis(200)).await;
                    None
                });
                now = next.await.unwrap_or_else(|| watcher.current());
            }
            assert!(
                !done.load(Ordering::SeqCst),
                "{mode}: the node was still registered after the server finished answering"
            );
            assert_eq!(slow.join().unwrap().unwrap(), "last");
        });
        let st = server.wait_exit(LONG);
        assert_eq!(st.code(), Some(0), "{st}\n{}", server.log_text());
        let log = server.log_text();
        let left = log.lines().find(|l| l.contains("left the registry")).expect("logged");
        println!("figure ({mode}): {}", left.split(": ").last().unwrap_or(left));
    }

    #[test]
    fn coroutine_mode_registers_and_leaves_first() {
        registers_then_leaves_before_draining("coroutine");
    }

    #[test]
    fn process_mode_registers_and_leaves_first() {
        registers_then_leaves_before_draining("process");
    }

    fn unreachable_zookeeper_is_a_startup_error_naming_it(mode: &str) {
        let dir = TempDir::new(&format!("zk-down-{mode}"));
        let _guard = TreeGuard(&dir);
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let conf = rpc_conf(&dir, mode) + &format!("\n[registry]\nzk = 127.0.0.1:{port}\n");
        let conf = dir.conf(&conf);
        let (code, _, err) = run(&dir, &["-c", conf.to_str().unwrap()], &[]);
        assert_eq!(code, 1, "{mode}: {err}");
        let want = format!("cannot register in ZooKeeper 127.0.0.1:{port}");
        assert!(err.contains(&want), "{mode}: {err}");
        // Process mode registers once the workers are ready; they are stopped again.
        assert_eq!(processes_of(&dir), Vec::<u32>::new(), "{mode}: nothing left running");
    }

    #[test]
    fn unreachable_zookeeper_is_a_startup_error_in_coroutine_mode() {
        unreachable_zookeeper_is_a_startup_error_naming_it("coroutine");
    }

    #[test]
    fn unreachable_zookeeper_is_a_startup_error_in_process_mode() {
        unreachable_zookeeper_is_a_startup_error_naming_it("process");
    }
}
