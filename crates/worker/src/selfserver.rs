//! self_server workers: background workers in named groups, as threads, as a process,
//! or as coroutines inside a process, restarted with back-off when they return or panic.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use futures_lite::FutureExt;

use crate::restart::Backoff;
use crate::{Error, RestartPolicy, SelfWorker, StopToken};

/// One self_server group: `[self_groupN] group_name, worker_sum, coroutine_sum`.
/// A `simple` self_server is one group (name it as you like, e.g. `"default"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    /// The group name handlers dispatch on.
    pub name: String,
    /// Workers in the group (`worker_sum`).
    pub workers: usize,
    /// Tasks per worker process for `process_coroutine`; 0 for `thread` / `process`.
    pub coroutines: usize,
}

impl GroupSpec {
    /// A group of `workers` workers with no coroutines.
    pub fn new(name: impl Into<String>, workers: usize) -> GroupSpec {
        GroupSpec { name: name.into(), workers, coroutines: 0 }
    }
}

/// What a self worker handler is told about itself.
#[derive(Debug, Clone)]
pub struct WorkerContext {
    group: Arc<str>,
    id: usize,
    coroutine: Option<usize>,
    restarts: u32,
    stop: StopToken,
}

impl WorkerContext {
    /// The group name.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The worker's id within its group, `0..worker_sum`.
    pub fn id(&self) -> usize {
        self.id
    }

    /// The task's index `0..coroutine_sum` in a `process_coroutine` worker.
    pub fn coroutine(&self) -> Option<usize> {
        self.coroutine
    }

    /// How many times this worker was restarted before this run (0 on the first run).
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// The stop signal: return from the handler soon after it trips.
    pub fn stop(&self) -> &StopToken {
        &self.stop
    }

    /// Shorthand for `stop().is_stopped()`.
    pub fn is_stopped(&self) -> bool {
        self.stop.is_stopped()
    }
}

/// `thread`-type self workers: one OS thread per worker, nothing else.
///
/// Each thread runs the handler in a loop: when the handler returns or panics before the
/// stop, the same thread calls it again after the [`RestartPolicy`] delay (an
/// interruptible sleep). So `N` workers are exactly `N` threads, named
/// `self-<group>-<id>` (truncated to 15 bytes by Linux).
#[derive(Debug)]
pub struct SelfServer {
    threads: Vec<JoinHandle<()>>,
}

impl SelfServer {
    /// Starts every worker of `groups` on its own thread, in the calling process.
    /// `stop` ends them: trip its [`crate::StopSource`], then [`join`](Self::join). If a
    /// thread cannot be spawned, the error is returned and the workers already started
    /// run on, detached, until `stop` trips.
    pub fn start<F>(
        groups: &[GroupSpec],
        restart: RestartPolicy,
        stop: StopToken,
        handler: F,
    ) -> Result<SelfServer, Error>
    where
        F: Fn(&WorkerContext) + Send + Sync + 'static,
    {
        let handler = Arc::new(handler);
        let mut threads = Vec::new();
        for g in groups {
            let group: Arc<str> = Arc::from(g.name.as_str());
            for id in 0..g.workers {
                let ctx = WorkerContext {
                    group: Arc::clone(&group),
                    id,
                    coroutine: None,
                    restarts: 0,
                    stop: stop.clone(),
                };
                let handler = Arc::clone(&handler);
                let spawned = std::thread::Builder::new()
                    .name(format!("self-{}-{id}", g.name))
                    .spawn(move || run_blocking(ctx, restart, &*handler));
                match spawned {
                    Ok(t) => threads.push(t),
                    Err(e) => {
                        // The threads already started are detached; they end when the
                        // caller trips `stop` (documented on `start`).
                        drop(threads);
                        return Err(Error::io(format!("spawn thread self-{}-{id}", g.name), e));
                    }
                }
            }
        }
        Ok(SelfServer { threads })
    }

