//! Exact parsing of the text found in files and on the command line: decimals, floats,
//! counts and timestamps.
//!
//! Prices and volumes are read straight from their text into [`Decimal`] — never through
//! `f64`, whose binary rounding would change values such as `0.1` on the way in.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, SecondsFormat, TimeDelta, Utc};
use marketseries_core::{Problem, ValidationError};
use rust_decimal::Decimal;

/// A problem with one field of one row: which field (named as in the core record types,
/// e.g. `open`, `time`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Field name, as the core validation names it.
    pub field: &'static str,
    /// Human-readable reason.
    pub reason: String,
}

impl FieldError {
    /// A field error with a reason.
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

impl From<ValidationError> for FieldError {
    fn from(e: ValidationError) -> Self {
        // The core message is "invalid candle: field `x` ..."; the file report wants just
        // the field and the problem, since the line number already says which record.
        Self::new(e.field, e.problem.to_string())
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// `NaN`, `inf` and `infinity` in any case, with or without a sign.
fn is_non_finite(text: &str) -> bool {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    ["nan", "inf", "infinity"]
        .iter()
        .any(|w| body.eq_ignore_ascii_case(w))
}

/// Whether `text` is `[+-]digits[.digits][(e|E)[+-]digits]` with at least one mantissa
/// digit. Checked up front because `Decimal::from_str` is more lenient (it skips `_`).
fn decimal_shape(text: &str) -> Option<bool> {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.len() + frac.len() == 0 || !digits(int) || !digits(frac) {
        return None;
    }
    if let Some(exp) = exponent {
        let exp = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        if exp.is_empty() || !digits(exp) {
            return None;
        }
    }
    Some(exponent.is_some())
}

/// Reads an exact decimal (`123.4500`, `-0.1`, `1.5e-7`), keeping the scale written.
///
/// # Errors
/// Empty text, `NaN`/infinity ([`Problem::NotFinite`], worded as core validation words
/// it), malformed text, or a value `Decimal` cannot hold exactly (more than 28 significant
/// digits, or too large).
pub fn decimal(field: &'static str, text: &str) -> Result<Decimal, FieldError> {
    if text.is_empty() {
        return Err(FieldError::new(field, "is empty"));
    }
    if is_non_finite(text) {
        return Err(FieldError::new(field, Problem::NotFinite.to_string()));
    }
    let scientific = decimal_shape(text)
        .ok_or_else(|| FieldError::new(field, format!("{text:?} is not a decimal number")))?;
    let parsed = if scientific {
        Decimal::from_scientific(text)
    } else {
        Decimal::from_str_exact(text)
    };
    parsed.map_err(|e| {
        FieldError::new(
            field,
            format!("{text:?} cannot be held exactly as a decimal ({e})"),
        )
    })
}

/// Reads a finite `f64` (sentiment scores and engagement are floats by design).
///
/// # Errors
/// Empty or malformed text, or `NaN`/infinity.
pub fn finite_f64(field: &'static str, text: &str) -> Result<f64, FieldError> {
    if text.is_empty() {
        return Err(FieldError::new(field, "is empty"));
    }
    if is_non_finite(text) {
        return Err(FieldError::new(field, Problem::NotFinite.to_string()));
    }
    // Same shape rule as decimals, so `f64`'s extra spellings are not accepted silently.
    decimal_shape(text)
        .and_then(|_| f64::from_str(text).ok())
        .filter(|x| x.is_finite())
        .ok_or_else(|| FieldError::new(field, format!("{text:?} is not a number")))
}

/// Reads a non-negative whole number.
///
/// # Errors
/// Empty, signed, fractional or oversized text.
pub fn count(field: &'static str, text: &str) -> Result<u64, FieldError> {
    if text.is_empty() {
        return Err(FieldError::new(field, "is empty"));
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldError::new(
            field,
            format!("{text:?} is not a non-negative whole number"),
        ));
    }
    text.parse()
        .map_err(|_| FieldError::new(field, format!("{text:?} is too large")))
}

/// The unit of an epoch timestamp, told apart by magnitude (see [`timestamp`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EpochUnit {
    /// Seconds.
    Seconds,
    /// Milliseconds.
    Millis,
    /// Microseconds.
    Micros,
    /// Nanoseconds.
    Nanos,
}

/// How a timestamp was written; some file formats insist on one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimeForm {
    /// Epoch seconds, milliseconds, microseconds or nanoseconds (UTC by definition).
    Epoch(EpochUnit),
    /// Date and time with an explicit offset (`Z`, `+00:00`, `-0500`).
    WithOffset,
    /// Date and time without an offset, read in the `--timezone` (UTC by default).
    Naive,
    /// A bare date, read as midnight in the `--timezone` (UTC by default).
    Date,
}

