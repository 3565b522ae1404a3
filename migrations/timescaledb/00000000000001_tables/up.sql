-- marketseries, TimescaleDB: the raw tables of migrations/postgres (same names, columns,
-- keys and CHECK constraints) as hypertables with 1-day chunks (the chunk width is reset
-- from the store's configuration after migrating).

CREATE EXTENSION IF NOT EXISTS timescaledb;

-- shared: begin (identical in migrations/postgres and migrations/timescaledb, but for the
-- partitioning clause; checked by xtask/tests/tidy.rs)

-- Raw tables. CHECK constraints mirror the Rust validation (marketseries-core `validate`).
CREATE TABLE candles (
    symbol   text        NOT NULL CHECK (length(symbol) BETWEEN 1 AND 32),
    interval text        NOT NULL CHECK (interval ~ '^[1-9][0-9]*[smhdw]$'),
    time     timestamptz NOT NULL,
    open     numeric     NOT NULL CHECK (open > 0),
    high     numeric     NOT NULL CHECK (high > 0),
    low      numeric     NOT NULL CHECK (low > 0),
    close    numeric     NOT NULL CHECK (close > 0),
    volume   numeric     NOT NULL CHECK (volume >= 0),
    CHECK (high >= low AND high >= greatest(open, close) AND low <= least(open, close)),
    PRIMARY KEY (symbol, interval, time)
);

CREATE TABLE sentiment (
    asset          text        NOT NULL CHECK (length(asset) BETWEEN 1 AND 32),
    source         text        NOT NULL CHECK (length(source) BETWEEN 1 AND 128),
    time           timestamptz NOT NULL,
    score          float8      NOT NULL CHECK (score BETWEEN -1 AND 1),
    label          text        NOT NULL CHECK (label IN ('bearish', 'neutral', 'bullish')),
    mention_volume bigint      NOT NULL CHECK (mention_volume >= 0),
    engagement     float8      NOT NULL CHECK (engagement >= 0 AND engagement < 'Infinity'),
    PRIMARY KEY (asset, source, time)
);

CREATE TABLE flows (
    asset     text        NOT NULL CHECK (length(asset) BETWEEN 1 AND 32),
    source    text        NOT NULL CHECK (length(source) BETWEEN 1 AND 128),
    flow_type text        NOT NULL CHECK (flow_type IN ('exchange_inflow', 'exchange_outflow',
        'large_transaction', 'miner_outflow', 'smart_money', 'whale_transfer')),
    time      timestamptz NOT NULL,
    reference text        NOT NULL CHECK (length(reference) <= 128),
    amount    numeric     NOT NULL CHECK (amount >= 0),
    usd_value numeric     NOT NULL CHECK (usd_value >= 0),
    PRIMARY KEY (asset, source, flow_type, time, reference)
);

CREATE TABLE indicators (
    symbol   text        NOT NULL CHECK (length(symbol) BETWEEN 1 AND 32),
    interval text        NOT NULL CHECK (interval ~ '^[1-9][0-9]*[smhdw]$'),
    name     text        NOT NULL CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    time     timestamptz NOT NULL,
    value    numeric     NOT NULL CHECK (abs(value) <= 1e20),
    PRIMARY KEY (symbol, interval, name, time)
);

-- Technical indicator values (RSI, MACD, EMA, ...) above are stored as given, one row per
-- (symbol, native interval, indicator name, time); nothing is aggregated from them.

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

-- Length in seconds of an interval in marketseries text form ('15m', '4h', '1w'); NULL
-- for anything else. The one definition, used by views, the SQL API and the Rust reads.
CREATE FUNCTION marketseries_interval_seconds(iv text) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN iv ~ '^[1-9][0-9]{0,8}[smhdw]$' THEN
        substring(iv FROM '^[0-9]+')::bigint * CASE right(iv, 1)
            WHEN 's' THEN 1 WHEN 'm' THEN 60 WHEN 'h' THEN 3600 WHEN 'd' THEN 86400
            ELSE 604800 END
    END
$$;

-- shared: end

SELECT create_hypertable('candles', by_range('time', INTERVAL '1 day'));
SELECT create_hypertable('sentiment', by_range('time', INTERVAL '1 day'));
SELECT create_hypertable('flows', by_range('time', INTERVAL '1 day'));
SELECT create_hypertable('indicators', by_range('time', INTERVAL '1 day'));

CREATE INDEX candles_symbol_time_desc ON candles (symbol, time DESC);
CREATE INDEX sentiment_asset_time ON sentiment (asset, time DESC);
CREATE INDEX flows_asset_time ON flows (asset, time);
