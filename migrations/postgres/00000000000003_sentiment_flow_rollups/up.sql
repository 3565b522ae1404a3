-- Hourly and daily sentiment and flow rollups, maintained like the OHLCV rollups: in the
-- same transaction as every upsert, affected buckets recomputed from raw rows.

CREATE TABLE sentiment_1h (
    asset      text        NOT NULL,
    time       timestamptz NOT NULL,
    score_sum  float8      NOT NULL,
    readings   bigint      NOT NULL,
    min_score  float8      NOT NULL,
    max_score  float8      NOT NULL,
    mentions   bigint      NOT NULL,
    engagement float8      NOT NULL,
    PRIMARY KEY (asset, time)
);

CREATE TABLE flows_1h (
    asset        text        NOT NULL,
    time         timestamptz NOT NULL,
    flow_type    text        NOT NULL,
    amount       numeric     NOT NULL,
    usd_value    numeric     NOT NULL,
    transactions bigint      NOT NULL,
    PRIMARY KEY (asset, time, flow_type)
);

CREATE TABLE sentiment_1d (
    asset      text        NOT NULL,
    time       timestamptz NOT NULL,
    score_sum  float8      NOT NULL,
    readings   bigint      NOT NULL,
    min_score  float8      NOT NULL,
    max_score  float8      NOT NULL,
    mentions   bigint      NOT NULL,
    engagement float8      NOT NULL,
    PRIMARY KEY (asset, time)
);

CREATE TABLE flows_1d (
    asset        text        NOT NULL,
    time         timestamptz NOT NULL,
    flow_type    text        NOT NULL,
    amount       numeric     NOT NULL,
    usd_value    numeric     NOT NULL,
    transactions bigint      NOT NULL,
    PRIMARY KEY (asset, time, flow_type)
);
