ALTER TABLE indicators DROP CONSTRAINT indicators_bounds;
ALTER TABLE flows DROP CONSTRAINT flows_bounds;
ALTER TABLE sentiment DROP CONSTRAINT sentiment_bounds;
ALTER TABLE candles DROP CONSTRAINT candles_bounds;
