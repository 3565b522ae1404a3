//! Prometheus metrics for any store: [`MetricsStore`] wraps a [`TimeSeriesStore`] and
//! counts, times and labels every call it forwards, into a registry the caller supplies.
//!
//! Metric names, labels and buckets are defined once, in [`names`]. Every trait method is
//! forwarded explicitly, the default ones included: the impls carry
//! `#[deny(clippy::missing_trait_methods)]`, so a method added to a trait and not forwarded
//! here fails the lint run instead of silently bypassing the metrics (a method the
//! decorator did not forward would run the trait's default on the decorator, not the
//! wrapped store's own implementation).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use marketseries_core::metrics::{names, MetricsOptions, MetricsStore};
//! use marketseries_core::{MemoryStore, PriceStore};
//!
//! let registry = prometheus::Registry::new();
//! let store = MetricsStore::new(
//!     Arc::new(MemoryStore::new()),
//!     &registry,
//!     MetricsOptions::default(),
//! )
//! .unwrap();
//! store.latest_price("BTCUSDT").await.unwrap();
//! let calls = registry
//!     .gather()
//!     .into_iter()
//!     .find(|f| f.name() == names::QUERIES)
//!     .unwrap();
//! assert_eq!(calls.get_metric()[0].get_counter().get_value(), 1.0);
//! # });
//! ```

mod families;
mod forward;
pub mod names;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

pub use prometheus;
use prometheus::Registry;

use crate::error::{ErrorKind, Result};
use crate::router::Route;
use crate::store::TimeSeriesStore;
use crate::time::{Clock, SystemClock};
use families::Families;

/// How [`MetricsStore`] labels what it records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsOptions {
    /// Label inserts with their symbol or asset (default `true`). With thousands of
    /// symbols this multiplies the series a scrape carries; `false` records every insert
    /// under [`names::ANY_SYMBOL`] instead, keeping the other labels.
    pub per_symbol_labels: bool,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        Self {
            per_symbol_labels: true,
        }
    }
}

impl MetricsOptions {
    /// The same options with [`MetricsOptions::per_symbol_labels`] set.
    pub fn per_symbol_labels(self, on: bool) -> Self {
        Self {
            per_symbol_labels: on,
        }
    }
}

/// A store that records Prometheus metrics ([`names`]) for every call to the store it
/// wraps, then answers exactly what that store answers.
///
/// It prints itself as `MetricsStore(<the wrapped store>)`.
pub struct MetricsStore<S: ?Sized = dyn TimeSeriesStore> {
    inner: Arc<S>,
    families: Families,
    options: MetricsOptions,
    clock: Arc<dyn Clock>,
}

impl<S: TimeSeriesStore + ?Sized> MetricsStore<S> {
    /// Wraps `inner`, registering the metric families in `registry`.
    ///
    /// # Errors
    /// [`crate::Error::Config`] naming the metric when `registry` already holds one of
    /// these names (one registry serves one decorated store).
    pub fn new(inner: Arc<S>, registry: &Registry, options: MetricsOptions) -> Result<Self> {
        Ok(Self {
            inner,
            families: Families::register(registry)?,
            options,
            clock: Arc::new(SystemClock),
        })
    }

    /// The same decorator measuring aggregate lag ([`names::AGGREGATE_LAG`]) against
    /// `clock` (default: the system clock); give it the wrapped store's clock.
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Self { clock, ..self }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }

    /// The label value for `symbol` under [`MetricsOptions::per_symbol_labels`].
    fn symbol_label<'a>(&self, symbol: &'a str) -> &'a str {
        if self.options.per_symbol_labels {
            symbol
        } else {
            names::ANY_SYMBOL
        }
    }

    /// Runs `call`, counting and timing it under `(dataset, query)`, counting its error by
    /// kind, and, when it succeeds, observing the rows `rows` finds in its answer.
    async fn observe<T>(
        &self,
        dataset: &str,
        query: &str,
        call: impl Future<Output = Result<T>>,
        rows: Option<fn(&T) -> usize>,
    ) -> Result<T> {
        let labels = [dataset, query];
        self.families.queries.with_label_values(&labels).inc();
        let started = Instant::now();
        let answer = call.await;
        self.families
            .query_seconds
            .with_label_values(&labels)
            .observe(started.elapsed().as_secs_f64());
        match &answer {
            Ok(value) => {
                if let Some(rows) = rows {
                    self.families
                        .query_rows
                        .with_label_values(&labels)
                        .observe(count(rows(value)));
                }
            }
            Err(e) => self
                .families
                .errors
                .with_label_values(&[dataset, query, kind_label(e.kind())])
                .inc(),
        }
        answer
    }

    /// Sets the aggregate lag gauges from the watermarks of `stats`.
    fn record_lag(&self, stats: &crate::maintenance::StoreStats) {
        let now = self.clock.now();
        for agg in &stats.aggregates {
            if let Some(watermark) = agg.watermark {
                let lag = now - watermark;
                self.families
                    .aggregate_lag
                    .with_label_values(&[agg.name.as_str()])
                    .set(seconds(lag));
            }
        }
    }
}

