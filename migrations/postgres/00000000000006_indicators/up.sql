-- Technical indicator values computed elsewhere (RSI, MACD, EMA, ...), stored as given: one
-- row per (symbol, native interval, indicator name, time). Range-partitioned like the other
-- raw tables (partitions created by the library, dropped whole by retention); nothing is
-- aggregated from it. The table definition is the one migrations/timescaledb uses.
CREATE TABLE indicators (
    symbol   text        NOT NULL CHECK (length(symbol) BETWEEN 1 AND 32),
    interval text        NOT NULL CHECK (interval ~ '^[1-9][0-9]*[smhdw]$'),
    name     text        NOT NULL CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    time     timestamptz NOT NULL,
    value    numeric     NOT NULL CHECK (abs(value) <= 1e20),
    PRIMARY KEY (symbol, interval, name, time)
) PARTITION BY RANGE (time);
