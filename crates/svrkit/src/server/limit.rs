//! [`Limiter`]: the per-worker cap on requests in flight (`coroutine_sum`). A connection
//! that finds the cap reached stops reading until a call finishes: back-pressure through
//! the socket, never an unbounded queue.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

#[derive(Clone, Debug)]
pub(crate) struct Limiter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cap: usize,
    used: AtomicUsize,
    has_waiters: AtomicBool,
    waiters: Mutex<Vec<Waker>>,
}

/// One request in flight; frees its slot when dropped.
#[derive(Debug)]
pub(crate) struct Permit {
    inner: Arc<Inner>,
}

impl Limiter {
    pub(crate) fn new(cap: usize) -> Limiter {
        Limiter {
            inner: Arc::new(Inner {
                cap: cap.max(1),
                used: AtomicUsize::new(0),
                has_waiters: AtomicBool::new(false),
                waiters: Mutex::new(Vec::new()),
            }),
        }
    }

    pub(crate) fn try_acquire(&self) -> Option<Permit> {
        let mut used = self.inner.used.load(Ordering::Relaxed);
        loop {
            if used >= self.inner.cap {
                return None;
            }
            match self.inner.used.compare_exchange_weak(
                used,
                used + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(Permit { inner: self.inner.clone() }),
                Err(now) => used = now,
            }
        }
    }

    pub(crate) fn poll_acquire(&self, cx: &mut Context<'_>) -> Poll<Permit> {
        if let Some(p) = self.try_acquire() {
            return Poll::Ready(p);
        }
        {
            let mut w = self.inner.waiters.lock().unwrap_or_else(|e| e.into_inner());
            if !w.iter().any(|x| x.will_wake(cx.waker())) {
                w.push(cx.waker().clone());
            }
            self.inner.has_waiters.store(true, Ordering::SeqCst);
        }
        // A permit may have been freed between the first try and registering.
        match self.try_acquire() {
            Some(p) => Poll::Ready(p),
            None => Poll::Pending,
        }
    }

    pub(crate) async fn acquire(&self) -> Permit {
        futures_lite::future::poll_fn(|cx| self.poll_acquire(cx)).await
    }

    pub(crate) fn used(&self) -> usize {
        self.inner.used.load(Ordering::Acquire)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.inner.used.fetch_sub(1, Ordering::AcqRel);
        if self.inner.has_waiters.load(Ordering::SeqCst) {
            let waiters = {
                let mut w = self.inner.waiters.lock().unwrap_or_else(|e| e.into_inner());
                self.inner.has_waiters.store(false, Ordering::SeqCst);
                std::mem::take(&mut *w)
            };
            for w in waiters {
                w.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_and_wakes() {
        let l = Limiter::new(2);
        let a = l.try_acquire().unwrap();
        let _b = l.try_acquire().unwrap();
        assert!(l.try_acquire().is_none());
        assert_eq!(l.used(), 2);
        drop(a);
        assert!(l.try_acquire().is_some());
        let got = futures_lite::future::block_on(l.acquire());
        assert_eq!(l.used(), 2);
        drop(got);
    }
}
