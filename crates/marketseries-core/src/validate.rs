//! Record validation: everything a database would reject (and more) is caught here, before
//! any SQL runs, with the record's index in its batch and the offending field.

use std::fmt;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::candle::Candle;
use crate::error::Error;
use crate::flow::Flow;
use crate::indicator::IndicatorValue;
use crate::sentiment::SentimentReading;
use crate::time::{max_time, MIN_TIME};

/// Longest accepted symbol or asset name, in bytes.
pub const MAX_SYMBOL_LEN: usize = 32;
/// Longest accepted source name or flow reference, in bytes.
pub const MAX_NAME_LEN: usize = 128;
/// Longest accepted indicator name, in bytes.
pub const MAX_INDICATOR_NAME_LEN: usize = 64;
/// Largest accepted magnitude of a price, volume, amount, USD value or indicator value:
/// 10^20. Far above any real market figure (meme-coin daily volumes are around 10^12), and
/// low enough that sums of millions of values cannot overflow `Decimal` (about 7.9 x 10^28).
pub const MAX_MAGNITUDE: Decimal = Decimal::from_parts(1_661_992_960, 1_808_227_885, 5, false, 0);
/// Largest accepted mention volume of a sentiment reading: 10^12.
pub const MAX_MENTIONS: u64 = 1_000_000_000_000;
/// Largest accepted `engagement` of a sentiment reading: a billion readings of it sum to
/// 1e24, far from float8's limit, so no aggregate of them can overflow.
pub const MAX_ENGAGEMENT: f64 = 1e15;
/// How far ahead of the store's clock a record's time may be by default: a feed a little
/// ahead is normal; a record dated years ahead would become the latest price for good.
pub const DEFAULT_MAX_FUTURE_SKEW: chrono::TimeDelta = chrono::TimeDelta::days(1);
/// Default maximum records per batch.
pub const DEFAULT_MAX_BATCH: usize = 100_000;

/// Which kind of record failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A [`Candle`].
    Candle,
    /// A [`SentimentReading`].
    Sentiment,
    /// A [`Flow`].
    Flow,
    /// An [`IndicatorValue`].
    Indicator,
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Candle => "candle",
            Self::Sentiment => "sentiment reading",
            Self::Flow => "flow",
            Self::Indicator => "indicator value",
        })
    }
}

/// What was wrong with the field.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// Empty text.
    Empty,
    /// Text longer than allowed.
    TooLong {
        /// Maximum length in bytes.
        max: usize,
    },
    /// A character outside the allowed set.
    InvalidCharacter(char),
    /// NaN or infinite.
    NotFinite,
    /// Negative where only zero or more is allowed.
    Negative,
    /// Zero or negative where only more than zero is allowed.
    NotPositive,
    /// Outside an allowed range, described in words.
    OutOfRange(String),
    /// Sub-microsecond precision, which PostgreSQL would silently round.
    SubMicrosecond,
    /// `high` below `low`, `open` or `close`, or `low` above `open` or `close`.
    Inconsistent(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("must not be empty"),
            Self::TooLong { max } => write!(f, "longer than {max} bytes"),
            Self::InvalidCharacter(c) => write!(f, "contains the character {c:?}"),
            Self::NotFinite => f.write_str("must be a finite number (got NaN or infinity)"),
            Self::Negative => f.write_str("must not be negative"),
            Self::NotPositive => f.write_str("must be greater than zero"),
            Self::OutOfRange(s) | Self::Inconsistent(s) => f.write_str(s),
            Self::SubMicrosecond => {
                f.write_str("has sub-microsecond precision, which PostgreSQL cannot store")
            }
        }
    }
}

/// A record that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    /// Kind of record.
    pub record: RecordKind,
    /// Position in its batch (0-based), when it came in a batch.
    pub index: Option<usize>,
    /// Name of the offending field, as in the Rust struct.
    pub field: &'static str,
    /// What was wrong.
    pub problem: Problem,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}", self.record)?;
        if let Some(i) = self.index {
            write!(f, " at batch index {i}")?;
        }
        write!(f, ": field `{}` {}", self.field, self.problem)
    }
}

type FieldResult = Result<(), (&'static str, Problem)>;

/// Characters allowed in a symbol or asset name.
fn symbol_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':')
}

