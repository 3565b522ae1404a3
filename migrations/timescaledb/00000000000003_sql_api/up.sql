-- The SQL face of the store: functions that give SQL users the answers the Rust API gives
-- (same base-interval, bucket and window rules), and the seed's views, which are those
-- functions at now(). Each `*_at` function takes "now" explicitly so it can be tested.

-- Grid origin (epoch; the first Monday for week units) of an interval in marketseries
-- text form; `marketseries_interval_seconds` is defined with the tables.
CREATE FUNCTION marketseries_interval_origin(iv text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN right(iv, 1) = 'w' THEN TIMESTAMPTZ '1970-01-05 00:00:00+00'
                ELSE TIMESTAMPTZ '1970-01-01 00:00:00+00' END
$$;

-- Whether every bucket of `outer_iv` is an exact union of buckets of `inner_iv`.
CREATE FUNCTION marketseries_divides(inner_iv text, outer_iv text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT marketseries_interval_seconds(outer_iv) % marketseries_interval_seconds(inner_iv) = 0
       AND extract(epoch FROM marketseries_interval_origin(outer_iv)
                              - marketseries_interval_origin(inner_iv))::bigint
           % marketseries_interval_seconds(inner_iv) = 0
$$;

-- The native intervals stored for a symbol, by a loose index scan over the primary key
-- (one index probe per distinct value; SELECT DISTINCT would read every row).
CREATE FUNCTION marketseries_natives(p_symbol text) RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE natives (interval) AS (
        (SELECT c.interval FROM candles c WHERE c.symbol = p_symbol ORDER BY c.interval LIMIT 1)
      UNION ALL
        SELECT n.interval FROM natives p CROSS JOIN LATERAL (
            SELECT c.interval FROM candles c
            WHERE c.symbol = p_symbol AND c.interval > p.interval
            ORDER BY c.interval LIMIT 1) n)
    SELECT interval FROM natives
$$;

-- Every symbol with candles, by a loose index scan likewise.
CREATE FUNCTION marketseries_symbols() RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE symbols (symbol) AS (
        (SELECT c.symbol FROM candles c ORDER BY c.symbol LIMIT 1)
      UNION ALL
        SELECT n.symbol FROM symbols s CROSS JOIN LATERAL (
            SELECT c.symbol FROM candles c WHERE c.symbol > s.symbol
            ORDER BY c.symbol LIMIT 1) n)
    SELECT symbol FROM symbols
$$;

-- The finest native interval stored for a symbol (its base interval).
CREATE FUNCTION marketseries_base_interval(p_symbol text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT n.interval FROM marketseries_natives(p_symbol) AS n (interval)
    ORDER BY marketseries_interval_seconds(interval), right(interval, 1) = 'w' LIMIT 1
$$;

-- OHLCV bars of `p_interval` ('1h', '2h', '1w', ...) for buckets starting in
-- [floor(p_from), p_to), like PriceStore::ohlcv: from the finest native interval dividing
-- the request, read from the coarsest continuous aggregate that holds it, else from raw.
CREATE FUNCTION get_ohlcv(p_symbol text, p_interval text, p_from timestamptz, p_to timestamptz)
RETURNS TABLE ("time" timestamptz, open numeric, high numeric, low numeric, close numeric,
               volume numeric)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    secs   bigint := marketseries_interval_seconds(p_interval);
    stride interval;
    origin timestamptz;
    native text;
    source text := 'candles';
BEGIN
    IF secs IS NULL OR secs > 366 * 86400 THEN
        RAISE EXCEPTION 'invalid interval %: expected a positive number and one of s, m, h, d, w',
            quote_literal(p_interval) USING ERRCODE = '22023';
    END IF;
    stride := make_interval(secs => secs);
    origin := marketseries_interval_origin(p_interval);
    SELECT n.interval INTO native
    FROM marketseries_natives(p_symbol) AS n (interval)
    WHERE marketseries_divides(n.interval, p_interval)
    ORDER BY marketseries_interval_seconds(n.interval) LIMIT 1;
    IF native IS NULL THEN
        IF EXISTS (SELECT 1 FROM candles c WHERE c.symbol = p_symbol) THEN
            RAISE EXCEPTION 'no stored interval of % divides %', p_symbol, p_interval
                USING ERRCODE = '22023';
        END IF;
        RETURN;
    END IF;
    SELECT a.name INTO source
    FROM (VALUES ('ohlcv_5m', '5m'), ('ohlcv_15m', '15m'), ('ohlcv_1h', '1h'),
                 ('ohlcv_4h', '4h'), ('ohlcv_1d', '1d')) AS a(name, iv)
    JOIN timescaledb_information.continuous_aggregates ca ON ca.view_name = a.name
    WHERE marketseries_divides(native, a.iv) AND marketseries_divides(a.iv, p_interval)
    ORDER BY marketseries_interval_seconds(a.iv) DESC LIMIT 1;
    source := coalesce(source, 'candles');
    RETURN QUERY EXECUTE format(
        'SELECT date_bin($1, t.time, $2) AS time, first(t.open, t.time), max(t.high), '
        'min(t.low), last(t.close, t.time), sum(t.volume) FROM %I t '
        'WHERE t.symbol = $3 AND t.interval = $4 AND t.time >= $5 AND t.time < $6 '
        'GROUP BY 1 ORDER BY 1', source)
    USING stride, origin, p_symbol, native, date_bin(stride, p_from, origin),
          date_bin(stride, p_to - INTERVAL '1 microsecond', origin) + stride;
END $$;

-- (last close - first open) / first open * 100, rounded to 8 places, over base-interval
-- candles in [p_at - p_window, p_at); NULL without candles.
CREATE FUNCTION price_change_percent(p_symbol text, p_window interval,
                                     p_at timestamptz DEFAULT now())
RETURNS numeric LANGUAGE sql STABLE AS $$
    SELECT round(((array_agg(close ORDER BY time DESC))[1] - (array_agg(open ORDER BY time))[1])
                 / (array_agg(open ORDER BY time))[1] * 100, 8)
    FROM candles
    WHERE symbol = p_symbol AND interval = marketseries_base_interval(p_symbol)
      AND time >= p_at - p_window AND time < p_at
$$;

-- Latest base-interval price and 24-hour change of every symbol, as PriceStore::market_overview.
CREATE FUNCTION market_overview_at(p_at timestamptz)
RETURNS TABLE (symbol text, "interval" text, "time" timestamptz, price numeric,
               change_percent_24h numeric)
LANGUAGE sql STABLE AS $$
    SELECT s.symbol, b.interval, l.time, l.close, price_change_percent(s.symbol, INTERVAL '24 hours', p_at)
    FROM marketseries_symbols() AS s (symbol)
    CROSS JOIN LATERAL (SELECT marketseries_base_interval(s.symbol) AS interval) b
    CROSS JOIN LATERAL (SELECT c.time, c.close FROM candles c
                        WHERE c.symbol = s.symbol AND c.interval = b.interval
                        ORDER BY c.time DESC LIMIT 1) l
    ORDER BY s.symbol COLLATE "C"
$$;

CREATE VIEW market_overview AS SELECT * FROM market_overview_at(now());

-- Per asset over [p_at - p_window, p_at), as SentimentStore::sentiment_summary.
CREATE FUNCTION sentiment_summary_at(p_window interval, p_at timestamptz)
RETURNS TABLE (asset text, avg_score float8, readings bigint, mentions bigint, bearish bigint,
               neutral bigint, bullish bigint, latest_time timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT s.asset, avg(s.score), count(*), sum(s.mention_volume)::bigint,
           count(*) FILTER (WHERE s.label = 'bearish'), count(*) FILTER (WHERE s.label = 'neutral'),
           count(*) FILTER (WHERE s.label = 'bullish'), max(s.time)
    FROM sentiment s WHERE s.time >= p_at - p_window AND s.time < p_at
    GROUP BY s.asset ORDER BY s.asset COLLATE "C"
$$;

CREATE VIEW sentiment_summary AS SELECT * FROM sentiment_summary_at(INTERVAL '24 hours', now());

-- Flows with amount >= p_min_amount in [p_from, p_to), optionally of one asset, newest first,
-- as FlowStore::whale_activity.
CREATE FUNCTION whale_activity_between(p_min_amount numeric, p_from timestamptz,
                                       p_to timestamptz, p_asset text DEFAULT NULL)
RETURNS SETOF flows LANGUAGE sql STABLE AS $$
    SELECT * FROM flows f
    WHERE (p_asset IS NULL OR f.asset = p_asset) AND f.time >= p_from AND f.time < p_to
      AND f.amount >= p_min_amount
    ORDER BY f.time DESC, f.asset COLLATE "C", f.source COLLATE "C", f.flow_type COLLATE "C",
             f.reference COLLATE "C"
$$;

-- The seed's whale view: whale transfers and large transactions of the last 24 hours.
CREATE VIEW whale_activity AS
    SELECT * FROM flows
    WHERE flow_type IN ('whale_transfer', 'large_transaction') AND time >= now() - INTERVAL '24 hours'
    ORDER BY time DESC;
