//! Indicator checks: series, latest, list and as-of lookups against the reference store (and
//! a direct scan of the data), idempotent re-ingest, atomic bad batches, retention.

use chrono::{DateTime, TimeDelta, Utc};
use marketseries_core::{
    ErrorKind, Expiry, IndicatorQuery, IndicatorSeries, IndicatorStore, IndicatorValue, Interval,
    Policies, RecordKind, TimeRange, TimeSeriesStore,
};
use rust_decimal::Decimal;

use super::fixtures::{fixture_now, same, Fixture};
use super::StoreFactory;
use crate::generate::Rng;

/// The exact decimal with many digits every backend must keep: 26 significant digits.
const EXACT: &str = "12345678901234.123456789012";
/// A negative one of the same width.
const EXACT_NEGATIVE: &str = "-98765432109876.543210987654";
/// The smallest non-zero value a NUMERIC round trip must keep.
const TINY: &str = "0.000000000000000001";

fn iv(s: &str) -> Interval {
    s.parse().expect("valid interval")
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("valid decimal")
}

fn range(from: DateTime<Utc>, to: DateTime<Utc>) -> TimeRange {
    TimeRange::new(from, to).expect("valid range")
}

fn everything() -> TimeRange {
    range(
        DateTime::<Utc>::UNIX_EPOCH,
        fixture_now() + TimeDelta::days(365),
    )
}

fn value(
    symbol: &str,
    interval: Interval,
    name: &str,
    time: DateTime<Utc>,
    v: Decimal,
) -> IndicatorValue {
    IndicatorValue {
        symbol: symbol.to_owned(),
        interval,
        name: name.to_owned(),
        time,
        value: v,
    }
}

/// `count` steps of `interval` ending at the last bucket before "now", with a few gaps, and
/// values of either sign with 12 decimal places.
fn generated(
    symbol: &str,
    interval: Interval,
    name: &str,
    count: i32,
    seed: u64,
) -> Vec<IndicatorValue> {
    let mut rng = Rng::new(seed);
    let last = interval.floor(fixture_now()) - interval.duration();
    (0..count)
        .filter(|i| (i * 7 + 3) % 11 != 0)
        .map(|i| {
            let m = i64::try_from(rng.below(200_000_000_000_000_000)).unwrap_or_default()
                - 100_000_000_000_000_000;
            let time = last - interval.duration() * (count - 1 - i);
            value(symbol, interval, name, time, Decimal::new(m, 12))
        })
        .collect()
}

/// The indicator data set: several series of two symbols, including names that sort
/// differently by byte value than by locale (`MACD` before `ema-20`), a 64-byte name, a
/// Monday-aligned interval, an off-grid microsecond timestamp and exact decimals with many
/// digits (the newest BTC `1h/ema-20` value is [`EXACT`]).
pub(super) fn market_indicators() -> Vec<IndicatorValue> {
    let long_name = "a".repeat(64);
    let mut all = Vec::new();
    for (symbol, interval, name, count, seed) in [
        ("BTCUSDT", "15m", "rsi_14", 288, 1),
        ("BTCUSDT", "15m", "MACD", 288, 2),
        ("BTCUSDT", "15m", "macd.signal", 288, 3),
        ("BTCUSDT", "1h", "rsi_14", 72, 4),
        ("BTCUSDT", "1h", "ema-20", 72, 5),
        ("BTCUSDT", "1d", "ema-20", 10, 6),
        ("BTCUSDT", "1w", "ema-20", 4, 7),
        ("ETHUSDT", "1h", "rsi_14", 72, 8),
        ("ETHUSDT", "4h", long_name.as_str(), 18, 9),
    ] {
        all.extend(generated(symbol, iv(interval), name, count, seed));
    }
    let h1 = Interval::H1;
    let last_hour = h1.floor(fixture_now()) - h1.duration();
    // The newest value of BTC 1h/ema-20, exact values inside another series, and a value off
    // the grid at microsecond precision between two hourly ETH values. Each replaces a
    // generated value with the same key, so that every key occurs once.
    for special in [
        value("BTCUSDT", h1, "ema-20", last_hour, dec(EXACT)),
        value(
            "BTCUSDT",
            h1,
            "rsi_14",
            last_hour - TimeDelta::hours(5),
            dec(EXACT_NEGATIVE),
        ),
        value(
            "BTCUSDT",
            h1,
            "rsi_14",
            last_hour - TimeDelta::hours(6),
            dec(TINY),
        ),
        value(
            "BTCUSDT",
            h1,
            "rsi_14",
            last_hour - TimeDelta::hours(7),
            Decimal::ZERO,
        ),
        value(
            "ETHUSDT",
            h1,
            "rsi_14",
            last_hour - TimeDelta::hours(2) + TimeDelta::microseconds(1),
            dec("-0.000001"),
        ),
    ] {
        all.retain(|v| {
            (&v.symbol, v.interval, &v.name, v.time)
                != (
                    &special.symbol,
                    special.interval,
                    &special.name,
                    special.time,
                )
        });
        all.push(special);
    }
    all
}

