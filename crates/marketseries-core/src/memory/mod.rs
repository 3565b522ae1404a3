//! The in-memory reference store: the oracle every backend is compared with.
//!
//! It keeps raw records in ordered maps and, like the database backends, materializes OHLCV
//! aggregates (per aggregate interval, symbol and native interval) and serves requests by the
//! route the [`QueryRouter`](crate::QueryRouter) picks, so that routing itself is tested.

mod flow;
mod indicator;
mod price;
mod scan;
mod sentiment;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::candle::Bar;
use crate::capabilities::{AggregateCapability, Capabilities};
use crate::error::{Error, Result};
use crate::expiry::{self, ExpiringData, Expiry, PolicyReport, RetentionPreview};
use crate::flow::{Flow, FlowType};
use crate::indicator::IndicatorSeries;
use crate::interval::Interval;
use crate::maintenance::{
    AggregateStats, Dataset, Policies, RefreshProgress, RetentionAction, RetentionReport,
    StoreStats, TableStats,
};
use crate::scan::{ScanPage, ScanQuery};
use crate::sentiment::SentimentReading;
use crate::store::{RefreshObserver, TimeSeriesStore};
use crate::time::{Clock, SystemClock, TimeRange};

/// Natural key of a flow: `(asset, source, flow_type, time, reference)`.
type FlowKey = (String, String, FlowType, DateTime<Utc>, String);
/// `(symbol, native interval)`.
type Series = (String, Interval);

#[derive(Debug, Default)]
struct State {
    /// symbol -> native interval -> time -> values.
    candles: BTreeMap<String, BTreeMap<Interval, BTreeMap<DateTime<Utc>, Bar>>>,
    /// aggregate interval -> (symbol, native) -> bucket -> bar.
    aggregates: BTreeMap<Interval, BTreeMap<Series, BTreeMap<DateTime<Utc>, Bar>>>,
    /// aggregate interval -> buckets to recompute.
    dirty: BTreeMap<Interval, BTreeSet<(Series, DateTime<Utc>)>>,
    /// (asset, source, time) -> reading.
    sentiment: BTreeMap<(String, String, DateTime<Utc>), SentimentReading>,
    flows: BTreeMap<FlowKey, Flow>,
    /// symbol -> (interval, name) -> time -> value.
    indicators: BTreeMap<String, BTreeMap<IndicatorSeries, BTreeMap<DateTime<Utc>, Decimal>>>,
    policies: Policies,
}

impl State {
    /// The rows of `dataset` older than `cutoff`: exactly what retention would remove here.
    fn expiring(&self, dataset: Dataset, cutoff: DateTime<Utc>) -> ExpiringData {
        let times: Vec<DateTime<Utc>> = match dataset {
            Dataset::Price => self
                .candles
                .values()
                .flat_map(BTreeMap::values)
                .flat_map(|raw| raw.range(..cutoff).map(|(t, _)| *t))
                .collect(),
            Dataset::Sentiment => self
                .sentiment
                .values()
                .map(|r| r.time)
                .filter(|t| *t < cutoff)
                .collect(),
            Dataset::Flow => self
                .flows
                .values()
                .map(|f| f.time)
                .filter(|t| *t < cutoff)
                .collect(),
            Dataset::Indicator => self
                .indicators
                .values()
                .flat_map(BTreeMap::values)
                .flat_map(|values| values.range(..cutoff).map(|(t, _)| *t))
                .collect(),
        };
        ExpiringData {
            dataset,
            table: crate::maintenance::table_name(dataset),
            cutoff,
            rows: u64::try_from(times.len()).unwrap_or(u64::MAX),
            oldest: times.iter().min().copied(),
            newest: times.iter().max().copied(),
        }
    }
}

