-- marketseries, TimescaleDB: drop the (symbol, time DESC) index TimescaleDB creates on each
-- OHLCV aggregate's materialization hypertable for its group-by column `symbol`, leaving the
-- time index TimescaleDB's refresh deletes by and the store's own (symbol, interval, time)
-- (migration 00000000000007_real_time_reads), which serves every read of one series.
--
-- Every refresh maintains each index of the materialization it writes: one 30-day window of
-- `ohlcv_5m` over 90 days of 1m candles of ten symbols took 1.27-1.34 s with this index and
-- 1.10-1.14 s without (native 2.28.3, two databases, both orders). Reads do not miss it: a
-- 30-day hourly read of one series planned generically scans each small daily chunk
-- sequentially with or without it, in the same time.
-- Where the aggregate is a plain view (Apache edition) there is nothing to drop.
DO $$
DECLARE
    agg text;
    mat record;
BEGIN
    FOREACH agg IN ARRAY ARRAY['ohlcv_5m', 'ohlcv_15m', 'ohlcv_1h', 'ohlcv_4h', 'ohlcv_1d'] LOOP
        FOR mat IN SELECT h.schema_name, h.table_name
                   FROM _timescaledb_catalog.continuous_agg ca
                   JOIN _timescaledb_catalog.hypertable h ON h.id = ca.mat_hypertable_id
                   WHERE ca.user_view_schema = current_schema() AND ca.user_view_name = agg LOOP
            EXECUTE format('DROP INDEX IF EXISTS %I.%I', mat.schema_name,
                           mat.table_name || '_symbol_time_idx');
        END LOOP;
    END LOOP;
END $$;