impl<S: ?Sized + fmt::Debug> fmt::Debug for MetricsStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MetricsStore({:?})", &*self.inner)
    }
}

/// `n` as a histogram observation (exact below 2^53, far above any batch or answer).
fn count(n: usize) -> f64 {
    u32::try_from(n).map_or(f64::from(u32::MAX), f64::from)
}

/// A signed duration in seconds (a watermark ahead of the clock gives a negative lag).
fn seconds(d: chrono::TimeDelta) -> f64 {
    match d.to_std() {
        Ok(ahead) => ahead.as_secs_f64(),
        Err(_) => -(-d).to_std().map_or(0.0, |behind| behind.as_secs_f64()),
    }
}

/// The `kind` label of an error.
fn kind_label(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidInput => "invalid_input",
        ErrorKind::BatchTooLarge => "batch_too_large",
        ErrorKind::UnsupportedInterval => "unsupported_interval",
        ErrorKind::Unsupported => "unsupported",
        ErrorKind::Config => "config",
        ErrorKind::Unconfirmed => "unconfirmed",
        ErrorKind::Connection => "connection",
        ErrorKind::AmbiguousCommit => "ambiguous_commit",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Database => "database",
        _ => "other",
    }
}

/// The `route` label of an OHLCV route.
fn route_label(route: &Route) -> &'static str {
    match route {
        Route::NoData => "no_data",
        Route::Raw { .. } => "raw",
        Route::Materialized { .. } => "materialized",
        Route::ReAggregate { .. } => "re_aggregated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_seconds_keep_milliseconds() {
        let ms = chrono::TimeDelta::milliseconds;
        assert_eq!(seconds(ms(1_500)), 1.5);
        assert_eq!(seconds(ms(-250)), -0.25);
        assert_eq!(seconds(ms(0)), 0.0);
    }

    /// With per-symbol labels off, every symbol's inserts land in one series.
    #[tokio::test]
    async fn symbol_labels_can_be_switched_off() {
        use crate::{Candle, Interval, MemoryStore, PriceStore};
        let registry = Registry::new();
        let store = MetricsStore::new(
            Arc::new(MemoryStore::new()),
            &registry,
            MetricsOptions::default().per_symbol_labels(false),
        )
        .expect("decorator");
        let candle = |symbol: &str| Candle {
            symbol: symbol.into(),
            interval: Interval::M1,
            time: "2024-03-01T00:00:00Z".parse().expect("time"),
            open: rust_decimal::Decimal::ONE,
            high: rust_decimal::Decimal::ONE,
            low: rust_decimal::Decimal::ONE,
            close: rust_decimal::Decimal::ONE,
            volume: rust_decimal::Decimal::ONE,
        };
        store
            .store_candles(&[candle("BTCUSDT"), candle("ETHUSDT")])
            .await
            .expect("candles");
        let families = registry.gather();
        let inserts = families
            .iter()
            .find(|f| f.name() == names::PRICE_INSERTS)
            .expect("inserts");
        assert_eq!(inserts.get_metric().len(), 1, "one series");
        let series = &inserts.get_metric()[0];
        let symbol = series.get_label().iter().find(|l| l.name() == "symbol");
        assert_eq!(symbol.map(|l| l.value()), Some(names::ANY_SYMBOL));
        assert_eq!(series.get_counter().get_value(), 2.0);
        assert_eq!(format!("{store:?}").split('(').next(), Some("MetricsStore"));
    }

    #[test]
    fn every_name_is_distinct_and_prefixed() {
        let mut seen = std::collections::BTreeSet::new();
        for name in names::ALL {
            assert!(name.starts_with("marketseries_"), "{name}");
            assert!(seen.insert(name), "{name} twice");
        }
    }
}
