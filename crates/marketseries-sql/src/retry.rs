//! Bounded, jittered repetition of a store's writes after a retryable failure.
//!
//! Every write is an idempotent upsert (or a `COPY` that falls back to one), so a batch
//! whose transaction failed for a reason of other sessions or of the connection, not of
//! its content, can be written again whole: a deadlock (40P01) between writers of
//! overlapping keys, a lock timeout (55P03) on partition DDL, a serialization failure, a
//! server shutting down or refusing connections for a moment, a pool with no free
//! connection, a connection lost before or during `COMMIT`. Which failures those are is
//! [`Error::is_retryable`], classified by SQLSTATE (the write path runs on
//! `tokio-postgres`, which passes the code through).

use std::collections::BTreeMap;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use marketseries_core::{Error, Result};

/// How a write is repeated after a retryable failure ([`Error::is_retryable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (default 5; 1 never repeats a write).
    pub attempts: u32,
    /// Pause before the second attempt (default 50 ms). Each further pause doubles, up to
    /// `max_delay`, and each is drawn at random between half of it and all of it, so that
    /// two writers that deadlocked do not meet again in step.
    pub base_delay: Duration,
    /// Longest pause (default 2 s).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// A policy that never repeats a write.
    pub const NEVER: Self = Self {
        attempts: 1,
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    };

    /// The pause after failed attempt `attempt` (1-based).
    fn pause(&self, attempt: u32) -> Duration {
        let full = self
            .base_delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        // Each `RandomState` is freshly keyed: a cheap random draw without a dependency.
        let draw = RandomState::new().hash_one(attempt) % 1_000;
        let half = full / 2;
        half + (full - half).mul_f64(f64::from(u32::try_from(draw).unwrap_or(0)) / 1_000.0)
    }
}

/// How many writes were repeated, by reason ([`Error::retry_reason`]); shared by a store's
/// clones.
#[derive(Debug, Default)]
pub(crate) struct RetryCounts(Mutex<BTreeMap<String, u64>>);

impl RetryCounts {
    fn record(&self, reason: &str) {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry(reason.to_owned()).or_default() += 1;
    }

    /// The counts so far.
    pub(crate) fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Runs `attempt` until it succeeds, fails for a reason that is not retryable, or has run
/// `policy.attempts` times; pauses between attempts as [`RetryPolicy::base_delay`] says
/// and counts every repetition in `counts`. The last error is returned as it was, with the
/// number of attempts added where there was more than one.
pub(crate) async fn retrying<T, Fut>(
    policy: RetryPolicy,
    counts: &RetryCounts,
    mut attempt: impl FnMut() -> Fut,
) -> Result<T>
where
    Fut: Future<Output = Result<T>>,
{
    let mut n = 1;
    loop {
        let err = match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let Some(reason) = err.retry_reason().map(str::to_owned) else {
            return Err(err);
        };
        if n >= policy.attempts.max(1) {
            return Err(after_attempts(err, n));
        }
        counts.record(&reason);
        tokio::time::sleep(policy.pause(n)).await;
        n += 1;
    }
}

/// `err` with "(after N attempts)" appended to its message, when N > 1.
fn after_attempts(err: Error, n: u32) -> Error {
    if n <= 1 {
        return err;
    }
    let note = |m: String| format!("{m} (after {n} attempts)");
    match err {
        Error::Database { code, message } => Error::Database {
            code,
            message: note(message),
        },
        Error::ConnectionLost(m) => Error::ConnectionLost(note(m)),
        Error::AmbiguousCommit(m) => Error::AmbiguousCommit(note(m)),
        Error::CheckoutTimeout(m) => Error::CheckoutTimeout(note(m)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn deadlock() -> Error {
        Error::Database {
            code: Some("40P01".into()),
            message: "deadlock detected".into(),
        }
    }

    fn fast(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            attempts,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        }
    }

    #[tokio::test]
    async fn retryable_failures_are_repeated_and_counted() {
        let counts = RetryCounts::default();
        let calls = AtomicU32::new(0);
        let out = retrying(fast(5), &counts, || async {
            match calls.fetch_add(1, Ordering::Relaxed) {
                0 => Err(deadlock()),
                1 => Err(Error::AmbiguousCommit("eof".into())),
                n => Ok(n),
            }
        })
        .await;
        assert_eq!(out.unwrap(), 2);
        let seen = counts.snapshot();
        assert_eq!(seen.get("40P01"), Some(&1));
        assert_eq!(seen.get("ambiguous-commit"), Some(&1));
    }

    #[tokio::test]
    async fn other_failures_and_exhaustion_end_the_loop() {
        let counts = RetryCounts::default();
        let calls = AtomicU32::new(0);
        let out: Result<()> = retrying(fast(5), &counts, || async {
            calls.fetch_add(1, Ordering::Relaxed);
            Err(Error::Timeout("statement".into()))
        })
        .await;
        assert_eq!(
            out.unwrap_err().kind(),
            marketseries_core::ErrorKind::Timeout
        );
        assert_eq!(
            calls.load(Ordering::Relaxed),
            1,
            "a statement timeout is not repeated"
        );

        let out: Result<()> = retrying(fast(3), &counts, || async { Err(deadlock()) }).await;
        let err = out.unwrap_err();
        assert!(err.to_string().contains("after 3 attempts"), "{err}");
        assert_eq!(counts.snapshot().get("40P01"), Some(&2));
    }

    #[test]
    fn pauses_grow_are_jittered_and_bounded() {
        let p = RetryPolicy::default();
        for attempt in 1..10 {
            let full = (p.base_delay * (1 << (attempt - 1))).min(p.max_delay);
            let pause = p.pause(attempt);
            assert!(pause >= full / 2 && pause <= full, "{attempt}: {pause:?}");
        }
        assert_eq!(RetryPolicy::NEVER.pause(1), Duration::ZERO);
    }
}
