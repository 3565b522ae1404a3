-- marketseries, plain PostgreSQL: real-time views whose plan does not grow with partitions.
--
-- The views of `00000000000002_rollups` joined each merged pending span to `candles`
-- laterally. The span's bounds are only known when the query runs, so the planner planned
-- and costed that join over every partition of `candles`: on a year of daily partitions a
-- query of `ohlcv_1h` with nothing pending planned for 2.7 s and, its estimated cost far
-- above `jit_above_cost`, spent a minute or more in JIT compilation, against 1 ms for
-- `ohlcv_1h_materialized`. Here the raw candles of a pending span are aggregated by a
-- function called once per merged span: the view's own plan holds no partition, and the
-- function plans its range scan with the span's bounds as constants, so that only the
-- partitions of the span are planned (custom plans, no JIT: its settings below). With
-- nothing pending the function is never called. Answers are unchanged. A filter on
-- `time` still reaches the pending branch only after the aggregation: the store's own
-- reads cut pending spans to their window instead
-- (`marketseries_postgres::statements::real_time_ohlcv`).

-- OHLCV buckets of width `width_seconds` (epoch-aligned) of the candles of series
-- (`sym`, `native`) with time in `[lo, hi)`.
CREATE FUNCTION marketseries_pending_ohlcv(width_seconds bigint, sym text, native text,
                                           lo timestamptz, hi timestamptz)
RETURNS TABLE ("time" timestamptz, open numeric, high numeric, low numeric, close numeric,
               volume numeric)
LANGUAGE plpgsql STABLE ROWS 100
SET plan_cache_mode = force_custom_plan
SET jit = off
AS $fn$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT date_bin(make_interval(secs => width_seconds), c.time,
                    timestamptz '1970-01-01 00:00:00+00'),
           (array_agg(c.open ORDER BY c.time))[1], max(c.high), min(c.low),
           (array_agg(c.close ORDER BY c.time DESC))[1], sum(c.volume)
    FROM candles c
    WHERE c.symbol = sym AND c.interval = native AND c.time >= lo AND c.time < hi
    GROUP BY 1;
END
$fn$;

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
            SELECT p.symbol, p.interval, f.time, f.open, f.high, f.low, f.close, f.volume
            FROM (
                SELECT symbol, interval,
                       unnest(range_agg(tstzrange(
                           date_bin(interval '%3$s seconds', lo, timestamptz '1970-01-01 00:00:00+00'),
                           date_bin(interval '%3$s seconds', hi, timestamptz '1970-01-01 00:00:00+00')
                               + interval '%3$s seconds'))) AS span
                FROM ohlcv_pending
                WHERE %3$s %% marketseries_interval_seconds(interval) = 0
                GROUP BY symbol, interval) p
            CROSS JOIN LATERAL marketseries_pending_ohlcv(%3$s, p.symbol, p.interval,
                                                          lower(p.span), upper(p.span)) f
        $view$, 'ohlcv_' || w.name, 'ohlcv_' || w.name || '_materialized', w.seconds);
    END LOOP;
END
$$;
