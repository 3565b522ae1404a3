-- OHLCV rollups, maintained by the library in the same transaction as every candle upsert
-- (affected buckets are recomputed from raw rows), so they are exact under late and corrected
-- data. One table per width; rows keep their native interval so natives never mix.

CREATE TABLE ohlcv_5m (
    symbol   text        NOT NULL,
    interval text        NOT NULL,
    time     timestamptz NOT NULL,
    open     numeric     NOT NULL,
    high     numeric     NOT NULL,
    low      numeric     NOT NULL,
    close    numeric     NOT NULL,
    volume   numeric     NOT NULL,
    PRIMARY KEY (symbol, interval, time)
);

CREATE TABLE ohlcv_15m (
    symbol   text        NOT NULL,
    interval text        NOT NULL,
    time     timestamptz NOT NULL,
    open     numeric     NOT NULL,
    high     numeric     NOT NULL,
    low      numeric     NOT NULL,
    close    numeric     NOT NULL,
    volume   numeric     NOT NULL,
    PRIMARY KEY (symbol, interval, time)
);

CREATE TABLE ohlcv_1h (
    symbol   text        NOT NULL,
    interval text        NOT NULL,
    time     timestamptz NOT NULL,
    open     numeric     NOT NULL,
    high     numeric     NOT NULL,
    low      numeric     NOT NULL,
    close    numeric     NOT NULL,
    volume   numeric     NOT NULL,
    PRIMARY KEY (symbol, interval, time)
);

CREATE TABLE ohlcv_4h (
    symbol   text        NOT NULL,
    interval text        NOT NULL,
    time     timestamptz NOT NULL,
    open     numeric     NOT NULL,
    high     numeric     NOT NULL,
    low      numeric     NOT NULL,
    close    numeric     NOT NULL,
    volume   numeric     NOT NULL,
    PRIMARY KEY (symbol, interval, time)
);

CREATE TABLE ohlcv_1d (
    symbol   text        NOT NULL,
    interval text        NOT NULL,
    time     timestamptz NOT NULL,
    open     numeric     NOT NULL,
    high     numeric     NOT NULL,
    low      numeric     NOT NULL,
    close    numeric     NOT NULL,
    volume   numeric     NOT NULL,
    PRIMARY KEY (symbol, interval, time)
);
