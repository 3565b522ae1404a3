//! [`IndicatorStore`] for the reference store.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{MemoryStore, State};
use crate::error::Result;
use crate::indicator::{IndicatorQuery, IndicatorSeries, IndicatorValue};
use crate::interval::Interval;
use crate::maintenance::WriteSummary;
use crate::store::IndicatorStore;
use crate::time::check_microseconds;
use crate::validate::validate_indicators;

/// The values of one series: time -> value.
type Values = BTreeMap<DateTime<Utc>, Decimal>;

fn indicator_value(
    symbol: &str,
    series: &IndicatorSeries,
    time: DateTime<Utc>,
    value: Decimal,
) -> IndicatorValue {
    IndicatorValue {
        symbol: symbol.to_owned(),
        interval: series.interval,
        name: series.name.clone(),
        time,
        value,
    }
}

impl State {
    /// The values of `(symbol, interval, name)`, if the series exists.
    fn indicator_values(&self, symbol: &str, interval: Interval, name: &str) -> Option<&Values> {
        let key = IndicatorSeries {
            interval,
            name: name.to_owned(),
        };
        self.indicators.get(symbol)?.get(&key)
    }

    /// Removes every indicator value with `time < cutoff` (and series left empty); returns
    /// how many values went.
    pub(super) fn expire_indicators(&mut self, cutoff: DateTime<Utc>) -> usize {
        let mut removed = 0;
        for by_series in self.indicators.values_mut() {
            for values in by_series.values_mut() {
                let keep = values.split_off(&cutoff);
                removed += std::mem::replace(values, keep).len();
            }
            by_series.retain(|_, values| !values.is_empty());
        }
        self.indicators.retain(|_, by_series| !by_series.is_empty());
        removed
    }

    /// Number of stored indicator values.
    pub(super) fn indicator_rows(&self) -> usize {
        self.indicators
            .values()
            .flat_map(BTreeMap::values)
            .map(BTreeMap::len)
            .sum()
    }
}

#[async_trait]
impl IndicatorStore for MemoryStore {
    async fn store_indicators(&self, values: &[IndicatorValue]) -> Result<WriteSummary> {
        validate_indicators(values, &self.limits())?;
        let mut state = self.write();
        let mut keys = BTreeSet::new();
        for v in values {
            keys.insert((&v.symbol, v.interval, &v.name, v.time));
            state
                .indicators
                .entry(v.symbol.clone())
                .or_default()
                .entry(v.series())
                .or_default()
                .insert(v.time, v.value);
        }
        Ok(WriteSummary {
            received: values.len(),
            distinct: keys.len(),
        })
    }

    async fn indicator_series(&self, query: &IndicatorQuery) -> Result<Vec<IndicatorValue>> {
        let state = self.read();
        let Some(values) = state.indicator_values(&query.symbol, query.interval, &query.name)
        else {
            return Ok(Vec::new());
        };
        let series = IndicatorSeries {
            interval: query.interval,
            name: query.name.clone(),
        };
        Ok(values
            .range(query.range.from()..query.range.to())
            .map(|(time, value)| indicator_value(&query.symbol, &series, *time, *value))
            .collect())
    }

    async fn latest_indicators(&self, symbol: &str) -> Result<Vec<IndicatorValue>> {
        let state = self.read();
        let Some(by_series) = state.indicators.get(symbol) else {
            return Ok(Vec::new());
        };
        Ok(by_series
            .iter()
            .filter_map(|(series, values)| {
                let (time, value) = values.last_key_value()?;
                Some(indicator_value(symbol, series, *time, *value))
            })
            .collect())
    }

    async fn indicator_list(&self, symbol: &str) -> Result<Vec<IndicatorSeries>> {
        Ok(self
            .read()
            .indicators
            .get(symbol)
            .map(|by_series| by_series.keys().cloned().collect())
            .unwrap_or_default())
    }

