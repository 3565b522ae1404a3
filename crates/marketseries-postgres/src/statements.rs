//! SQL text only plain PostgreSQL runs: pending rollup spans and the read statements that
//! consult them (its [`Flavor::reads`](marketseries_sql::Flavor::reads)). Built from the
//! shared pieces of [`marketseries_sql::statements`]; public so that benchmarks can issue
//! exactly what the store issues and operators can `EXPLAIN` it.

use marketseries_sql::statements::{
    market_overview_with, price_change_with, series_with, ReadStatements, Window,
};

/// The read statements of plain PostgreSQL: a series' materialization is complete when no
/// rollup span of it is pending, and the high and low of the whole hours of a window come
/// from the `ohlcv_1h` rollup ([`rollup_high_low`]).
pub static READS: ReadStatements = ReadStatements::new(
    || {
        series_with(
            "NOT EXISTS (SELECT 1 FROM ohlcv_pending p \
             WHERE p.symbol = s.symbol AND p.interval = s.interval)",
        )
    },
    || price_change_with(rollup_high_low),
    || market_overview_with(rollup_high_low),
);

/// High and low of a window: the whole hours from `ohlcv_1h_materialized`, the partial
/// hours at either end from raw candles, so a 24-hour window reads about 23 rollup rows
/// and at most two hours of candles instead of 1,440 one-minute candles. Only when the
/// series' native divides an hour and no pending span touches those hours (the rollup is
/// then exact for them); otherwise a range scan of the raw candles. Every branch but one
/// is switched off by a filter on the outer row, so only the chosen range scans run.
pub fn rollup_high_low(w: &Window<'_>) -> String {
    let Window {
        symbol,
        series,
        candles,
    } = *w;
    format!(
        "SELECT max(x.high) AS high, min(x.low) AS low \
         FROM (SELECT date_bin('1 hour', w.lo - interval '1 microsecond', \
                        timestamptz 'epoch') + interval '1 hour' AS lo, \
                      date_bin('1 hour', w.hi, timestamptz 'epoch') AS hi) m \
         CROSS JOIN LATERAL (SELECT 3600 % marketseries_interval_seconds(b.interval) = 0 \
           AND m.lo < m.hi AND NOT EXISTS (SELECT 1 FROM ohlcv_pending p \
             WHERE p.symbol = {symbol} AND p.interval = b.interval \
               AND p.lo < m.hi AND p.hi >= m.lo) AS ok) u \
         CROSS JOIN LATERAL ( \
           SELECT c.high, c.low {candles} AND NOT u.ok \
           UNION ALL SELECT c.high, c.low FROM candles c WHERE u.ok AND {series} \
             AND c.time >= w.lo AND c.time < m.lo \
           UNION ALL SELECT c.high, c.low FROM candles c WHERE u.ok AND {series} \
             AND c.time >= m.hi AND c.time < w.hi \
           UNION ALL SELECT c.high, c.low FROM ohlcv_1h_materialized c \
             WHERE u.ok AND {series} AND c.time >= m.lo AND c.time < m.hi) x"
    )
}

/// Records pending OHLCV rollup spans: `$1` symbols, `$2` native intervals, `$3` first and
/// `$4` last raw time of each span (parallel arrays).
pub fn record_pending() -> &'static str {
    "INSERT INTO ohlcv_pending (symbol, interval, lo, hi) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])"
}