impl fmt::Display for TimeForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Epoch(EpochUnit::Seconds) => "epoch seconds",
            Self::Epoch(EpochUnit::Millis) => "epoch milliseconds",
            Self::Epoch(EpochUnit::Micros) => "epoch microseconds",
            Self::Epoch(EpochUnit::Nanos) => "epoch nanoseconds",
            Self::WithOffset => "date-times with a UTC offset",
            Self::Naive => "date-times without an offset",
            Self::Date => "dates",
        })
    }
}

/// Parses a `--timezone`: `UTC` (or `Z`), or a fixed offset such as `+02:00`, `-0500`,
/// `+05:30`. Named zones with daylight saving time are not accepted: their offset changes
/// during the year, and a file's naive times then have no single reading.
///
/// # Errors
/// A message quoting the text otherwise.
pub fn timezone(text: &str) -> Result<FixedOffset, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("utc") || t == "Z" || t.eq_ignore_ascii_case("gmt") {
        return Ok(chrono::Offset::fix(&Utc));
    }
    let bad = || {
        format!(
            "{text:?} is not UTC or a fixed offset such as +02:00 or -0500 (named zones are \
             not accepted: their offset changes with daylight saving time)"
        )
    };
    let (sign, body) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return Err(bad()),
    };
    let digits: String = body.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let hours: i32 = digits[..2].parse().map_err(|_| bad())?;
    let minutes: i32 = digits[2..].parse().map_err(|_| bad())?;
    if hours > 23 || minutes > 59 {
        return Err(bad());
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60)).ok_or_else(bad)
}

/// A parsed timestamp and how it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedTime {
    /// The instant, in UTC.
    pub time: DateTime<Utc>,
    /// How it was written.
    pub form: TimeForm,
}

/// Epoch values are told apart by magnitude: below 10^11 they are seconds, below 10^14
/// milliseconds, below 10^17 microseconds, else nanoseconds. Every instant of the
/// supported span (1970-2100) after early 1973 reads unambiguously (Binance switched its
/// spot exports from milliseconds to microseconds in 2025; both work).
fn epoch(n: i64) -> Option<(DateTime<Utc>, EpochUnit)> {
    let magnitude = n.unsigned_abs();
    if magnitude < 100_000_000_000 {
        DateTime::from_timestamp(n, 0).map(|t| (t, EpochUnit::Seconds))
    } else if magnitude < 100_000_000_000_000 {
        DateTime::from_timestamp_millis(n).map(|t| (t, EpochUnit::Millis))
    } else if magnitude < 100_000_000_000_000_000 {
        DateTime::from_timestamp_micros(n).map(|t| (t, EpochUnit::Micros))
    } else {
        Some((DateTime::from_timestamp_nanos(n), EpochUnit::Nanos))
    }
}

/// Reads a timestamp: RFC 3339 / ISO 8601 with `T` or a space between date and time and
/// an optional offset (`Z`, `+00:00`, `+0000`; none means UTC), a bare date (`2024-03-01`,
/// midnight UTC), or an integer epoch in seconds, milliseconds, microseconds or
/// nanoseconds (by magnitude).
///
/// # Errors
/// A message quoting the text when none of these forms fits.
pub fn timestamp(text: &str) -> Result<ParsedTime, String> {
    let body = text.strip_prefix('-').unwrap_or(text);
    if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
        let (time, unit) = text
            .parse::<i64>()
            .ok()
            .and_then(epoch)
            .ok_or_else(|| format!("epoch value {text} is out of range"))?;
        return Ok(ParsedTime {
            time,
            form: TimeForm::Epoch(unit),
        });
    }
    // `2024-03-01 00:00:00+00:00` (pandas, Yahoo) is RFC 3339 with a space for the `T`.
    let normalized = match text.as_bytes().get(10) {
        Some(b' ') => format!("{}T{}", &text[..10], &text[11..]),
        _ => text.to_owned(),
    };
    let with_offset = |t: DateTime<chrono::FixedOffset>| ParsedTime {
        time: t.with_timezone(&Utc),
        form: TimeForm::WithOffset,
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(&normalized) {
        return Ok(with_offset(t));
    }
    if let Ok(t) = DateTime::parse_from_str(&normalized, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Ok(with_offset(t));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&normalized, format) {
            return Ok(ParsedTime {
                time: t.and_utc(),
                form: TimeForm::Naive,
            });
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(ParsedTime {
            time: d.and_time(chrono::NaiveTime::MIN).and_utc(),
            form: TimeForm::Date,
        });
    }
    Err(format!(
        "{text:?} is not a timestamp (expected RFC 3339 such as 2024-03-01T00:00:00Z, \
         a date, or epoch seconds/milliseconds)"
    ))
}

