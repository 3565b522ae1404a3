-- marketseries, plain PostgreSQL: the rollups.
--
-- OHLCV (5m, 15m, 1h, 4h, 1d): deferred, with real-time reads (docs/architecture.md). A
-- candle write records the span of raw times it touched per series in `ohlcv_pending`; a
-- refresh (`TimeSeriesStore::refresh`, `Freshness::Refreshed` reads, `marketseries
-- maintain`, or the background refresher that `apply_policies` starts) rebuilds the buckets
-- of `ohlcv_<w>_materialized` those spans cover and deletes the spans it consumed. Readers
-- query the view `ohlcv_<w>`: the materialized buckets no pending span touches, plus the
-- touched buckets aggregated from raw candles on the fly, so answers are never stale.
-- Rows keep their native interval, so natives never mix; each rollup holds every native
-- that divides its width. (TimescaleDB has the same two names: `ohlcv_<w>` real time,
-- `ohlcv_<w>_materialized` without the tail.)

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

DO $$
DECLARE
    w record;
BEGIN
    FOR w IN SELECT * FROM (VALUES ('5m', 300), ('15m', 900), ('1h', 3600), ('4h', 14400),
                                   ('1d', 86400)) AS t(name, seconds)
    LOOP
        EXECUTE format($table$
            CREATE TABLE %1$I (
                symbol   text        NOT NULL,
                interval text        NOT NULL,
                time     timestamptz NOT NULL,
                open     numeric     NOT NULL,
                high     numeric     NOT NULL,
                low      numeric     NOT NULL,
                close    numeric     NOT NULL,
                volume   numeric     NOT NULL,
                PRIMARY KEY (symbol, interval, time))
        $table$, 'ohlcv_' || w.name || '_materialized');
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

-- Hourly and daily sentiment and flow rollups, kept by every write in its transaction
-- (affected buckets recomputed from raw rows).

CREATE TABLE sentiment_1h (
    asset      text        NOT NULL,
    time       timestamptz NOT NULL,
    score_sum  float8      NOT NULL,
    readings   bigint      NOT NULL,
    min_score  float8      NOT NULL,
    max_score  float8      NOT NULL,
    mentions   bigint      NOT NULL,
    engagement float8      NOT NULL,
    PRIMARY KEY (asset, time)
);

CREATE TABLE flows_1h (
    asset        text        NOT NULL,
    time         timestamptz NOT NULL,
    flow_type    text        NOT NULL,
    amount       numeric     NOT NULL,
    usd_value    numeric     NOT NULL,
    transactions bigint      NOT NULL,
    PRIMARY KEY (asset, time, flow_type)
);

CREATE TABLE sentiment_1d (
    asset      text        NOT NULL,
    time       timestamptz NOT NULL,
    score_sum  float8      NOT NULL,
    readings   bigint      NOT NULL,
    min_score  float8      NOT NULL,
    max_score  float8      NOT NULL,
    mentions   bigint      NOT NULL,
    engagement float8      NOT NULL,
    PRIMARY KEY (asset, time)
);

CREATE TABLE flows_1d (
    asset        text        NOT NULL,
    time         timestamptz NOT NULL,
    flow_type    text        NOT NULL,
    amount       numeric     NOT NULL,
    usd_value    numeric     NOT NULL,
    transactions bigint      NOT NULL,
    PRIMARY KEY (asset, time, flow_type)
);
