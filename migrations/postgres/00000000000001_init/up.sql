-- marketseries, plain PostgreSQL: range-partitioned raw tables. Partitions are created by the
-- library before rows arrive (see partitions.rs); CHECK constraints mirror the Rust validation.

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
) PARTITION BY RANGE (time);

CREATE TABLE sentiment (
    asset          text        NOT NULL CHECK (length(asset) BETWEEN 1 AND 32),
    source         text        NOT NULL CHECK (length(source) BETWEEN 1 AND 128),
    time           timestamptz NOT NULL,
    score          float8      NOT NULL CHECK (score BETWEEN -1 AND 1),
    label          text        NOT NULL CHECK (label IN ('bearish', 'neutral', 'bullish')),
    mention_volume bigint      NOT NULL CHECK (mention_volume >= 0),
    engagement     float8      NOT NULL CHECK (engagement >= 0 AND engagement < 'Infinity'),
    PRIMARY KEY (asset, source, time)
) PARTITION BY RANGE (time);

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
) PARTITION BY RANGE (time);

-- Per-symbol time ranges are served by the primary keys; these serve "latest" and
-- cross-asset scans (whale activity, summaries) by time.
CREATE INDEX candles_symbol_time_desc ON candles (symbol, time DESC);
CREATE INDEX sentiment_asset_time ON sentiment (asset, time DESC);
CREATE INDEX flows_time ON flows (time DESC);
CREATE INDEX flows_asset_time ON flows (asset, time);
