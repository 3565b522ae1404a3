//! The trait impls of [`MetricsStore`]: every method forwarded to the wrapped store
//! through [`MetricsStore::observe`], the defaults included (see the module documentation).

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use super::{count, route_label, MetricsStore};
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
use crate::store::{
    FlowStore, IndicatorStore, PriceStore, RefreshObserver, SentimentStore, TimeSeriesStore,
};
use crate::time::TimeRange;

const PRICE: &str = "price";
const SENTIMENT: &str = "sentiment";
const FLOW: &str = "flow";
const INDICATOR: &str = "indicator";
const MAINTENANCE: &str = "maintenance";

// `&Vec`, not a slice: it stands for `fn(&T) -> usize` where `T` is the answer's `Vec`.
#[allow(clippy::ptr_arg)]
fn len<T>(v: &Vec<T>) -> usize {
    v.len()
}

fn one<T>(v: &Option<T>) -> usize {
    usize::from(v.is_some())
}

fn single<T>(_: &T) -> usize {
    1
}

/// Adds to `counter` the records of each label pair: grouped by borrowed keys first, so a
/// batch formats each distinct second label once, not once per record.
fn count_by<'a, T, K: Eq + Hash + fmt::Display>(
    counter: &prometheus::IntCounterVec,
    records: &'a [T],
    labels: impl Fn(&'a T) -> (&'a str, K),
) {
    let mut by: HashMap<(&str, K), u64> = HashMap::new();
    for r in records {
        *by.entry(labels(r)).or_default() += 1;
    }
    for ((a, b), n) in by {
        counter.with_label_values(&[a, &b.to_string()]).inc_by(n);
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: TimeSeriesStore + ?Sized> PriceStore for MetricsStore<S> {
    async fn store_candles(&self, candles: &[Candle]) -> Result<WriteSummary> {
        self.families.price_batch_size.observe(count(candles.len()));
        let summary = self
            .observe(
                PRICE,
                "store_candles",
                self.inner.store_candles(candles),
                None,
            )
            .await?;
        count_by(&self.families.price_inserts, candles, |c| {
            (self.symbol_label(&c.symbol), c.interval)
        });
        Ok(summary)
    }

    async fn store_candle(&self, candle: &Candle) -> Result<WriteSummary> {
        self.store_candles(std::slice::from_ref(candle)).await
    }

    async fn native_intervals(&self, symbol: &str) -> Result<Vec<Interval>> {
        let call = self.inner.native_intervals(symbol);
        self.observe(PRICE, "native_intervals", call, Some(len))
            .await
    }

    async fn ohlcv(&self, query: &OhlcvQuery) -> Result<OhlcvSeries> {
        let rows: fn(&OhlcvSeries) -> usize = |s| s.bars.len();
        let series = self
            .observe(PRICE, "ohlcv", self.inner.ohlcv(query), Some(rows))
            .await?;
        self.families
            .ohlcv_routes
            .with_label_values(&[route_label(&series.route)])
            .inc();
        Ok(series)
    }

    async fn latest_price(&self, symbol: &str) -> Result<Option<PricePoint>> {
        let call = self.inner.latest_price(symbol);
        self.observe(PRICE, "latest_price", call, Some(one)).await
    }

    async fn price_change(&self, symbol: &str, window: TimeDelta) -> Result<Option<PriceChange>> {
        let call = self.inner.price_change(symbol, window);
        self.observe(PRICE, "price_change", call, Some(one)).await
    }

    async fn price_change_at(
        &self,
        symbol: &str,
        window: TimeDelta,
        at: DateTime<Utc>,
    ) -> Result<Option<PriceChange>> {
        let call = self.inner.price_change_at(symbol, window, at);
        self.observe(PRICE, "price_change_at", call, Some(one))
            .await
    }

    async fn volume_profile(&self, query: &VolumeProfileQuery) -> Result<Vec<VolumeLevel>> {
        let call = self.inner.volume_profile(query);
        self.observe(PRICE, "volume_profile", call, Some(len)).await
    }

    async fn price_range(&self, symbol: &str, range: TimeRange) -> Result<Option<PriceRange>> {
        let call = self.inner.price_range(symbol, range);
        self.observe(PRICE, "price_range", call, Some(one)).await
    }

    async fn symbols(&self) -> Result<Vec<String>> {
        let call = self.inner.symbols();
        self.observe(PRICE, "symbols", call, Some(len)).await
    }

    async fn market_overview(&self) -> Result<Vec<MarketOverview>> {
        let call = self.inner.market_overview();
        self.observe(PRICE, "market_overview", call, Some(len))
            .await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: TimeSeriesStore + ?Sized> SentimentStore for MetricsStore<S> {
    async fn store_sentiments(&self, readings: &[SentimentReading]) -> Result<WriteSummary> {
        let call = self.inner.store_sentiments(readings);
        let summary = self
            .observe(SENTIMENT, "store_sentiments", call, None)
            .await?;
        count_by(&self.families.sentiment_inserts, readings, |r| {
            (self.symbol_label(&r.asset), r.source.as_str())
        });
        Ok(summary)
    }

    async fn store_sentiment(&self, reading: &SentimentReading) -> Result<WriteSummary> {
        self.store_sentiments(std::slice::from_ref(reading)).await
    }

    async fn sentiment_readings(
        &self,
        asset: &str,
        range: TimeRange,
        source: Option<&str>,
    ) -> Result<Vec<SentimentReading>> {
        let call = self.inner.sentiment_readings(asset, range, source);
        self.observe(SENTIMENT, "sentiment_readings", call, Some(len))
            .await
    }

    async fn sentiment_aggregates(
        &self,
        asset: &str,
        bucket: AggregateBucket,
        range: TimeRange,
    ) -> Result<Vec<SentimentAggregate>> {
        let call = self.inner.sentiment_aggregates(asset, bucket, range);
        self.observe(SENTIMENT, "sentiment_aggregates", call, Some(len))
            .await
    }

    async fn sentiment_trend(&self, asset: &str, window: TimeDelta) -> Result<SentimentTrend> {
        let call = self.inner.sentiment_trend(asset, window);
        self.observe(SENTIMENT, "sentiment_trend", call, Some(single))
            .await
    }

    async fn sentiment_trend_at(
        &self,
        asset: &str,
        window: TimeDelta,
        at: DateTime<Utc>,
    ) -> Result<SentimentTrend> {
        let call = self.inner.sentiment_trend_at(asset, window, at);
        self.observe(SENTIMENT, "sentiment_trend_at", call, Some(single))
            .await
    }

    async fn sentiment_by_source(
        &self,
        asset: &str,
        range: TimeRange,
    ) -> Result<Vec<SourceSentiment>> {
        let call = self.inner.sentiment_by_source(asset, range);
        self.observe(SENTIMENT, "sentiment_by_source", call, Some(len))
            .await
    }

    async fn sentiment_distribution(
        &self,
        asset: &str,
        range: TimeRange,
    ) -> Result<SentimentDistribution> {
        let call = self.inner.sentiment_distribution(asset, range);
        self.observe(SENTIMENT, "sentiment_distribution", call, Some(single))
            .await
    }

    async fn latest_sentiment(
        &self,
        asset: &str,
        source: Option<&str>,
    ) -> Result<Option<SentimentReading>> {
        let call = self.inner.latest_sentiment(asset, source);
        self.observe(SENTIMENT, "latest_sentiment", call, Some(one))
            .await
    }

    async fn sentiment_summary(&self, window: TimeDelta) -> Result<Vec<SentimentSummary>> {
        let call = self.inner.sentiment_summary(window);
        self.observe(SENTIMENT, "sentiment_summary", call, Some(len))
            .await
    }

    async fn sentiment_summary_at(
        &self,
        window: TimeDelta,
        at: DateTime<Utc>,
    ) -> Result<Vec<SentimentSummary>> {
        let call = self.inner.sentiment_summary_at(window, at);
        self.observe(SENTIMENT, "sentiment_summary_at", call, Some(len))
            .await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: TimeSeriesStore + ?Sized> FlowStore for MetricsStore<S> {
    async fn store_flows(&self, flows: &[Flow]) -> Result<WriteSummary> {
        let call = self.inner.store_flows(flows);
        let summary = self.observe(FLOW, "store_flows", call, None).await?;
        count_by(&self.families.flow_inserts, flows, |f| {
            (self.symbol_label(&f.asset), f.flow_type)
        });
        Ok(summary)
    }

    async fn store_flow(&self, flow: &Flow) -> Result<WriteSummary> {
        self.store_flows(std::slice::from_ref(flow)).await
    }

    async fn flow_history(
        &self,
        asset: &str,
        range: TimeRange,
        flow_type: Option<FlowType>,
    ) -> Result<Vec<Flow>> {
        let call = self.inner.flow_history(asset, range, flow_type);
        self.observe(FLOW, "flow_history", call, Some(len)).await
    }

    async fn flow_aggregates(
        &self,
        asset: &str,
        bucket: AggregateBucket,
        range: TimeRange,
    ) -> Result<Vec<FlowAggregate>> {
        let call = self.inner.flow_aggregates(asset, bucket, range);
        self.observe(FLOW, "flow_aggregates", call, Some(len)).await
    }

    async fn net_flow(&self, asset: &str, range: TimeRange) -> Result<NetFlow> {
        let call = self.inner.net_flow(asset, range);
        self.observe(FLOW, "net_flow", call, Some(single)).await
    }

    async fn whale_activity(&self, query: &WhaleQuery) -> Result<Vec<Flow>> {
        let call = self.inner.whale_activity(query);
        self.observe(FLOW, "whale_activity", call, Some(len)).await
    }

    async fn exchange_breakdown(&self, asset: &str, range: TimeRange) -> Result<Vec<ExchangeFlow>> {
        let call = self.inner.exchange_breakdown(asset, range);
        self.observe(FLOW, "exchange_breakdown", call, Some(len))
            .await
    }

    async fn flow_velocity(&self, asset: &str, window: TimeDelta) -> Result<FlowVelocity> {
        let call = self.inner.flow_velocity(asset, window);
        self.observe(FLOW, "flow_velocity", call, Some(single))
            .await
    }

    async fn flow_velocity_at(
        &self,
        asset: &str,
        window: TimeDelta,
        at: DateTime<Utc>,
    ) -> Result<FlowVelocity> {
        let call = self.inner.flow_velocity_at(asset, window, at);
        self.observe(FLOW, "flow_velocity_at", call, Some(single))
            .await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: TimeSeriesStore + ?Sized> IndicatorStore for MetricsStore<S> {
    async fn store_indicators(&self, values: &[IndicatorValue]) -> Result<WriteSummary> {
        let call = self.inner.store_indicators(values);
        let summary = self
            .observe(INDICATOR, "store_indicators", call, None)
            .await?;
        count_by(&self.families.indicator_inserts, values, |v| {
            (self.symbol_label(&v.symbol), v.interval)
        });
        Ok(summary)
    }

    async fn store_indicator(&self, value: &IndicatorValue) -> Result<WriteSummary> {
        self.store_indicators(std::slice::from_ref(value)).await
    }

    async fn indicator_series(&self, query: &IndicatorQuery) -> Result<Vec<IndicatorValue>> {
        let call = self.inner.indicator_series(query);
        self.observe(INDICATOR, "indicator_series", call, Some(len))
            .await
    }

    async fn latest_indicators(&self, symbol: &str) -> Result<Vec<IndicatorValue>> {
        let call = self.inner.latest_indicators(symbol);
        self.observe(INDICATOR, "latest_indicators", call, Some(len))
            .await
    }

    async fn indicator_list(&self, symbol: &str) -> Result<Vec<IndicatorSeries>> {
        let call = self.inner.indicator_list(symbol);
        self.observe(INDICATOR, "indicator_list", call, Some(len))
            .await
    }

    async fn indicator_at(
        &self,
        symbol: &str,
        interval: Interval,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<IndicatorValue>> {
        let call = self.inner.indicator_at(symbol, interval, name, at);
        self.observe(INDICATOR, "indicator_at", call, Some(one))
            .await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<S: TimeSeriesStore + ?Sized> TimeSeriesStore for MetricsStore<S> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn migrate(&self) -> Result<()> {
        let call = self.inner.migrate();
        self.observe(MAINTENANCE, "migrate", call, None).await
    }

    async fn policies(&self) -> Result<Policies> {
        let call = self.inner.policies();
        self.observe(MAINTENANCE, "policies", call, None).await
    }

    async fn preview_policies(&self, policies: &Policies) -> Result<RetentionPreview> {
        let call = self.inner.preview_policies(policies);
        self.observe(MAINTENANCE, "preview_policies", call, None)
            .await
    }

    async fn apply_policies(&self, policies: &Policies, expiry: Expiry) -> Result<PolicyReport> {
        let call = self.inner.apply_policies(policies, expiry);
        self.observe(MAINTENANCE, "apply_policies", call, None)
            .await
    }

    /// Through the wrapped store's `refresh_with_progress` with no observer of the caller's
    /// (every store's `refresh` is that), so that its steps are counted too.
    async fn refresh(&self, range: Option<TimeRange>) -> Result<()> {
        self.refresh_with_progress(range, &|_| {}).await
    }

    async fn refresh_with_progress(
        &self,
        range: Option<TimeRange>,
        progress: &RefreshObserver<'_>,
    ) -> Result<()> {
        let steps = &self.families.refresh_steps;
        let observer = |p: &RefreshProgress| {
            steps.with_label_values(&[p.dataset.as_str()]).inc();
            progress(p);
        };
        let started = Instant::now();
        let call = self.inner.refresh_with_progress(range, &observer);
        let done = self.observe(MAINTENANCE, "refresh", call, None).await;
        let outcome = if done.is_ok() { "ok" } else { "error" };
        self.families
            .refresh_seconds
            .with_label_values(&[outcome])
            .observe(started.elapsed().as_secs_f64());
        done
    }

    async fn apply_retention(&self) -> Result<RetentionReport> {
        let call = self.inner.apply_retention();
        self.observe(MAINTENANCE, "apply_retention", call, None)
            .await
    }

    async fn scan(&self, query: &ScanQuery) -> Result<ScanPage> {
        let call = self.inner.scan(query);
        self.observe(
            MAINTENANCE,
            "scan",
            call,
            Some(|p: &ScanPage| p.records.len()),
        )
        .await
    }

    async fn count(&self, query: &ScanQuery) -> Result<u64> {
        let call = self.inner.count(query);
        self.observe(MAINTENANCE, "count", call, None).await
    }

    async fn stats(&self) -> Result<StoreStats> {
        let call = self.inner.stats();
        let stats = self.observe(MAINTENANCE, "stats", call, None).await?;
        self.record_lag(&stats);
        Ok(stats)
    }
}
