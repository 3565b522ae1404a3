-- Technical indicator values computed elsewhere (RSI, MACD, EMA, ...), stored as given: one
-- row per (symbol, native interval, indicator name, time). A hypertable with 1-day chunks
-- (reset from the store's configuration after migrating), compressed per series on the TSL
-- edition; nothing is aggregated from it. The table definition is the one
-- migrations/postgres uses.
CREATE TABLE indicators (
    symbol   text        NOT NULL CHECK (length(symbol) BETWEEN 1 AND 32),
    interval text        NOT NULL CHECK (interval ~ '^[1-9][0-9]*[smhdw]$'),
    name     text        NOT NULL CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    time     timestamptz NOT NULL,
    value    numeric     NOT NULL CHECK (abs(value) <= 1e20),
    PRIMARY KEY (symbol, interval, name, time)
);

SELECT create_hypertable('indicators', by_range('time', INTERVAL '1 day'));

DO $$
BEGIN
    IF current_setting('timescaledb.license', true) = 'timescale' THEN
        ALTER TABLE indicators SET (timescaledb.compress,
            timescaledb.compress_segmentby = 'symbol, interval, name',
            timescaledb.compress_orderby = 'time DESC');
    END IF;
END $$;
