//! The object-safe store traits every backend implements.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use crate::candle::{
    Candle, MarketOverview, OhlcvQuery, OhlcvSeries, PriceChange, PricePoint, PriceRange,
    VolumeLevel, VolumeProfileQuery,
};
use crate::capabilities::Capabilities;
use crate::error::Result;
use crate::expiry::{Expiry, PolicyReport, RetentionPreview};
use crate::flow::{ExchangeFlow, Flow, FlowAggregate, FlowType, FlowVelocity, NetFlow, WhaleQuery};
use crate::indicator::{IndicatorQuery, IndicatorSeries, IndicatorValue};
use crate::interval::Interval;
use crate::maintenance::{Policies, RefreshProgress, RetentionReport, StoreStats, WriteSummary};
use crate::scan::{ScanPage, ScanQuery};
use crate::sentiment::{
    AggregateBucket, SentimentAggregate, SentimentDistribution, SentimentReading, SentimentSummary,
    SentimentTrend, SourceSentiment,
};
use crate::time::TimeRange;

/// Candles and the price questions asked of them.
///
/// Apart from [`PriceStore::ohlcv`], price methods read candles of the symbol's **base
/// interval**: the finest native interval stored for it, so that candles of different
/// native intervals never mix. Text results are ordered by byte value (`COLLATE "C"`).
#[async_trait]
pub trait PriceStore: Send + Sync {
    /// Upserts a batch atomically: every candle is validated first (the error names the
    /// index and field of the first bad one, and nothing is written); an existing key is
    /// replaced; duplicates inside the batch resolve to the last one.
    async fn store_candles(&self, candles: &[Candle]) -> Result<WriteSummary>;

    /// Upserts one candle.
    async fn store_candle(&self, candle: &Candle) -> Result<WriteSummary> {
        self.store_candles(std::slice::from_ref(candle)).await
    }

    /// Native intervals stored for `symbol`, finest first.
    async fn native_intervals(&self, symbol: &str) -> Result<Vec<Interval>>;

    /// One bar per bucket of `query.interval` whose start lies in
    /// `[floor(range.from), range.to)` and that holds data, routed by
    /// [`QueryRouter`](crate::QueryRouter). Results never depend on the route.
    async fn ohlcv(&self, query: &OhlcvQuery) -> Result<OhlcvSeries>;

    /// Close of the latest base-interval candle (greatest `time`).
    async fn latest_price(&self, symbol: &str) -> Result<Option<PricePoint>>;

    /// First open to last close of base-interval candles in `[now - window, now)`.
    async fn price_change(&self, symbol: &str, window: TimeDelta) -> Result<Option<PriceChange>>;

    /// [`PriceStore::price_change`] as of `at` instead of the store's clock: over
    /// `[at - window, at)`, for backtests (what the answer was at `at`, given what is
    /// stored now). `at` must be whole microseconds (see [`TimeRange::new`]).
    async fn price_change_at(
        &self,
        symbol: &str,
        window: TimeDelta,
        at: DateTime<Utc>,
    ) -> Result<Option<PriceChange>>;

    /// Base-interval volume by closing price level over the range, lowest level first.
    async fn volume_profile(&self, query: &VolumeProfileQuery) -> Result<Vec<VolumeLevel>>;

    /// Highest high and lowest low of base-interval candles with `time` in the range.
    async fn price_range(&self, symbol: &str, range: TimeRange) -> Result<Option<PriceRange>>;

    /// Every symbol with candles, sorted.
    async fn symbols(&self) -> Result<Vec<String>>;

    /// Latest price and 24-hour change of every symbol, sorted by symbol.
    async fn market_overview(&self) -> Result<Vec<MarketOverview>>;
}

/// Sentiment readings and their aggregates. Aggregates cover all sources of an asset.
#[async_trait]
pub trait SentimentStore: Send + Sync {
    /// Upserts a batch atomically (see [`PriceStore::store_candles`]).
    async fn store_sentiments(&self, readings: &[SentimentReading]) -> Result<WriteSummary>;

