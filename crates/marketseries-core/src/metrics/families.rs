//! The metric families of one decorated store, registered in the caller's registry.

use prometheus::{GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use super::names;
use crate::error::{Error, Result};

/// The families [`MetricsStore`](super::MetricsStore) updates.
#[derive(Clone)]
pub(crate) struct Families {
    pub(crate) price_inserts: IntCounterVec,
    pub(crate) sentiment_inserts: IntCounterVec,
    pub(crate) flow_inserts: IntCounterVec,
    pub(crate) indicator_inserts: IntCounterVec,
    pub(crate) price_batch_size: Histogram,
    pub(crate) queries: IntCounterVec,
    pub(crate) query_seconds: HistogramVec,
    pub(crate) query_rows: HistogramVec,
    pub(crate) ohlcv_routes: IntCounterVec,
    pub(crate) errors: IntCounterVec,
    pub(crate) refresh_seconds: HistogramVec,
    pub(crate) refresh_steps: IntCounterVec,
    pub(crate) aggregate_lag: GaugeVec,
}

/// A registration failure (a name already registered in `registry`, typically a second
/// decorator on one registry) as a configuration error naming the metric.
fn registered<C: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    name: &str,
    collector: prometheus::Result<C>,
) -> Result<C> {
    let collector = collector.map_err(|e| Error::Config(format!("metric {name}: {e}")))?;
    registry
        .register(Box::new(collector.clone()))
        .map_err(|e| {
            Error::Config(format!(
                "metric {name} cannot be registered ({e}); one registry serves one decorated \
                 store"
            ))
        })?;
    Ok(collector)
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> Result<IntCounterVec> {
    registered(
        registry,
        name,
        IntCounterVec::new(Opts::new(name, help), labels),
    )
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> Result<HistogramVec> {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    registered(registry, name, HistogramVec::new(opts, labels))
}

impl Families {
    /// Creates every family and registers it in `registry`.
    pub(crate) fn register(registry: &Registry) -> Result<Self> {
        let call = ["dataset", "query"];
        Ok(Self {
            price_inserts: counter(
                registry,
                names::PRICE_INSERTS,
                "Candles written",
                &["symbol", "interval"],
            )?,
            sentiment_inserts: counter(
                registry,
                names::SENTIMENT_INSERTS,
                "Sentiment readings written",
                &["asset", "source"],
            )?,
            flow_inserts: counter(
                registry,
                names::FLOW_INSERTS,
                "Flows written",
                &["asset", "flow_type"],
            )?,
            indicator_inserts: counter(
                registry,
                names::INDICATOR_INSERTS,
                "Indicator values written",
                &["symbol", "interval"],
            )?,
            price_batch_size: registered(
                registry,
                names::PRICE_BATCH_SIZE,
                Histogram::with_opts(
                    HistogramOpts::new(names::PRICE_BATCH_SIZE, "Candles per store_candles call")
                        .buckets(names::COUNT_BUCKETS.to_vec()),
                ),
            )?,
            queries: counter(registry, names::QUERIES, "Store calls", &call)?,
            query_seconds: histogram(
                registry,
                names::QUERY_SECONDS,
                "Duration of store calls in seconds",
                &call,
                &names::SECONDS_BUCKETS,
            )?,
            query_rows: histogram(
                registry,
                names::QUERY_ROWS,
                "Rows returned per successful read",
                &call,
                &names::COUNT_BUCKETS,
            )?,
            ohlcv_routes: counter(
                registry,
                names::OHLCV_ROUTES,
                "Routes taken by OHLCV reads",
                &["route"],
            )?,
            errors: counter(
                registry,
                names::ERRORS,
                "Failed store calls",
                &["dataset", "query", "kind"],
            )?,
            refresh_seconds: histogram(
                registry,
                names::REFRESH_SECONDS,
                "Duration of refreshes in seconds",
                &["outcome"],
                &names::REFRESH_BUCKETS,
            )?,
            refresh_steps: counter(
                registry,
                names::REFRESH_STEPS,
                "Refresh steps committed",
                &["dataset"],
            )?,
            aggregate_lag: registered(
                registry,
                names::AGGREGATE_LAG,
                GaugeVec::new(
                    Opts::new(
                        names::AGGREGATE_LAG,
                        "Seconds each aggregate's watermark is behind now, as of the last stats call",
                    ),
                    &["aggregate"],
                ),
            )?,
        })
    }
}
