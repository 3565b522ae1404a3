//! [`TimeSeriesStore::scan`](crate::TimeSeriesStore::scan) and `count` of the reference
//! store: every matching record collected, then paged as the SQL stores page.

use crate::candle::Candle;
use crate::indicator::IndicatorValue;
use crate::maintenance::Dataset;
use crate::scan::{Records, ScanPage, ScanQuery};

use super::State;

impl State {
    /// Every record `query` selects, in scan order.
    fn matching(&self, query: &ScanQuery) -> Records {
        let range = query.range;
        let wanted = |key: &str| query.keys.is_empty() || query.keys.iter().any(|k| k == key);
        let mut records = match query.dataset {
            Dataset::Price => Records::Candles(
                self.candles
                    .iter()
                    .filter(|(symbol, _)| wanted(symbol))
                    .flat_map(|(symbol, by_interval)| {
                        by_interval.iter().flat_map(move |(interval, raw)| {
                            raw.range(range.from()..range.to())
                                .map(move |(time, b)| Candle {
                                    symbol: symbol.clone(),
                                    interval: *interval,
                                    time: *time,
                                    open: b.open,
                                    high: b.high,
                                    low: b.low,
                                    close: b.close,
                                    volume: b.volume,
                                })
                        })
                    })
                    .collect(),
            ),
            Dataset::Sentiment => Records::Sentiment(
                self.sentiment
                    .values()
                    .filter(|r| wanted(&r.asset) && range.contains(r.time))
                    .cloned()
                    .collect(),
            ),
            Dataset::Flow => Records::Flows(
                self.flows
                    .values()
                    .filter(|f| wanted(&f.asset) && range.contains(f.time))
                    .cloned()
                    .collect(),
            ),
            Dataset::Indicator => Records::Indicators(
                self.indicators
                    .iter()
                    .filter(|(symbol, _)| wanted(symbol))
                    .flat_map(|(symbol, by_series)| {
                        by_series.iter().flat_map(move |(series, values)| {
                            values
                                .range(range.from()..range.to())
                                .map(move |(time, value)| IndicatorValue {
                                    symbol: symbol.clone(),
                                    interval: series.interval,
                                    name: series.name.clone(),
                                    time: *time,
                                    value: *value,
                                })
                        })
                    })
                    .collect(),
            ),
        };
        records.sort();
        records
    }

    /// One page of `query`.
    pub(super) fn scan(&self, query: &ScanQuery) -> ScanPage {
        let mut all = self.matching(query);
        let head = query.limit.saturating_add(1);
        all.truncate(head);
        match ScanPage::cut(all, query.limit) {
            Ok(page) => page,
            Err(instant) => {
                let mut at = self.matching(query);
                at.retain_time(instant);
                ScanPage::instant(at, instant, query.range.to())
            }
        }
    }

    /// How many records `query` selects.
    pub(super) fn count(&self, query: &ScanQuery) -> u64 {
        u64::try_from(self.matching(query).len()).unwrap_or(u64::MAX)
    }
}