/// The in-memory reference store. Cheap to clone (clones share data).
///
/// ```
/// use marketseries_core::{MemoryStore, TimeSeriesStore};
/// let store = MemoryStore::new();
/// assert_eq!(store.capabilities().backend, "memory");
/// ```
#[derive(Debug, Clone)]
pub struct MemoryStore {
    state: Arc<RwLock<State>>,
    clock: Arc<dyn Clock>,
    caps: Capabilities,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// Aggregates the database backends materialize: 5m, 15m, 1h, 4h, 1d.
    pub fn default_aggregates() -> Vec<AggregateCapability> {
        [
            Interval::M5,
            Interval::M15,
            Interval::H1,
            Interval::H4,
            Interval::D1,
        ]
        .into_iter()
        .map(AggregateCapability::flat)
        .collect()
    }

    /// A store on the system clock with the default aggregates.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// A store on `clock` with the default aggregates.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        let caps = Capabilities {
            backend: "memory",
            aggregates: Self::default_aggregates(),
            real_time_aggregates: true,
            compression: false,
            retention: true,
            ..Capabilities::raw_only("memory")
        };
        Self::with_capabilities(clock, caps)
    }

    /// A store with explicit capabilities (aggregates, real-time flag, batch limit); used
    /// to exercise the router against different backend shapes.
    pub fn with_capabilities(clock: Arc<dyn Clock>, caps: Capabilities) -> Self {
        Self {
            state: Arc::new(RwLock::new(State::default())),
            clock,
            caps,
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// What a batch written now may hold: the batch limit of the capabilities and
    /// [`DEFAULT_MAX_FUTURE_SKEW`](crate::validate::DEFAULT_MAX_FUTURE_SKEW), as the SQL
    /// stores by default.
    fn limits(&self) -> crate::validate::Limits {
        crate::validate::Limits::new(
            self.caps.max_batch_size,
            self.now(),
            crate::validate::DEFAULT_MAX_FUTURE_SKEW,
        )
    }
}

impl State {
    fn mark_dirty(
        &mut self,
        caps: &Capabilities,
        symbol: &str,
        native: Interval,
        t: DateTime<Utc>,
    ) {
        for agg in caps.aggregates.iter().filter(|a| a.holds_native(native)) {
            self.dirty
                .entry(agg.interval)
                .or_default()
                .insert(((symbol.to_owned(), native), agg.interval.floor(t)));
        }
    }

    /// Recomputes every dirty aggregate bucket from raw candles.
    fn refresh_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for (agg, buckets) in dirty {
            for ((symbol, native), start) in buckets {
                let end = start + agg.duration();
                let bar = self
                    .candles
                    .get(&symbol)
                    .and_then(|by_native| by_native.get(&native))
                    .and_then(|raw| {
                        crate::candle::aggregate_bars(raw.range(start..end).map(|(_, b)| *b), agg)
                            .pop()
                    });
                let series = self
                    .aggregates
                    .entry(agg)
                    .or_default()
                    .entry((symbol, native))
                    .or_default();
                match bar {
                    Some(bar) => {
                        series.insert(start, bar);
                    }
                    None => {
                        series.remove(&start);
                    }
                }
            }
        }
    }
}

#[async_trait]
impl TimeSeriesStore for MemoryStore {
    fn capabilities(&self) -> Capabilities {
        self.caps.clone()
    }

    async fn migrate(&self) -> Result<()> {
        Ok(())
    }

    async fn policies(&self) -> Result<Policies> {
        Ok(self.read().policies)
    }

    async fn preview_policies(&self, policies: &Policies) -> Result<RetentionPreview> {
        policies.validate()?;
        let state = self.read();
        let expiring = expiry::shortened(&state.policies, policies, self.now())
            .into_iter()
            .map(|(dataset, cutoff)| state.expiring(dataset, cutoff))
            .collect();
        Ok(RetentionPreview { expiring })
    }

    async fn apply_policies(&self, policies: &Policies, expiry: Expiry) -> Result<PolicyReport> {
        let preview = self.preview_policies(policies).await?;
        if preview.drops_data() && expiry == Expiry::Refuse {
            return Err(Error::Unconfirmed { preview });
        }
        self.write().policies = *policies;
        Ok(PolicyReport {
            policies: *policies,
            preview,
            jobs: Vec::new(),
        })
    }

