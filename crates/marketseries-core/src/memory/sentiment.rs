//! [`SentimentStore`] for the reference store.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use super::MemoryStore;
use crate::error::Result;
use crate::maintenance::WriteSummary;
use crate::sentiment::{
    AggregateBucket, SentimentAggregate, SentimentDistribution, SentimentLabel, SentimentReading,
    SentimentSummary, SentimentTrend, SentimentWindow, SourceSentiment,
};
use crate::store::SentimentStore;
use crate::time::TimeRange;
use crate::validate::validate_sentiments;

/// Mean of `sum` over `n` readings; `n` is a count of stored rows, far below 2^53.
#[allow(clippy::cast_precision_loss)]
fn mean(sum: f64, n: u64) -> f64 {
    sum / n as f64
}

fn window_stats<'a>(
    readings: impl Iterator<Item = &'a SentimentReading>,
) -> Option<SentimentWindow> {
    let (sum, n) = readings.fold((0.0, 0u64), |(s, n), r| (s + r.score, n + 1));
    (n > 0).then(|| SentimentWindow {
        avg_score: mean(sum, n),
        readings: n,
    })
}

impl MemoryStore {
    fn readings_in(&self, asset: &str, range: TimeRange) -> Vec<SentimentReading> {
        let mut v: Vec<_> = self
            .read()
            .sentiment
            .values()
            .filter(|r| r.asset == asset && range.contains(r.time))
            .cloned()
            .collect();
        v.sort_by(|a, b| (a.time, &a.source).cmp(&(b.time, &b.source)));
        v
    }
}

fn count(d: &mut SentimentDistribution, label: SentimentLabel) {
    match label {
        SentimentLabel::Bearish => d.bearish += 1,
        SentimentLabel::Neutral => d.neutral += 1,
        SentimentLabel::Bullish => d.bullish += 1,
    }
}

#[async_trait]
impl SentimentStore for MemoryStore {
    async fn store_sentiments(&self, readings: &[SentimentReading]) -> Result<WriteSummary> {
        validate_sentiments(readings, &self.limits())?;
        let mut state = self.write();
        let mut keys = std::collections::BTreeSet::new();
        for r in readings {
            let key = (r.asset.clone(), r.source.clone(), r.time);
            keys.insert(key.clone());
            state.sentiment.insert(key, r.clone());
        }
        Ok(WriteSummary {
            received: readings.len(),
            distinct: keys.len(),
        })
    }

    async fn sentiment_readings(
        &self,
        asset: &str,
        range: TimeRange,
        source: Option<&str>,
    ) -> Result<Vec<SentimentReading>> {
        let mut v = self.readings_in(asset, range);
        if let Some(source) = source {
            v.retain(|r| r.source == source);
        }
        Ok(v)
    }

    async fn sentiment_aggregates(
        &self,
        asset: &str,
        bucket: AggregateBucket,
        range: TimeRange,
    ) -> Result<Vec<SentimentAggregate>> {
        let interval = bucket.interval();
        let (start, end) = interval.covering(&range);
        let span = TimeRange::new(start, end)?;
        let mut buckets: BTreeMap<_, Vec<SentimentReading>> = BTreeMap::new();
        for r in self.readings_in(asset, span) {
            buckets.entry(interval.floor(r.time)).or_default().push(r);
        }
        Ok(buckets
            .into_iter()
            .map(|(time, rs)| {
                let n = u64::try_from(rs.len()).unwrap_or(u64::MAX);
                SentimentAggregate {
                    time,
                    avg_score: mean(rs.iter().map(|r| r.score).sum(), n),
                    min_score: rs.iter().map(|r| r.score).fold(f64::INFINITY, f64::min),
                    max_score: rs.iter().map(|r| r.score).fold(f64::NEG_INFINITY, f64::max),
                    readings: n,
                    mentions: rs.iter().map(|r| r.mention_volume).sum(),
                    engagement: rs.iter().map(|r| r.engagement).sum(),
                }
            })
            .collect())
    }

    async fn sentiment_trend(&self, asset: &str, window: TimeDelta) -> Result<SentimentTrend> {
        self.sentiment_trend_at(asset, window, self.now()).await
    }

    async fn sentiment_trend_at(
        &self,
        asset: &str,
        window: TimeDelta,
        at: DateTime<Utc>,
    ) -> Result<SentimentTrend> {
        let current_range = TimeRange::last(at, window)?;
        let previous_range = TimeRange::last(current_range.from(), window)?;
        Ok(SentimentTrend {
            asset: asset.to_owned(),
            current_range,
            current: window_stats(self.readings_in(asset, current_range).iter()),
            previous: window_stats(self.readings_in(asset, previous_range).iter()),
        })
    }

    async fn sentiment_by_source(
        &self,
        asset: &str,
        range: TimeRange,
    ) -> Result<Vec<SourceSentiment>> {
        let mut by_source: BTreeMap<String, (f64, u64, u64)> = BTreeMap::new();
        for r in self.readings_in(asset, range) {
            let e = by_source.entry(r.source.clone()).or_default();
            e.0 += r.score;
            e.1 += 1;
            e.2 += r.mention_volume;
        }
        Ok(by_source
            .into_iter()
            .map(|(source, (sum, n, mentions))| SourceSentiment {
                source,
                avg_score: mean(sum, n),
                readings: n,
                mentions,
            })
            .collect())
    }

    async fn sentiment_distribution(
        &self,
        asset: &str,
        range: TimeRange,
    ) -> Result<SentimentDistribution> {
        let mut d = SentimentDistribution::default();
        for r in self.readings_in(asset, range) {
            count(&mut d, r.label);
        }
        Ok(d)
    }

    async fn latest_sentiment(
        &self,
        asset: &str,
        source: Option<&str>,
    ) -> Result<Option<SentimentReading>> {
        Ok(self
            .read()
            .sentiment
            .values()
            .filter(|r| r.asset == asset && source.is_none_or(|s| r.source == s))
            .min_by(|a, b| b.time.cmp(&a.time).then_with(|| a.source.cmp(&b.source)))
            .cloned())
    }

    async fn sentiment_summary(&self, window: TimeDelta) -> Result<Vec<SentimentSummary>> {
        self.sentiment_summary_at(window, self.now()).await
    }

    async fn sentiment_summary_at(
        &self,
        window: TimeDelta,
        at: DateTime<Utc>,
    ) -> Result<Vec<SentimentSummary>> {
        let range = TimeRange::last(at, window)?;
        let mut by_asset: BTreeMap<String, Vec<SentimentReading>> = BTreeMap::new();
        for r in self
            .read()
            .sentiment
            .values()
            .filter(|r| range.contains(r.time))
        {
            by_asset.entry(r.asset.clone()).or_default().push(r.clone());
        }
        Ok(by_asset
            .into_iter()
            .filter_map(|(asset, rs)| {
                let stats = window_stats(rs.iter())?;
                let mut distribution = SentimentDistribution::default();
                for r in &rs {
                    count(&mut distribution, r.label);
                }
                Some(SentimentSummary {
                    asset,
                    avg_score: stats.avg_score,
                    readings: stats.readings,
                    mentions: rs.iter().map(|r| r.mention_volume).sum(),
                    distribution,
                    latest_time: rs.iter().map(|r| r.time).max()?,
                })
            })
            .collect())
    }
}