/// The value with the greatest `time <= at` of one series, by a scan of `all` (the last
/// occurrence of a key wins, as in a batch).
fn scan_at(
    all: &[IndicatorValue],
    series: &IndicatorSeries,
    symbol: &str,
    at: DateTime<Utc>,
) -> Option<IndicatorValue> {
    let mut best: Option<&IndicatorValue> = None;
    for v in all.iter().filter(|v| {
        v.symbol == symbol && v.interval == series.interval && v.name == series.name && v.time <= at
    }) {
        if best.is_none_or(|b| v.time >= b.time) {
            best = Some(v);
        }
    }
    best.cloned()
}

/// A field name and a way to make a valid value bad in that field.
type Corruption = (&'static str, fn(&mut IndicatorValue));

/// What a store answers about one symbol: its series, their latest values and every
/// series over all time.
type Snapshot = (
    Vec<IndicatorSeries>,
    Vec<IndicatorValue>,
    Vec<Vec<IndicatorValue>>,
);

/// Stores values in both stores, chunked to the backend's batch limit; both must accept
/// them with the same summary.
async fn load(fx: &Fixture, batch: &[IndicatorValue]) {
    for chunk in batch.chunks(fx.store.capabilities().max_batch_size.max(1)) {
        let a = fx
            .store
            .store_indicators(chunk)
            .await
            .expect("store accepts indicator values");
        let b = fx
            .reference
            .store_indicators(chunk)
            .await
            .expect("reference accepts indicator values");
        same("write summaries", a, b);
    }
}

/// Rows the store reports for its `indicators` table.
async fn indicator_rows(store: &dyn TimeSeriesStore) -> Option<u64> {
    crate::counts::table_rows(store)
        .await
        .get("indicators")
        .copied()
}

/// Everything the store answers about indicators of `symbols`, one [`Snapshot`] each.
async fn snapshot(store: &dyn TimeSeriesStore, symbols: &[&str]) -> Vec<Snapshot> {
    let mut out = Vec::new();
    for &symbol in symbols {
        let list = store.indicator_list(symbol).await.expect("list");
        let latest = store.latest_indicators(symbol).await.expect("latest");
        let mut series = Vec::new();
        for s in &list {
            let q = IndicatorQuery::new(symbol, s.interval, s.name.clone(), everything());
            series.push(store.indicator_series(&q).await.expect("series"));
        }
        out.push((list, latest, series));
    }
    out
}

/// Series, latest values, the list of series and as-of lookups (before the first row,
/// exactly at a row, between rows, after the last) match the reference store and a direct
/// scan of the data; exact decimals with 26 significant digits survive; a sub-microsecond
/// as-of instant is a typed error.
pub async fn indicator_queries_match_reference(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let all = market_indicators();
    load(&fx, &all).await;
    let (s, r) = (&fx.store, &fx.reference);
    let now = fixture_now();

    let btc = s.indicator_list("BTCUSDT").await.expect("list");
    let series = |i: &str, n: &str| IndicatorSeries {
        interval: iv(i),
        name: n.to_owned(),
    };
    same(
        "BTC series, by interval then name bytes",
        btc.clone(),
        vec![
            series("15m", "MACD"),
            series("15m", "macd.signal"),
            series("15m", "rsi_14"),
            series("1h", "ema-20"),
            series("1h", "rsi_14"),
            series("1d", "ema-20"),
            series("1w", "ema-20"),
        ],
    );
    for symbol in ["BTCUSDT", "ETHUSDT", "NOPE"] {
        same(
            &format!("list of {symbol}"),
            s.indicator_list(symbol).await.expect("list"),
            r.indicator_list(symbol).await.expect("list"),
        );
        let latest = s.latest_indicators(symbol).await.expect("latest");
        same(
            &format!("latest of {symbol}"),
            &latest,
            &r.latest_indicators(symbol).await.expect("latest"),
        );
        let by_scan: Vec<_> = r
            .indicator_list(symbol)
            .await
            .expect("list")
            .iter()
            .filter_map(|series| scan_at(&all, series, symbol, DateTime::<Utc>::MAX_UTC))
            .collect();
        same(&format!("latest of {symbol} by scan"), &latest, &by_scan);
    }
    let latest = s.latest_indicators("BTCUSDT").await.expect("latest");
    let ema = latest
        .iter()
        .find(|v| v.series() == series("1h", "ema-20"))
        .expect("BTC 1h/ema-20 has a latest value");
    same("exact decimal of the latest value", ema.value, dec(EXACT));

    let mut listed = s.indicator_list("ETHUSDT").await.expect("list");
    listed.extend(btc);
    listed.sort();
    listed.dedup();
    let unknown = [series("1h", "RSI_14"), series("4h", "rsi_14")];
    let ranges = [
        everything(),
        range(
            now - TimeDelta::hours(30) + TimeDelta::seconds(7),
            now - TimeDelta::hours(2) - TimeDelta::minutes(13),
        ),
        range(now - TimeDelta::days(40), now - TimeDelta::days(2)),
    ];
    let mut as_of = 0;
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        for series in listed.iter().chain(&unknown) {
            let rows: Vec<&IndicatorValue> = all
                .iter()
                .filter(|v| {
                    v.symbol == symbol && v.interval == series.interval && v.name == series.name
                })
                .collect();
            let mut series_ranges = ranges.to_vec();
            if let (Some(first), Some(last)) = (
                rows.iter().map(|v| v.time).min(),
                rows.iter().map(|v| v.time).max(),
            ) {
                // From exactly a row (inclusive) to exactly a row (exclusive).
                if first < last {
                    series_ranges.push(range(first, last));
                }
            }
            for range in series_ranges {
                let q = IndicatorQuery::new(symbol, series.interval, series.name.clone(), range);
                let got = s.indicator_series(&q).await.expect("series");
                same(
                    &format!("{symbol} {}/{} over {range}", series.interval, series.name),
                    &got,
                    &r.indicator_series(&q).await.expect("series"),
                );
                assert!(
                    got.windows(2).all(|w| w[0].time < w[1].time),
                    "series must be in time order"
                );
                let inside = rows.iter().filter(|v| range.contains(v.time)).count();
                same("series length by scan", got.len(), inside);
            }

            let mut instants = vec![
                DateTime::<Utc>::MIN_UTC,
                DateTime::<Utc>::UNIX_EPOCH,
                now,
                now + TimeDelta::days(10_000),
                // The last whole microsecond chrono can represent.
                DateTime::from_timestamp_micros(DateTime::<Utc>::MAX_UTC.timestamp_micros())
                    .unwrap_or(now),
            ];
            for v in rows.iter().step_by(4).chain(rows.last()) {
                // Before the row, exactly at it, and between it and the next row.
                instants.push(v.time - TimeDelta::microseconds(1));
                instants.push(v.time);
                instants.push(v.time + series.interval.duration() / 2);
            }
            for at in instants {
                let got = s
                    .indicator_at(symbol, series.interval, &series.name, at)
                    .await
                    .expect("as-of lookup");
                let what = format!("{symbol} {}/{} as of {at:?}", series.interval, series.name);
                same(
                    &what,
                    &got,
                    &r.indicator_at(symbol, series.interval, &series.name, at)
                        .await
                        .expect("as-of lookup"),
                );
                same(
                    &format!("{what} by scan"),
                    &got,
                    &scan_at(&all, series, symbol, at),
                );
                as_of += 1;
            }
        }
    }
    assert!(as_of > 500, "too few as-of lookups ({as_of})");

    // The three as-of cases, spelled out on one series.
    let rsi: Vec<&IndicatorValue> = all
        .iter()
        .filter(|v| v.symbol == "BTCUSDT" && v.interval == Interval::H1 && v.name == "rsi_14")
        .collect();
    let first = rsi.iter().map(|v| v.time).min().expect("rows");
    let at = |t: DateTime<Utc>| s.indicator_at("BTCUSDT", Interval::H1, "rsi_14", t);
    same(
        "as of before the first row",
        at(first - TimeDelta::microseconds(1)).await.expect("as of"),
        None,
    );
    let exact = rsi
        .iter()
        .find(|v| v.value == dec(EXACT_NEGATIVE))
        .expect("exact row");
    same(
        "as of exactly at a row",
        at(exact.time).await.expect("as of"),
        Some((*exact).clone()),
    );
    same(
        "as of between rows",
        at(exact.time + TimeDelta::minutes(59))
            .await
            .expect("as of"),
        Some((*exact).clone()),
    );
    same(
        "exact decimal by as-of",
        at(exact.time).await.expect("as of").map(|v| v.value),
        Some(dec(EXACT_NEGATIVE)),
    );
    let tiny = rsi.iter().find(|v| v.value == dec(TINY)).expect("tiny row");
    same(
        "tiny decimal by as-of",
        at(tiny.time).await.expect("as of").map(|v| v.value),
        Some(dec(TINY)),
    );
    let err = at(exact.time + TimeDelta::nanoseconds(500))
        .await
        .expect_err("a sub-microsecond as-of instant must fail");
    same("sub-microsecond as-of", err.kind(), ErrorKind::InvalidInput);
}

