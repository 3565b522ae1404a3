//! Reading stored records back out, a page at a time: what export and copy stream through.
//!
//! Pages run in time order. A page ends between two instants, never inside one: the next
//! page starts at [`ScanPage::next`] and holds every record of that instant. So a
//! consumer that stops anywhere resumes from a time alone, and a page is at most
//! [`ScanQuery::limit`] records, unless more records than that share one instant (then
//! the page is that instant's records alone: memory is bounded by the page size or by the
//! number of series, whichever is larger).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::candle::Candle;
use crate::error::{Error, Result};
use crate::flow::Flow;
use crate::indicator::IndicatorValue;
use crate::maintenance::Dataset;
use crate::sentiment::SentimentReading;
use crate::time::TimeRange;

/// Which records a scan reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanQuery {
    /// The dataset.
    pub dataset: Dataset,
    /// Records with `time` in this range; a following page narrows `from` to
    /// [`ScanPage::next`].
    pub range: TimeRange,
    /// Only these symbols (candles, indicators) or assets (sentiment, flows); every one
    /// when empty.
    pub keys: Vec<String>,
    /// Records per page (see the module documentation), at least 1.
    pub limit: usize,
}

impl ScanQuery {
    /// Every record of `dataset` in `range`, `limit` per page.
    pub fn new(dataset: Dataset, range: TimeRange, limit: usize) -> Self {
        Self {
            dataset,
            range,
            keys: Vec::new(),
            limit,
        }
    }

    /// Only the records of `keys` (symbols or assets).
    #[must_use]
    pub fn with_keys(mut self, keys: Vec<String>) -> Self {
        self.keys = keys;
        self
    }

    /// The query of the page after `page`, or `None` when `page` was the last.
    pub fn after(&self, page: &ScanPage) -> Option<Self> {
        let next = page.next?;
        let range = TimeRange::new(next, self.range.to()).ok()?;
        Some(Self {
            range,
            ..self.clone()
        })
    }

    /// Checks the limit.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `limit` when it is zero.
    pub fn check(&self) -> Result<()> {
        if self.limit == 0 {
            return Err(Error::invalid_argument("limit", "must be at least 1"));
        }
        Ok(())
    }
}

/// Records of one dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Records {
    /// Candles.
    Candles(Vec<Candle>),
    /// Sentiment readings.
    Sentiment(Vec<SentimentReading>),
    /// Flows.
    Flows(Vec<Flow>),
    /// Indicator values.
    Indicators(Vec<IndicatorValue>),
}

impl Records {
    /// No records of `dataset`.
    pub fn empty(dataset: Dataset) -> Self {
        match dataset {
            Dataset::Price => Self::Candles(Vec::new()),
            Dataset::Sentiment => Self::Sentiment(Vec::new()),
            Dataset::Flow => Self::Flows(Vec::new()),
            Dataset::Indicator => Self::Indicators(Vec::new()),
        }
    }