    /// Number of worker threads started.
    pub fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Waits for every worker thread to end (they end once the stop token trips and
    /// their handler returns).
    pub fn join(mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The restart loop of one blocking worker.
fn run_blocking(mut ctx: WorkerContext, restart: RestartPolicy, handler: &dyn Fn(&WorkerContext)) {
    let mut backoff = Backoff::new(restart);
    while !ctx.stop.is_stopped() {
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| handler(&ctx)));
        if ctx.stop.is_stopped() {
            break;
        }
        let delay = backoff.on_exit(started.elapsed());
        log::warn!(
            target: "svrkit_worker",
            "self worker {}#{} {}; restarting in {} ms",
            ctx.group, ctx.id,
            if outcome.is_err() { "panicked" } else { "returned" },
            delay.as_millis()
        );
        if ctx.stop.wait_timeout(delay) {
            break;
        }
        ctx.restarts += 1;
    }
}

/// Runs a `process`-type self worker in this (worker) process: reports ready to the
/// master ([`SelfWorker::notifier`]), then calls `handler` once on the calling thread.
/// Returns the exit code for `main`: success when the handler returned, failure (70)
/// when it panicked. Either way the master restarts the process
/// (with back-off) unless the tree is stopping.
pub fn run_self_process<F>(worker: &SelfWorker, handler: F) -> ExitCode
where
    F: FnOnce(&WorkerContext),
{
    let ctx = WorkerContext {
        group: Arc::from(worker.group.as_str()),
        id: worker.id,
        coroutine: None,
        restarts: 0,
        stop: worker.stop.clone(),
    };
    worker.ready.ready("");
    match catch_unwind(AssertUnwindSafe(|| handler(&ctx))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(70),
    }
}

/// Runs a `process_coroutine` self worker in this (worker) process: reports ready to
/// the master ([`SelfWorker::notifier`]), then runs `coroutine_sum` tasks of `handler`
/// on a single-threaded executor driven by the calling thread (`async_io::block_on`, so
/// async-io's timers and sockets work; async-io may add its one reactor helper thread).
/// A task that returns or panics is restarted in place with the [`RestartPolicy`]
/// back-off; its siblings keep running. Returns once the stop
/// token tripped and every task returned.
pub fn run_self_coroutines<F, Fut>(
    worker: &SelfWorker,
    restart: RestartPolicy,
    handler: F,
) -> ExitCode
where
    F: Fn(WorkerContext) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let ex = async_executor::LocalExecutor::new();
    let group: Arc<str> = Arc::from(worker.group.as_str());
    worker.ready.ready("");
    let handler = std::rc::Rc::new(handler);
    let tasks: Vec<_> = (0..worker.coroutines.max(1))
        .map(|c| {
            let mut ctx = WorkerContext {
                group: Arc::clone(&group),
                id: worker.id,
                coroutine: Some(c),
                restarts: 0,
                stop: worker.stop.clone(),
            };
            let handler = std::rc::Rc::clone(&handler);
            ex.spawn(async move {
                let mut backoff = Backoff::new(restart);
                while !ctx.stop.is_stopped() {
                    let started = Instant::now();
                    let outcome = AssertUnwindSafe(handler(ctx.clone())).catch_unwind().await;
                    if ctx.stop.is_stopped() {
                        break;
                    }
                    let delay = backoff.on_exit(started.elapsed());
                    log::warn!(
                        target: "svrkit_worker",
                        "self worker {}#{} task {c} {}; restarting in {} ms",
                        ctx.group, ctx.id,
                        if outcome.is_err() { "panicked" } else { "returned" },
                        delay.as_millis()
                    );
                    if ctx.stop.stopped_or_timeout(delay).await {
                        break;
                    }
                    ctx.restarts += 1;
                }
            })
        })
        .collect();
    async_io::block_on(ex.run(async {
        for t in tasks {
            t.await;
        }
    }));
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StopSource;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    use std::time::Duration;

    fn fast() -> RestartPolicy {
        RestartPolicy {
            initial_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            reset_after: Duration::from_secs(60),
        }
    }

    #[test]
    fn thread_workers_know_group_and_id_and_stop() {
        let source = StopSource::new().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let groups = [GroupSpec::new("event", 2), GroupSpec::new("value", 1)];
        let server = SelfServer::start(&groups, fast(), source.token(), {
            let seen = Arc::clone(&seen);
            move |ctx| {
                seen.lock().unwrap().push((ctx.group().to_string(), ctx.id()));
                ctx.stop().wait();
            }
        })
        .unwrap();
        assert_eq!(server.threads(), 3);
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.lock().unwrap().len() < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        source.stop();
        server.join();
        let mut seen = seen.lock().unwrap().clone();
        seen.sort();
        assert_eq!(seen, [("event".into(), 0), ("event".into(), 1), ("value".into(), 0)]);
    }

    #[test]
    fn panicking_thread_worker_is_restarted_in_place() {
        let source = StopSource::new().unwrap();
        let runs = Arc::new(Mutex::new(Vec::new()));
        let server = SelfServer::start(&[GroupSpec::new("g", 1)], fast(), source.token(), {
            let runs = Arc::clone(&runs);
            move |ctx| {
                runs.lock().unwrap().push(ctx.restarts());
                if ctx.restarts() == 0 {
                    panic!("first run fails (expected by the test)");
                }
                ctx.stop().wait();
            }
        })
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while runs.lock().unwrap().len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        source.stop();
        server.join();
        assert_eq!(*runs.lock().unwrap(), [0, 1]);
    }

    #[test]
    fn crash_looping_thread_worker_backs_off() {
        let source = StopSource::new().unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let policy = RestartPolicy {
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(80),
            reset_after: Duration::from_secs(60),
        };
        let server = SelfServer::start(&[GroupSpec::new("g", 1)], policy, source.token(), {
            let calls = Arc::clone(&calls);
            move |_| {
                calls.fetch_add(1, Ordering::SeqCst);
            }
        })
        .unwrap();
        // Delays 10+20+40+80+80+... ms: at most ~10 calls fit in 600 ms. Without
        // back-off the handler would run millions of times.
        std::thread::sleep(Duration::from_millis(600));
        source.stop();
        server.join();
        let n = calls.load(Ordering::SeqCst);
        assert!((2..=12).contains(&n), "{n} calls in 600 ms");
    }

    #[test]
    fn coroutine_worker_restarts_a_panicking_task_and_keeps_siblings() {
        let source = StopSource::new().unwrap();
        let worker = SelfWorker::new("co", 3, 2, source.token());
        let log = Arc::new(Mutex::new(Vec::new()));
        let stopper = {
            let log = Arc::clone(&log);
            let source = source.clone();
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(10);
                while log.lock().unwrap().len() < 3 && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
                source.stop();
            })
        };
        let code = run_self_coroutines(&worker, fast(), {
            let log = Arc::clone(&log);
            move |ctx| {
                let log = Arc::clone(&log);
                async move {
                    log.lock().unwrap().push((ctx.id(), ctx.coroutine().unwrap(), ctx.restarts()));
                    if ctx.coroutine() == Some(1) && ctx.restarts() == 0 {
                        panic!("task 1 fails once (expected by the test)");
                    }
                    ctx.stop().stopped().await;
                }
            }
        });
        stopper.join().unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
        let mut log = log.lock().unwrap().clone();
        log.sort();
        assert_eq!(log, [(3, 0, 0), (3, 1, 0), (3, 1, 1)]);
    }
}
