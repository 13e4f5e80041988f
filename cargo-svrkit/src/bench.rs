//! `cargo svrkit bench`: a load generator for any running msgpack-rpc service (svrkit or
//! not), in the spirit of rpc_press and TarsBenchmark.
//!
//! # Design
//!
//! [`run`] opens `connections` svrkit clients to one endpoint (each client is one
//! multiplexed connection) and keeps `depth` calls in flight on each, cycling through the
//! given requests (method + params). The calls run as tasks on `threads` single-threaded
//! smol executors; svrkit's client batches the requests made in one executor tick into one
//! write, so deep pipelines cost few syscalls. Every call's latency goes into an HDR
//! histogram; failures are counted by kind (`Timeout`, `ConnectionLost`, `Remote(-32601)`,
//! ...). A `rate` spreads calls evenly in time across all tasks (call *i* is not sent before
//! `start + i / rate`). A progress line on stderr shows requests, the last second's qps and
//! errors, once a second.
//!
//! The run is bounded: by `count` calls, by `duration`, and in any case by
//! [`MAX_DURATION`]. Calls are not retried (`retries = 1`), so errors are what the server
//! or the network did. Params are anything `Serialize`: `serde_json::Value` maps JSON
//! generically (arrays to arrays, objects to maps), and the CLI can pass IDL-shaped values
//! (protos as arrays of fields) instead.
//!
//! Depends on the svrkit facade, smol, hdrhistogram and serde_json only.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use svrkit::client::{Client, ClientError, Endpoint};
use svrkit::config::ClientConfig;

/// Hard bound on one run, whatever `duration` and `count` say.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(3600);

/// What to send, where, and how hard.
#[derive(Clone, Debug)]
pub(crate) struct LoadSpec<P> {
    /// The server.
    pub(crate) endpoint: Endpoint,
    /// (method, params array) pairs, sent in turn.
    pub(crate) requests: Vec<(String, P)>,
    /// Connections (`-c`), at least 1.
    pub(crate) connections: usize,
    /// Calls in flight per connection (pipeline depth), at least 1.
    pub(crate) depth: usize,
    /// Stop after this long (`-d`).
    pub(crate) duration: Option<Duration>,
    /// Stop after this many calls (`-n`).
    pub(crate) count: Option<u64>,
    /// Calls per second over all connections (None: as fast as possible).
    pub(crate) rate: Option<f64>,
    /// Send notifications (one-way) instead of calls; latency is then the send time.
    pub(crate) notify: bool,
    /// Per-call timeout.
    pub(crate) timeout: Duration,
    /// Executor threads the connections are spread over.
    pub(crate) threads: usize,
    /// Print a live progress line on stderr.
    pub(crate) progress: bool,
}

impl<P> LoadSpec<P> {
    /// Defaults: 1 connection, depth 1, 10 s, no rate limit, 3 s timeout, 1 thread.
    pub(crate) fn new(endpoint: Endpoint, requests: Vec<(String, P)>) -> LoadSpec<P> {
        LoadSpec {
            endpoint,
            requests,
            connections: 1,
            depth: 1,
            duration: None,
            count: None,
            rate: None,
            notify: false,
            timeout: Duration::from_secs(3),
            threads: 1,
            progress: false,
        }
    }
}

/// What a run measured.
#[derive(Debug)]
pub(crate) struct LoadReport {
    /// Calls that succeeded.
    pub(crate) ok: u64,
    /// Failed calls by kind.
    pub(crate) errors: BTreeMap<String, u64>,
    /// From the first call to the last reply.
    pub(crate) elapsed: Duration,
    /// Latency of successful calls, in nanoseconds.
    pub(crate) latency: Histogram<u64>,
}

impl LoadReport {
    /// All calls made.
    pub(crate) fn total(&self) -> u64 {
        self.ok + self.errors.values().sum::<u64>()
    }

