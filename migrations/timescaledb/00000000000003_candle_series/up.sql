-- One row per candle series (symbol, native interval) with its latest candle, kept by every
-- candle write (in the write's transaction). Finding which series exist, the base interval
-- of a symbol, and its latest price then reads this small table instead of probing the index
-- of every partition (or chunk) of `candles`. Readers still check that the latest candle
-- exists, which drops series whose rows retention removed entirely.
CREATE TABLE candle_series (
    symbol       text        NOT NULL,
    interval     text        NOT NULL,
    latest_time  timestamptz NOT NULL,
    latest_close numeric     NOT NULL,
    PRIMARY KEY (symbol, interval)
);

INSERT INTO candle_series (symbol, interval, latest_time, latest_close)
SELECT DISTINCT ON (symbol, interval) symbol, interval, time, close
FROM candles
ORDER BY symbol, interval, time DESC;
