//! Answers in one comparable form: rows of normalised text (decimals without trailing
//! zeros, times in RFC 3339 UTC to the microsecond, floats to 9 significant places), so
//! that the Rust API, the store's own SQL, the SQL API and the plain table's hand-written
//! SQL can be checked to say the same thing.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use marketseries_core::candle::Bar;
use rust_decimal::Decimal;

/// One answer: its rows, each a `|`-joined list of normalised values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Answer(pub Vec<String>);

impl Answer {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first row where `self` and `other` differ, for an error message.
    pub fn first_difference(&self, other: &Self) -> String {
        for (i, (a, b)) in self.0.iter().zip(&other.0).enumerate() {
            if a != b {
                return format!("row {i}: {a} vs {b}");
            }
        }
        format!("{} rows vs {} rows", self.0.len(), other.0.len())
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} rows", self.0.len())
    }
}

/// A decimal, normalised.
pub fn dec(d: &Decimal) -> String {
    d.normalize().to_string()
}

/// An optional decimal (`-` for none).
pub fn opt_dec(d: Option<&Decimal>) -> String {
    d.map_or_else(|| "-".to_owned(), dec)
}

/// A time, RFC 3339 UTC to the microsecond.
pub fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A float to 9 significant places (sums of floats differ in the last bits by order).
pub fn float(x: f64) -> String {
    format!("{x:.9e}")
}

/// A percentage as the Rust API gives it (`PriceChange::percent`): rounded to 8 places,
/// halves away from zero, like SQL's `round(numeric, 8)`. Rounding an already rounded value
/// again is a no-op, so every side can pass through here.
pub fn percent(p: &Decimal) -> String {
    dec(&p.round_dp_with_strategy(8, rust_decimal::RoundingStrategy::MidpointAwayFromZero))
}

/// One OHLCV bar.
pub fn bar(time_: &DateTime<Utc>, ohlcv: [&Decimal; 5]) -> String {
    let [o, h, l, c, v] = ohlcv;
    format!(
        "{}|{}|{}|{}|{}|{}",
        time(time_),
        dec(o),
        dec(h),
        dec(l),
        dec(c),
        dec(v)
    )
}

/// The bars of a series.
pub fn bars(bars: &[Bar]) -> Answer {
    Answer(
        bars.iter()
            .map(|b| bar(&b.time, [&b.open, &b.high, &b.low, &b.close, &b.volume]))
            .collect(),
    )
}
