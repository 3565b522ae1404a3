//! Price reads on edge cases: interval text order vs width order, `7d` vs `1w`, seconds,
//! byte-ordered symbols, stale symbols, empty stores, repeated calls, late highs.

use chrono::TimeDelta;
use marketseries_core::{Candle, Interval, PriceStore, TimeRange, VolumeProfileQuery};
use rust_decimal::Decimal;

use super::fixtures::{fixture_now, Fixture};
use super::StoreFactory;

/// `count` candles of `interval` for `symbol`, the last one starting `last_ago` before
/// "now" (floored to the interval), prices drifting with `seed`.
fn series(symbol: &str, interval: &str, last_ago: TimeDelta, count: i64, seed: i64) -> Vec<Candle> {
    let interval: Interval = interval.parse().expect("interval");
    let last = interval.floor(fixture_now() - last_ago);
    (0..count)
        .map(|i| {
            let open = Decimal::from(100 + seed + (i * 7 + seed) % 13);
            let close = Decimal::from(100 + seed + (i * 5 + seed) % 11);
            Candle {
                symbol: symbol.to_owned(),
                interval,
                time: last - interval.duration() * i32::try_from(count - 1 - i).expect("count"),
                open,
                high: open.max(close) + Decimal::ONE,
                low: open.min(close) - Decimal::ONE,
                close,
                volume: Decimal::from(1 + i % 4),
            }
        })
        .collect()
}

fn data() -> Vec<Candle> {
    let min = TimeDelta::minutes;
    [
        // Base 1m, although 10m and 15m sort before it as text and 1h is newer.
        series("ALPHA", "1m", min(30), 200, 1),
        series("ALPHA", "10m", min(5), 30, 2),
        series("ALPHA", "15m", min(1), 20, 3),
        series("ALPHA", "1h", min(0), 10, 4),
        // Base 2m, not 10m.
        series("BETA", "10m", min(0), 50, 5),
        series("BETA", "2m", min(90), 100, 6),
        // Base 7d (epoch-aligned) before 1w of the same width; neither in the last 24 hours.
        series("WEEKLY", "1w", TimeDelta::zero(), 6, 7),
        series("WEEKLY", "7d", TimeDelta::days(1), 6, 8),
        // Base 30s, after 1m as text.
        series("SECS", "1m", min(0), 100, 9),
        series("SECS", "30s", min(3), 100, 10),
        // Sorts after every upper-case symbol in byte order.
        series("lower", "5m", min(0), 40, 11),
        // Nothing in the last 24 hours: no change in the overview.
        series("STALE", "1h", TimeDelta::days(3), 24, 12),
    ]
    .concat()
}

async fn check_everything(fx: &Fixture) {
    let (s, r) = (&fx.store, &fx.reference);
    assert_eq!(
        s.symbols().await.expect("symbols"),
        r.symbols().await.expect("symbols")
    );
    for symbol in ["ALPHA", "BETA", "WEEKLY", "SECS", "lower", "STALE", "NOPE"] {
        assert_eq!(
            s.native_intervals(symbol).await.expect("natives"),
            r.native_intervals(symbol).await.expect("natives"),
            "{symbol} natives"
        );
        assert_eq!(
            s.latest_price(symbol).await.expect("latest"),
            r.latest_price(symbol).await.expect("latest"),
            "{symbol} latest"
        );
        for window in [
            TimeDelta::hours(2),
            TimeDelta::hours(24),
            TimeDelta::days(60),
        ] {
            assert_eq!(
                s.price_change(symbol, window).await.expect("change"),
                r.price_change(symbol, window).await.expect("change"),
                "{symbol} change over {window}"
            );
        }
        let range = TimeRange::last(fixture_now(), TimeDelta::days(10)).expect("range");
        assert_eq!(
            s.price_range(symbol, range).await.expect("range"),
            r.price_range(symbol, range).await.expect("range"),
            "{symbol} price range"
        );
        let q = VolumeProfileQuery {
            symbol: symbol.to_owned(),
            range,
            price_step: Decimal::from(3),
        };
        assert_eq!(
            s.volume_profile(&q).await.expect("profile"),
            r.volume_profile(&q).await.expect("profile"),
            "{symbol} volume profile"
        );
    }
    assert_eq!(
        s.market_overview().await.expect("overview"),
        r.market_overview().await.expect("overview"),
        "market overview"
    );
}

/// Price reads on cases the main fixtures leave out, against the reference store: native
/// intervals whose text order differs from their width order (`10m` < `1m` < `2m` as
/// text), `7d` against `1w` (same width, epoch-aligned first), seconds, symbols in byte
/// order, a symbol without candles in the overview window, an empty store, repeated calls
/// (prepared statements and generic plans must not change answers), and a late correction
/// of an hour's high before and after a refresh.
pub async fn price_edge_cases_match_reference(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    check_everything(&fx).await;
    assert!(fx
        .store
        .market_overview()
        .await
        .expect("overview")
        .is_empty());
    fx.candles(&data()).await;
    check_everything(&fx).await;
    let overview = fx.store.market_overview().await.expect("overview");
    let bases: Vec<(&str, String, bool)> = overview
        .iter()
        .map(|o| {
            (
                o.latest.symbol.as_str(),
                o.latest.interval.to_string(),
                o.change_24h.is_some(),
            )
        })
        .collect();
    assert_eq!(
        bases,
        [
            ("ALPHA", "1m".to_owned(), true),
            ("BETA", "2m".to_owned(), true),
            ("SECS", "30s".to_owned(), true),
            ("STALE", "1h".to_owned(), false),
            ("WEEKLY", "7d".to_owned(), false),
            ("lower", "5m".to_owned(), true),
        ]
    );
    // Repeated calls reuse each connection's prepared statements (and, after five,
    // PostgreSQL's generic plans): the answers must not change with the plan.
    for _ in 0..7 {
        check_everything(&fx).await;
    }

    // With the rollups refreshed, price changes and the overview take whole hours from
    // `ohlcv_1h`; a late correction that raises the high of one of those hours is pending
    // until the next refresh (raw path), then materialized (rollup path): same answers.
    fx.store.refresh(None).await.expect("refresh");
    check_everything(&fx).await;
    let mut late = series("ALPHA", "1m", TimeDelta::minutes(100), 1, 1);
    late[0].high += Decimal::from(1_000);
    fx.candles(&late).await;
    check_everything(&fx).await;
    fx.store.refresh(None).await.expect("refresh");
    check_everything(&fx).await;
    let alpha = fx
        .store
        .price_change("ALPHA", TimeDelta::hours(24))
        .await
        .expect("change")
        .expect("a change");
    assert_eq!(alpha.high, late[0].high, "the late high counts");
}