    /// Upserts one reading.
    async fn store_sentiment(&self, reading: &SentimentReading) -> Result<WriteSummary> {
        self.store_sentiments(std::slice::from_ref(reading)).await
    }

    /// Raw readings with `time` in the range, optionally of one source, ordered by
    /// `(time, source)`.
    async fn sentiment_readings(
        &self,
        asset: &str,
        range: TimeRange,
        source: Option<&str>,
    ) -> Result<Vec<SentimentReading>>;

    /// One aggregate per bucket whose start lies in `[floor(range.from), range.to)` and
    /// that holds readings, in time order.
    async fn sentiment_aggregates(
        &self,
        asset: &str,
        bucket: AggregateBucket,
        range: TimeRange,
    ) -> Result<Vec<SentimentAggregate>>;

    /// Mean score in `[now - window, now)` against the window before.
    async fn sentiment_trend(&self, asset: &str, window: TimeDelta) -> Result<SentimentTrend>;

    /// [`SentimentStore::sentiment_trend`] as of `at`: `[at - window, at)` against the
    /// window before.
    async fn sentiment_trend_at(
        &self,
        asset: &str,
        window: TimeDelta,
        at: DateTime<Utc>,
    ) -> Result<SentimentTrend>;

    /// Per-source mean score over the range, ordered by source.
    async fn sentiment_by_source(
        &self,
        asset: &str,
        range: TimeRange,
    ) -> Result<Vec<SourceSentiment>>;

    /// Counts of readings by label over the range.
    async fn sentiment_distribution(
        &self,
        asset: &str,
        range: TimeRange,
    ) -> Result<SentimentDistribution>;

    /// The newest reading (optionally of one source); ties on time go to the first source
    /// in sort order.
    async fn latest_sentiment(
        &self,
        asset: &str,
        source: Option<&str>,
    ) -> Result<Option<SentimentReading>>;

    /// Every asset with readings in `[now - window, now)`, ordered by asset.
    async fn sentiment_summary(&self, window: TimeDelta) -> Result<Vec<SentimentSummary>>;

    /// [`SentimentStore::sentiment_summary`] as of `at`: readings in `[at - window, at)`.
    async fn sentiment_summary_at(
        &self,
        window: TimeDelta,
        at: DateTime<Utc>,
    ) -> Result<Vec<SentimentSummary>>;
}

/// Flows and their aggregates.
#[async_trait]
pub trait FlowStore: Send + Sync {
    /// Upserts a batch atomically (see [`PriceStore::store_candles`]).
    async fn store_flows(&self, flows: &[Flow]) -> Result<WriteSummary>;

    /// Upserts one flow.
    async fn store_flow(&self, flow: &Flow) -> Result<WriteSummary> {
        self.store_flows(std::slice::from_ref(flow)).await
    }

    /// Flows with `time` in the range, optionally of one type, ordered by
    /// `(time, source, flow_type, reference)`.
    async fn flow_history(
        &self,
        asset: &str,
        range: TimeRange,
        flow_type: Option<FlowType>,
    ) -> Result<Vec<Flow>>;

    /// Per bucket and flow type, for buckets whose start lies in
    /// `[floor(range.from), range.to)`, ordered by `(time, flow_type)`.
    async fn flow_aggregates(
        &self,
        asset: &str,
        bucket: AggregateBucket,
        range: TimeRange,
    ) -> Result<Vec<FlowAggregate>>;

    /// Exchange inflow against outflow over the range.
    async fn net_flow(&self, asset: &str, range: TimeRange) -> Result<NetFlow>;

    /// Flows of any type with `amount >= min_amount`, newest first (ties ordered by
    /// `(asset, source, flow_type, reference)`).
    async fn whale_activity(&self, query: &WhaleQuery) -> Result<Vec<Flow>>;

