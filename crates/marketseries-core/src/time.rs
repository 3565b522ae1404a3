//! Time ranges, the supported time span and the injectable clock.

use std::fmt;
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Earliest timestamp a record may carry: 1970-01-01 00:00 UTC.
pub const MIN_TIME: DateTime<Utc> = DateTime::UNIX_EPOCH;

/// First timestamp past the supported span: 2100-01-01 00:00 UTC.
pub fn max_time() -> DateTime<Utc> {
    // 4_102_444_800 is 2100-01-01T00:00:00Z.
    DateTime::from_timestamp(4_102_444_800, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A half-open time range `[from, to)`, UTC. `from < to` is guaranteed by construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct TimeRange {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

/// Checks that an instant passed as argument `name` has whole-microsecond precision, the
/// precision stores keep: rounding it would change which rows an as-of or range query sees.
///
/// # Errors
/// [`Error::InvalidArgument`] naming `name` otherwise.
pub fn check_microseconds(name: &'static str, t: DateTime<Utc>) -> Result<()> {
    if t.timestamp_subsec_nanos().is_multiple_of(1_000) {
        Ok(())
    } else {
        Err(Error::invalid_argument(
            name,
            format!("{t:?} has sub-microsecond precision; stored times are whole microseconds"),
        ))
    }
}

impl TimeRange {
    /// Builds `[from, to)`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `range` when `from >= to` or a bound has
    /// sub-microsecond precision.
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Self> {
        for (name, t) in [("from", from), ("to", to)] {
            if !t.timestamp_subsec_nanos().is_multiple_of(1_000) {
                return Err(Error::invalid_argument(
                    "range",
                    format!("`{name}` ({t:?}) has sub-microsecond precision; PostgreSQL stores microseconds"),
                ));
            }
        }
        if from >= to {
            return Err(Error::invalid_argument(
                "range",
                format!("`from` ({from}) must be earlier than `to` ({to})"),
            ));
        }
        Ok(Self { from, to })
    }

    /// The window of length `window` ending at `now`: `[now - window, now)`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `window` when it is not positive.
    pub fn last(now: DateTime<Utc>, window: TimeDelta) -> Result<Self> {
        if window <= TimeDelta::zero() {
            return Err(Error::invalid_argument(
                "window",
                format!("must be positive, got {window}"),
            ));
        }
        let from = now.checked_sub_signed(window).ok_or_else(|| {
            Error::invalid_argument("window", "reaches before the supported span")
        })?;
        Self::new(from, now)
    }

    /// Inclusive start.
    pub fn from(&self) -> DateTime<Utc> {
        self.from
    }

    /// Exclusive end.
    pub fn to(&self) -> DateTime<Utc> {
        self.to
    }

    /// Whether `t` lies in `[from, to)`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }

    /// Length of the range.
    pub fn duration(&self) -> TimeDelta {
        self.to - self.from
    }
}

impl<'de> Deserialize<'de> for TimeRange {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            from: DateTime<Utc>,
            to: DateTime<Utc>,
        }
        let raw = Raw::deserialize(deserializer)?;
        TimeRange::new(raw.from, raw.to).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.from.to_rfc3339(), self.to.to_rfc3339())
    }
}

/// Where "now" comes from. Every relative query ("last 24 hours") and retention asks the
/// store's clock, so tests can pin time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock, truncated to whole microseconds: PostgreSQL keeps microseconds and
/// [`TimeRange`] refuses finer bounds, so "now" must already be representable.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
    }
}

/// A clock that stays where it is put; for tests and reproducible demos.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    /// A clock reading `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self(Mutex::new(now))
    }

    /// Moves the clock to `now`.
    pub fn set(&self, now: DateTime<Utc>) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = now;
    }

    /// Moves the clock forward by `by` (saturating at the ends of time).
    pub fn advance(&self, by: TimeDelta) {
        let mut guard = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let saturated = if by < TimeDelta::zero() {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        };
        *guard = guard.checked_add_signed(by).unwrap_or(saturated);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn empty_or_inverted_ranges_are_rejected() {
        let t = Utc::now();
        assert_eq!(
            TimeRange::new(t, t).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            TimeRange::last(t, TimeDelta::zero()).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert!(serde_json::from_str::<TimeRange>(
            r#"{"from":"2024-01-02T00:00:00Z","to":"2024-01-01T00:00:00Z"}"#
        )
        .is_err());
    }

    #[test]
    fn sub_microsecond_bounds_are_rejected() {
        let t = DateTime::from_timestamp(0, 500).unwrap();
        let err = TimeRange::new(t, t + TimeDelta::hours(1)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn system_clock_has_whole_microseconds() {
        let now = SystemClock.now();
        assert_eq!(now.timestamp_subsec_nanos() % 1_000, 0);
        assert!(TimeRange::last(now, TimeDelta::hours(24)).is_ok());
    }

    #[test]
    fn max_time_is_2100() {
        assert_eq!(max_time().to_rfc3339(), "2100-01-01T00:00:00+00:00");
    }
}
