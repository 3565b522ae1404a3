//! Bucket widths: parsing, canonical text, divisibility and epoch-aligned flooring.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;
use crate::time::TimeRange;

/// The unit of an [`Interval`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unit {
    /// Seconds (`s`).
    Second,
    /// Minutes (`m`).
    Minute,
    /// Hours (`h`).
    Hour,
    /// Days (`d`), aligned to 1970-01-01 00:00 UTC.
    Day,
    /// Weeks (`w`), starting on Monday 00:00 UTC.
    Week,
}

impl Unit {
    const fn seconds(self) -> i64 {
        match self {
            Self::Second => 1,
            Self::Minute => 60,
            Self::Hour => 3_600,
            Self::Day => 86_400,
            Self::Week => 604_800,
        }
    }

    const fn suffix(self) -> char {
        match self {
            Self::Second => 's',
            Self::Minute => 'm',
            Self::Hour => 'h',
            Self::Day => 'd',
            Self::Week => 'w',
        }
    }
}

/// Microseconds per second; timestamps are handled at PostgreSQL's microsecond precision.
const MICROS: i64 = 1_000_000;
/// Monday 1970-01-05 00:00 UTC, the origin of week buckets (the epoch was a Thursday).
const WEEK_ORIGIN_MICROS: i64 = 4 * 86_400 * MICROS;

/// A bucket width: a positive multiple of seconds, minutes, hours, days or weeks.
///
/// The canonical text form is `<count><unit>` with the largest unit that represents the width
/// exactly, except that days are never turned into weeks (`"60m"` parses to `1h` and displays
/// as `"1h"`; `"7d"` stays `"7d"`). Days, hours, minutes and seconds are aligned to the Unix
/// epoch; weeks start on Monday, so `7d` and `1w` are different intervals with different
/// bucket boundaries. The widest interval accepted is [`Interval::MAX_SECONDS`].
///
/// ```
/// use marketseries_core::Interval;
/// let i: Interval = "60m".parse().unwrap();
/// assert_eq!(i.to_string(), "1h");
/// assert!("15m".parse::<Interval>().unwrap().divides("1h".parse().unwrap()));
/// assert!("1.5h".parse::<Interval>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interval {
    count: u32,
    unit: Unit,
}

impl Interval {
    /// Widest accepted interval: 366 days.
    pub const MAX_SECONDS: i64 = 366 * 86_400;
    /// One minute.
    pub const M1: Self = Self::from_parts(1, Unit::Minute);
    /// Five minutes.
    pub const M5: Self = Self::from_parts(5, Unit::Minute);
    /// Fifteen minutes.
    pub const M15: Self = Self::from_parts(15, Unit::Minute);
    /// One hour.
    pub const H1: Self = Self::from_parts(1, Unit::Hour);
    /// Four hours.
    pub const H4: Self = Self::from_parts(4, Unit::Hour);
    /// One day.
    pub const D1: Self = Self::from_parts(1, Unit::Day);
    /// One week (Monday-aligned).
    pub const W1: Self = Self::from_parts(1, Unit::Week);

    const fn from_parts(count: u32, unit: Unit) -> Self {
        Self { count, unit }
    }

    /// Builds an interval from a count and unit, normalising to canonical form.
    ///
    /// # Errors
    /// [`Error::InvalidInterval`] when `count` is zero or the width exceeds
    /// [`Interval::MAX_SECONDS`].
    pub fn new(count: u32, unit: Unit) -> Result<Self, Error> {
        let input = || format!("{count}{}", unit.suffix());
        if count == 0 {
            return Err(Error::InvalidInterval {
                input: input(),
                reason: "the count must be positive",
            });
        }
        if i64::from(count) * unit.seconds() > Self::MAX_SECONDS {
            return Err(Error::InvalidInterval {
                input: input(),
                reason: "wider than the maximum of 366 days",
            });
        }
        Ok(Self { count, unit }.normalized())
    }

    fn normalized(mut self) -> Self {
        loop {
            let (factor, next) = match self.unit {
                Unit::Second => (60, Unit::Minute),
                Unit::Minute => (60, Unit::Hour),
                Unit::Hour => (24, Unit::Day),
                Unit::Day | Unit::Week => return self,
            };
            if !self.count.is_multiple_of(factor) {
                return self;
            }
            self = Self {
                count: self.count / factor,
                unit: next,
            };
        }
    }

    /// The count in canonical form (`4` for `4h`).
    pub fn count(self) -> u32 {
        self.count
    }

    /// The unit in canonical form.
    pub fn unit(self) -> Unit {
        self.unit
    }

    /// Width in seconds.
    pub fn seconds(self) -> i64 {
        i64::from(self.count) * self.unit.seconds()
    }

    /// Width in microseconds.
    pub fn micros(self) -> i64 {
        self.seconds() * MICROS
    }

    /// Width as a [`TimeDelta`].
    pub fn duration(self) -> TimeDelta {
        TimeDelta::seconds(self.seconds())
    }

    /// Bucket origin in microseconds since the epoch.
    fn origin_micros(self) -> i64 {
        if self.unit == Unit::Week {
            WEEK_ORIGIN_MICROS
        } else {
            0
        }
    }