    /// Successful calls per second.
    pub(crate) fn qps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The human summary: totals, qps, latency percentiles and a log-scale histogram,
    /// errors by kind.
    pub(crate) fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} calls in {:.2} s: {} ok, {} failed; {:.0} qps",
            self.total(),
            self.elapsed.as_secs_f64(),
            self.ok,
            self.total() - self.ok,
            self.qps()
        );
        let h = &self.latency;
        if !h.is_empty() {
            let us = |ns: u64| ns as f64 / 1000.0;
            let _ = writeln!(
                s,
                "latency (us): mean {:.1}  min {:.1}  max {:.1}",
                h.mean() / 1000.0,
                us(h.min()),
                us(h.max())
            );
            for q in [50.0, 90.0, 99.0, 99.9, 99.99] {
                let _ = writeln!(s, "  p{q:<6} {:>10.1}", us(h.value_at_quantile(q / 100.0)));
            }
            let _ = writeln!(s, "histogram (us, upper bound: calls):");
            let width = 40.0;
            for v in h.iter_log(1_000, 2.0) {
                let n = v.count_since_last_iteration();
                if n > 0 {
                    let bar = "#".repeat(((n as f64 / h.len() as f64) * width).ceil() as usize);
                    let upper = us(v.value_iterated_to());
                    let _ = writeln!(s, "  <= {upper:>9.0} {n:>10} {bar}");
                }
            }
        }
        if !self.errors.is_empty() {
            let _ = writeln!(s, "errors:");
            for (kind, n) in &self.errors {
                let _ = writeln!(s, "  {kind}: {n}");
            }
        }
        s
    }
}

/// Why a run could not start.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum LoadError {
    /// The spec cannot run (no requests, zero connections, no bound...).
    Spec(String),
    /// A worker thread could not start or panicked.
    Thread(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Spec(why) => write!(f, "bench: {why}"),
            LoadError::Thread(why) => write!(f, "bench: worker thread: {why}"),
        }
    }
}

impl std::error::Error for LoadError {}

/// The kind of a failed call, for counting: the variant, with the code of remote errors.
pub(crate) fn error_kind(e: &ClientError) -> String {
    if let Some((code, _)) = e.remote() {
        return format!("Remote({code})");
    }
    let debug = format!("{e:?}");
    let end = debug.find([' ', '(', '{']).unwrap_or(debug.len());
    debug[..end].to_string()
}

/// Counters shared by the workers and the progress line.
#[derive(Default)]
struct Shared {
    issued: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
    stop: AtomicBool,
}

struct Tally {
    latency: Histogram<u64>,
    errors: BTreeMap<String, u64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

/// Runs the load described by `spec` and returns what it measured.
pub(crate) fn run<P: Serialize + Clone + Send + 'static>(
    spec: &LoadSpec<P>,
) -> Result<LoadReport, LoadError> {
    if spec.requests.is_empty() {
        return Err(LoadError::Spec("no requests to send".into()));
    }
    if spec.connections == 0 || spec.depth == 0 {
        return Err(LoadError::Spec("connections and depth must be at least 1".into()));
    }
    if spec.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(LoadError::Spec("rate must be a positive number of calls per second".into()));
    }
    let limit = spec.duration.unwrap_or(if spec.count.is_some() {
        MAX_DURATION
    } else {
        Duration::from_secs(10)
    });
    let limit = limit.min(MAX_DURATION);
    let shared = Arc::new(Shared::default());
    let tally = Arc::new(Mutex::new(Tally { latency: histogram(), errors: BTreeMap::new() }));
    let start = Instant::now();
    let deadline = start + limit;
    let threads = spec.threads.clamp(1, spec.connections);

    let mut handles = Vec::new();
    for t in 0..threads {
        // Connections t, t + threads, t + 2 * threads, ... run on thread t.
        let conns = (t..spec.connections).step_by(threads).count();
        let (spec, shared, tally) = (spec.clone(), Arc::clone(&shared), Arc::clone(&tally));
        let handle = std::thread::Builder::new()
            .name(format!("bench-{t}"))
            .spawn(move || worker(&spec, conns, &shared, &tally, start, deadline))
            .map_err(|e| LoadError::Thread(e.to_string()))?;
        handles.push(handle);
    }

    let progress = spec.progress.then(|| {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || progress_line(&shared, start, deadline))
    });
    let mut panicked = false;
    for h in handles {
        panicked |= h.join().is_err();
    }
    let elapsed = start.elapsed();
    shared.stop.store(true, Ordering::SeqCst);
    if let Some(p) = progress {
        let _ = p.join();
    }
    if panicked {
        return Err(LoadError::Thread("a worker panicked".into()));
    }
    let tally = std::mem::replace(
        &mut *tally.lock().unwrap_or_else(|p| p.into_inner()),
        Tally { latency: histogram(), errors: BTreeMap::new() },
    );
    Ok(LoadReport {
        ok: shared.ok.load(Ordering::SeqCst),
        errors: tally.errors,
        elapsed,
        latency: tally.latency,
    })
}

