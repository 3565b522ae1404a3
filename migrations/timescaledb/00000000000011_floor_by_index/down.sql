-- The floor as migration 00000000000006_live_floor defined it.
CREATE OR REPLACE FUNCTION marketseries_candles_floor() RETURNS TABLE (floor timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT _timescaledb_functions.to_timestamp(min(ds.range_start))
    FROM _timescaledb_catalog.hypertable h
    JOIN _timescaledb_catalog.dimension d ON d.hypertable_id = h.id AND d.column_name = 'time'
    JOIN _timescaledb_catalog.dimension_slice ds ON ds.dimension_id = d.id
    WHERE h.schema_name = current_schema() AND h.table_name = 'candles'
$$;
