-- CHECKs that mirror every bound of marketseries-core's validation (issue 12), for writers
-- that go straight to SQL. Numeric NaN passes `open > 0` (PostgreSQL sorts NaN above every
-- number), so it is excluded by name, and a reader could not decode it; magnitudes are at
-- most 1e20 (`validate::MAX_MAGNITUDE`), engagement at most 1e15 (so sums cannot overflow
-- float8), times inside [1970, 2100), names in the characters the API accepts.
ALTER TABLE candles ADD CONSTRAINT candles_bounds CHECK (
    open <> 'NaN' AND high <> 'NaN' AND low <> 'NaN' AND close <> 'NaN' AND volume <> 'NaN'
    AND high <= 1e20 AND volume <= 1e20
    AND time >= '1970-01-01 00:00:00+00' AND time < '2100-01-01 00:00:00+00'
    AND symbol ~ '^[A-Za-z0-9._/:-]+$');

ALTER TABLE sentiment ADD CONSTRAINT sentiment_bounds CHECK (
    engagement <= 1e15 AND mention_volume <= 1000000000000
    AND time >= '1970-01-01 00:00:00+00' AND time < '2100-01-01 00:00:00+00'
    AND asset ~ '^[A-Za-z0-9._/:-]+$' AND source !~ '[\x01-\x1f\x7f-\x9f]');

ALTER TABLE flows ADD CONSTRAINT flows_bounds CHECK (
    amount <> 'NaN' AND usd_value <> 'NaN' AND amount <= 1e20 AND usd_value <= 1e20
    AND time >= '1970-01-01 00:00:00+00' AND time < '2100-01-01 00:00:00+00'
    AND asset ~ '^[A-Za-z0-9._/:-]+$' AND source !~ '[\x01-\x1f\x7f-\x9f]'
    AND reference !~ '[\x01-\x1f\x7f-\x9f]');

ALTER TABLE indicators ADD CONSTRAINT indicators_bounds CHECK (
    time >= '1970-01-01 00:00:00+00' AND time < '2100-01-01 00:00:00+00'
    AND symbol ~ '^[A-Za-z0-9._/:-]+$');
