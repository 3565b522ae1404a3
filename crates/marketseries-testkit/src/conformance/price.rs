//! Price checks: exact round trips, routed OHLCV, native intervals, late data, price queries.

use chrono::{DateTime, TimeDelta, Utc};
use marketseries_core::{
    Candle, Dataset, ErrorKind, Freshness, Interval, OhlcvQuery, PriceStore, RefreshProgress,
    Route, TimeRange, TimeSeriesStore, VolumeProfileQuery,
};
use rust_decimal::Decimal;

use super::fixtures::{fixture_now, same, Fixture};
use super::StoreFactory;
use crate::naive::naive_ohlcv;

fn iv(s: &str) -> Interval {
    s.parse().expect("valid interval")
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("valid timestamp")
}

fn range(from: DateTime<Utc>, to: DateTime<Utc>) -> TimeRange {
    TimeRange::new(from, to).expect("valid range")
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("valid decimal")
}

fn candle(symbol: &str, interval: &str, time: &str, ohlcv: [&str; 5]) -> Candle {
    Candle {
        symbol: symbol.to_owned(),
        interval: iv(interval),
        time: t(time),
        open: dec(ohlcv[0]),
        high: dec(ohlcv[1]),
        low: dec(ohlcv[2]),
        close: dec(ohlcv[3]),
        volume: dec(ohlcv[4]),
    }
}

async fn compare_ohlcv(fx: &Fixture, q: &OhlcvQuery, all: &[Candle]) -> Route {
    let got = fx.store.ohlcv(q).await;
    let expected = fx.reference.ohlcv(q).await;
    match (got, expected) {
        (Ok(got), Ok(expected)) => {
            let what = format!(
                "ohlcv {} {} {} ({:?}, route {})",
                q.symbol, q.interval, q.range, q.freshness, got.route
            );
            same(&what, &got.bars, &expected.bars);
            if let Some(naive) = naive_ohlcv(all, q) {
                same(&format!("{what} vs naive aggregation"), &got.bars, &naive);
            }
            got.route
        }
        (Err(a), Err(b)) => {
            assert_eq!(
                a.kind(),
                b.kind(),
                "error kinds differ for {q:?}: {a} vs {b}"
            );
            Route::NoData
        }
        (a, b) => panic!("ohlcv {q:?}: store gave {a:?}, reference gave {b:?}"),
    }
}

/// Prices with many decimals, tiny and huge magnitudes (meme-coin volumes beyond 10^12)
/// survive a round trip exactly.
pub async fn round_trip_is_exact(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let batch = vec![
        candle(
            "PEPEUSDT",
            "1m",
            "2024-03-01T00:00:00Z",
            [
                "0.00000123456789",
                "0.0000012999",
                "0.00000120000001",
                "0.0000012500",
                "987654321012345.123456789",
            ],
        ),
        candle(
            "PEPEUSDT",
            "1m",
            "2024-03-01T00:01:00Z",
            [
                "0.0000012500",
                "0.0000013",
                "0.0000012",
                "0.0000012600",
                "0",
            ],
        ),
        candle(
            "BTCUSDT",
            "1m",
            "2024-03-01T00:00:00Z",
            [
                "123456789012.12345678",
                "123456789013.5",
                "123456789011.000000001",
                "123456789012.99999999",
                "1.000000000000000001",
            ],
        ),
    ];
    fx.candles(&batch).await;
    for c in &batch {
        let q = OhlcvQuery::new(
            &c.symbol,
            c.interval,
            range(c.time, c.time + c.interval.duration()),
        );
        let series = fx.store.ohlcv(&q).await.expect("ohlcv");
        same(
            &format!("round trip of {} at {}", c.symbol, c.time),
            series.bars,
            vec![c.bar()],
        );
    }
    let daily = OhlcvQuery::new(
        "PEPEUSDT",
        iv("1d"),
        range(t("2024-03-01T00:00:00Z"), t("2024-03-02T00:00:00Z")),
    );
    let bars = fx.store.ohlcv(&daily).await.expect("ohlcv").bars;
    same(
        "daily volume of huge magnitudes",
        bars[0].volume,
        dec("987654321012345.123456789"),
    );
}

