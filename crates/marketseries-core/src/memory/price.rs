//! [`PriceStore`] for the reference store.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;

use super::{MemoryStore, State};
use crate::candle::{
    aggregate_bars, overview_window, Bar, Candle, MarketOverview, OhlcvQuery, OhlcvSeries,
    PriceChange, PricePoint, PriceRange, VolumeLevel, VolumeProfileQuery,
};
use crate::error::{Error, Result};
use crate::interval::Interval;
use crate::maintenance::WriteSummary;
use crate::router::{Freshness, QueryRouter, Route};
use crate::store::PriceStore;
use crate::time::TimeRange;
use crate::validate::validate_candles;

impl State {
    /// Candles of the symbol's base (finest native) interval.
    fn base(&self, symbol: &str) -> Option<(Interval, &BTreeMap<DateTime<Utc>, Bar>)> {
        self.candles
            .get(symbol)
            .and_then(|by_native| by_native.iter().next())
            .map(|(i, raw)| (*i, raw))
    }

    fn latest(&self, symbol: &str) -> Option<PricePoint> {
        let (interval, raw) = self.base(symbol)?;
        let (time, bar) = raw.last_key_value()?;
        Some(PricePoint {
            symbol: symbol.to_owned(),
            time: *time,
            interval,
            price: bar.close,
        })
    }

    fn change(&self, symbol: &str, range: TimeRange) -> Option<PriceChange> {
        let (_, raw) = self.base(symbol)?;
        let mut bars = raw.range(range.from()..range.to()).map(|(_, b)| b);
        let first = bars.next()?;
        let mut change = PriceChange {
            symbol: symbol.to_owned(),
            range,
            first_time: first.time,
            open: first.open,
            last_time: first.time,
            close: first.close,
            high: first.high,
            low: first.low,
        };
        for b in bars {
            change.last_time = b.time;
            change.close = b.close;
            change.high = change.high.max(b.high);
            change.low = change.low.min(b.low);
        }
        Some(change)
    }

    fn execute(&self, query: &OhlcvQuery, route: Route) -> Vec<Bar> {
        let interval = query.interval;
        let (start, end) = interval.covering(&query.range);
        let in_span = |source: Option<&BTreeMap<DateTime<Utc>, Bar>>| -> Vec<Bar> {
            source
                .map(|m| m.range(start..end).map(|(_, b)| *b).collect())
                .unwrap_or_default()
        };
        match route {
            Route::NoData => Vec::new(),
            Route::Raw { native } => {
                let raw = self
                    .candles
                    .get(&query.symbol)
                    .and_then(|by_native| by_native.get(&native));
                aggregate_bars(in_span(raw), interval)
            }
            Route::Materialized {
                aggregate, native, ..
            }
            | Route::ReAggregate {
                aggregate, native, ..
            } => {
                let agg = self
                    .aggregates
                    .get(&aggregate)
                    .and_then(|m| m.get(&(query.symbol.clone(), native)));
                aggregate_bars(in_span(agg), interval)
            }
        }
    }
}

#[async_trait]
impl PriceStore for MemoryStore {
    async fn store_candles(&self, candles: &[Candle]) -> Result<WriteSummary> {
        validate_candles(candles, &self.limits())?;
        let mut state = self.write();
        let mut keys = std::collections::BTreeSet::new();
        for c in candles {
            keys.insert((&c.symbol, c.interval, c.time));
            state
                .candles
                .entry(c.symbol.clone())
                .or_default()
                .entry(c.interval)
                .or_default()
                .insert(c.time, c.bar());
            state.mark_dirty(&self.caps, &c.symbol, c.interval, c.time);
        }
        Ok(WriteSummary {
            received: candles.len(),
            distinct: keys.len(),
        })
    }

    async fn native_intervals(&self, symbol: &str) -> Result<Vec<Interval>> {
        Ok(self
            .read()
            .candles
            .get(symbol)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default())
    }

    async fn ohlcv(&self, query: &OhlcvQuery) -> Result<OhlcvSeries> {
        let natives = self.native_intervals(&query.symbol).await?;
        let route = QueryRouter::route(query, &natives, &self.caps)?;
        if route.aggregate().is_some() && query.freshness != Freshness::MaterializedOnly {
            self.write().refresh_dirty();
        }
        let bars = self.read().execute(query, route);
        Ok(OhlcvSeries { route, bars })
    }

    async fn latest_price(&self, symbol: &str) -> Result<Option<PricePoint>> {
        Ok(self.read().latest(symbol))
    }

    async fn price_change(&self, symbol: &str, window: TimeDelta) -> Result<Option<PriceChange>> {
        self.price_change_at(symbol, window, self.now()).await
    }

    async fn price_change_at(
        &self,
        symbol: &str,
        window: TimeDelta,
        at: DateTime<Utc>,
    ) -> Result<Option<PriceChange>> {
        let range = TimeRange::last(at, window)?;
        Ok(self.read().change(symbol, range))
    }

    async fn volume_profile(&self, query: &VolumeProfileQuery) -> Result<Vec<VolumeLevel>> {
        if query.price_step <= Decimal::ZERO {
            return Err(Error::invalid_argument(
                "price_step",
                "must be greater than zero",
            ));
        }
        let state = self.read();
        let Some((_, raw)) = state.base(&query.symbol) else {
            return Ok(Vec::new());
        };
        let mut levels: BTreeMap<Decimal, (Decimal, u64)> = BTreeMap::new();
        for bar in raw
            .range(query.range.from()..query.range.to())
            .map(|(_, b)| b)
        {
            let level = price_level(bar.close, query.price_step)?;
            let entry = levels.entry(level).or_default();
            entry.0 += bar.volume;
            entry.1 += 1;
        }
        Ok(levels
            .into_iter()
            .map(|(price, (volume, candles))| VolumeLevel {
                price,
                volume,
                candles,
            })
            .collect())
    }

    async fn price_range(&self, symbol: &str, range: TimeRange) -> Result<Option<PriceRange>> {
        let state = self.read();
        let Some((_, raw)) = state.base(symbol) else {
            return Ok(None);
        };
        Ok(raw
            .range(range.from()..range.to())
            .map(|(_, b)| (b.high, b.low))
            .reduce(|(h1, l1), (h2, l2)| (h1.max(h2), l1.min(l2)))
            .map(|(high, low)| PriceRange {
                symbol: symbol.to_owned(),
                range,
                high,
                low,
            }))
    }

    async fn symbols(&self) -> Result<Vec<String>> {
        Ok(self.read().candles.keys().cloned().collect())
    }

    async fn market_overview(&self) -> Result<Vec<MarketOverview>> {
        let range = TimeRange::last(self.now(), overview_window())?;
        let state = self.read();
        Ok(state
            .candles
            .keys()
            .filter_map(|symbol| {
                Some(MarketOverview {
                    latest: state.latest(symbol)?,
                    change_24h: state.change(symbol, range),
                })
            })
            .collect())
    }
}

/// `floor(close / step) * step`, the volume-profile level of a close price.
///
/// # Errors
/// [`Error::InvalidArgument`] if the quotient overflows a decimal.
pub(crate) fn price_level(close: Decimal, step: Decimal) -> Result<Decimal> {
    close
        .checked_div(step)
        .and_then(|q| q.floor().checked_mul(step))
        .map(|d| d.normalize())
        .ok_or_else(|| {
            Error::invalid_argument(
                "price_step",
                format!("{step} is too small for price {close}"),
            )
        })
}