/// Characters allowed in a free-text name (source): anything but control characters.
fn text_char(c: char) -> bool {
    !c.is_control()
}

/// Characters allowed in an indicator name: safe unquoted in CSV and metric labels.
fn indicator_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

fn check_name(
    field: &'static str,
    value: &str,
    max: usize,
    allowed: fn(char) -> bool,
) -> FieldResult {
    if value.is_empty() {
        return Err((field, Problem::Empty));
    }
    if value.len() > max {
        return Err((field, Problem::TooLong { max }));
    }
    match value.chars().find(|&c| !allowed(c)) {
        Some(c) => Err((field, Problem::InvalidCharacter(c))),
        None => Ok(()),
    }
}

fn check_time(field: &'static str, t: DateTime<Utc>) -> FieldResult {
    if t < MIN_TIME || t >= max_time() {
        return Err((
            field,
            Problem::OutOfRange(format!(
                "{} is outside the supported span [{}, {})",
                t.to_rfc3339(),
                MIN_TIME.to_rfc3339(),
                max_time().to_rfc3339()
            )),
        ));
    }
    if !t.timestamp_subsec_nanos().is_multiple_of(1_000) {
        return Err((field, Problem::SubMicrosecond));
    }
    Ok(())
}

fn check_magnitude(field: &'static str, d: Decimal) -> FieldResult {
    if d.abs() > MAX_MAGNITUDE {
        return Err((
            field,
            Problem::OutOfRange(format!("{d} exceeds the maximum magnitude {MAX_MAGNITUDE}")),
        ));
    }
    Ok(())
}

fn check_positive(field: &'static str, d: Decimal) -> FieldResult {
    if d <= Decimal::ZERO {
        return Err((field, Problem::NotPositive));
    }
    check_magnitude(field, d)
}

fn check_non_negative(field: &'static str, d: Decimal) -> FieldResult {
    if d.is_sign_negative() && !d.is_zero() {
        return Err((field, Problem::Negative));
    }
    check_magnitude(field, d)
}

fn check_finite(field: &'static str, x: f64) -> FieldResult {
    if !x.is_finite() {
        return Err((field, Problem::NotFinite));
    }
    Ok(())
}

fn candle_fields(c: &Candle) -> FieldResult {
    check_name("symbol", &c.symbol, MAX_SYMBOL_LEN, symbol_char)?;
    check_time("time", c.time)?;
    check_positive("open", c.open)?;
    check_positive("high", c.high)?;
    check_positive("low", c.low)?;
    check_positive("close", c.close)?;
    check_non_negative("volume", c.volume)?;
    if c.high < c.low {
        return Err((
            "high",
            Problem::Inconsistent(format!("({}) is below low ({})", c.high, c.low)),
        ));
    }
    if c.high < c.open.max(c.close) {
        return Err((
            "high",
            Problem::Inconsistent(format!(
                "({}) is below max(open, close) ({})",
                c.high,
                c.open.max(c.close)
            )),
        ));
    }
    if c.low > c.open.min(c.close) {
        return Err((
            "low",
            Problem::Inconsistent(format!(
                "({}) is above min(open, close) ({})",
                c.low,
                c.open.min(c.close)
            )),
        ));
    }
    Ok(())
}

fn sentiment_fields(s: &SentimentReading) -> FieldResult {
    check_name("asset", &s.asset, MAX_SYMBOL_LEN, symbol_char)?;
    check_name("source", &s.source, MAX_NAME_LEN, text_char)?;
    check_time("time", s.time)?;
    check_finite("score", s.score)?;
    if !(-1.0..=1.0).contains(&s.score) {
        return Err((
            "score",
            Problem::OutOfRange(format!("{} is outside [-1, 1]", s.score)),
        ));
    }
    if s.mention_volume > MAX_MENTIONS {
        return Err((
            "mention_volume",
            Problem::OutOfRange(format!("{} exceeds {MAX_MENTIONS}", s.mention_volume)),
        ));
    }
    check_finite("engagement", s.engagement)?;
    if s.engagement < 0.0 {
        return Err(("engagement", Problem::Negative));
    }
    if s.engagement > MAX_ENGAGEMENT {
        return Err((
            "engagement",
            Problem::OutOfRange(format!("{} exceeds {MAX_ENGAGEMENT:e}", s.engagement)),
        ));
    }
    Ok(())
}

