DROP FUNCTION marketseries_interval_seconds(text);
DROP TABLE candle_series, indicators, flows, sentiment, candles CASCADE;
