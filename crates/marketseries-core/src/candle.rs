//! OHLCV candles, the bars queries return, and price query/result types.

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::interval::Interval;
use crate::router::{Freshness, Route};
use crate::time::TimeRange;

/// One OHLCV candle as stored: natural key `(symbol, interval, time)`.
///
/// `interval` is the candle's native width. `time` is normally the bucket start, but raw
/// timestamps off the grid are accepted and fall into the bucket that contains them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candle {
    /// Trading pair or ticker, e.g. `BTCUSDT`.
    pub symbol: String,
    /// Native width of this candle.
    pub interval: Interval,
    /// Start time (UTC, microsecond precision).
    pub time: DateTime<Utc>,
    /// First trade price.
    pub open: Decimal,
    /// Highest trade price.
    pub high: Decimal,
    /// Lowest trade price.
    pub low: Decimal,
    /// Last trade price.
    pub close: Decimal,
    /// Traded base volume.
    pub volume: Decimal,
}

impl Candle {
    /// This candle's OHLCV values as a bar starting at `time`.
    pub fn bar(&self) -> Bar {
        Bar {
            time: self.time,
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume: self.volume,
        }
    }

    /// The candle of `symbol` and native `interval` with `bar`'s time and values.
    pub fn from_bar(symbol: String, interval: Interval, bar: Bar) -> Self {
        Self {
            symbol,
            interval,
            time: bar.time,
            open: bar.open,
            high: bar.high,
            low: bar.low,
            close: bar.close,
            volume: bar.volume,
        }
    }
}

/// One aggregated bucket of OHLCV data, as returned by queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bar {
    /// Bucket start (aligned to the requested interval).
    pub time: DateTime<Utc>,
    /// Open of the earliest candle in the bucket.
    pub open: Decimal,
    /// Maximum high.
    pub high: Decimal,
    /// Minimum low.
    pub low: Decimal,
    /// Close of the latest candle in the bucket.
    pub close: Decimal,
    /// Sum of volumes.
    pub volume: Decimal,
}

/// Aggregates time-ordered bars (or candles) into buckets of `interval`.
///
/// `bars` must be sorted by time, with no two bars at the same time; each output bar's
/// `time` is the bucket start. This one function is used by the reference store for raw,
/// materialized and re-aggregated routes, so the three can only differ if routing is wrong.
pub fn aggregate_bars(bars: impl IntoIterator<Item = Bar>, interval: Interval) -> Vec<Bar> {
    let mut out: Vec<Bar> = Vec::new();
    for bar in bars {
        let bucket = interval.floor(bar.time);
        match out.last_mut() {
            Some(last) if last.time == bucket => {
                last.high = last.high.max(bar.high);
                last.low = last.low.min(bar.low);
                last.close = bar.close;
                last.volume += bar.volume;
            }
            _ => out.push(Bar {
                time: bucket,
                ..bar
            }),
        }
    }
    out
}

/// A routed OHLCV request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OhlcvQuery {
    /// Symbol to read.
    pub symbol: String,
    /// Requested bucket width.
    pub interval: Interval,
    /// Buckets whose start lies in `[floor(range.from), range.to)` are returned.
    pub range: TimeRange,
    /// How fresh the answer must be.
    #[serde(default)]
    pub freshness: Freshness,
}

impl OhlcvQuery {
    /// A real-time query (the default freshness).
    pub fn new(symbol: impl Into<String>, interval: Interval, range: TimeRange) -> Self {
        Self {
            symbol: symbol.into(),
            interval,
            range,
            freshness: Freshness::default(),
        }
    }

    /// The same query with another freshness.
    #[must_use]
    pub fn with_freshness(mut self, freshness: Freshness) -> Self {
        self.freshness = freshness;
        self
    }
}

/// Bars answering an [`OhlcvQuery`] plus the route that produced them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OhlcvSeries {
    /// How the store served the request.
    pub route: Route,
    /// One bar per bucket that holds data, in time order.
    pub bars: Vec<Bar>,
}

/// The latest known price of a symbol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PricePoint {
    /// Symbol.
    pub symbol: String,
    /// Start time of the candle the price comes from.
    pub time: DateTime<Utc>,
    /// Native interval of that candle.
    pub interval: Interval,
    /// Its close.
    pub price: Decimal,
}

