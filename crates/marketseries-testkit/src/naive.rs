//! The simplest possible OHLCV aggregation, independent of the core's aggregation code; the
//! conformance suite checks both the reference store and backends against it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use marketseries_core::{Bar, Candle, Interval, OhlcvQuery};

/// Bars for `query` computed from `candles` (later duplicates of a key win), or `None` when
/// the symbol has candles but none of its native intervals divides the request.
pub fn naive_ohlcv(candles: &[Candle], query: &OhlcvQuery) -> Option<Vec<Bar>> {
    let mut latest: BTreeMap<(Interval, DateTime<Utc>), &Candle> = BTreeMap::new();
    for c in candles.iter().filter(|c| c.symbol == query.symbol) {
        latest.insert((c.interval, c.time), c);
    }
    if latest.is_empty() {
        return Some(Vec::new());
    }
    let native = latest
        .keys()
        .map(|(n, _)| *n)
        .filter(|n| n.divides(query.interval))
        .min()?;
    let lo = query.interval.floor(query.range.from());
    let mut buckets: BTreeMap<DateTime<Utc>, Vec<&Candle>> = BTreeMap::new();
    for ((n, t), c) in &latest {
        let b = query.interval.floor(*t);
        if *n == native && lo <= b && b < query.range.to() {
            buckets.entry(b).or_default().push(c);
        }
    }
    Some(
        buckets
            .into_iter()
            .filter_map(|(time, cs)| {
                let first = cs.first()?;
                let last = cs.last()?;
                Some(Bar {
                    time,
                    open: first.open,
                    high: cs.iter().map(|c| c.high).max()?,
                    low: cs.iter().map(|c| c.low).min()?,
                    close: last.close,
                    volume: cs.iter().map(|c| c.volume).sum(),
                })
            })
            .collect(),
    )
}
