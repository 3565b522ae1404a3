DROP VIEW ohlcv_5m, ohlcv_15m, ohlcv_1h, ohlcv_4h, ohlcv_1d;
DROP FUNCTION marketseries_interval_seconds(text);
DROP TABLE ohlcv_pending;
ALTER TABLE ohlcv_5m_materialized RENAME TO ohlcv_5m;
ALTER TABLE ohlcv_15m_materialized RENAME TO ohlcv_15m;
ALTER TABLE ohlcv_1h_materialized RENAME TO ohlcv_1h;
ALTER TABLE ohlcv_4h_materialized RENAME TO ohlcv_4h;
ALTER TABLE ohlcv_1d_materialized RENAME TO ohlcv_1d;