/// Re-ingesting the same batches changes nothing; an upsert of an existing key replaces
/// it; duplicates inside a batch resolve to the last one; stats count the rows.
pub async fn indicator_reingest_is_idempotent(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let all = market_indicators();
    load(&fx, &all).await;
    let symbols = ["BTCUSDT", "ETHUSDT"];
    let before = snapshot(fx.store.as_ref(), &symbols).await;
    same(
        "store and reference agree",
        &before,
        &snapshot(&fx.reference, &symbols).await,
    );
    let rows = indicator_rows(fx.store.as_ref()).await;
    same("indicator rows", rows, indicator_rows(&fx.reference).await);
    assert!(
        rows.is_some_and(|n| n > 500),
        "stats must list `indicators`"
    );

    load(&fx, &all).await;
    same(
        "answers after re-ingest",
        &snapshot(fx.store.as_ref(), &symbols).await,
        &before,
    );
    same(
        "indicator rows after re-ingest",
        indicator_rows(fx.store.as_ref()).await,
        rows,
    );

    // Duplicates in one batch: the last one wins.
    let h1 = Interval::H1;
    let t1 = h1.floor(fixture_now());
    let t2 = t1 + TimeDelta::minutes(30);
    let batch = [
        value("BTCUSDT", h1, "rsi_14", t1, dec("1.5")),
        value("BTCUSDT", h1, "rsi_14", t2, dec("2.5")),
        value("BTCUSDT", h1, "rsi_14", t1, dec(EXACT)),
    ];
    let summary = fx
        .store
        .store_indicators(&batch)
        .await
        .expect("store duplicates");
    same("summary", (summary.received, summary.distinct), (3, 2));
    fx.reference
        .store_indicators(&batch)
        .await
        .expect("reference stores duplicates");
    same(
        "last duplicate wins",
        fx.store
            .indicator_at("BTCUSDT", h1, "rsi_14", t2 - TimeDelta::microseconds(1))
            .await
            .expect("as of"),
        Some(batch[2].clone()),
    );

    // An upsert of an existing key replaces it.
    let mut fixed = all[10].clone();
    fixed.value = -fixed.value + dec(TINY);
    let one = fx.store.store_indicator(&fixed).await.expect("upsert");
    same("upsert summary", (one.received, one.distinct), (1, 1));
    fx.reference
        .store_indicator(&fixed)
        .await
        .expect("reference upsert");
    same(
        "upsert replaces",
        fx.store
            .indicator_at(&fixed.symbol, fixed.interval, &fixed.name, fixed.time)
            .await
            .expect("as of"),
        Some(fixed.clone()),
    );
    same(
        "answers after the corrections",
        snapshot(fx.store.as_ref(), &symbols).await,
        snapshot(&fx.reference, &symbols).await,
    );
    same(
        "indicator rows after the corrections",
        indicator_rows(fx.store.as_ref()).await,
        rows.map(|n| n + 2),
    );
}