fn flow_fields(f: &Flow) -> FieldResult {
    check_name("asset", &f.asset, MAX_SYMBOL_LEN, symbol_char)?;
    check_name("source", &f.source, MAX_NAME_LEN, text_char)?;
    if f.reference.len() > MAX_NAME_LEN {
        return Err(("reference", Problem::TooLong { max: MAX_NAME_LEN }));
    }
    if let Some(c) = f.reference.chars().find(|c| c.is_control()) {
        return Err(("reference", Problem::InvalidCharacter(c)));
    }
    check_time("time", f.time)?;
    check_non_negative("amount", f.amount)?;
    check_non_negative("usd_value", f.usd_value)?;
    Ok(())
}

fn indicator_fields(v: &IndicatorValue) -> FieldResult {
    check_name("symbol", &v.symbol, MAX_SYMBOL_LEN, symbol_char)?;
    check_name("name", &v.name, MAX_INDICATOR_NAME_LEN, indicator_char)?;
    check_time("time", v.time)?;
    check_magnitude("value", v.value)?;
    Ok(())
}

fn wrap(record: RecordKind, index: Option<usize>, r: FieldResult) -> Result<(), ValidationError> {
    r.map_err(|(field, problem)| ValidationError {
        record,
        index,
        field,
        problem,
    })
}

/// Validates one candle.
///
/// # Errors
/// The first problem found, naming the field.
pub fn validate_candle(c: &Candle) -> Result<(), ValidationError> {
    wrap(RecordKind::Candle, None, candle_fields(c))
}

/// Validates one sentiment reading.
///
/// # Errors
/// The first problem found, naming the field.
pub fn validate_sentiment(s: &SentimentReading) -> Result<(), ValidationError> {
    wrap(RecordKind::Sentiment, None, sentiment_fields(s))
}

/// Validates one flow.
///
/// # Errors
/// The first problem found, naming the field.
pub fn validate_flow(f: &Flow) -> Result<(), ValidationError> {
    wrap(RecordKind::Flow, None, flow_fields(f))
}

/// Validates one indicator value.
///
/// # Errors
/// The first problem found, naming the field.
pub fn validate_indicator(v: &IndicatorValue) -> Result<(), ValidationError> {
    wrap(RecordKind::Indicator, None, indicator_fields(v))
}

/// What a store accepts in one batch besides each record's own rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most records in one batch.
    pub max_batch: usize,
    /// Latest accepted record time: the store's "now" plus its allowed skew.
    pub not_after: DateTime<Utc>,
}