/// Routed OHLCV at many intervals (materialized, re-aggregated and raw), over ranges that
/// cut buckets, equals the reference store and a naive aggregation.
pub async fn ohlcv_matches_reference(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let all = Fixture::market_candles();
    fx.candles(&all).await;
    let now = fixture_now();
    let ranges = [
        range(now - TimeDelta::days(3), now),
        range(
            now - TimeDelta::hours(30) + TimeDelta::seconds(7),
            now - TimeDelta::hours(2) - TimeDelta::minutes(13),
        ),
        range(now - TimeDelta::days(10), now + TimeDelta::days(10)),
        range(now - TimeDelta::minutes(97), now - TimeDelta::minutes(3)),
    ];
    let mut routes = Vec::new();
    for symbol in ["BTCUSDT", "ETHUSDT", "NOSUCHUSDT"] {
        for interval in [
            "1m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "1d", "3d", "1w", "7m", "90m",
        ] {
            for r in &ranges {
                for freshness in [Freshness::RealTime, Freshness::Refreshed] {
                    let q = OhlcvQuery::new(symbol, iv(interval), *r).with_freshness(freshness);
                    routes.push(compare_ohlcv(&fx, &q, &all).await);
                }
            }
        }
    }
    assert!(
        routes.iter().any(|r| matches!(r, Route::Raw { .. })),
        "no query took the raw route"
    );
    if fx.store.capabilities().aggregates.is_empty() {
        eprintln!(
            "NOTE: {} has no aggregates; only raw routes were exercised",
            fx.store.capabilities().backend
        );
    } else {
        assert!(
            routes
                .iter()
                .any(|r| matches!(r, Route::Materialized { .. })),
            "no query used a materialized aggregate"
        );
        assert!(
            routes
                .iter()
                .any(|r| matches!(r, Route::ReAggregate { .. })),
            "no query re-aggregated"
        );
    }
}

/// Timestamps off the interval grid are accepted and fall into the bucket containing them.
pub async fn off_grid_timestamps_fall_into_their_bucket(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let batch = vec![
        candle(
            "SOLUSDT",
            "1m",
            "2024-03-01T09:59:59.999999Z",
            ["9", "9", "9", "9", "1"],
        ),
        candle(
            "SOLUSDT",
            "1m",
            "2024-03-01T10:00:30Z",
            ["10", "12", "9", "11", "2"],
        ),
        candle(
            "SOLUSDT",
            "1m",
            "2024-03-01T10:59:59Z",
            ["11", "11", "8", "8.5", "3"],
        ),
        candle(
            "SOLUSDT",
            "1m",
            "2024-03-01T11:00:00.000001Z",
            ["8.5", "8.5", "8.5", "8.5", "4"],
        ),
    ];
    fx.candles(&batch).await;
    let q = OhlcvQuery::new(
        "SOLUSDT",
        iv("1h"),
        range(t("2024-03-01T10:00:00Z"), t("2024-03-01T10:00:01Z")),
    );
    compare_ohlcv(&fx, &q, &batch).await;
    let got = fx.store.ohlcv(&q).await.expect("ohlcv").bars;
    same("bucket of off-grid candles", got.len(), 1);
    let bar = got[0];
    same(
        "open/high/low/close/volume",
        (bar.time, bar.open, bar.high, bar.low, bar.close, bar.volume),
        (
            t("2024-03-01T10:00:00Z"),
            dec("10"),
            dec("12"),
            dec("8"),
            dec("8.5"),
            dec("5"),
        ),
    );
}

