//! The store's pool gauges ([`marketseries::PoolStatus`]) as Prometheus metrics, brought
//! up to date at every scrape.

use std::sync::Mutex;

use marketseries_core::metrics::names;
use marketseries_core::metrics::prometheus::core::Collector;
use marketseries_core::metrics::prometheus::{
    self, CounterVec, IntCounterVec, IntGaugeVec, Opts, Registry,
};
use marketseries_sql::{PoolGauge, PoolStatus};

/// The pool families, and the counters' values at the last scrape (bb8 counts from the
/// pool's start; Prometheus counters only go up by increments).
pub(crate) struct PoolMetrics {
    connections: IntGaugeVec,
    idle: IntGaugeVec,
    checkouts: IntCounterVec,
    waits: IntCounterVec,
    timeouts: IntCounterVec,
    wait_seconds: CounterVec,
    last: Mutex<[PoolGauge; 2]>,
}

const POOLS: [&str; 2] = ["reads", "writes"];

impl PoolMetrics {
    /// Registers the families in `registry`.
    ///
    /// # Errors
    /// When `registry` already holds one of the names.
    pub(crate) fn register(registry: &Registry) -> prometheus::Result<Self> {
        let opts = |name: &str, help: &str| Opts::new(name, help);
        let this = Self {
            connections: IntGaugeVec::new(
                opts(names::POOL_CONNECTIONS, "Connections open, idle or in use"),
                &["pool"],
            )?,
            idle: IntGaugeVec::new(opts(names::POOL_IDLE, "Idle connections"), &["pool"])?,
            checkouts: IntCounterVec::new(
                opts(names::POOL_CHECKOUTS, "Connection checkouts"),
                &["pool"],
            )?,
            waits: IntCounterVec::new(
                opts(names::POOL_WAITS, "Checkouts that waited for a connection"),
                &["pool"],
            )?,
            timeouts: IntCounterVec::new(
                opts(names::POOL_TIMEOUTS, "Checkouts that timed out"),
                &["pool"],
            )?,
            wait_seconds: CounterVec::new(
                opts(
                    names::POOL_WAIT_SECONDS,
                    "Seconds spent waiting for connections",
                ),
                &["pool"],
            )?,
            last: Mutex::new([PoolGauge::default(); 2]),
        };
        for collector in [
            Box::new(this.connections.clone()) as Box<dyn Collector>,
            Box::new(this.idle.clone()),
            Box::new(this.checkouts.clone()),
            Box::new(this.waits.clone()),
            Box::new(this.timeouts.clone()),
            Box::new(this.wait_seconds.clone()),
        ] {
            registry.register(collector)?;
        }
        Ok(this)
    }

    /// Sets the families from `status`.
    pub(crate) fn update(&self, status: &PoolStatus) {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = [status.reads, status.writes.unwrap_or_default()];
        for ((pool, now), before) in POOLS.iter().zip(now).zip(last.iter_mut()) {
            let labels = [*pool];
            self.connections
                .with_label_values(&labels)
                .set(i64::from(now.connections));
            self.idle
                .with_label_values(&labels)
                .set(i64::from(now.idle));
            self.checkouts
                .with_label_values(&labels)
                .inc_by(now.checkouts.saturating_sub(before.checkouts));
            self.waits
                .with_label_values(&labels)
                .inc_by(now.waited.saturating_sub(before.waited));
            self.timeouts
                .with_label_values(&labels)
                .inc_by(now.timed_out.saturating_sub(before.timed_out));
            self.wait_seconds
                .with_label_values(&labels)
                .inc_by(now.wait_time.saturating_sub(before.wait_time).as_secs_f64());
            *before = now;
        }
    }
}