impl Limits {
    /// Limits of a store whose clock reads `now` and that accepts times up to `skew` ahead.
    pub fn new(max_batch: usize, now: DateTime<Utc>, skew: chrono::TimeDelta) -> Self {
        Self {
            max_batch,
            not_after: now
                .checked_add_signed(skew)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }
}

fn check_not_ahead(t: DateTime<Utc>, not_after: DateTime<Utc>) -> FieldResult {
    if t > not_after {
        return Err((
            "time",
            Problem::OutOfRange(format!(
                "{} is ahead of the store's clock by more than the allowed skew \
                 (latest accepted: {})",
                t.to_rfc3339(),
                not_after.to_rfc3339()
            )),
        ));
    }
    Ok(())
}

fn validate_batch<T>(
    records: &[T],
    limits: &Limits,
    kind: RecordKind,
    check: fn(&T) -> FieldResult,
    time: fn(&T) -> DateTime<Utc>,
) -> Result<(), Error> {
    if records.len() > limits.max_batch {
        return Err(Error::BatchTooLarge {
            len: records.len(),
            max: limits.max_batch,
        });
    }
    for (i, r) in records.iter().enumerate() {
        wrap(
            kind,
            Some(i),
            check(r).and_then(|()| check_not_ahead(time(r), limits.not_after)),
        )?;
    }
    Ok(())
}

/// Validates a batch of candles: size limit first, then every record.
///
/// # Errors
/// [`Error::BatchTooLarge`], or [`Error::Validation`] for the first bad record with its index.
pub fn validate_candles(records: &[Candle], limits: &Limits) -> Result<(), Error> {
    validate_batch(records, limits, RecordKind::Candle, candle_fields, |r| {
        r.time
    })
}

/// Validates a batch of sentiment readings.
///
/// # Errors
/// [`Error::BatchTooLarge`], or [`Error::Validation`] for the first bad record with its index.
pub fn validate_sentiments(records: &[SentimentReading], limits: &Limits) -> Result<(), Error> {
    validate_batch(
        records,
        limits,
        RecordKind::Sentiment,
        sentiment_fields,
        |r| r.time,
    )
}

/// Validates a batch of flows.
///
/// # Errors
/// [`Error::BatchTooLarge`], or [`Error::Validation`] for the first bad record with its index.
pub fn validate_flows(records: &[Flow], limits: &Limits) -> Result<(), Error> {
    validate_batch(records, limits, RecordKind::Flow, flow_fields, |r| r.time)
}

/// Validates a batch of indicator values: size limit first, then every record (symbol as
/// for candles; name of 1 to [`MAX_INDICATOR_NAME_LEN`] ASCII letters, digits, `_`, `-` or
/// `.`; time in the supported span at microsecond precision; value at most
/// [`MAX_MAGNITUDE`] in magnitude, either sign). A `Decimal` is always finite: convert
/// `f64` feed values with [`decimal_from_f64`], which rejects NaN and infinities.
///
/// # Errors
/// [`Error::BatchTooLarge`], or [`Error::Validation`] for the first bad record with its index.
pub fn validate_indicators(records: &[IndicatorValue], limits: &Limits) -> Result<(), Error> {
    validate_batch(
        records,
        limits,
        RecordKind::Indicator,
        indicator_fields,
        |r| r.time,
    )
}

/// Converts an `f64` read from a file or feed to an exact decimal, rejecting NaN and
/// infinities (which `Decimal` cannot hold) with a validation error naming `field`.
///
/// # Errors
/// [`Problem::NotFinite`] or [`Problem::OutOfRange`] for values `Decimal` cannot represent.
pub fn decimal_from_f64(
    record: RecordKind,
    field: &'static str,
    x: f64,
) -> Result<Decimal, ValidationError> {
    use rust_decimal::prelude::FromPrimitive;
    let err = |problem| ValidationError {
        record,
        index: None,
        field,
        problem,
    };
    if !x.is_finite() {
        return Err(err(Problem::NotFinite));
    }
    Decimal::from_f64(x)
        .ok_or_else(|| err(Problem::OutOfRange(format!("{x} does not fit a decimal"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Limits of `n` records and no future bound (the skew is tested on its own).
    fn lim(n: usize) -> Limits {
        Limits {
            max_batch: n,
            not_after: crate::time::max_time(),
        }
    }
    use crate::interval::Interval;
    use crate::sentiment::SentimentLabel;
    use rust_decimal::Decimal;

    fn candle() -> Candle {
        Candle {
            symbol: "BTCUSDT".into(),
            interval: Interval::M1,
            time: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            open: Decimal::from(100),
            high: Decimal::from(110),
            low: Decimal::from(90),
            close: Decimal::from(105),
            volume: Decimal::from(7),
        }
    }

    #[test]
    fn magnitudes_are_capped() {
        assert_eq!(MAX_MAGNITUDE, Decimal::from(10u128.pow(20)));
        let mut c = candle();
        c.volume = MAX_MAGNITUDE;
        assert!(validate_candle(&c).is_ok());
        c.volume = MAX_MAGNITUDE + Decimal::ONE;
        assert_eq!(validate_candle(&c).unwrap_err().field, "volume");
    }

    #[test]
    fn high_below_low_names_high() {
        let mut c = candle();
        c.high = Decimal::from(80);
        let err = validate_candle(&c).unwrap_err();
        assert_eq!(err.field, "high");
        assert!(matches!(err.problem, Problem::Inconsistent(_)));
    }

    #[test]
    fn batch_error_names_index() {
        let mut bad = candle();
        bad.volume = Decimal::from(-1);
        let batch = vec![candle(), candle(), bad];
        let err = validate_candles(&batch, &lim(10)).unwrap_err();
        let v = err.as_validation().unwrap();
        assert_eq!((v.index, v.field), (Some(2), "volume"));
        assert_eq!(
            validate_candles(&batch, &lim(2)).unwrap_err().kind(),
            crate::ErrorKind::BatchTooLarge
        );
    }

    #[test]
    fn sentiment_score_bounds() {
        let mut s = SentimentReading {
            asset: "BTC".into(),
            source: "news".into(),
            time: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            score: 1.0,
            label: SentimentLabel::Bullish,
            mention_volume: 3,
            engagement: 1.5,
        };
        assert!(validate_sentiment(&s).is_ok());
        s.score = 1.0001;
        assert_eq!(validate_sentiment(&s).unwrap_err().field, "score");
        s.score = f64::NAN;
        assert_eq!(
            validate_sentiment(&s).unwrap_err().problem,
            Problem::NotFinite
        );
    }

    fn indicator() -> IndicatorValue {
        IndicatorValue {
            symbol: "BTCUSDT".into(),
            interval: Interval::H1,
            name: "macd.signal".into(),
            time: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            value: "-12345678901234.123456789012".parse().unwrap(),
        }
    }

    #[test]
    fn indicator_names_are_restricted() {
        let mut v = indicator();
        assert!(validate_indicator(&v).is_ok());
        v.name = "A".repeat(MAX_INDICATOR_NAME_LEN);
        assert!(validate_indicator(&v).is_ok());
        for (name, problem) in [
            (String::new(), Problem::Empty),
            (
                "A".repeat(MAX_INDICATOR_NAME_LEN + 1),
                Problem::TooLong {
                    max: MAX_INDICATOR_NAME_LEN,
                },
            ),
            ("rsi 14".into(), Problem::InvalidCharacter(' ')),
            ("rsi,14".into(), Problem::InvalidCharacter(',')),
            ("macd/signal".into(), Problem::InvalidCharacter('/')),
            ("rsi\"".into(), Problem::InvalidCharacter('"')),
            ("ema\n20".into(), Problem::InvalidCharacter('\n')),
            ("rsi_é".into(), Problem::InvalidCharacter('é')),
        ] {
            v.name = name;
            let err = validate_indicator(&v).unwrap_err();
            assert_eq!((err.field, err.problem), ("name", problem), "{:?}", v.name);
        }
    }

    #[test]
    fn indicator_batch_names_index_and_field() {
        let mut huge = indicator();
        huge.value = -MAX_MAGNITUDE - Decimal::ONE;
        let mut early = indicator();
        early.time = DateTime::from_timestamp(-1, 0).unwrap();
        let mut symbol = indicator();
        symbol.symbol = "BTC USDT".into();
        for (bad, field) in [(huge, "value"), (early, "time"), (symbol, "symbol")] {
            let batch = vec![indicator(), bad, indicator()];
            let err = validate_indicators(&batch, &lim(10)).unwrap_err();
            let v = err.as_validation().unwrap();
            assert_eq!(
                (v.record, v.index, v.field),
                (RecordKind::Indicator, Some(1), field)
            );
        }
        let mut edge = indicator();
        edge.value = -MAX_MAGNITUDE;
        assert!(validate_indicators(&[edge], &lim(1)).is_ok());
        let e = decimal_from_f64(RecordKind::Indicator, "value", f64::INFINITY).unwrap_err();
        assert_eq!(
            (e.record, e.field, e.problem),
            (RecordKind::Indicator, "value", Problem::NotFinite)
        );
        assert_eq!(
            validate_indicators(&[indicator(), indicator()], &lim(1))
                .unwrap_err()
                .kind(),
            crate::ErrorKind::BatchTooLarge
        );
    }

    #[test]
    fn nan_is_rejected_on_conversion() {
        let e = decimal_from_f64(RecordKind::Candle, "open", f64::NAN).unwrap_err();
        assert_eq!((e.field, e.problem), ("open", Problem::NotFinite));
        assert_eq!(
            decimal_from_f64(RecordKind::Candle, "open", 1.25).unwrap(),
            Decimal::new(125, 2)
        );
    }
}
