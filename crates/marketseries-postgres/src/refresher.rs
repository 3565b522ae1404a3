//! The background refresh of the OHLCV rollups on plain PostgreSQL: the counterpart of a
//! TimescaleDB refresh policy job. Reads are right without it (the rollup views aggregate
//! pending spans from raw candles); it keeps them fast by materializing what writes left
//! pending, every [`RefreshPolicy::schedule`](marketseries_core::RefreshPolicy).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use marketseries_core::{Clock, JobStats, RefreshProgress};
use tokio::task::AbortHandle;

use marketseries_sql::PgPool;

use crate::rollup;

/// Name the job has in [`marketseries_core::StoreStats::jobs`].
pub(crate) const JOB_NAME: &str = "ohlcv rollup refresh (background)";

#[derive(Debug, Default, Clone)]
struct Runs {
    last_run: Option<DateTime<Utc>>,
    last_succeeded: Option<bool>,
    failures: u64,
    last_error: Option<String>,
    every: Option<chrono::TimeDelta>,
    next_start: Option<DateTime<Utc>>,
}

/// The error of a failed run, with the step it hit: `step 3 of 5: <error> (2 steps before
/// it committed)`, given the last step reported before the failure (`None`: the first).
fn failed_step(last: Option<(u64, Option<u64>)>, error: &marketseries_core::Error) -> String {
    let (done, steps) = last.unwrap_or((0, None));
    let of = steps.map(|n| format!(" of {n}")).unwrap_or_default();
    let kept = match done {
        0 => String::new(),
        1 => " (1 step before it committed)".to_owned(),
        n => format!(" ({n} steps before it committed)"),
    };
    format!("step {}{of}: {error}{kept}", done + 1)
}

/// The running refresher, if any. Dropping it stops the task.
#[derive(Debug, Default)]
pub(crate) struct Refresher {
    task: Mutex<Option<AbortHandle>>,
    runs: Arc<Mutex<Runs>>,
}

impl Refresher {
    /// Starts refreshing every `every` on up to `workers` pooled connections (replacing a
    /// running refresher). The task holds the pool, not the store, so dropping the store
    /// stops it.
    pub(crate) fn start(
        &self,
        pool: PgPool,
        every: Duration,
        clock: Arc<dyn Clock>,
        workers: usize,
    ) {
        let runs = self.runs.clone();
        let step = chrono::TimeDelta::from_std(every).unwrap_or(chrono::TimeDelta::MAX);
        {
            let mut r = runs.lock().unwrap_or_else(PoisonError::into_inner);
            r.every = Some(step);
            r.next_start = clock.now().checked_add_signed(step);
        }
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                // The error is kept for `stats` (a library does not print): a refresh that
                // keeps failing must say why, and which step it hit (the steps before it
                // stay committed: the next run resumes after them).
                let mut held = Vec::new();
                let mut no_connection = None;
                for _ in 0..workers.max(1) {
                    match pool.get().await {
                        Ok(conn) => held.push(conn),
                        Err(e) => {
                            no_connection = Some(e);
                            break;
                        }
                    }
                }
                let outcome = match (held.is_empty(), no_connection) {
                    (true, Some(e)) => Err(format!("no connection: {e}")),
                    _ => {
                        let last = Mutex::new(None::<(u64, Option<u64>)>);
                        let observe = |p: &RefreshProgress| {
                            *last.lock().unwrap_or_else(PoisonError::into_inner) =
                                Some((p.step, p.steps));
                        };
                        let conns = held.iter_mut().map(|c| &mut ***c).collect();
                        rollup::refresh_pending(conns, &observe)
                            .await
                            .map(drop)
                            .map_err(|e| {
                                let last = *last.lock().unwrap_or_else(PoisonError::into_inner);
                                failed_step(last, &marketseries_sql::database_error(e))
                            })
                    }
                };
                drop(held);
                let ok = outcome.is_ok();
                let mut r = runs.lock().unwrap_or_else(PoisonError::into_inner);
                let now = clock.now();
                r.last_run = Some(now);
                r.next_start = now.checked_add_signed(step);
                r.last_succeeded = Some(ok);
                r.failures += u64::from(!ok);
                r.last_error = outcome.err();
            }
        });
        let old = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(task.abort_handle());
        if let Some(old) = old {
            old.abort();
        }
    }

    /// The job's record, when a refresher was started.
    pub(crate) fn job(&self) -> Option<JobStats> {
        self.task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()?;
        let r = self
            .runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Some(JobStats {
            id: 1,
            name: JOB_NAME.to_owned(),
            last_run: r.last_run,
            last_succeeded: r.last_succeeded,
            failures: r.failures,
            last_error: r.last_error,
            next_start: r.next_start,
            schedule: r.every,
            in_process: true,
        })
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        if let Some(task) = self
            .task
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}
