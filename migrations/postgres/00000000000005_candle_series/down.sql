DROP TABLE candle_series;