/// Candles of different native intervals never mix; an interval no native divides is a
/// typed error; an unknown symbol is empty.
pub async fn native_intervals_never_mix(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let batch = vec![
        candle(
            "BTCUSDT",
            "1m",
            "2024-03-01T10:00:00Z",
            ["100", "101", "99", "100", "1"],
        ),
        candle(
            "BTCUSDT",
            "1m",
            "2024-03-01T10:01:00Z",
            ["100", "102", "100", "101", "1"],
        ),
        candle(
            "BTCUSDT",
            "1h",
            "2024-03-01T10:00:00Z",
            ["500", "900", "400", "800", "1000"],
        ),
        candle(
            "ETHUSDT",
            "1h",
            "2024-03-01T10:00:00Z",
            ["50", "90", "40", "80", "100"],
        ),
        candle(
            "ETHUSDT",
            "1h",
            "2024-03-01T11:00:00Z",
            ["80", "95", "70", "75", "100"],
        ),
    ];
    fx.candles(&batch).await;
    same(
        "native intervals",
        fx.store.native_intervals("BTCUSDT").await.expect("natives"),
        vec![iv("1m"), iv("1h")],
    );
    let day = range(t("2024-03-01T00:00:00Z"), t("2024-03-02T00:00:00Z"));
    let q = OhlcvQuery::new("BTCUSDT", iv("1h"), day);
    compare_ohlcv(&fx, &q, &batch).await;
    let bars = fx.store.ohlcv(&q).await.expect("ohlcv").bars;
    same(
        "1h from the 1m natives only",
        (bars[0].high, bars[0].volume),
        (dec("102"), dec("2")),
    );
    let q = OhlcvQuery::new("ETHUSDT", iv("2h"), day);
    compare_ohlcv(&fx, &q, &batch).await;
    let err = fx
        .store
        .ohlcv(&OhlcvQuery::new("ETHUSDT", iv("30m"), day))
        .await
        .expect_err("30m from 1h natives must fail");
    same("error kind", err.kind(), ErrorKind::UnsupportedInterval);
    let none = fx
        .store
        .ohlcv(&OhlcvQuery::new("NOSUCH", iv("1h"), day))
        .await
        .expect("unknown symbol");
    same(
        "unknown symbol",
        (none.route, none.bars.len()),
        (Route::NoData, 0),
    );
}

/// An upsert into an hour already aggregated replaces the candle, and 1h/1d answers (after
/// the store's own refresh, when asked for refreshed results) reflect it.
pub async fn late_correction_is_reflected(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let mut all = Fixture::market_candles();
    fx.candles(&all).await;
    let day = range(fixture_now() - TimeDelta::days(3), fixture_now());
    let hourly = OhlcvQuery::new("BTCUSDT", iv("1h"), day);
    let daily = OhlcvQuery::new("BTCUSDT", iv("1d"), day);
    let before = fx.store.ohlcv(&hourly).await.expect("ohlcv").bars;
    fx.store.refresh(None).await.expect("refresh");
    // Correct a candle deep inside an old, materialized hour.
    let idx = all
        .iter()
        .position(|c| c.symbol == "BTCUSDT" && c.time == before[5].time + TimeDelta::minutes(17))
        .expect("candle exists");
    let mut fixed = all[idx].clone();
    fixed.high *= Decimal::TWO;
    fixed.volume += Decimal::from(1_000_000);
    fx.candles(std::slice::from_ref(&fixed)).await;
    all.push(fixed.clone());
    for q in [&hourly, &daily] {
        let q = q.clone().with_freshness(Freshness::Refreshed);
        compare_ohlcv(&fx, &q, &all).await;
    }
    let after = fx
        .store
        .ohlcv(&hourly.clone().with_freshness(Freshness::Refreshed))
        .await
        .expect("ohlcv")
        .bars;
    assert_ne!(before[5], after[5], "the corrected hour did not change");
    same("corrected high", after[5].high, fixed.high);
    fx.store.refresh(None).await.expect("refresh");
    compare_ohlcv(&fx, &hourly, &all).await;
}