/// One executor thread: `conns` clients, `depth` call loops on each.
fn worker<P: Serialize + Clone + 'static>(
    spec: &LoadSpec<P>,
    conns: usize,
    shared: &Arc<Shared>,
    tally: &Arc<Mutex<Tally>>,
    start: Instant,
    deadline: Instant,
) {
    let ex = smol::LocalExecutor::new();
    let local = Rc::new((Cell::new(0u64), std::cell::RefCell::new(histogram())));
    let errors = Rc::new(std::cell::RefCell::new(BTreeMap::<String, u64>::new()));
    let requests = Rc::new(spec.requests.clone());
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let mut config = ClientConfig::single(spec.endpoint.clone());
        config.timeout = spec.timeout;
        config.retries = 1;
        let client = match Client::new(config) {
            Ok(c) => c,
            Err(e) => {
                *errors.borrow_mut().entry(error_kind(&e)).or_default() += 1;
                continue;
            }
        };
        for _ in 0..spec.depth {
            let (client, shared, local, errors, requests) = (
                client.clone(),
                Arc::clone(shared),
                Rc::clone(&local),
                Rc::clone(&errors),
                Rc::clone(&requests),
            );
            let (count, rate, notify) = (spec.count, spec.rate, spec.notify);
            tasks.push(ex.spawn(async move {
                loop {
                    if Instant::now() >= deadline {
                        return;
                    }
                    let i = shared.issued.fetch_add(1, Ordering::Relaxed);
                    if count.is_some_and(|n| i >= n) {
                        return;
                    }
                    if let Some(rate) = rate {
                        let due = start + Duration::from_secs_f64(i as f64 / rate);
                        if due >= deadline {
                            return;
                        }
                        if due > Instant::now() {
                            smol::Timer::at(due).await;
                        }
                    }
                    let (method, params) = &requests[(i % requests.len() as u64) as usize];
                    let sent = Instant::now();
                    let outcome = if notify {
                        client.notify(method, params).await
                    } else {
                        client.call_raw(method, params).await.map(drop)
                    };
                    match outcome {
                        Ok(()) => {
                            let ns = sent.elapsed().as_nanos().min(u64::MAX as u128) as u64;
                            local.1.borrow_mut().saturating_record(ns.max(1));
                            local.0.set(local.0.get() + 1);
                            shared.ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            *errors.borrow_mut().entry(error_kind(&e)).or_default() += 1;
                            shared.failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
    }
    smol::block_on(ex.run(async {
        for t in tasks {
            t.await;
        }
    }));
    let mut total = tally.lock().unwrap_or_else(|p| p.into_inner());
    let _ = total.latency.add(&*local.1.borrow());
    for (kind, n) in errors.borrow().iter() {
        *total.errors.entry(kind.clone()).or_default() += n;
    }
}

/// Once a second until stopped: elapsed, calls, last second's qps, errors.
fn progress_line(shared: &Shared, start: Instant, deadline: Instant) {
    let mut last = (Instant::now(), 0u64);
    while !shared.stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        // Sleep a second in short steps so the line ends promptly.
        let wake = Instant::now() + Duration::from_secs(1);
        while Instant::now() < wake && !shared.stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let (ok, failed) =
            (shared.ok.load(Ordering::Relaxed), shared.failed.load(Ordering::Relaxed));
        let now = Instant::now();
        let qps = (ok - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-9);
        last = (now, ok);
        eprint!(
            "\r\x1b[K[{:>6.1}s] {:>10} ok {:>8} errors {:>10.0} qps",
            start.elapsed().as_secs_f64(),
            ok,
            failed,
            qps
        );
    }
    eprintln!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use svrkit::server::{bind_all, Router, RunningServer, Server};
    use svrkit::RpcError;

    fn server(notes: Arc<AtomicUsize>) -> (RunningServer, Endpoint) {
        let router = Router::new()
            .route("echo", |(s,): (String,)| async move { Ok::<_, RpcError>(s) })
            .route("note", move |(_s,): (String,)| {
                notes.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, RpcError>(()) }
            });
        let running = Server::new(router)
            .start(bind_all(&["127.0.0.1:0".parse().unwrap()]).unwrap())
            .unwrap();
        let svrkit::transport::Addr::Tcp(addr) = running.local_addrs()[0] else { unreachable!() };
        (running, Endpoint::from(addr))
    }

    fn spec(endpoint: Endpoint, method: &str, count: u64) -> LoadSpec<serde_json::Value> {
        let mut spec =
            LoadSpec::new(endpoint, vec![(method.to_string(), serde_json::json!(["hi"]))]);
        spec.count = Some(count);
        spec.duration = Some(Duration::from_secs(30));
        spec
    }

    #[test]
    fn counts_every_call_of_a_pipelined_run() {
        let (running, endpoint) = server(Arc::default());
        let mut s = spec(endpoint, "echo", 300);
        (s.connections, s.depth, s.threads) = (2, 8, 2);
        let report = run(&s).unwrap();
        assert_eq!((report.ok, report.total()), (300, 300), "{:?}", report.errors);
        assert_eq!(report.latency.len(), 300);
        let text = report.render();
        assert!(text.starts_with("300 calls in"), "{text}");
        assert!(text.contains("p99 ") && text.contains("histogram"), "{text}");
        running.stop().unwrap();
    }

    #[test]
    fn remote_errors_are_counted_by_code() {
        let (running, endpoint) = server(Arc::default());
        let report = run(&spec(endpoint, "no_such_api", 20)).unwrap();
        assert_eq!(report.ok, 0);
        assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
        let (kind, n) = report.errors.iter().next().unwrap();
        assert!(kind.starts_with("Remote(-"), "{kind}");
        assert_eq!(*n, 20);
        assert!(report.render().contains(&format!("{kind}: 20")));
        running.stop().unwrap();
    }

    #[test]
    fn refused_connections_are_errors_not_hangs() {
        // Bind then drop a listener: nothing listens on that port afterwards.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut s = spec(Endpoint::tcp("127.0.0.1", port), "echo", 5);
        s.timeout = Duration::from_millis(500);
        let report = run(&s).unwrap();
        assert_eq!(report.ok, 0);
        assert_eq!(report.errors.values().sum::<u64>(), 5, "{:?}", report.errors);
        assert!(report.errors.keys().all(|k| k.starts_with("Connect")), "{:?}", report.errors);
    }

    #[test]
    fn notifications_reach_the_server_and_rate_limited_runs_finish() {
        let notes = Arc::new(AtomicUsize::new(0));
        let (running, endpoint) = server(Arc::clone(&notes));
        let mut s = spec(endpoint.clone(), "note", 100);
        (s.notify, s.depth) = (true, 4);
        assert_eq!(run(&s).unwrap().ok, 100);
        let t = Instant::now();
        while notes.load(Ordering::SeqCst) < 100 && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(notes.load(Ordering::SeqCst), 100);

        let mut s = spec(endpoint, "echo", 40);
        s.rate = Some(2000.0);
        assert_eq!(run(&s).unwrap().ok, 40);
        running.stop().unwrap();
    }

    #[test]
    fn impossible_specs_are_refused() {
        let endpoint = Endpoint::tcp("127.0.0.1", 9);
        let empty: LoadSpec<serde_json::Value> = LoadSpec::new(endpoint.clone(), vec![]);
        assert!(matches!(run(&empty), Err(LoadError::Spec(_))));
        let mut s = spec(endpoint.clone(), "echo", 1);
        s.depth = 0;
        assert!(matches!(run(&s), Err(LoadError::Spec(_))));
        let mut s = spec(endpoint, "echo", 1);
        s.rate = Some(0.0);
        assert!(run(&s).unwrap_err().to_string().contains("rate"));
    }
}
