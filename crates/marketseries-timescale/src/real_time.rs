//! What a real-time OHLCV read selects from on TimescaleDB ([`real_time_ohlcv`], the
//! flavor's [`Flavor::real_time_ohlcv`](marketseries_sql::Flavor::real_time_ohlcv), through
//! which benchmarks issue exactly what the store issues and operators can print it to
//! `EXPLAIN` it).
//!
//! The continuous aggregates are hierarchical (`ohlcv_15m` is built on `ohlcv_5m`, `ohlcv_1h`
//! on `ohlcv_15m`, ...), and the real-time part of each re-aggregates the real-time view of
//! the level below. Where nothing is materialized, a read of `ohlcv_1h` therefore aggregated
//! raw candles to 5 minutes, those to 15 minutes, those to an hour, each level a view whose
//! window the planner cannot bound: 179 ms for 1h x 30 days of 1m candles on native 2.28,
//! against 56 ms for raw aggregation of the window (issue 11). This reads what the view
//! reads from its materialization (buckets below the aggregate's watermark) and aggregates
//! the rest from raw candles directly, bounded by the window.

use marketseries_core::Interval;
use marketseries_sql::schema;

/// Name of the one-row view `ohlcv_<w>_watermark (watermark)` (migration
/// `00000000000007_real_time_reads`): the watermark of the continuous aggregate `ohlcv_<w>`,
/// as its own real-time view computes it (`-infinity` before any refresh); `infinity` on the
/// Apache edition, where `ohlcv_<w>_materialized` is a plain view over every raw candle.
pub(crate) fn ohlcv_watermark(width: Interval) -> String {
    format!("{}_watermark", schema::ohlcv_aggregate(width))
}

/// The rows of the real-time OHLCV aggregate of `width` for one series and window, as a
/// parenthesised subquery `rt` with the aggregate's columns, given the placeholders
/// `[symbol, native, lo, hi]` (`lo` and `hi` bucket starts aligned to `width`).
///
/// The union of the materialized buckets below the aggregate's watermark and a direct
/// aggregation of the raw candles at or after it: what the aggregate's own real-time view
/// answers, but with the raw part read from `candles` in one range scan of the window
/// instead of through the real-time views of the finer aggregates. It groups exactly as
/// the aggregates do (`time_bucket` with its default origin, `first`/`last` by time, exact
/// `numeric` sums); a bucket at or after the watermark is aggregated from the candles, so a
/// finer aggregate's stale materialization never reaches it (the view would take it from
/// there), while buckets below the watermark stay as materialized until the next refresh,
/// as with the view.
///
/// How it stays cheap at both ends:
/// - the watermark comes from the view [`ohlcv_watermark`], whose text holds the
///   materialization hypertable's id as a literal: TimescaleDB then replaces
///   `cagg_watermark()` by its value when planning (as it does for its own views) and
///   invalidates cached plans when the watermark moves, so after a refresh the raw part is
///   excluded when planning, chunks and all (a subquery looking the id up in the catalog
///   left it to run time: every raw chunk, compressed ones included, was in every generic
///   plan and started up by every read, 5 ms against 1.2 ms);
/// - the raw scan sits under `OFFSET 0`, so that it is one `ChunkAppend` whose chunks
///   outside the window are excluded when the executor starts (per-chunk partial
///   aggregation, TimescaleDB's plan for a grouped hypertable scan, keeps every chunk);
/// - both branches are bounded by the window parameters directly, not only through the
///   embedding statement's filter on the bucket.
pub(crate) fn real_time_ohlcv(width: Interval, [symbol, native, lo, hi]: [&str; 4]) -> String {
    let materialized = schema::ohlcv_materialized(width);
    let watermark = ohlcv_watermark(width);
    let step = format!("interval '{} seconds'", width.seconds());
    let series = |t: &str| {
        format!(
            "{t}.symbol = {symbol}::text AND {t}.interval = {native}::text \
             AND {t}.time >= {lo}::timestamptz AND {t}.time < {hi}::timestamptz"
        )
    };
    format!(
        "(SELECT m.symbol, m.interval, m.time, m.open, m.high, m.low, m.close, m.volume \
         FROM {materialized} m, {watermark} w WHERE {m} AND m.time < w.watermark \
         UNION ALL \
         SELECT {symbol}::text, {native}::text, time_bucket({step}, c.time), \
                first(c.open, c.time), max(c.high), min(c.low), last(c.close, c.time), \
                sum(c.volume) \
         FROM (SELECT c.time, c.open, c.high, c.low, c.close, c.volume \
               FROM candles c, {watermark} w WHERE {c} AND c.time >= w.watermark \
               OFFSET 0) c \
         GROUP BY 3) AS rt",
        m = series("m"),
        c = series("c"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subquery_names_the_aggregate_its_watermark_and_the_window() {
        let sql = real_time_ohlcv(Interval::H1, ["$1", "$2", "$3", "$4"]);
        assert!(sql.starts_with('(') && sql.ends_with(") AS rt"), "{sql}");
        for part in [
            "FROM ohlcv_1h_materialized m, ohlcv_1h_watermark w",
            "FROM candles c, ohlcv_1h_watermark w",
            "time_bucket(interval '3600 seconds', c.time)",
            "c.time >= $3::timestamptz AND c.time < $4::timestamptz",
        ] {
            assert!(sql.contains(part), "{part} not in {sql}");
        }
        assert_eq!(ohlcv_watermark(Interval::D1), "ohlcv_1d_watermark");
    }
}
