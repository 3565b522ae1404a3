//! The continuous aggregates `migrations/timescaledb` creates, in dependency order.

use marketseries_core::{AggregateCapability, Dataset, Interval};

/// One continuous aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aggregate {
    /// View name (a constant: identifiers never come from user text).
    pub name: &'static str,
    /// The raw dataset it summarises.
    pub dataset: Dataset,
    /// Bucket width.
    pub width: Interval,
}

const fn agg(name: &'static str, dataset: Dataset, width: Interval) -> Aggregate {
    Aggregate {
        name,
        dataset,
        width,
    }
}

/// How many raw partitions wide an aggregate's materialization chunks are (30 days at the
/// default daily width). Chunks as wide as the raw ones held ten rows of `ohlcv_1d` each: a
/// read of a month or a year started up and excluded one chunk per day of data (4.9 ms
/// against 0.75 ms for 1h over 30 days at 360 days of ten symbols, native 2.28.3), and a
/// refresh after a bulk load created five chunks per day. Retention then drops the whole
/// aggregate chunks past the horizon and deletes the rows of the one that straddles it
/// (migration `00000000000013_aggregate_chunks_trimmed`), so aggregates still end where the
/// raw rows do.
pub(crate) const AGGREGATE_CHUNK_PARTITIONS: i32 = 30;

/// Every aggregate, each after the one it is built from, so refreshing in this order
/// brings a hierarchy up to date in one pass.
pub const AGGREGATES: [Aggregate; 10] = [
    agg("ohlcv_5m", Dataset::Price, Interval::M5),
    agg("ohlcv_15m", Dataset::Price, Interval::M15),
    agg("ohlcv_1h", Dataset::Price, Interval::H1),
    agg("ohlcv_4h", Dataset::Price, Interval::H4),
    agg("ohlcv_1d", Dataset::Price, Interval::D1),
    agg("sentiment_1h", Dataset::Sentiment, Interval::H1),
    agg("sentiment_1d", Dataset::Sentiment, Interval::D1),
    agg("flows_1h", Dataset::Flow, Interval::H1),
    agg("flows_1d", Dataset::Flow, Interval::D1),
    agg("net_flows_1h", Dataset::Flow, Interval::H1),
];

/// The OHLCV aggregates as router capabilities. None filters native intervals, so each
/// holds every native interval whose width divides its own, grouped by native interval:
/// exactly what a flat aggregate of that width holds.
pub(crate) fn ohlcv_capabilities() -> Vec<AggregateCapability> {
    AGGREGATES
        .iter()
        .filter(|a| a.dataset == Dataset::Price)
        .map(|a| AggregateCapability::flat(a.width))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_ohlcv_aggregate_is_built_from_one_that_divides_it() {
        let ohlcv: Vec<_> = AGGREGATES
            .iter()
            .filter(|a| a.dataset == Dataset::Price)
            .collect();
        for pair in ohlcv.windows(2) {
            assert!(pair[0].width.divides(pair[1].width), "{pair:?}");
        }
        for a in AGGREGATES {
            assert!(a.name.ends_with(&a.width.identifier()), "{a:?}");
        }
    }
}