    /// How many.
    pub fn len(&self) -> usize {
        match self {
            Self::Candles(v) => v.len(),
            Self::Sentiment(v) => v.len(),
            Self::Flows(v) => v.len(),
            Self::Indicators(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dataset they belong to.
    pub fn dataset(&self) -> Dataset {
        match self {
            Self::Candles(_) => Dataset::Price,
            Self::Sentiment(_) => Dataset::Sentiment,
            Self::Flows(_) => Dataset::Flow,
            Self::Indicators(_) => Dataset::Indicator,
        }
    }

    /// Sorts them into scan order: time, then the rest of the natural key by byte value,
    /// so that every store returns a page in the same order.
    pub fn sort(&mut self) {
        match self {
            Self::Candles(v) => v.sort_by(|a, b| {
                (a.time, &a.symbol, a.interval.to_string()).cmp(&(
                    b.time,
                    &b.symbol,
                    b.interval.to_string(),
                ))
            }),
            Self::Sentiment(v) => {
                v.sort_by(|a, b| (a.time, &a.asset, &a.source).cmp(&(b.time, &b.asset, &b.source)));
            }
            Self::Flows(v) => v.sort_by(|a, b| {
                (
                    a.time,
                    &a.asset,
                    &a.source,
                    a.flow_type.as_str(),
                    &a.reference,
                )
                    .cmp(&(
                        b.time,
                        &b.asset,
                        &b.source,
                        b.flow_type.as_str(),
                        &b.reference,
                    ))
            }),
            Self::Indicators(v) => v.sort_by(|a, b| {
                (a.time, &a.symbol, a.interval.to_string(), &a.name).cmp(&(
                    b.time,
                    &b.symbol,
                    b.interval.to_string(),
                    &b.name,
                ))
            }),
        }
    }

    /// The time of record `i`.
    fn time(&self, i: usize) -> Option<DateTime<Utc>> {
        match self {
            Self::Candles(v) => v.get(i).map(|r| r.time),
            Self::Sentiment(v) => v.get(i).map(|r| r.time),
            Self::Flows(v) => v.get(i).map(|r| r.time),
            Self::Indicators(v) => v.get(i).map(|r| r.time),
        }
    }

    /// Times of the first and last record (in their stored order), if there are any: what a
    /// page covers once [`Records::sort`] has ordered it.
    pub fn span(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let last = self.len().checked_sub(1)?;
        Some((self.time(0)?, self.time(last)?))
    }

    /// Keeps the first `n` records.
    pub(crate) fn truncate(&mut self, n: usize) {
        match self {
            Self::Candles(v) => v.truncate(n),
            Self::Sentiment(v) => v.truncate(n),
            Self::Flows(v) => v.truncate(n),
            Self::Indicators(v) => v.truncate(n),
        }
    }

    /// Keeps the records of one instant.
    pub(crate) fn retain_time(&mut self, t: DateTime<Utc>) {
        match self {
            Self::Candles(v) => v.retain(|r| r.time == t),
            Self::Sentiment(v) => v.retain(|r| r.time == t),
            Self::Flows(v) => v.retain(|r| r.time == t),
            Self::Indicators(v) => v.retain(|r| r.time == t),
        }
    }

    /// Keeps the records at `keep` (ascending indices).
    fn retain_indices(&mut self, keep: &[usize]) {
        fn retain<T>(v: &mut Vec<T>, keep: &[usize]) {
            let mut i = 0;
            let mut k = keep.iter().peekable();
            v.retain(|_| {
                let hit = k.peek() == Some(&&i);
                if hit {
                    k.next();
                }
                i += 1;
                hit
            });
        }
        match self {
            Self::Candles(v) => retain(v, keep),
            Self::Sentiment(v) => retain(v, keep),
            Self::Flows(v) => retain(v, keep),
            Self::Indicators(v) => retain(v, keep),
        }
    }
}

/// One page of a scan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanPage {
    /// The records, in scan order (see [`Records::sort`]).
    pub records: Records,
    /// Where the next page starts (inclusive), or `None` after the last page.
    pub next: Option<DateTime<Utc>>,
}

impl ScanPage {
    /// The page a store makes of `rows`: the first `limit + 1` records (or fewer, at the
    /// end) of the query's range in time order, ties in any order. Keeps whole instants:
    /// with more than `limit` records, those of the last instant are left to the next
    /// page. When all `limit + 1` share one instant, the answer is `Err(instant)`: the
    /// store then reads every record of that instant and makes the page with
    /// [`ScanPage::instant`].
    ///
    /// # Errors
    /// `Err(instant)` as above (not a failure).
    pub fn cut(mut rows: Records, limit: usize) -> std::result::Result<Self, DateTime<Utc>> {
        if rows.len() <= limit {
            rows.sort();
            return Ok(Self {
                records: rows,
                next: None,
            });
        }
        let last = rows.time(limit).unwrap_or_default();
        let mut kept = Vec::with_capacity(limit);
        for i in 0..rows.len() {
            if rows.time(i) == Some(last) {
                // Left to the next page.
            } else {
                kept.push(i);
            }
        }
        if kept.is_empty() {
            return Err(last);
        }
        rows.retain_indices(&kept);
        rows.sort();
        Ok(Self {
            records: rows,
            next: Some(last),
        })
    }

    /// The page holding every record of one `instant` (see [`ScanPage::cut`]); the next
    /// page starts a microsecond later, unless that is past `to`.
    pub fn instant(mut rows: Records, instant: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        rows.sort();
        let next = instant
            .checked_add_signed(chrono::TimeDelta::microseconds(1))
            .filter(|n| *n < to);
        Self {
            records: rows,
            next,
        }
    }
}
