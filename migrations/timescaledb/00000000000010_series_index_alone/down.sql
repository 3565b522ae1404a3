-- The index as TimescaleDB creates it for a continuous aggregate's group-by column.
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
            EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I.%I (symbol, "time" DESC)',
                           mat.table_name || '_symbol_time_idx', mat.schema_name,
                           mat.table_name);
        END LOOP;
    END LOOP;
END $$;