    /// Origin of the bucket grid (1970-01-01 for s/m/h/d, Monday 1970-01-05 for weeks).
    pub fn origin(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.origin_micros()).unwrap_or_default()
    }

    /// Whether every bucket of `other` is an exact union of buckets of `self`: the width of
    /// `self` divides the width of `other` and the two grids share boundaries.
    pub fn divides(self, other: Interval) -> bool {
        other.micros() % self.micros() == 0
            && (other.origin_micros() - self.origin_micros()) % self.micros() == 0
    }

    /// Start of the bucket containing `t`.
    pub fn floor(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let width = self.micros();
        let origin = self.origin_micros();
        let micros = t.timestamp_micros();
        let floored = origin + (micros - origin).div_euclid(width) * width;
        DateTime::from_timestamp_micros(floored).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Whether `t` lies exactly on a bucket boundary.
    pub fn is_aligned(self, t: DateTime<Utc>) -> bool {
        self.floor(t) == t
    }

    /// The span of raw timestamps that belong to buckets whose start lies in
    /// `[floor(range.from), range.to)`: `[floor(from), floor(to - 1µs) + self)`.
    /// The end saturates at the latest representable instant.
    pub fn covering(self, range: &TimeRange) -> (DateTime<Utc>, DateTime<Utc>) {
        let before_end = range
            .to()
            .checked_sub_signed(TimeDelta::microseconds(1))
            .unwrap_or(range.from());
        let end = self
            .floor(before_end)
            .checked_add_signed(self.duration())
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        (self.floor(range.from()), end)
    }

    /// A fragment safe to embed in SQL identifiers (`[0-9a-z]+`), e.g. `ohlcv_15m`.
    /// Only ever derived from a parsed interval, never from user text.
    pub fn identifier(self) -> String {
        self.to_string()
    }
}

impl PartialOrd for Interval {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Interval {
    /// Orders by width, then puts epoch-aligned before Monday-aligned intervals.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.seconds(), self.unit == Unit::Week).cmp(&(other.seconds(), other.unit == Unit::Week))
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.count, self.unit.suffix())
    }
}

impl FromStr for Interval {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| Error::InvalidInterval {
            input: s.to_owned(),
            reason,
        };
        let Some(last) = s.chars().last() else {
            return Err(invalid("empty; expected e.g. \"15m\", \"4h\", \"1d\""));
        };
        let unit = match last {
            's' => Unit::Second,
            'm' => Unit::Minute,
            'h' => Unit::Hour,
            'd' => Unit::Day,
            'w' => Unit::Week,
            _ => return Err(invalid("the unit must be one of s, m, h, d, w")),
        };
        let digits = &s[..s.len() - last.len_utf8()];
        if digits.is_empty() {
            return Err(invalid("missing count before the unit"));
        }
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(
                "the count must be a positive whole number written with digits only",
            ));
        }
        if digits.starts_with('0') {
            return Err(invalid(
                "the count must be positive and have no leading zeros",
            ));
        }
        let count: u32 = digits
            .parse()
            .map_err(|_| invalid("wider than the maximum of 366 days"))?;
        Self::new(count, unit).map_err(|e| match e {
            Error::InvalidInterval { reason, .. } => invalid(reason),
            other => other,
        })
    }
}

impl TryFrom<&str> for Interval {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl Serialize for Interval {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn iv(s: &str) -> Interval {
        s.parse().unwrap()
    }

    #[test]
    fn rejects_malformed_text_with_typed_error() {
        for bad in [
            "0m",
            "15x",
            "-1h",
            "1.5h",
            "",
            "15 m",
            "99999999999d",
            "m",
            "01h",
            "+1h",
            " 1h",
            "1h ",
            "1H",
            "367d",
            "53w",
            "1é",
            "٣h",
        ] {
            let err = bad.parse::<Interval>().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
            assert!(matches!(err, Error::InvalidInterval { .. }), "{bad:?}");
        }
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(iv("60m").to_string(), "1h");
        assert_eq!(iv("120s").to_string(), "2m");
        assert_eq!(iv("48h").to_string(), "2d");
        assert_eq!(iv("90m").to_string(), "90m");
        assert_eq!(iv("7d").to_string(), "7d");
        assert_ne!(iv("7d"), iv("1w"));
        assert_eq!(iv("366d").seconds(), Interval::MAX_SECONDS);
    }

    #[test]
    fn weeks_start_on_monday() {
        // 2024-01-03 is a Wednesday; its week starts Monday 2024-01-01.
        let t = DateTime::parse_from_rfc3339("2024-01-03T12:34:56Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(iv("1w").floor(t).to_rfc3339(), "2024-01-01T00:00:00+00:00");
        assert_eq!(iv("1d").floor(t).to_rfc3339(), "2024-01-03T00:00:00+00:00");
        assert!(iv("1d").divides(iv("1w")));
        assert!(iv("2d").divides(iv("2w")));
        assert!(!iv("3d").divides(iv("3w")));
        assert!(!iv("7d").divides(iv("1w")));
        assert!(!iv("1w").divides(iv("7d")));
    }

    #[test]
    fn covering_saturates_at_the_end_of_time() {
        let last =
            DateTime::from_timestamp_micros(DateTime::<Utc>::MAX_UTC.timestamp_micros()).unwrap();
        let r = TimeRange::new(DateTime::<Utc>::UNIX_EPOCH, last).unwrap();
        let (start, end) = iv("1w").covering(&r);
        assert!(start <= r.from());
        assert_eq!(end, DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn serde_uses_canonical_text() {
        let json = serde_json::to_string(&iv("240m")).unwrap();
        assert_eq!(json, "\"4h\"");
        let back: Interval = serde_json::from_str(&json).unwrap();
        assert_eq!(back, iv("4h"));
        assert!(serde_json::from_str::<Interval>("\"4x\"").is_err());
    }
}