/// `refresh_with_progress` reports the steps it commits (at least one once candles are
/// pending, numbered from 1, never past the total it announces), and afterwards every
/// read, the materialized part alone included, matches the reference and the naive
/// aggregation.
pub async fn refresh_reports_its_steps(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let all = Fixture::market_candles();
    fx.candles(&all).await;
    let seen = std::sync::Mutex::new(Vec::<RefreshProgress>::new());
    fx.store
        .refresh_with_progress(None, &|p| {
            seen.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(p.clone());
        })
        .await
        .expect("refresh");
    fx.reference.refresh(None).await.expect("reference refresh");
    let steps = seen
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let caps = fx.store.capabilities();
    if caps.aggregates.is_empty() {
        eprintln!(
            "SKIPPED (steps): {} materializes no aggregate, so its refresh has no steps",
            caps.backend
        );
    } else {
        assert!(
            steps.iter().any(|s| s.dataset == Dataset::Price),
            "{}: no step reported for pending candles: {steps:#?}",
            caps.backend
        );
        for (i, s) in steps.iter().enumerate() {
            same(
                "step number",
                s.step,
                u64::try_from(i + 1).unwrap_or(u64::MAX),
            );
            if let Some(n) = s.steps {
                assert!(s.step <= n, "step past the announced total: {s:#?}");
            }
            assert!(s.covered >= TimeDelta::zero(), "{s:#?}");
        }
    }
    let range = range(fixture_now() - TimeDelta::days(4), fixture_now());
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        for interval in ["5m", "1h", "2h", "1d"] {
            for freshness in [Freshness::RealTime, Freshness::MaterializedOnly] {
                let q = OhlcvQuery::new(symbol, iv(interval), range).with_freshness(freshness);
                compare_ohlcv(&fx, &q, &all).await;
            }
        }
    }
}

/// Latest price, price change, volume profile, price range, symbols and market overview.
pub async fn price_queries_match_reference(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let mut all = Fixture::market_candles();
    // A coarser native for BTC must not disturb base-interval answers.
    all.push(candle(
        "BTCUSDT",
        "1d",
        "2024-03-08T00:00:00Z",
        ["1", "1000000", "1", "1", "1000000"],
    ));
    fx.candles(&all).await;
    let s = &fx.store;
    let r = &fx.reference;
    same(
        "symbols",
        s.symbols().await.expect("symbols"),
        r.symbols().await.expect("symbols"),
    );
    for symbol in ["BTCUSDT", "ETHUSDT", "NOPE"] {
        same(
            "latest price",
            s.latest_price(symbol).await.expect("latest"),
            r.latest_price(symbol).await.expect("latest"),
        );
        for window in [
            TimeDelta::hours(1),
            TimeDelta::hours(24),
            TimeDelta::days(30),
        ] {
            same(
                "price change",
                s.price_change(symbol, window).await.expect("change"),
                r.price_change(symbol, window).await.expect("change"),
            );
            // As of past instants (backtests): between and on candle boundaries.
            for back in [
                TimeDelta::hours(30),
                TimeDelta::minutes(90) + TimeDelta::seconds(7),
            ] {
                let at = fixture_now() - back;
                same(
                    "price change as of",
                    s.price_change_at(symbol, window, at)
                        .await
                        .expect("change at"),
                    r.price_change_at(symbol, window, at)
                        .await
                        .expect("change at"),
                );
            }
        }
        let range = range(
            fixture_now() - TimeDelta::hours(36),
            fixture_now() - TimeDelta::hours(1),
        );
        same(
            "price range",
            s.price_range(symbol, range).await.expect("range"),
            r.price_range(symbol, range).await.expect("range"),
        );
        for step in ["1", "25", "0.5"] {
            let q = VolumeProfileQuery {
                symbol: symbol.to_owned(),
                range,
                price_step: dec(step),
            };
            same(
                "volume profile",
                s.volume_profile(&q).await.expect("profile"),
                r.volume_profile(&q).await.expect("profile"),
            );
        }
    }
    let overview = s.market_overview().await.expect("overview");
    same(
        "market overview",
        &overview,
        &r.market_overview().await.expect("overview"),
    );
    same("overview rows", overview.len(), 2);
    assert!(
        overview.iter().all(|o| o.change_24h.is_some()),
        "24h change missing"
    );
    let latest = s
        .latest_price("BTCUSDT")
        .await
        .expect("latest")
        .expect("BTC has a price");
    same(
        "latest price comes from the base interval",
        latest.interval,
        iv("1m"),
    );
}
