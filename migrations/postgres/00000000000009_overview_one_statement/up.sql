-- market_overview_at as one statement (issue 13: 2.62x the Rust API at 100 symbols). The
-- version of 00000000000007_sql_api called marketseries_change_percent once per symbol, a
-- PL/pgSQL function whose two statements were planned afresh on every call: 200 plans for
-- 100 symbols. Here the window's lower bound is computed once into a variable (timestamptz
-- minus interval is only stable, so in the statement it would keep every partition in the
-- plan) and the first and last candle of each series are two index probes of one plan.
-- Same answers: round((last close - first open) / first open * 100, 8), NULL without
-- candles in the window.
CREATE OR REPLACE FUNCTION market_overview_at(p_at timestamptz)
RETURNS TABLE (symbol text, "interval" text, "time" timestamptz, price numeric,
               change_percent_24h numeric)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan SET jit = off AS $fn$
#variable_conflict use_column
DECLARE
    lo timestamptz := p_at - INTERVAL '24 hours';
BEGIN
    RETURN QUERY
    SELECT b.symbol, b.interval, b.latest_time, b.latest_close,
           round((l.close - f.open) / f.open * 100, 8)
    FROM (SELECT DISTINCT ON (s.symbol) s.symbol, s.interval, s.latest_time, s.latest_close
          FROM candle_series s
          ORDER BY s.symbol, marketseries_interval_seconds(s.interval),
                   right(s.interval, 1) = 'w', s.interval) b
    LEFT JOIN LATERAL (
        SELECT c.open FROM candles c
        WHERE c.symbol = b.symbol AND c.interval = b.interval AND c.time >= lo AND c.time < p_at
        ORDER BY c.time LIMIT 1) f ON true
    LEFT JOIN LATERAL (
        SELECT c.close FROM candles c
        WHERE c.symbol = b.symbol AND c.interval = b.interval AND c.time >= lo AND c.time < p_at
        ORDER BY c.time DESC LIMIT 1) l ON true
    ORDER BY b.symbol COLLATE "C";
END
$fn$;
