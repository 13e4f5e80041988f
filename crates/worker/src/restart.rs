//! Restart policy: exponential back-off for workers that keep dying.

use std::time::Duration;

/// How quickly a dead worker is restarted.
///
/// The n-th consecutive failure waits `initial_delay * 2^(n-1)`, capped at `max_delay`.
/// A worker that ran at least `reset_after` before dying starts again from
/// `initial_delay`: one crash after a long healthy run is replaced quickly, a crash loop
/// settles at one attempt per `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Delay before the first restart (default 100 ms).
    pub initial_delay: Duration,
    /// Upper bound of the delay (default 10 s).
    pub max_delay: Duration,
    /// A run at least this long resets the back-off (default 10 s).
    pub reset_after: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            reset_after: Duration::from_secs(10),
        }
    }
}

impl RestartPolicy {
    /// The delay before restarting after `consecutive_failures` (>= 1) failures in a row.
    pub fn delay(&self, consecutive_failures: u32) -> Duration {
        let shift = consecutive_failures.saturating_sub(1).min(30);
        self.initial_delay.saturating_mul(1u32 << shift).min(self.max_delay)
    }
}

/// Back-off state of one worker slot.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    policy: RestartPolicy,
    failures: u32,
}

impl Backoff {
    pub(crate) fn new(policy: RestartPolicy) -> Backoff {
        Backoff { policy, failures: 0 }
    }

    /// Records that the worker died after running `ran_for`; returns the restart delay.
    pub(crate) fn on_exit(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= self.policy.reset_after {
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        self.policy.delay(self.failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RestartPolicy {
        RestartPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            reset_after: Duration::from_secs(5),
        }
    }

    #[test]
    fn delay_doubles_then_caps() {
        let p = policy();
        let ms: Vec<u128> = (1..=6).map(|n| p.delay(n).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.delay(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn long_run_resets_backoff() {
        let mut b = Backoff::new(policy());
        let short = Duration::from_millis(10);
        assert_eq!(b.on_exit(short), Duration::from_millis(100));
        assert_eq!(b.on_exit(short), Duration::from_millis(200));
        assert_eq!(b.on_exit(short), Duration::from_millis(400));
        assert_eq!(b.on_exit(Duration::from_secs(6)), Duration::from_millis(100));
        assert_eq!(b.on_exit(short), Duration::from_millis(200));
    }
}
