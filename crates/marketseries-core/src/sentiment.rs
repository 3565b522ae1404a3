//! Sentiment readings and the sentiment query/result types.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::interval::Interval;
use crate::time::TimeRange;

/// Classification of a sentiment reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SentimentLabel {
    /// Negative sentiment.
    Bearish,
    /// Neither.
    Neutral,
    /// Positive sentiment.
    Bullish,
}

impl SentimentLabel {
    /// Scores at or below `-NEUTRAL_BAND` are bearish, at or above it bullish.
    pub const NEUTRAL_BAND: f64 = 0.2;

    /// The label the project uses when a source gives none: bearish at or below -0.2,
    /// bullish at or above 0.2, neutral in between.
    pub fn from_score(score: f64) -> Self {
        if score <= -Self::NEUTRAL_BAND {
            Self::Bearish
        } else if score >= Self::NEUTRAL_BAND {
            Self::Bullish
        } else {
            Self::Neutral
        }
    }

    /// Lower-case name as stored in SQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bearish => "bearish",
            Self::Neutral => "neutral",
            Self::Bullish => "bullish",
        }
    }
}

impl fmt::Display for SentimentLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SentimentLabel {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "bearish" => Ok(Self::Bearish),
            "neutral" => Ok(Self::Neutral),
            "bullish" => Ok(Self::Bullish),
            _ => Err(Error::invalid_argument(
                "label",
                format!("{s:?} is not one of bearish, neutral, bullish"),
            )),
        }
    }
}

/// One sentiment reading: natural key `(asset, source, time)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentimentReading {
    /// Asset the reading is about, e.g. `BTC`.
    pub asset: String,
    /// Where it came from, e.g. `twitter`, `news`.
    pub source: String,
    /// When it was taken (UTC, microsecond precision).
    pub time: DateTime<Utc>,
    /// Score in `[-1, 1]`.
    pub score: f64,
    /// Classification.
    pub label: SentimentLabel,
    /// Number of mentions behind the reading.
    pub mention_volume: u64,
    /// Engagement (likes, shares...), non-negative.
    pub engagement: f64,
}

/// Bucket width for sentiment and flow aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateBucket {
    /// One hour.
    Hour,
    /// One day.
    Day,
}

impl AggregateBucket {
    /// The bucket as an [`Interval`].
    pub fn interval(self) -> Interval {
        match self {
            Self::Hour => Interval::H1,
            Self::Day => Interval::D1,
        }
    }
}

/// Sentiment of one asset aggregated over one bucket (all sources together).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentimentAggregate {
    /// Bucket start.
    pub time: DateTime<Utc>,
    /// Mean score.
    pub avg_score: f64,
    /// Lowest score.
    pub min_score: f64,
    /// Highest score.
    pub max_score: f64,
    /// Number of readings.
    pub readings: u64,
    /// Sum of mention volumes.
    pub mentions: u64,
    /// Sum of engagement.
    pub engagement: f64,
}

/// Mean score and count of readings in one window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SentimentWindow {
    /// Mean score.
    pub avg_score: f64,
    /// Number of readings.
    pub readings: u64,
}

/// Sentiment in the latest window compared with the window before it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentimentTrend {
    /// Asset.
    pub asset: String,
    /// `[now - window, now)`.
    pub current_range: TimeRange,
    /// Readings in the current window, if any.
    pub current: Option<SentimentWindow>,
    /// Readings in `[now - 2 window, now - window)`, if any.
    pub previous: Option<SentimentWindow>,
}

impl SentimentTrend {
    /// Change of the mean score from the previous window to the current one.
    pub fn delta(&self) -> Option<f64> {
        Some(self.current?.avg_score - self.previous?.avg_score)
    }
}

/// Sentiment of one asset from one source over a range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceSentiment {
    /// Source name.
    pub source: String,
    /// Mean score.
    pub avg_score: f64,
    /// Number of readings.
    pub readings: u64,
    /// Sum of mention volumes.
    pub mentions: u64,
}

/// Count of readings by label.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SentimentDistribution {
    /// Bearish readings.
    pub bearish: u64,
    /// Neutral readings.
    pub neutral: u64,
    /// Bullish readings.
    pub bullish: u64,
}

impl SentimentDistribution {
    /// Total readings.
    pub fn total(&self) -> u64 {
        self.bearish + self.neutral + self.bullish
    }
}

/// One row of the sentiment summary: every asset with readings in the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentimentSummary {
    /// Asset.
    pub asset: String,
    /// Mean score in the window.
    pub avg_score: f64,
    /// Readings in the window.
    pub readings: u64,
    /// Sum of mention volumes.
    pub mentions: u64,
    /// Readings by label.
    pub distribution: SentimentDistribution,
    /// Time of the newest reading in the window.
    pub latest_time: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_thresholds() {
        assert_eq!(SentimentLabel::from_score(-0.2), SentimentLabel::Bearish);
        assert_eq!(SentimentLabel::from_score(0.0), SentimentLabel::Neutral);
        assert_eq!(SentimentLabel::from_score(0.2), SentimentLabel::Bullish);
        assert_eq!(
            "bullish".parse::<SentimentLabel>().unwrap(),
            SentimentLabel::Bullish
        );
        assert!("Bullish".parse::<SentimentLabel>().is_err());
    }
}
