//! Measurement plumbing shared by every client: the warm-up/record/stop gate, per-worker
//! latency histograms, CPU time from /proc, and the one-line JSON report.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

const RECORDING: u8 = 1;
const STOPPED: u8 = 2;

/// The phase every client worker checks after each completed request: results count only
/// while recording, and workers leave their loops once stopped.
#[derive(Debug, Default)]
pub(crate) struct Gate(AtomicU8);

impl Gate {
    pub(crate) fn recording(&self) -> bool {
        self.0.load(Ordering::Relaxed) == RECORDING
    }
    pub(crate) fn stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed) == STOPPED
    }
    fn set(&self, phase: u8) {
        self.0.store(phase, Ordering::SeqCst);
    }
}

/// What one client worker (thread or task) measured while recording.
#[derive(Debug)]
pub(crate) struct Tally {
    pub(crate) count: u64,
    pub(crate) errors: u64,
    pub(crate) hist: Histogram<u64>,
}

impl Tally {
    pub(crate) fn new() -> Tally {
        Tally {
            count: 0,
            errors: 0,
            // 1 ns .. 60 s, 3 significant digits.
            hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds"),
        }
    }

    /// Records one completed request that started at `start`, if recording.
    #[inline]
    pub(crate) fn done(&mut self, gate: &Gate, start: Instant) {
        if gate.recording() {
            self.count += 1;
            let ns = start.elapsed().as_nanos().min(u64::MAX as u128) as u64;
            self.hist.saturating_record(ns.max(1));
        }
    }

    /// Records one failed request, if recording.
    pub(crate) fn failed(&mut self, gate: &Gate) {
        if gate.recording() {
            self.errors += 1;
        }
    }

    pub(crate) fn merge(&mut self, other: &Tally) {
        self.count += other.count;
        self.errors += other.errors;
        self.hist.add(&other.hist).expect("same histogram bounds");
    }
}

/// User + system CPU time of a process (all its threads), from `/proc/<pid>/stat`.
pub(crate) fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(Duration::from_millis((utime + stime) * 10))
}

/// CPU time of a process and all its descendants (a process-mode server is a master and
/// its worker processes), from `/proc/*/stat`.
pub(crate) fn tree_cpu_time(pid: u32) -> Option<Duration> {
    let mut total = cpu_time(pid)?;
    let mut parents = vec![pid];
    let entries: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let child: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).ok()?;
            let rest = &stat[stat.rfind(')')? + 2..];
            let ppid: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some((child, ppid))
        })
        .collect();
    while let Some(p) = parents.pop() {
        for &(child, ppid) in &entries {
            if ppid == p && child != pid {
                total += cpu_time(child).unwrap_or_default();
                parents.push(child);
            }
        }
    }
    Some(total)
}

/// One client run's result, printed by the client as one JSON line.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Report {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) secs: f64,
    pub(crate) rps: f64,
    /// Mean latency in microseconds (None for one-way workloads).
    pub(crate) mean_us: Option<f64>,
    pub(crate) p50_us: Option<f64>,
    pub(crate) p99_us: Option<f64>,
    pub(crate) max_us: Option<f64>,
    /// CPU time of the client over the window, milliseconds.
    pub(crate) cpu_ms_client: f64,
    /// CPU time of the server over the window, milliseconds (0 when unknown).
    pub(crate) cpu_ms_server: f64,
}

impl Report {
    /// CPU microseconds (client + server) per request.
    pub(crate) fn cpu_us_per_req(&self) -> Option<f64> {
        (self.requests > 0)
            .then(|| (self.cpu_ms_client + self.cpu_ms_server) * 1000.0 / self.requests as f64)
    }
}

/// Drives the phases of one client run: warm up, snapshot CPU, record for `secs`,
/// snapshot again, stop. Returns the window's length and CPU used by client and server.
pub(crate) struct Window {
    pub(crate) elapsed: Duration,
    pub(crate) cpu_client: Duration,
    pub(crate) cpu_server: Duration,
}

pub(crate) fn run_window(
    gate: &Gate,
    warmup: Duration,
    secs: Duration,
    server_pid: Option<u32>,
) -> Window {
    let me = std::process::id();
    let cpu = |pid: Option<u32>| pid.and_then(cpu_time).unwrap_or_default();
    let server_cpu = |pid: Option<u32>| pid.and_then(tree_cpu_time).unwrap_or_default();
    std::thread::sleep(warmup);
    let (c0, s0) = (cpu(Some(me)), server_cpu(server_pid));
    let t0 = Instant::now();
    gate.set(RECORDING);
    std::thread::sleep(secs);
    gate.set(STOPPED);
    let elapsed = t0.elapsed();
    let (c1, s1) = (cpu(Some(me)), server_cpu(server_pid));
    Window { elapsed, cpu_client: c1.saturating_sub(c0), cpu_server: s1.saturating_sub(s0) }
}

/// The report of a request/response run from its merged tally.
pub(crate) fn report(tally: &Tally, window: &Window) -> Report {
    let secs = window.elapsed.as_secs_f64();
    let us = |ns: f64| Some(ns / 1000.0);
    let has = !tally.hist.is_empty();
    Report {
        requests: tally.count,
        errors: tally.errors,
        secs,
        rps: tally.count as f64 / secs,
        mean_us: if has { us(tally.hist.mean()) } else { None },
        p50_us: if has { us(tally.hist.value_at_quantile(0.5) as f64) } else { None },
        p99_us: if has { us(tally.hist.value_at_quantile(0.99) as f64) } else { None },
        max_us: if has { us(tally.hist.max() as f64) } else { None },
        cpu_ms_client: window.cpu_client.as_secs_f64() * 1000.0,
        cpu_ms_server: window.cpu_server.as_secs_f64() * 1000.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_reads_this_process_and_grows() {
        let before = cpu_time(std::process::id()).expect("own /proc stat");
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(60) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let after = cpu_time(std::process::id()).unwrap();
        assert!(after > before, "{before:?} -> {after:?}");
    }

    #[test]
    fn tree_cpu_time_adds_the_children() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; sleep 10"])
            .spawn()
            .expect("spawn sh");
        let t = Instant::now();
        let mut burnt = Duration::ZERO;
        while burnt < Duration::from_millis(50) && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
            burnt = cpu_time(child.id()).unwrap_or_default();
        }
        let me = std::process::id();
        let (own, tree) = (cpu_time(me).unwrap(), tree_cpu_time(me).unwrap());
        let _ = child.kill();
        let _ = child.wait();
        assert!(burnt >= Duration::from_millis(50), "the child burnt only {burnt:?}");
        assert!(tree >= own + burnt, "tree {tree:?} < own {own:?} + child {burnt:?}");
    }

    #[test]
    fn tally_counts_only_while_recording() {
        let gate = Gate::default();
        let mut t = Tally::new();
        t.done(&gate, Instant::now());
        assert_eq!(t.count, 0);
        gate.set(RECORDING);
        t.done(&gate, Instant::now());
        t.failed(&gate);
        gate.set(STOPPED);
        t.done(&gate, Instant::now());
        assert_eq!((t.count, t.errors, t.hist.len()), (1, 1, 1));
        let mut sum = Tally::new();
        sum.merge(&t);
        sum.merge(&t);
        assert_eq!((sum.count, sum.hist.len()), (2, 2));
    }
}
