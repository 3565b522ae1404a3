-- The version of 00000000000007_sql_api.
CREATE OR REPLACE FUNCTION market_overview_at(p_at timestamptz)
RETURNS TABLE (symbol text, "interval" text, "time" timestamptz, price numeric,
               change_percent_24h numeric)
LANGUAGE sql STABLE AS $$
    SELECT b.symbol, b.interval, b.latest_time, b.latest_close,
           marketseries_change_percent(b.symbol, b.interval, INTERVAL '24 hours', p_at)
    FROM (SELECT DISTINCT ON (s.symbol) s.symbol, s.interval, s.latest_time, s.latest_close
          FROM candle_series s
          ORDER BY s.symbol, marketseries_interval_seconds(s.interval),
                   right(s.interval, 1) = 'w', s.interval) b
    ORDER BY b.symbol COLLATE "C"
$$;
