-- marketseries, TimescaleDB: the aggregates under the names the shared queries read, and
-- compression. With the TSL edition (`timescaledb.license = 'timescale'`) the aggregates are
-- hierarchical real-time continuous aggregates and the raw tables are compressible; with
-- the Apache edition they are plain views over the raw tables (correct, not materialized)
-- and compression is not configured.

-- Creates aggregate `name` from `query` (grouped by a time_bucket): a real-time continuous
-- aggregate on the TSL edition, a plain view on the Apache edition. Dropped below.
-- Each aggregate also gets a view `<name>_materialized` of what is materialized only (the
-- continuous aggregate's materialization hypertable, which has the same columns), read by
-- Freshness::MaterializedOnly; on the Apache edition it is the plain view again.
CREATE FUNCTION marketseries_aggregate(name text, query text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    mat record;
BEGIN
    IF current_setting('timescaledb.license', true) = 'timescale' THEN
        EXECUTE format('CREATE MATERIALIZED VIEW %I WITH (timescaledb.continuous, '
                       'timescaledb.materialized_only = false) AS %s WITH NO DATA', name, query);
        SELECT materialization_hypertable_schema AS s, materialization_hypertable_name AS t
        INTO STRICT mat
        FROM timescaledb_information.continuous_aggregates
        WHERE view_schema = current_schema() AND view_name = name;
        EXECUTE format('CREATE VIEW %I AS SELECT * FROM %I.%I',
                       name || '_materialized', mat.s, mat.t);
    ELSE
        EXECUTE format('CREATE VIEW %I AS %s', name, query);
        EXECUTE format('CREATE VIEW %I AS SELECT * FROM %I', name || '_materialized', name);
    END IF;
END $$;

-- OHLCV, hierarchical: each width is built from the next finer one (5m from raw). Grouped by
-- native interval so natives never mix. Every width here divides a day, so time_bucket's
-- default origin (2000-01-03) gives the same epoch-aligned grid as the Rust side.
SELECT marketseries_aggregate(name, format(
    'SELECT symbol, interval, time_bucket(INTERVAL %L, time) AS time, '
    'first(open, time) AS open, max(high) AS high, min(low) AS low, '
    'last(close, time) AS close, sum(volume) AS volume '
    'FROM %I GROUP BY symbol, interval, time_bucket(INTERVAL %L, time)', width, source, width))
FROM (VALUES (1, 'ohlcv_5m', '5 minutes', 'candles'),
             (2, 'ohlcv_15m', '15 minutes', 'ohlcv_5m'),
             (3, 'ohlcv_1h', '1 hour', 'ohlcv_15m'),
             (4, 'ohlcv_4h', '4 hours', 'ohlcv_1h'),
             (5, 'ohlcv_1d', '1 day', 'ohlcv_4h')) AS a(step, name, width, source)
ORDER BY step;

-- Sentiment: hourly from raw, daily from hourly. Sums and counts (not means) are kept so
-- that coarser buckets re-aggregate exactly.
SELECT marketseries_aggregate('sentiment_1h',
    'SELECT asset, time_bucket(INTERVAL ''1 hour'', time) AS time, sum(score) AS score_sum, '
    'count(*) AS readings, min(score) AS min_score, max(score) AS max_score, '
    'sum(mention_volume)::bigint AS mentions, sum(engagement) AS engagement '
    'FROM sentiment GROUP BY asset, time_bucket(INTERVAL ''1 hour'', time)');
SELECT marketseries_aggregate('sentiment_1d',
    'SELECT asset, time_bucket(INTERVAL ''1 day'', time) AS time, sum(score_sum) AS score_sum, '
    'sum(readings)::bigint AS readings, min(min_score) AS min_score, '
    'max(max_score) AS max_score, sum(mentions)::bigint AS mentions, '
    'sum(engagement) AS engagement '
    'FROM sentiment_1h GROUP BY asset, time_bucket(INTERVAL ''1 day'', time)');

-- Flows: hourly and daily per flow type, and hourly exchange net flow.
SELECT marketseries_aggregate('flows_1h',
    'SELECT asset, time_bucket(INTERVAL ''1 hour'', time) AS time, flow_type, '
    'sum(amount) AS amount, sum(usd_value) AS usd_value, count(*) AS transactions '
    'FROM flows GROUP BY asset, time_bucket(INTERVAL ''1 hour'', time), flow_type');
SELECT marketseries_aggregate('flows_1d',
    'SELECT asset, time_bucket(INTERVAL ''1 day'', time) AS time, flow_type, '
    'sum(amount) AS amount, sum(usd_value) AS usd_value, '
    'sum(transactions)::bigint AS transactions '
    'FROM flows_1h GROUP BY asset, time_bucket(INTERVAL ''1 day'', time), flow_type');
SELECT marketseries_aggregate('net_flows_1h',
    'SELECT asset, time_bucket(INTERVAL ''1 hour'', time) AS time, '
    'sum(CASE WHEN flow_type = ''exchange_inflow'' THEN amount ELSE 0 END) AS inflow_amount, '
    'sum(CASE WHEN flow_type = ''exchange_outflow'' THEN amount ELSE 0 END) AS outflow_amount, '
    'sum(CASE WHEN flow_type = ''exchange_inflow'' THEN usd_value ELSE 0 END) AS inflow_usd, '
    'sum(CASE WHEN flow_type = ''exchange_outflow'' THEN usd_value ELSE 0 END) AS outflow_usd, '
    'sum(CASE WHEN flow_type = ''exchange_inflow'' THEN 1 ELSE 0 END)::bigint AS inflows, '
    'sum(CASE WHEN flow_type = ''exchange_outflow'' THEN 1 ELSE 0 END)::bigint AS outflows '
    'FROM flows WHERE flow_type IN (''exchange_inflow'', ''exchange_outflow'') '
    'GROUP BY asset, time_bucket(INTERVAL ''1 hour'', time)');

DROP FUNCTION marketseries_aggregate(text, text);

-- No JIT compilation in this database. The planner costs every query over a real-time
-- aggregate as if it aggregated all raw rows (it cannot tell how much lies above the
-- watermark), so JIT kicked in for reads and for every refresh of an aggregate built on
-- another one: refreshing ohlcv_4h over 90 days of 1m candles (21,600 source rows) spent
-- 8.1 s of 10.8 s compiling on a native 2.28 server, 2.5 s without. The database default
-- reaches the refresh policies' background jobs too. Skipped where the migrating role may not
-- alter the database (the store also turns JIT off for its own refreshes).
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'marketseries: JIT left as configured (%)', SQLERRM;
END $$;

-- Compression (TSL only): segments per series, newest first inside a segment.
DO $$
BEGIN
    IF current_setting('timescaledb.license', true) = 'timescale' THEN
        ALTER TABLE candles SET (timescaledb.compress,
            timescaledb.compress_segmentby = 'symbol, interval',
            timescaledb.compress_orderby = 'time DESC');
        ALTER TABLE sentiment SET (timescaledb.compress,
            timescaledb.compress_segmentby = 'asset, source',
            timescaledb.compress_orderby = 'time DESC');
        ALTER TABLE flows SET (timescaledb.compress,
            timescaledb.compress_segmentby = 'asset',
            timescaledb.compress_orderby = 'time DESC, source, flow_type, reference');
        ALTER TABLE indicators SET (timescaledb.compress,
            timescaledb.compress_segmentby = 'symbol, interval, name',
            timescaledb.compress_orderby = 'time DESC');
    END IF;
END $$;
