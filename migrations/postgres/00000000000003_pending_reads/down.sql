-- Back to the views of 00000000000002_rollups, then without the function.
DO $$
DECLARE
    w record;
BEGIN
    FOR w IN SELECT * FROM (VALUES ('5m', 300), ('15m', 900), ('1h', 3600), ('4h', 14400),
                                   ('1d', 86400)) AS t(name, seconds)
    LOOP
        EXECUTE format($view$
            CREATE OR REPLACE VIEW %1$I AS
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

DROP FUNCTION marketseries_pending_ohlcv(bigint, text, text, timestamptz, timestamptz);