/// [`timestamp`], with naive date-times and dates read in `zone` rather than UTC.
///
/// # Errors
/// As [`timestamp`].
pub fn timestamp_in(text: &str, zone: FixedOffset) -> Result<ParsedTime, String> {
    let parsed = timestamp(text)?;
    if !matches!(parsed.form, TimeForm::Naive | TimeForm::Date) || zone.local_minus_utc() == 0 {
        return Ok(parsed);
    }
    let local = parsed.time.naive_utc();
    let time = local
        .checked_sub_signed(TimeDelta::seconds(i64::from(zone.local_minus_utc())))
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("{text:?} in {zone} is out of range"))?;
    Ok(ParsedTime { time, ..parsed })
}

/// Parses a `--from`/`--to` argument (any form [`timestamp`] accepts); used as a clap
/// value parser.
///
/// # Errors
/// As [`timestamp`].
pub fn time_arg(text: &str) -> Result<DateTime<Utc>, String> {
    timestamp(text.trim()).map(|p| p.time)
}

/// Parses a policy duration: a positive whole number with a unit, `s`, `m`, `h`, `d` or
/// `w` (`400d`, `36h`); used as a clap value parser.
///
/// # Errors
/// A message quoting the text for anything else (no unit, zero, negative, overflow).
pub fn duration(text: &str) -> Result<TimeDelta, String> {
    let text = text.trim();
    let bad = || {
        format!("{text:?} is not a duration (expected a positive number and a unit: 400d, 36h, 90m, 3600s, 2w)")
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = text.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    if n <= 0 {
        return Err(bad());
    }
    let seconds_per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad()),
    };
    n.checked_mul(seconds_per)
        .and_then(TimeDelta::try_seconds)
        .ok_or_else(bad)
}

/// [`duration`] as a `std::time::Duration`.
///
/// # Errors
/// As [`duration`].
pub fn std_duration(text: &str) -> Result<std::time::Duration, String> {
    duration(text)?
        .to_std()
        .map_err(|_| format!("{text:?} is not a duration"))
}

/// [`duration`], or `None` for `forever`, `off` or `none` (any case).
///
/// # Errors
/// As [`duration`].
pub fn optional_duration(text: &str) -> Result<Option<TimeDelta>, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "forever" | "off" | "none" => Ok(None),
        _ => duration(text).map(Some),
    }
}

/// Formats a duration as the largest unit that divides it (`400d`, `36h`, `90s`).
pub fn format_duration(d: TimeDelta) -> String {
    let s = d.num_seconds();
    if d.subsec_nanos() != 0 || s == 0 {
        return format!("{}ms", d.num_milliseconds());
    }
    for (unit, per) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if s % per == 0 {
            return format!("{}{unit}", s / per);
        }
    }
    format!("{s}s")
}