    async fn refresh(&self, _range: Option<TimeRange>) -> Result<()> {
        self.write().refresh_dirty();
        Ok(())
    }

    /// Recomputes every dirty OHLCV bucket at once: one step, reported when any bucket was
    /// dirty.
    async fn refresh_with_progress(
        &self,
        _range: Option<TimeRange>,
        progress: &RefreshObserver<'_>,
    ) -> Result<()> {
        let dirty = {
            let mut state = self.write();
            let dirty = state.dirty.values().any(|b| !b.is_empty());
            state.refresh_dirty();
            dirty
        };
        if dirty {
            progress(&RefreshProgress {
                dataset: Dataset::Price,
                target: "aggregates".to_owned(),
                step: 1,
                steps: Some(1),
                covered: chrono::TimeDelta::zero(),
                through: None,
                remaining: Some(chrono::TimeDelta::zero()),
            });
        }
        Ok(())
    }

    async fn apply_retention(&self) -> Result<RetentionReport> {
        let now = self.now();
        let mut state = self.write();
        let retention = state.policies.retention;
        let mut report = RetentionReport::default();
        for dataset in Dataset::ALL {
            let Some(horizon) = retention.horizon(dataset) else {
                continue;
            };
            let cutoff = expiry::cutoff(now, horizon);
            let removed = match dataset {
                Dataset::Price => {
                    let mut removed = Vec::new();
                    for (symbol, by_native) in &mut state.candles {
                        for (native, raw) in by_native.iter_mut() {
                            let keep = raw.split_off(&cutoff);
                            for t in std::mem::replace(raw, keep).into_keys() {
                                removed.push((symbol.clone(), *native, t));
                            }
                        }
                    }
                    state.candles.retain(|_, by_native| {
                        by_native.retain(|_, raw| !raw.is_empty());
                        !by_native.is_empty()
                    });
                    for (symbol, native, t) in &removed {
                        state.mark_dirty(&self.caps, symbol, *native, *t);
                    }
                    removed.len()
                }
                Dataset::Sentiment => {
                    let before = state.sentiment.len();
                    state.sentiment.retain(|_, r| r.time >= cutoff);
                    before - state.sentiment.len()
                }
                Dataset::Flow => {
                    let before = state.flows.len();
                    state.flows.retain(|_, f| f.time >= cutoff);
                    before - state.flows.len()
                }
                Dataset::Indicator => state.expire_indicators(cutoff),
            };
            report.actions.push(RetentionAction {
                dataset,
                cutoff,
                removed: u64::try_from(removed).unwrap_or(u64::MAX),
                unit: "rows",
            });
        }
        state.refresh_dirty();
        Ok(report)
    }

    async fn scan(&self, query: &ScanQuery) -> Result<ScanPage> {
        query.check()?;
        Ok(self.read().scan(query))
    }

    async fn count(&self, query: &ScanQuery) -> Result<u64> {
        Ok(self.read().count(query))
    }

    async fn stats(&self) -> Result<StoreStats> {
        let state = self.read();
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let candle_rows: usize = state
            .candles
            .values()
            .flat_map(BTreeMap::values)
            .map(BTreeMap::len)
            .sum();
        let table = |name: &str, rows: usize| TableStats {
            name: name.to_owned(),
            rows: count(rows),
            partitions: 0,
            total_bytes: None,
            uncompressed_bytes: None,
            compressed_bytes: None,
        };
        Ok(StoreStats {
            backend: self.caps.backend,
            policies: state.policies,
            tables: vec![
                table("candles", candle_rows),
                table("sentiment", state.sentiment.len()),
                table("flows", state.flows.len()),
                table("indicators", state.indicator_rows()),
            ],
            aggregates: self
                .caps
                .materialized_intervals()
                .into_iter()
                .map(|i| AggregateStats {
                    name: format!("ohlcv_{}", i.identifier()),
                    watermark: None,
                })
                .collect(),
            jobs: Vec::new(),
            write_retries: Default::default(),
        })
    }
}