/// A batch with one bad value is rejected whole with a validation error naming its index
/// and field (name, symbol, value, time), an oversized batch is `BatchTooLarge`, and data
/// stored before is untouched.
pub async fn indicator_bad_batch_is_atomic(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let all = market_indicators();
    let (old, new) = all.split_at(400);
    load(&fx, old).await;
    let symbols = ["BTCUSDT", "ETHUSDT"];
    let before = snapshot(fx.store.as_ref(), &symbols).await;
    let rows = indicator_rows(fx.store.as_ref()).await;

    let corruptions: [Corruption; 10] = [
        ("name", |v| v.name = "rsi 14".into()),
        ("name", |v| v.name = String::new()),
        ("name", |v| v.name = "x".repeat(65)),
        ("name", |v| v.name = "macd,signal".into()),
        ("name", |v| v.name = "ema/20".into()),
        ("symbol", |v| v.symbol = String::new()),
        ("value", |v| v.value = dec("-200000000000000000000")),
        ("time", |v| {
            v.time = DateTime::<Utc>::UNIX_EPOCH - TimeDelta::seconds(1)
        }),
        ("time", |v| v.time += TimeDelta::nanoseconds(1)),
        ("time", |v| {
            v.time = DateTime::from_timestamp(4_102_444_800, 0).unwrap_or(DateTime::<Utc>::MAX_UTC);
        }),
    ];
    for (k, (field, corrupt)) in corruptions.into_iter().enumerate() {
        // New keys, an overwrite of a stored key, and one bad value in the middle.
        let mut batch = new[..300].to_vec();
        let mut overwrite = old[17].clone();
        overwrite.value += Decimal::ONE;
        batch.push(overwrite);
        let index = 37 + k * 23;
        corrupt(&mut batch[index]);
        let err = fx
            .store
            .store_indicators(&batch)
            .await
            .expect_err("a bad indicator batch must fail");
        same("error kind", err.kind(), ErrorKind::InvalidInput);
        let v = err
            .as_validation()
            .unwrap_or_else(|| panic!("expected a validation error, got {err}"));
        same(
            "record/index/field",
            (v.record, v.index, v.field),
            (RecordKind::Indicator, Some(index), field),
        );
        let mut single = old[3].clone();
        corrupt(&mut single);
        let err = fx
            .store
            .store_indicator(&single)
            .await
            .expect_err("a bad indicator value must fail");
        same(
            "error kind of one value",
            err.kind(),
            ErrorKind::InvalidInput,
        );
    }

    let max = fx.store.capabilities().max_batch_size;
    match i32::try_from(max + 1) {
        Ok(n) => {
            let template = new[0].clone();
            let batch: Vec<IndicatorValue> = (0..n)
                .map(|i| IndicatorValue {
                    time: template.time + TimeDelta::seconds(i64::from(i)),
                    ..template.clone()
                })
                .collect();
            let err = fx
                .store
                .store_indicators(&batch)
                .await
                .expect_err("an oversized batch must fail");
            same("oversized batch", err.kind(), ErrorKind::BatchTooLarge);
        }
        Err(_) => eprintln!(
            "SKIPPED (indicator_bad_batch_is_atomic, oversized part): max_batch_size {max} is too large to build a batch over it"
        ),
    }

    same(
        "answers after rejected batches",
        &snapshot(fx.store.as_ref(), &symbols).await,
        &before,
    );
    same(
        "indicator rows after rejected batches",
        indicator_rows(fx.store.as_ref()).await,
        rows,
    );
}