    async fn indicator_at(
        &self,
        symbol: &str,
        interval: Interval,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<IndicatorValue>> {
        check_microseconds("at", at)?;
        let state = self.read();
        Ok(state
            .indicator_values(symbol, interval, name)
            .and_then(|values| values.range(..=at).next_back())
            .map(|(time, value)| IndicatorValue {
                symbol: symbol.to_owned(),
                interval,
                name: name.to_owned(),
                time: *time,
                value: *value,
            }))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::error::ErrorKind;
    use crate::maintenance::Policies;
    use crate::store::TimeSeriesStore;
    use crate::time::{FixedClock, TimeRange};

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn iv(interval: &str, name: &str, time: &str, value: &str) -> IndicatorValue {
        IndicatorValue {
            symbol: "BTCUSDT".into(),
            interval: interval.parse().unwrap(),
            name: name.into(),
            time: t(time),
            value: dec(value),
        }
    }

    fn series(interval: &str, name: &str) -> IndicatorSeries {
        IndicatorSeries {
            interval: interval.parse().unwrap(),
            name: name.into(),
        }
    }

    /// Three hourly RSI values (10:00, 11:00, 13:00) plus other series around them.
    async fn loaded() -> MemoryStore {
        let store = MemoryStore::new();
        store
            .store_indicators(&[
                iv("1h", "rsi_14", "2024-03-01T11:00:00Z", "55.5"),
                iv("1h", "rsi_14", "2024-03-01T10:00:00Z", "48.25"),
                iv("1h", "rsi_14", "2024-03-01T13:00:00Z", "61"),
                iv(
                    "1h",
                    "MACD",
                    "2024-03-01T09:00:00Z",
                    "-12345678901234.123456789012",
                ),
                iv("15m", "rsi_14", "2024-03-01T13:45:00Z", "70.1"),
                iv("1d", "ema-20", "2024-02-29T00:00:00Z", "61000.000000000001"),
            ])
            .await
            .unwrap();
        store
    }

    async fn rsi_at(store: &MemoryStore, at: &str) -> Option<(DateTime<Utc>, Decimal)> {
        store
            .indicator_at("BTCUSDT", Interval::H1, "rsi_14", t(at))
            .await
            .unwrap()
            .map(|v| (v.time, v.value))
    }

    #[tokio::test]
    async fn as_of_lookup() {
        let store = loaded().await;
        assert_eq!(rsi_at(&store, "2024-03-01T09:59:59.999999Z").await, None);
        assert_eq!(
            rsi_at(&store, "2024-03-01T10:00:00Z").await,
            Some((t("2024-03-01T10:00:00Z"), dec("48.25")))
        );
        assert_eq!(
            rsi_at(&store, "2024-03-01T12:59:59Z").await,
            Some((t("2024-03-01T11:00:00Z"), dec("55.5")))
        );
        assert_eq!(
            rsi_at(&store, "2024-03-01T13:00:00Z").await,
            Some((t("2024-03-01T13:00:00Z"), dec("61")))
        );
        assert_eq!(
            rsi_at(&store, "2099-01-01T00:00:00Z").await,
            Some((t("2024-03-01T13:00:00Z"), dec("61")))
        );
        // Other intervals and names never answer for this series.
        let other = store
            .indicator_at(
                "BTCUSDT",
                Interval::M15,
                "RSI_14",
                t("2024-03-02T00:00:00Z"),
            )
            .await
            .unwrap();
        assert_eq!(other, None);
        let at = t("2024-03-01T10:00:00Z") + TimeDelta::nanoseconds(1);
        let err = store
            .indicator_at("BTCUSDT", Interval::H1, "rsi_14", at)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    #[tokio::test]
    async fn latest_and_list_per_interval_and_name() {
        let store = loaded().await;
        let latest = store.latest_indicators("BTCUSDT").await.unwrap();
        assert_eq!(
            latest,
            vec![
                iv("15m", "rsi_14", "2024-03-01T13:45:00Z", "70.1"),
                iv(
                    "1h",
                    "MACD",
                    "2024-03-01T09:00:00Z",
                    "-12345678901234.123456789012"
                ),
                iv("1h", "rsi_14", "2024-03-01T13:00:00Z", "61"),
                iv("1d", "ema-20", "2024-02-29T00:00:00Z", "61000.000000000001"),
            ]
        );
        assert_eq!(
            store.indicator_list("BTCUSDT").await.unwrap(),
            vec![
                series("15m", "rsi_14"),
                series("1h", "MACD"),
                series("1h", "rsi_14"),
                series("1d", "ema-20"),
            ]
        );
        assert!(store.latest_indicators("NOPE").await.unwrap().is_empty());
        assert!(store.indicator_list("NOPE").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn series_is_half_open_and_time_ordered() {
        let store = loaded().await;
        let range = TimeRange::new(t("2024-03-01T10:00:00Z"), t("2024-03-01T13:00:00Z")).unwrap();
        let q = IndicatorQuery::new("BTCUSDT", Interval::H1, "rsi_14", range);
        assert_eq!(
            store.indicator_series(&q).await.unwrap(),
            vec![
                iv("1h", "rsi_14", "2024-03-01T10:00:00Z", "48.25"),
                iv("1h", "rsi_14", "2024-03-01T11:00:00Z", "55.5"),
            ]
        );
        let q = IndicatorQuery::new("BTCUSDT", Interval::H4, "rsi_14", range);
        assert!(store.indicator_series(&q).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn last_duplicate_in_a_batch_wins_and_upserts_replace() {
        let store = loaded().await;
        let summary = store
            .store_indicators(&[
                iv("1h", "rsi_14", "2024-03-01T14:00:00Z", "1"),
                iv("1h", "rsi_14", "2024-03-01T10:00:00Z", "2"),
                iv("1h", "rsi_14", "2024-03-01T14:00:00Z", "3"),
            ])
            .await
            .unwrap();
        assert_eq!((summary.received, summary.distinct), (3, 2));
        assert_eq!(
            rsi_at(&store, "2024-03-01T14:00:00Z").await,
            Some((t("2024-03-01T14:00:00Z"), dec("3")))
        );
        assert_eq!(
            rsi_at(&store, "2024-03-01T10:30:00Z").await,
            Some((t("2024-03-01T10:00:00Z"), dec("2")))
        );
        let one = store
            .store_indicator(&iv("1h", "rsi_14", "2024-03-01T14:00:00Z", "4"))
            .await
            .unwrap();
        assert_eq!((one.received, one.distinct), (1, 1));
        assert_eq!(
            rsi_at(&store, "2024-03-01T14:00:00Z").await.map(|v| v.1),
            Some(dec("4"))
        );
    }

    #[tokio::test]
    async fn a_bad_batch_is_atomic() {
        let store = loaded().await;
        let before = store.latest_indicators("BTCUSDT").await.unwrap();
        let rows = |s: &MemoryStore| s.read().indicator_rows();
        let count = rows(&store);
        let mut bad = iv("1h", "rsi_14", "2024-03-01T16:00:00Z", "1");
        bad.name = "rsi 14".into();
        let batch = [
            iv("1h", "rsi_14", "2024-03-01T15:00:00Z", "1"),
            iv("1h", "rsi_14", "2024-03-01T13:00:00Z", "99"),
            bad,
        ];
        let err = store.store_indicators(&batch).await.unwrap_err();
        let v = err.as_validation().unwrap();
        assert_eq!((v.index, v.field), (Some(2), "name"));
        assert_eq!(store.latest_indicators("BTCUSDT").await.unwrap(), before);
        assert_eq!(rows(&store), count);
    }

    #[tokio::test]
    async fn retention_and_stats_cover_indicators() {
        let now = t("2024-03-10T12:00:00Z");
        let store = MemoryStore::with_clock(std::sync::Arc::new(FixedClock::new(now)));
        let mut policies = Policies::default();
        policies.retention.indicator = Some(TimeDelta::days(30));
        store
            .apply_policies(&policies, crate::Expiry::Confirmed)
            .await
            .unwrap();
        let values: Vec<_> = (0..40)
            .map(|d| IndicatorValue {
                time: now - TimeDelta::days(d),
                ..iv("1d", "rsi_14", "2024-03-10T12:00:00Z", "50")
            })
            .collect();
        store.store_indicators(&values).await.unwrap();
        let report = store.apply_retention().await.unwrap();
        let action = report
            .actions
            .iter()
            .find(|a| a.dataset == crate::maintenance::Dataset::Indicator)
            .unwrap();
        assert_eq!(
            (action.cutoff, action.removed),
            (now - TimeDelta::days(30), 9)
        );
        let stats = store.stats().await.unwrap();
        let rows = stats
            .tables
            .iter()
            .find(|t| t.name == "indicators")
            .map(|t| t.rows);
        assert_eq!(rows, Some(31));
    }
}