/// Price movement over a window: first open to last close of the candles inside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceChange {
    /// Symbol.
    pub symbol: String,
    /// The window examined, `[from, to)`.
    pub range: TimeRange,
    /// Time of the first candle in the window.
    pub first_time: DateTime<Utc>,
    /// Its open.
    pub open: Decimal,
    /// Time of the last candle in the window.
    pub last_time: DateTime<Utc>,
    /// Its close.
    pub close: Decimal,
    /// Highest high in the window.
    pub high: Decimal,
    /// Lowest low in the window.
    pub low: Decimal,
}

impl PriceChange {
    /// `close - open`.
    pub fn change(&self) -> Decimal {
        self.close - self.open
    }

    /// Percentage change, `(close - open) / open * 100`, rounded to 8 decimal places with
    /// halves away from zero (as SQL `round(numeric, 8)`, so the TimescaleDB SQL helper
    /// `price_change_percent` agrees); `None` if `open` is zero (validation makes that
    /// impossible for stored candles).
    pub fn percent(&self) -> Option<Decimal> {
        if self.open.is_zero() {
            return None;
        }
        let pct = self
            .change()
            .checked_div(self.open)?
            .checked_mul(Decimal::ONE_HUNDRED)?;
        Some(pct.round_dp_with_strategy(8, RoundingStrategy::MidpointAwayFromZero))
    }
}

/// A volume-profile request: volume by price level over a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeProfileQuery {
    /// Symbol.
    pub symbol: String,
    /// Candles with `time` in this range count.
    pub range: TimeRange,
    /// Width of a price level; each candle's volume goes to the level containing its close,
    /// `floor(close / price_step) * price_step`. Must be positive.
    pub price_step: Decimal,
}

/// One price level of a volume profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeLevel {
    /// Lower bound of the level (inclusive).
    pub price: Decimal,
    /// Total volume of candles closing in this level.
    pub volume: Decimal,
    /// Number of candles closing in this level.
    pub candles: u64,
}

/// High and low over a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceRange {
    /// Symbol.
    pub symbol: String,
    /// Range examined.
    pub range: TimeRange,
    /// Highest high.
    pub high: Decimal,
    /// Lowest low.
    pub low: Decimal,
}

impl PriceRange {
    /// `high - low`.
    pub fn spread(&self) -> Decimal {
        self.high - self.low
    }
}

/// One row of the market overview: latest price and 24-hour change of a symbol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MarketOverview {
    /// Latest price.
    pub latest: PricePoint,
    /// Change over the 24 hours before the store's "now"; `None` without candles in that window.
    pub change_24h: Option<PriceChange>,
}

/// Length of the market overview's change window.
pub fn overview_window() -> TimeDelta {
    TimeDelta::hours(24)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn bar(min: i64, o: i64, h: i64, l: i64, c: i64, v: i64) -> Bar {
        Bar {
            time: DateTime::from_timestamp(min * 60, 0).unwrap(),
            open: Decimal::from(o),
            high: Decimal::from(h),
            low: Decimal::from(l),
            close: Decimal::from(c),
            volume: Decimal::from(v),
        }
    }

    #[test]
    fn aggregation_takes_first_open_last_close() {
        let bars = vec![
            bar(0, 10, 12, 9, 11, 1),
            bar(1, 11, 15, 10, 14, 2),
            bar(5, 14, 14, 7, 8, 3),
            bar(6, 8, 9, 8, 9, 4),
        ];
        let out = aggregate_bars(bars, "5m".parse().unwrap());
        assert_eq!(out, vec![bar(0, 10, 15, 9, 14, 3), bar(5, 14, 14, 7, 9, 7)]);
    }

    #[test]
    fn percent_change() {
        let r = TimeRange::new(
            DateTime::from_timestamp(0, 0).unwrap(),
            DateTime::from_timestamp(60, 0).unwrap(),
        )
        .unwrap();
        let pc = PriceChange {
            symbol: "X".into(),
            range: r,
            first_time: r.from(),
            open: Decimal::from(200),
            last_time: r.from(),
            close: Decimal::from(150),
            high: Decimal::from(200),
            low: Decimal::from(150),
        };
        assert_eq!(pc.percent(), Some(Decimal::from(-25)));
        // An exact tie at the 9th place rounds away from zero, as SQL `round` does.
        let tie = |close: &str| PriceChange {
            open: Decimal::from(8),
            close: close.parse().unwrap(),
            ..pc.clone()
        };
        assert_eq!(tie("8.0000000004").percent(), "0.00000001".parse().ok());
        assert_eq!(tie("7.9999999996").percent(), "-0.00000001".parse().ok());
    }
}