/// Formats an instant as RFC 3339 UTC with a `Z` and only as many fraction digits as it
/// needs: `2024-03-01T00:00:00Z`.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> String {
        decimal("open", text).unwrap().to_string()
    }

    #[test]
    fn durations_need_a_positive_count_and_a_unit() {
        assert_eq!(duration("400d"), Ok(TimeDelta::days(400)));
        assert_eq!(duration(" 36h "), Ok(TimeDelta::hours(36)));
        assert_eq!(duration("2w"), Ok(TimeDelta::weeks(2)));
        assert_eq!(optional_duration("Forever"), Ok(None));
        assert_eq!(optional_duration("off"), Ok(None));
        assert_eq!(optional_duration("90m"), Ok(Some(TimeDelta::minutes(90))));
        for bad in [
            "",
            "d",
            "400",
            "0d",
            "-3d",
            "3y",
            "1.5d",
            "99999999999999999999d",
        ] {
            assert!(duration(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(format_duration(TimeDelta::days(400)), "400d");
        assert_eq!(format_duration(TimeDelta::minutes(90)), "90m");
        assert_eq!(format_duration(TimeDelta::seconds(61)), "61s");
    }

    #[test]
    fn decimals_keep_their_exact_text() {
        for text in [
            "0.1",
            "43123.45",
            "100.50",
            "0.00000001",
            "12345678901234567890.12345678",
            "0.1234567890123456789012345678",
            "-3",
            "0",
        ] {
            assert_eq!(dec(text), text);
        }
        assert_eq!(dec("+7.25"), "7.25");
        assert_eq!(dec(".5"), "0.5");
        assert_eq!(dec("5."), "5");
        // Never via f64: 0.1 + 0.2 is exactly 0.3 here.
        assert_eq!(
            decimal("x", "0.1").unwrap() + decimal("x", "0.2").unwrap(),
            decimal("x", "0.3").unwrap()
        );
    }

    #[test]
    fn scientific_notation_is_exact() {
        assert_eq!(dec("1.5e-7"), "0.00000015");
        assert_eq!(dec("9.7E-7"), "0.00000097");
        assert_eq!(decimal("x", "2.5e3").unwrap(), Decimal::from(2500));
    }

    #[test]
    fn non_finite_and_malformed_text_name_the_field() {
        for text in ["NaN", "nan", "-inf", "+Infinity", "INF"] {
            let e = decimal("high", text).unwrap_err();
            assert_eq!(e.field, "high");
            assert_eq!(e.reason, Problem::NotFinite.to_string(), "{text}");
        }
        for text in ["", "abc", "1,5", "1_000", "1.2.3", "e5", "1e", "0x10", " 1"] {
            let e = decimal("volume", text).unwrap_err();
            assert_eq!(e.field, "volume", "{text:?}");
        }
        // More significant digits than a Decimal holds: refused rather than rounded.
        assert!(decimal("close", "0.12345678901234567890123456789012").is_err());
        assert!(decimal("close", "1e40").is_err());
    }

    #[test]
    fn floats_and_counts() {
        assert_eq!(finite_f64("score", "-0.25").unwrap(), -0.25);
        assert_eq!(
            finite_f64("score", "NaN").unwrap_err().reason,
            Problem::NotFinite.to_string()
        );
        assert!(finite_f64("score", "0x1").is_err());
        assert_eq!(count("mention_volume", "42").unwrap(), 42);
        assert!(count("mention_volume", "-1").is_err());
        assert!(count("mention_volume", "1.5").is_err());
    }

    fn ts(text: &str) -> (String, TimeForm) {
        let p = timestamp(text).unwrap();
        (format_time(p.time), p.form)
    }

    #[test]
    fn timestamp_forms() {
        let midnight = "2024-03-01T00:00:00Z".to_owned();
        assert_eq!(
            ts("2024-03-01T00:00:00Z"),
            (midnight.clone(), TimeForm::WithOffset)
        );
        assert_eq!(
            ts("2024-03-01 00:00:00+00:00"),
            (midnight.clone(), TimeForm::WithOffset)
        );
        assert_eq!(
            ts("2024-03-01T02:00:00+02:00"),
            (midnight.clone(), TimeForm::WithOffset)
        );
        assert_eq!(
            ts("2024-02-29 19:00:00-0500"),
            (midnight.clone(), TimeForm::WithOffset)
        );
        assert_eq!(
            ts("2024-03-01T00:00:00"),
            (midnight.clone(), TimeForm::Naive)
        );
        assert_eq!(ts("2024-03-01 00:00"), (midnight.clone(), TimeForm::Naive));
        assert_eq!(ts("2024-03-01"), (midnight.clone(), TimeForm::Date));
        assert_eq!(
            ts("2024-03-01T00:00:00.250Z").0,
            "2024-03-01T00:00:00.250Z".to_owned()
        );
    }

    #[test]
    fn epochs_by_magnitude() {
        let midnight = |unit| ("2024-03-01T00:00:00Z".to_owned(), TimeForm::Epoch(unit));
        assert_eq!(ts("1709251200"), midnight(EpochUnit::Seconds));
        assert_eq!(ts("1709251200000"), midnight(EpochUnit::Millis));
        assert_eq!(ts("1709251200000000"), midnight(EpochUnit::Micros));
        assert_eq!(ts("1709251200000000000"), midnight(EpochUnit::Nanos));
        assert_eq!(ts("0").0, "1970-01-01T00:00:00Z");
    }

    #[test]
    fn naive_times_in_a_fixed_zone() {
        let plus2 = timezone("+02:00").unwrap();
        let t = timestamp_in("2024-03-01 02:00:00", plus2).unwrap();
        assert_eq!(format_time(t.time), "2024-03-01T00:00:00Z");
        assert_eq!(t.form, TimeForm::Naive);
        // An explicit offset wins over the zone; epochs are UTC by definition.
        let t = timestamp_in("2024-03-01T02:00:00+01:00", plus2).unwrap();
        assert_eq!(format_time(t.time), "2024-03-01T01:00:00Z");
        assert_eq!(
            format_time(
                timestamp_in("2024-03-01", timezone("-0530").unwrap())
                    .unwrap()
                    .time
            ),
            "2024-03-01T05:30:00Z"
        );
        assert_eq!(timezone("utc").unwrap().local_minus_utc(), 0);
        for bad in ["Europe/Berlin", "+2", "+25:00", "0200", ""] {
            assert!(timezone(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bad_timestamps_are_rejected() {
        for text in [
            "",
            "yesterday",
            "2024-13-01",
            "2024-03-01T25:00:00Z",
            "1709251200.5",
            "99999999999999999999",
        ] {
            assert!(timestamp(text).is_err(), "{text:?}");
        }
    }
}
