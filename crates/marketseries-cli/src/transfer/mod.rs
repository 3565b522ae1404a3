//! Moving records out of a store: `export` (CSV files in the import layouts) and `copy`
//! (into another store). Both stream [`TimeSeriesStore::scan`] pages, so memory stays
//! bounded by the page size whatever the store holds.

pub mod copy;
pub mod export;

use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use marketseries_core::time::{max_time, MIN_TIME};
use marketseries_core::{Dataset, Records, ScanQuery, TimeRange, TimeSeriesStore};

use std::io::IsTerminal;

use crate::error::CliResult;
use crate::parse::format_time;
use crate::progress::Progress;
use crate::query::flows::{flow_row, FLOW_HEADERS};
use crate::query::sentiment::{reading_row, READING_HEADERS};

/// A dataset on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DatasetName {
    /// Candles (`time,symbol,interval,open,high,low,close,volume`).
    Candles,
    /// Sentiment readings (`time,asset,source,score,label,mention_volume,engagement`).
    Sentiment,
    /// Flows (`time,asset,flow_type,amount,usd_value,source,reference`).
    Flows,
    /// Indicator values (`time,symbol,interval,name,value`).
    Indicators,
}

impl DatasetName {
    /// Every dataset, in copy order.
    pub const ALL: [Self; 4] = [
        Self::Candles,
        Self::Sentiment,
        Self::Flows,
        Self::Indicators,
    ];

    /// The library's dataset.
    pub fn dataset(self) -> Dataset {
        match self {
            Self::Candles => Dataset::Price,
            Self::Sentiment => Dataset::Sentiment,
            Self::Flows => Dataset::Flow,
            Self::Indicators => Dataset::Indicator,
        }
    }

    /// Plural noun for summaries.
    pub fn noun(self) -> (&'static str, &'static str) {
        match self {
            Self::Candles => ("candle", "candles"),
            Self::Sentiment => ("reading", "readings"),
            Self::Flows => ("flow", "flows"),
            Self::Indicators => ("indicator value", "indicator values"),
        }
    }
}

/// Which records: a time span and keys.
#[derive(Debug, Args)]
pub struct Selection {
    /// Only records at or after this time: RFC 3339, a date, or epoch seconds/ms
    /// [default: everything].
    #[arg(long, value_parser = crate::parse::time_arg)]
    pub since: Option<DateTime<Utc>>,
    /// Only records before this time.
    #[arg(long, value_parser = crate::parse::time_arg)]
    pub until: Option<DateTime<Utc>>,
    /// Only these symbols (candles, indicators) or assets (sentiment, flows), comma
    /// separated.
    #[arg(long, value_delimiter = ',', value_name = "KEYS")]
    pub symbols: Vec<String>,
    /// Records per page read (and per write, for `copy`), 1 to 100000.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_size: u32,
}

impl Selection {
    /// The first page's query for `dataset`.
    ///
    /// # Errors
    /// An empty or inverted span (exit code 3).
    pub fn query(&self, dataset: Dataset) -> CliResult<ScanQuery> {
        let range = TimeRange::new(
            self.since.unwrap_or(MIN_TIME),
            self.until.unwrap_or_else(max_time),
        )?;
        let limit = usize::try_from(self.batch_size).unwrap_or(10_000);
        Ok(ScanQuery::new(dataset, range, limit).with_keys(self.symbols.clone()))
    }
}

/// A progress bar of the records `query` selects on a terminal (counted first, which only
/// a terminal's bar needs); nothing elsewhere.
///
/// # Errors
/// The count's database errors.
pub async fn progress(
    store: &dyn TimeSeriesStore,
    query: Option<&ScanQuery>,
    unit: &str,
    what: &str,
) -> CliResult<Progress> {
    let total = match query {
        Some(q) if std::io::stderr().is_terminal() => Some(store.count(q).await?),
        _ => None,
    };
    Ok(Progress::new(total.or(Some(0)), unit, what))
}

/// The CSV header of `dataset` (the layout its import reads).
pub fn headers(dataset: Dataset) -> &'static [&'static str] {
    match dataset {
        Dataset::Price => &[
            "time", "symbol", "interval", "open", "high", "low", "close", "volume",
        ],
        Dataset::Sentiment => &READING_HEADERS,
        Dataset::Flow => &FLOW_HEADERS,
        Dataset::Indicator => &["time", "symbol", "interval", "name", "value"],
    }
}

/// `records` as CSV rows of [`headers`].
pub fn rows(records: &Records) -> Vec<Vec<String>> {
    match records {
        Records::Candles(v) => v
            .iter()
            .map(|c| {
                vec![
                    format_time(c.time),
                    c.symbol.clone(),
                    c.interval.to_string(),
                    c.open.to_string(),
                    c.high.to_string(),
                    c.low.to_string(),
                    c.close.to_string(),
                    c.volume.to_string(),
                ]
            })
            .collect(),
        Records::Sentiment(v) => v.iter().map(reading_row).collect(),
        Records::Flows(v) => v.iter().map(flow_row).collect(),
        Records::Indicators(v) => v
            .iter()
            .map(|i| {
                vec![
                    format_time(i.time),
                    i.symbol.clone(),
                    i.interval.to_string(),
                    i.name.clone(),
                    i.value.to_string(),
                ]
            })
            .collect(),
    }
}

/// Writes `records` into `store`, in batches it accepts.
///
/// # Errors
/// The store's write errors.
pub async fn store_all(store: &dyn TimeSeriesStore, records: &Records) -> CliResult {
    let max = store.capabilities().max_batch_size.max(1);
    match records {
        Records::Candles(v) => {
            for chunk in v.chunks(max) {
                store.store_candles(chunk).await?;
            }
        }
        Records::Sentiment(v) => {
            for chunk in v.chunks(max) {
                store.store_sentiments(chunk).await?;
            }
        }
        Records::Flows(v) => {
            for chunk in v.chunks(max) {
                store.store_flows(chunk).await?;
            }
        }
        Records::Indicators(v) => {
            for chunk in v.chunks(max) {
                store.store_indicators(chunk).await?;
            }
        }
    }
    Ok(())
}
