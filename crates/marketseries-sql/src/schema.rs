//! The relations every PostgreSQL-family backend creates, by name.
//!
//! Both schemas (`migrations/postgres`, `migrations/timescaledb`) name their relations alike,
//! so shared reads and writes are written once. Whether an aggregate is a table kept by the
//! writer, a table refreshed from pending spans behind a real-time view, or a continuous
//! aggregate is the flavor's business; its *name* is decided here, and identifiers are only
//! ever derived from these constants and parsed [`Interval`]s, never from user text.

use marketseries_core::{AggregateBucket, Dataset, Interval, OHLCV_AGGREGATE_WIDTHS};

/// Name of the raw table holding `dataset`.
pub fn raw_table(dataset: Dataset) -> &'static str {
    marketseries_core::maintenance::table_name(dataset)
}

/// Every raw table, in [`Dataset::ALL`] order.
pub fn raw_tables() -> impl Iterator<Item = &'static str> {
    Dataset::ALL.into_iter().map(raw_table)
}

/// Name of the real-time OHLCV aggregate of width `width` (`ohlcv_1h`): what readers query.
pub fn ohlcv_aggregate(width: Interval) -> String {
    format!("ohlcv_{}", width.identifier())
}

/// Name of the relation holding only what is materialized of the OHLCV aggregate of width
/// `width` (`ohlcv_1h_materialized`), read by materialized-only routes: plain PostgreSQL's
/// rollup table, or a view over a continuous aggregate's materialization hypertable.
pub fn ohlcv_materialized(width: Interval) -> String {
    format!("{}_materialized", ohlcv_aggregate(width))
}

/// The OHLCV aggregate widths both backends materialize, finest first (the core's one list).
pub const OHLCV_WIDTHS: [Interval; 5] = OHLCV_AGGREGATE_WIDTHS;

/// The two sentiment and flow bucket widths.
pub const BUCKETS: [AggregateBucket; 2] = [AggregateBucket::Hour, AggregateBucket::Day];

/// Name of the sentiment aggregate of `bucket` (`sentiment_1h`, `sentiment_1d`).
pub fn sentiment_aggregate(bucket: AggregateBucket) -> String {
    format!("sentiment_{}", bucket.interval().identifier())
}

/// Name of the flow aggregate of `bucket` (`flows_1h`, `flows_1d`).
pub fn flow_aggregate(bucket: AggregateBucket) -> String {
    format!("flows_{}", bucket.interval().identifier())
}

/// `date_bin` stride text for an interval (`3600 seconds`); the origin is bound separately.
pub fn stride(interval: Interval) -> String {
    format!("{} seconds", interval.seconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_derive_from_intervals() {
        assert_eq!(ohlcv_aggregate(Interval::H1), "ohlcv_1h");
        assert_eq!(ohlcv_materialized(Interval::M5), "ohlcv_5m_materialized");
        assert_eq!(sentiment_aggregate(AggregateBucket::Day), "sentiment_1d");
        assert_eq!(flow_aggregate(AggregateBucket::Hour), "flows_1h");
        assert_eq!(stride(Interval::M15), "900 seconds");
    }
}
