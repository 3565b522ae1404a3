//! Maintenance checks: retention, stats, policies, capabilities.

use chrono::{DateTime, TimeDelta, Utc};
use marketseries_core::{
    Candle, ErrorKind, Expiry, Flow, FlowType, Interval, OhlcvQuery, Policies, PriceStore,
    RetentionPolicy, SentimentLabel, SentimentReading, TimeRange, TimeSeriesStore,
};
use rust_decimal::Decimal;

use super::fixtures::{fixture_now, same, Fixture};
use super::StoreFactory;

fn day_candle(symbol: &str, time: DateTime<Utc>) -> Candle {
    Candle {
        symbol: symbol.into(),
        interval: Interval::D1,
        time,
        open: Decimal::from(10),
        high: Decimal::from(11),
        low: Decimal::from(9),
        close: Decimal::from(10),
        volume: Decimal::from(1),
    }
}

/// Daily candles of the 400 days up to `now` and 200 days of sentiment and flows, one
/// record every `step` days: data older than every one of the seed's retention horizons.
pub(super) fn history(
    now: DateTime<Utc>,
    step: usize,
) -> (Vec<Candle>, Vec<SentimentReading>, Vec<Flow>) {
    let start = Interval::D1.floor(now) - TimeDelta::days(400);
    let candles: Vec<Candle> = (0..401)
        .step_by(step)
        .map(|d| day_candle("BTCUSDT", start + TimeDelta::days(d)))
        .collect();
    let readings: Vec<SentimentReading> = (0..200)
        .step_by(step)
        .map(|d| SentimentReading {
            asset: "BTC".into(),
            source: "news".into(),
            time: now - TimeDelta::days(d) - TimeDelta::minutes(1),
            score: 0.5,
            label: SentimentLabel::Bullish,
            mention_volume: 1,
            engagement: 1.0,
        })
        .collect();
    let flows: Vec<Flow> = (0..200)
        .step_by(step)
        .map(|d| Flow {
            asset: "BTC".into(),
            time: now - TimeDelta::days(d) - TimeDelta::minutes(1),
            flow_type: FlowType::ExchangeInflow,
            amount: Decimal::ONE,
            usd_value: Decimal::TEN,
            source: "binance".into(),
            reference: format!("d{d}"),
        })
        .collect();
    (candles, readings, flows)
}

/// With an injected clock, retention keeps every row inside its window (and the reference
/// store, which removes exactly the expired rows, agrees on everything inside it).
pub async fn retention_keeps_rows_inside_window(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    if !fx.store.capabilities().retention {
        eprintln!(
            "SKIPPED retention_keeps_rows_inside_window: {} says it has no retention",
            fx.store.capabilities().backend
        );
        return;
    }
    let now = fixture_now();
    let (candles, readings, flows) = history(now, 1);
    fx.candles(&candles).await;
    fx.sentiments(&readings).await;
    fx.flows(&flows).await;
    let policies = Policies {
        retention: RetentionPolicy::SEED,
        ..Policies::default()
    };
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
    assert!(!report.actions.is_empty(), "retention reported nothing");
    for action in &report.actions {
        let horizon = policies.retention.horizon(action.dataset).expect("horizon");
        assert!(
            action.cutoff <= now - horizon,
            "{} cutoff {} is inside the window",
            action.dataset,
            action.cutoff
        );
    }
    let window = |days| {
        TimeRange::new(now - TimeDelta::days(days), now + TimeDelta::days(1)).expect("range")
    };
    // Backends drop whole partitions, so rows just before the cutoff may survive; compare
    // from the first whole day inside the window.
    let first_day = Interval::D1.floor(now - TimeDelta::days(365)) + TimeDelta::days(1);
    let range = TimeRange::new(first_day, now + TimeDelta::days(1)).expect("range");
    let q = OhlcvQuery::new("BTCUSDT", Interval::D1, range);
    let kept = fx.store.ohlcv(&q).await.expect("ohlcv").bars;
    same(
        "candles inside the window",
        &kept,
        &fx.reference.ohlcv(&q).await.expect("ohlcv").bars,
    );
    let inside = candles.iter().filter(|c| c.time >= first_day).count();
    same("every day inside the window is kept", kept.len(), inside);
    let in_window = readings
        .iter()
        .filter(|r| r.time >= now - TimeDelta::days(180))
        .count();
    same(
        "sentiment inside the window",
        fx.store
            .sentiment_readings("BTC", window(180), None)
            .await
            .expect("readings")
            .len(),
        in_window,
    );
    let in_window = flows
        .iter()
        .filter(|f| f.time >= now - TimeDelta::days(180))
        .count();
    same(
        "flows inside the window",
        fx.store
            .flow_history("BTC", window(180), None)
            .await
            .expect("history")
            .len(),
        in_window,
    );
}

/// Stats report one entry per dataset table with exact row counts.
pub async fn stats_count_rows(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let candles = Fixture::market_candles();
    let sentiment = Fixture::market_sentiment();
    let flows = Fixture::market_flows();
    fx.candles(&candles).await;
    fx.sentiments(&sentiment).await;
    fx.flows(&flows).await;
    let stats = fx.store.stats().await.expect("stats");
    same(
        "backend name",
        stats.backend,
        fx.store.capabilities().backend,
    );
    let rows = |name: &str| stats.tables.iter().find(|t| t.name == name).map(|t| t.rows);
    let expect = |n: usize| Some(u64::try_from(n).expect("count"));
    same("candle rows", rows("candles"), expect(candles.len()));
    same("sentiment rows", rows("sentiment"), expect(sentiment.len()));
    same("flow rows", rows("flows"), expect(flows.len()));
}

/// Incoherent policies are a configuration error; coherent ones apply twice without error.
pub async fn policies_are_validated(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let mut bad = Policies::default();
    bad.retention.price = Some(TimeDelta::days(1));
    let err = fx
        .store
        .apply_policies(&bad, Expiry::Confirmed)
        .await
        .expect_err("retention inside the refresh window must fail");
    same("error kind", err.kind(), ErrorKind::Config);
    let good = Policies::default();
    fx.store
        .apply_policies(&good, Expiry::Refuse)
        .await
        .expect("apply policies");
    let mut changed = good;
    changed.retention.sentiment = Some(TimeDelta::days(90));
    // Nothing is stored, so nothing expires: no confirmation needed.
    fx.store
        .apply_policies(&changed, Expiry::Refuse)
        .await
        .expect("re-apply changed policies");
}

/// Capabilities are self-consistent and the router can use them.
pub async fn capabilities_are_coherent(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let caps = fx.store.capabilities();
    assert!(caps.max_batch_size > 0, "max_batch_size must be positive");
    for a in &caps.aggregates {
        assert!(
            a.covers.divides(a.interval),
            "aggregate {} cannot hold rows covered by {}",
            a.interval,
            a.covers
        );
    }
    if caps.aggregates.is_empty() {
        eprintln!(
            "SKIPPED (capabilities): {} has no materialized aggregates; every route is raw",
            caps.backend
        );
    }
}