    /// Exchange inflow and outflow per source over the range, ordered by source.
    async fn exchange_breakdown(&self, asset: &str, range: TimeRange) -> Result<Vec<ExchangeFlow>>;

    /// Total flow in `[now - window, now)` against the window before.
    async fn flow_velocity(&self, asset: &str, window: TimeDelta) -> Result<FlowVelocity>;

    /// [`FlowStore::flow_velocity`] as of `at`: `[at - window, at)` against the window
    /// before.
    async fn flow_velocity_at(
        &self,
        asset: &str,
        window: TimeDelta,
        at: DateTime<Utc>,
    ) -> Result<FlowVelocity>;
}

/// Technical indicator values computed elsewhere (RSI, MACD, EMA...), one series per
/// `(symbol, native interval, name)`.
///
/// Values are stored and returned exactly as given; nothing is aggregated or re-sampled, and
/// series of different intervals never mix. Names are compared and ordered by byte value
/// (`COLLATE "C"`), intervals by [`Interval`]'s `Ord` (width, then epoch- before
/// Monday-aligned). An unknown symbol, interval or name is an empty answer, not an error.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use marketseries_core::{IndicatorStore, IndicatorValue, Interval, MemoryStore};
/// let store = MemoryStore::new();
/// let rsi = |time: &str, value: &str| IndicatorValue {
///     symbol: "BTCUSDT".into(),
///     interval: Interval::H1,
///     name: "rsi_14".into(),
///     time: time.parse().unwrap(),
///     value: value.parse().unwrap(),
/// };
/// let ten = rsi("2024-03-01T10:00:00Z", "48.25");
/// let eleven = rsi("2024-03-01T11:00:00Z", "55.5");
/// store.store_indicators(&[ten.clone(), eleven]).await.unwrap();
/// // As of 10:59 the 10:00 value holds; before 10:00 there is none.
/// let at = |t: &str| store.indicator_at("BTCUSDT", Interval::H1, "rsi_14", t.parse().unwrap());
/// assert_eq!(at("2024-03-01T10:59:00Z").await.unwrap(), Some(ten));
/// assert_eq!(at("2024-03-01T09:00:00Z").await.unwrap(), None);
/// # });
/// ```
#[async_trait]
pub trait IndicatorStore: Send + Sync {
    /// Upserts a batch atomically: every value is validated first (the error names the index
    /// and field of the first bad one, and nothing is written; a batch over the configured
    /// maximum is [`Error::BatchTooLarge`](crate::Error::BatchTooLarge)); an existing key
    /// `(symbol, interval, name, time)` is replaced; duplicates inside the batch resolve to
    /// the last one. Re-ingesting a batch changes nothing.
    async fn store_indicators(&self, values: &[IndicatorValue]) -> Result<WriteSummary>;

    /// Upserts one value.
    async fn store_indicator(&self, value: &IndicatorValue) -> Result<WriteSummary> {
        self.store_indicators(std::slice::from_ref(value)).await
    }

    /// Values of `(query.symbol, query.interval, query.name)` with `time` in
    /// `[range.from, range.to)`, in time order.
    async fn indicator_series(&self, query: &IndicatorQuery) -> Result<Vec<IndicatorValue>>;

    /// The newest value (greatest `time`) of every series of `symbol`, one per
    /// `(interval, name)`, ordered by interval, then name.
    async fn latest_indicators(&self, symbol: &str) -> Result<Vec<IndicatorValue>>;

    /// Every series stored for `symbol`, ordered by interval, then name.
    async fn indicator_list(&self, symbol: &str) -> Result<Vec<IndicatorSeries>>;

    /// As-of lookup: the value of `(symbol, interval, name)` with the greatest `time <= at`;
    /// `None` when the series has no value at or before `at`.
    ///
    /// Any `at` chrono can hold is accepted, even one the database cannot store (before the
    /// supported span the answer is `None`, after it the newest value), except one with
    /// sub-microsecond precision: that is
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) naming `at`, because stored
    /// times are whole microseconds and rounding `at` would change the answer.
    async fn indicator_at(
        &self,
        symbol: &str,
        interval: Interval,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<IndicatorValue>>;
}

