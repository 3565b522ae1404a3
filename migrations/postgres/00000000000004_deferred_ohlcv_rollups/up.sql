-- OHLCV rollups leave the write path (docs/architecture.md, "Rollup refresh"). A candle
-- write now records the time span it touched per series in `ohlcv_pending`; a refresh
-- (`TimeSeriesStore::refresh`, `Freshness::Refreshed` reads, `marketseries maintain`, or
-- the background refresher that `apply_policies` starts) rebuilds the rollup buckets those
-- spans cover and deletes the spans it consumed.
--
-- The tables are renamed `ohlcv_<w>_materialized`, and `ohlcv_<w>` becomes a real-time view
-- over them: materialized buckets no pending span touches, plus the touched buckets
-- aggregated from raw candles on the fly. Reads are therefore never stale, late and
-- corrected data included, whether or not a refresh has run. (TimescaleDB's backend has
-- the same two names: `ohlcv_<w>` real time, `ohlcv_<w>_materialized` without the tail.)

ALTER TABLE ohlcv_5m RENAME TO ohlcv_5m_materialized;
ALTER TABLE ohlcv_15m RENAME TO ohlcv_15m_materialized;
ALTER TABLE ohlcv_1h RENAME TO ohlcv_1h_materialized;
ALTER TABLE ohlcv_4h RENAME TO ohlcv_4h_materialized;
ALTER TABLE ohlcv_1d RENAME TO ohlcv_1d_materialized;

-- Raw candle times `[lo, hi]` (both inclusive) of one series written since the last refresh
-- that consumed them. Spans may overlap; readers and the refresh merge them.
CREATE TABLE ohlcv_pending (
    symbol   text        NOT NULL,
    interval text        NOT NULL,
    lo       timestamptz NOT NULL,
    hi       timestamptz NOT NULL,
    CHECK (lo <= hi)
);
CREATE INDEX ohlcv_pending_series ON ohlcv_pending (symbol, interval, lo);

-- Width in seconds of a canonical interval text (`15m`, `4h`, `1w`).
CREATE FUNCTION marketseries_interval_seconds(text) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT left($1, -1)::bigint * CASE right($1, 1)
        WHEN 's' THEN 1 WHEN 'm' THEN 60 WHEN 'h' THEN 3600 WHEN 'd' THEN 86400
        ELSE 604800 END
$$;

DO $$
DECLARE
    w record;
BEGIN
    FOR w IN SELECT * FROM (VALUES ('5m', 300), ('15m', 900), ('1h', 3600), ('4h', 14400),
                                   ('1d', 86400)) AS t(name, seconds)
    LOOP
        EXECUTE format($view$
            CREATE VIEW %1$I AS
            SELECT r.symbol, r.interval, r.time, r.open, r.high, r.low, r.close, r.volume
            FROM %2$I r
            WHERE NOT EXISTS (
                SELECT 1 FROM ohlcv_pending p
                WHERE p.symbol = r.symbol AND p.interval = r.interval
                  AND p.hi >= r.time AND p.lo < r.time + interval '%3$s seconds')
            UNION ALL
            SELECT p.symbol, p.interval,
                   date_bin(interval '%3$s seconds', c.time, timestamptz '1970-01-01 00:00:00+00'),
                   (array_agg(c.open ORDER BY c.time))[1], max(c.high), min(c.low),
                   (array_agg(c.close ORDER BY c.time DESC))[1], sum(c.volume)
            FROM (
                SELECT symbol, interval,
                       unnest(range_agg(tstzrange(
                           date_bin(interval '%3$s seconds', lo, timestamptz '1970-01-01 00:00:00+00'),
                           date_bin(interval '%3$s seconds', hi, timestamptz '1970-01-01 00:00:00+00')
                               + interval '%3$s seconds'))) AS span
                FROM ohlcv_pending
                WHERE %3$s %% marketseries_interval_seconds(interval) = 0
                GROUP BY symbol, interval) p
            -- One index range scan per merged span, never a scan of the whole series: the
            -- OFFSET keeps the planner from flattening the lateral subquery and driving the
            -- join from `candles`.
            CROSS JOIN LATERAL (
                SELECT c.time, c.open, c.high, c.low, c.close, c.volume FROM candles c
                WHERE c.symbol = p.symbol AND c.interval = p.interval
                  AND c.time >= lower(p.span) AND c.time < upper(p.span)
                OFFSET 0) c
            GROUP BY p.symbol, p.interval, 3
        $view$, 'ohlcv_' || w.name, 'ohlcv_' || w.name || '_materialized', w.seconds);
    END LOOP;
END
$$;
