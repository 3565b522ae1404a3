//! Technical indicator values computed elsewhere (RSI, MACD line and signal, EMA-20...) and
//! the indicator query/result types.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::interval::Interval;
use crate::time::TimeRange;

/// One indicator value as stored: natural key `(symbol, interval, name, time)`.
///
/// Indicators are computed outside marketseries and stored as given; the store never
/// aggregates or re-samples them, so a value is only ever read back at its own native
/// `interval`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndicatorValue {
    /// Trading pair or ticker, e.g. `BTCUSDT` (the same rules as a candle's symbol).
    pub symbol: String,
    /// Native interval of the candles the indicator was computed from.
    pub interval: Interval,
    /// Indicator name, e.g. `rsi_14`, `macd.signal`, `ema-20`: 1 to 64 ASCII letters,
    /// digits, `_`, `-` or `.`. Case matters (`RSI` and `rsi` are different series).
    pub name: String,
    /// Time the value applies to (UTC, microsecond precision), normally a candle start.
    pub time: DateTime<Utc>,
    /// The value, exact; may be negative (a MACD line, say).
    pub value: Decimal,
}

impl IndicatorValue {
    /// The series this value belongs to (its interval and name).
    pub fn series(&self) -> IndicatorSeries {
        IndicatorSeries {
            interval: self.interval,
            name: self.name.clone(),
        }
    }
}

/// One stored indicator series of a symbol: its native interval and name.
///
/// The derived order (interval by [`Interval`]'s `Ord`, then name by byte value) is the
/// order in which stores list series and their latest values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IndicatorSeries {
    /// Native interval.
    pub interval: Interval,
    /// Indicator name.
    pub name: String,
}

/// A request for the values of one indicator series over a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndicatorQuery {
    /// Symbol to read.
    pub symbol: String,
    /// Native interval of the series.
    pub interval: Interval,
    /// Indicator name (compared byte for byte).
    pub name: String,
    /// Values with `time` in `[range.from, range.to)` are returned.
    pub range: TimeRange,
}

impl IndicatorQuery {
    /// A query for the values of `(symbol, interval, name)` with `time` in `range`.
    pub fn new(
        symbol: impl Into<String>,
        interval: Interval,
        name: impl Into<String>,
        range: TimeRange,
    ) -> Self {
        Self {
            symbol: symbol.into(),
            interval,
            name: name.into(),
            range,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_order_is_interval_then_name_bytes() {
        let s = |i: Interval, n: &str| IndicatorSeries {
            interval: i,
            name: n.to_owned(),
        };
        let mut v = vec![
            s(Interval::H1, "rsi_14"),
            s(Interval::M15, "rsi_14"),
            s(Interval::M15, "MACD"),
            s(Interval::M15, "ema-20"),
            s(Interval::D1, "MACD"),
        ];
        v.sort();
        assert_eq!(
            v,
            vec![
                s(Interval::M15, "MACD"),
                s(Interval::M15, "ema-20"),
                s(Interval::M15, "rsi_14"),
                s(Interval::H1, "rsi_14"),
                s(Interval::D1, "MACD"),
            ]
        );
    }

    #[test]
    fn serde_round_trip_keeps_the_exact_value() {
        let v = IndicatorValue {
            symbol: "BTCUSDT".into(),
            interval: Interval::H1,
            name: "macd.signal".into(),
            time: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            value: "-12345678901234.123456789012".parse().unwrap(),
        };
        let json = serde_json::to_string(&v).unwrap();
        assert!(json.contains(r#""interval":"1h""#), "{json}");
        let back: IndicatorValue = serde_json::from_str(&json).unwrap();
        assert_eq!(back, v);
        assert_eq!(back.value.to_string(), "-12345678901234.123456789012");
    }
}
