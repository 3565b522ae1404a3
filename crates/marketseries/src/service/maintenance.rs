//! The service's schedule: the stored policies (partitions ahead on plain PostgreSQL,
//! TimescaleDB's jobs) and retention by the stored horizons every `policies_every`, and a
//! refresh of the aggregates followed by the stats (the lag `/health` judges) every
//! `refresh_every`. Tasks run one after another; a stop request is honoured between them.

use std::future::Future;
use std::time::Duration;

use marketseries_core::{Expiry, Result, TimeSeriesStore};
use tokio::sync::watch;
use tokio::time::Instant;

use super::Service;

/// How often each part of the schedule runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    /// Refresh and stats.
    pub(crate) refresh_every: Duration,
    /// Whether to refresh, or only read the lag.
    pub(crate) refresh: bool,
    /// Policies and retention.
    pub(crate) policies_every: Duration,
}

/// Runs the schedule until `stop` turns true, starting with everything at once.
pub(crate) async fn run(service: &Service, schedule: Schedule, mut stop: watch::Receiver<bool>) {
    let mut next_policies = Instant::now();
    loop {
        if *stop.borrow() {
            return;
        }
        if Instant::now() >= next_policies {
            next_policies = Instant::now() + schedule.policies_every;
            let store = &service.store;
            // Stored policies were confirmed when they were stored; re-applying them
            // expires nothing they did not already expire.
            task(service, "policies", async {
                let policies = store.policies().await?;
                store
                    .apply_policies(&policies, Expiry::Refuse)
                    .await
                    .map(drop)
            })
            .await;
            if *stop.borrow() {
                return;
            }
            task(service, "retention", async {
                let report = store.apply_retention().await?;
                for a in &report.actions {
                    eprintln!(
                        "serve: retention: {}: removed {} {} older than {}",
                        a.dataset, a.removed, a.unit, a.cutoff
                    );
                }
                Ok(())
            })
            .await;
        }
        if *stop.borrow() {
            return;
        }
        if schedule.refresh {
            task(service, "refresh", service.store.refresh(None)).await;
            if *stop.borrow() {
                return;
            }
        }
        task(service, "stats", async {
            let stats = service.store.stats().await?;
            service.set_stats(stats);
            Ok(())
        })
        .await;
        tokio::select! {
            () = tokio::time::sleep(schedule.refresh_every) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Runs one task, counting its outcome and logging a failure (the service goes on).
async fn task(service: &Service, name: &str, work: impl Future<Output = Result<()>>) {
    let outcome = match work.await {
        Ok(()) => "ok",
        Err(e) => {
            eprintln!("serve: {name} failed: {}", service.redact(&e.to_string()));
            "error"
        }
    };
    service.count_run(name, outcome);
}