/// With an injected clock and an indicator horizon of its own (90 days, unlike candles),
/// retention keeps every indicator value inside the window, and the reference store agrees
/// on everything inside it.
pub async fn indicator_retention_keeps_rows_inside_window(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    if !fx.store.capabilities().retention {
        eprintln!(
            "SKIPPED indicator_retention_keeps_rows_inside_window: {} says it has no retention",
            fx.store.capabilities().backend
        );
        return;
    }
    let now = fixture_now();
    let mut values = Vec::new();
    for (symbol, interval, name, count, seed) in [
        ("BTCUSDT", Interval::D1, "ema-20", 400, 11),
        ("ETHUSDT", Interval::D1, "rsi_14", 400, 12),
        ("BTCUSDT", Interval::H1, "rsi_14", 120, 13),
    ] {
        values.extend(generated(symbol, interval, name, count, seed));
    }
    load(&fx, &values).await;
    let horizon = TimeDelta::days(90);
    let mut policies = Policies::default();
    policies.retention.indicator = Some(horizon);
    fx.store
        .apply_policies(&policies, Expiry::Confirmed)
        .await
        .expect("apply policies");
    fx.reference
        .apply_policies(&policies, Expiry::Confirmed)
        .await
        .expect("apply policies");
    let report = fx.store.apply_retention().await.expect("retention");
    fx.reference.apply_retention().await.expect("retention");
    let action = report
        .actions
        .iter()
        .find(|a| a.dataset == marketseries_core::Dataset::Indicator)
        .expect("retention reports the indicator dataset");
    assert!(
        action.cutoff <= now - horizon,
        "indicator cutoff {} is inside the window",
        action.cutoff
    );

    // Backends drop whole partitions, so values just before the cutoff may survive;
    // compare from the first whole day inside the window.
    let first_day = Interval::D1.floor(now - horizon) + TimeDelta::days(1);
    let window = range(first_day, now + TimeDelta::days(1));
    for pass in ["first", "second"] {
        for (symbol, interval, name) in [
            ("BTCUSDT", Interval::D1, "ema-20"),
            ("ETHUSDT", Interval::D1, "rsi_14"),
            ("BTCUSDT", Interval::H1, "rsi_14"),
        ] {
            let q = IndicatorQuery::new(symbol, interval, name, window);
            let kept = fx.store.indicator_series(&q).await.expect("series");
            let what = format!("{symbol} {interval}/{name} inside the window ({pass} run)");
            same(
                &what,
                &kept,
                &fx.reference.indicator_series(&q).await.expect("series"),
            );
            let inside: Vec<IndicatorValue> = values
                .iter()
                .filter(|v| {
                    v.symbol == symbol
                        && v.interval == interval
                        && v.name == name
                        && window.contains(v.time)
                })
                .cloned()
                .collect();
            same(&format!("{what}: every value kept"), &kept, &inside);
            same(
                &format!("{symbol} {interval}/{name} as of now ({pass} run)"),
                fx.store
                    .indicator_at(symbol, interval, name, now)
                    .await
                    .expect("as of"),
                inside.last().cloned(),
            );
        }
        for symbol in ["BTCUSDT", "ETHUSDT"] {
            same(
                &format!("latest of {symbol} after retention ({pass} run)"),
                fx.store.latest_indicators(symbol).await.expect("latest"),
                fx.reference
                    .latest_indicators(symbol)
                    .await
                    .expect("latest"),
            );
            same(
                &format!("list of {symbol} after retention ({pass} run)"),
                fx.store.indicator_list(symbol).await.expect("list"),
                fx.reference.indicator_list(symbol).await.expect("list"),
            );
        }
        // Retention is idempotent: a second run keeps the same values.
        fx.store.apply_retention().await.expect("retention");
        fx.reference.apply_retention().await.expect("retention");
    }
}