/// What [`TimeSeriesStore::refresh_with_progress`] calls after each committed step. It
/// runs on the refreshing task, between steps: keep it short (print a line, bump a counter).
pub type RefreshObserver<'a> = dyn Fn(&RefreshProgress) + Send + Sync + 'a;

/// A complete store: every dataset plus the maintenance entry points.
#[async_trait]
pub trait TimeSeriesStore: PriceStore + SentimentStore + FlowStore + IndicatorStore {
    /// What this backend offers.
    fn capabilities(&self) -> Capabilities;

    /// Creates or upgrades the schema. Idempotent.
    async fn migrate(&self) -> Result<()>;

    /// The stored policies (SQL stores: the `marketseries_policies` table, shared by every
    /// process on the database; [`Policies::default`] until some are applied).
    async fn policies(&self) -> Result<Policies>;

    /// Dry run of [`TimeSeriesStore::apply_policies`]: what the next retention run would
    /// drop under `policies` that it would not drop under the stored ones (per dataset
    /// whose horizon `policies` sets or shortens: rows and time range), by the store's
    /// clock now. Changes nothing.
    ///
    /// # Errors
    /// [`crate::Error::Config`] for incoherent policies; database errors.
    async fn preview_policies(&self, policies: &Policies) -> Result<RetentionPreview>;

    /// Stores the policies and applies them (refresh, compression and retention jobs where
    /// the backend has them). Idempotent; applying other values alters the existing
    /// policies. Where the change would make stored rows expire (see
    /// [`TimeSeriesStore::preview_policies`]), `expiry` must be [`Expiry::Confirmed`].
    ///
    /// # Errors
    /// [`crate::Error::Unconfirmed`] (nothing changed) when rows would expire and `expiry`
    /// is [`Expiry::Refuse`]; [`crate::Error::Config`] for incoherent policies.
    async fn apply_policies(&self, policies: &Policies, expiry: Expiry) -> Result<PolicyReport>;

    /// Brings aggregates up to date over `range` (everything when `None`).
    async fn refresh(&self, range: Option<TimeRange>) -> Result<()>;

    /// [`TimeSeriesStore::refresh`], calling `progress` after each step the refresh
    /// commits (see [`RefreshProgress`]). Steps are bounded and commit one by one, so when
    /// a step fails the error is returned, the steps reported before it stay done, and the
    /// next refresh resumes with what is left; reads are right throughout.
    ///
    /// The default refreshes and reports nothing; stores override it.
    ///
    /// ```
    /// # async fn demo() -> marketseries_core::Result<()> {
    /// use marketseries_core::{MemoryStore, TimeSeriesStore};
    /// let store = MemoryStore::new();
    /// store
    ///     .refresh_with_progress(None, &|p| eprintln!("{p}"))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    async fn refresh_with_progress(
        &self,
        range: Option<TimeRange>,
        progress: &RefreshObserver<'_>,
    ) -> Result<()> {
        let _ = progress;
        self.refresh(range).await
    }

    /// Removes data older than the retention horizons, measured from the store's clock.
    /// Never removes a row inside its horizon.
    async fn apply_retention(&self) -> Result<RetentionReport>;

    /// Sizes, aggregate watermarks and jobs.
    async fn stats(&self) -> Result<StoreStats>;

    /// One page of the stored records `query` selects, in time order (see
    /// [`crate::scan`]): what export and copy read a store with. Follow
    /// [`ScanQuery::after`] for the next page.
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] for a zero limit; database errors.
    async fn scan(&self, query: &ScanQuery) -> Result<ScanPage>;

    /// How many stored records `query` selects (its dataset, range and keys; the limit
    /// does not count).
    async fn count(&self, query: &ScanQuery) -> Result<u64>;
}
