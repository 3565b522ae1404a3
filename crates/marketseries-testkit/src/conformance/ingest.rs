//! Ingest checks: idempotence, atomic batches, duplicates, limits, bad arguments.

use chrono::{DateTime, TimeDelta, Utc};
use marketseries_core::{
    Candle, ErrorKind, Flow, FlowType, Interval, OhlcvQuery, SentimentLabel, SentimentReading,
    TimeRange, VolumeProfileQuery, WhaleQuery,
};
use rust_decimal::Decimal;

use super::fixtures::{fixture_now, same, Fixture};
use super::StoreFactory;

fn everything() -> TimeRange {
    TimeRange::new(
        DateTime::<Utc>::UNIX_EPOCH,
        fixture_now() + TimeDelta::days(365),
    )
    .expect("range")
}

async fn row_counts(fx: &Fixture) -> std::collections::BTreeMap<String, u64> {
    crate::counts::table_rows(fx.store.as_ref()).await
}

async fn btc_hourly(fx: &Fixture) -> Vec<marketseries_core::Bar> {
    let q = OhlcvQuery::new("BTCUSDT", Interval::H1, everything());
    fx.store.ohlcv(&q).await.expect("ohlcv").bars
}

/// Re-ingesting the same batches changes nothing.
pub async fn reingest_is_idempotent(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let candles = Fixture::market_candles();
    let sentiment = Fixture::market_sentiment();
    let flows = Fixture::market_flows();
    fx.candles(&candles).await;
    fx.sentiments(&sentiment).await;
    fx.flows(&flows).await;
    let counts = row_counts(&fx).await;
    let bars = btc_hourly(&fx).await;
    let net = fx
        .store
        .net_flow("BTC", everything())
        .await
        .expect("net flow");
    fx.candles(&candles).await;
    fx.sentiments(&sentiment).await;
    fx.flows(&flows).await;
    same("row counts after re-ingest", row_counts(&fx).await, counts);
    same("hourly bars after re-ingest", btc_hourly(&fx).await, bars);
    same(
        "net flow after re-ingest",
        fx.store
            .net_flow("BTC", everything())
            .await
            .expect("net flow"),
        net,
    );
}

/// A batch with one bad record is rejected whole, the error names the record's index and
/// field, and data stored before is untouched.
pub async fn bad_batch_is_atomic(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let candles = Fixture::market_candles();
    let (old, new) = candles.split_at(100);
    fx.candles(old).await;
    let counts = row_counts(&fx).await;
    let bars = btc_hourly(&fx).await;

    let mut bad = new[..500].to_vec();
    bad[321].high = bad[321].low - Decimal::ONE;
    // Also an overwrite of an existing key inside the bad batch: it must not land either.
    let mut overwrite = old[3].clone();
    overwrite.close = overwrite.high;
    bad.push(overwrite);
    let err = fx
        .store
        .store_candles(&bad)
        .await
        .expect_err("bad candle batch must fail");
    let v = err
        .as_validation()
        .unwrap_or_else(|| panic!("expected a validation error, got {err}"));
    same(
        "candle index/field",
        (v.index, v.field),
        (Some(321), "high"),
    );

    let mut readings = Fixture::market_sentiment()[..50].to_vec();
    readings[7].score = f64::NAN;
    let err = fx
        .store
        .store_sentiments(&readings)
        .await
        .expect_err("NaN score must fail");
    let v = err
        .as_validation()
        .unwrap_or_else(|| panic!("expected a validation error, got {err}"));
    same(
        "sentiment index/field",
        (v.index, v.field),
        (Some(7), "score"),
    );

    let mut flows = Fixture::market_flows()[..50].to_vec();
    flows[49].amount = Decimal::from(-5);
    let err = fx
        .store
        .store_flows(&flows)
        .await
        .expect_err("negative amount must fail");
    let v = err
        .as_validation()
        .unwrap_or_else(|| panic!("expected a validation error, got {err}"));
    same("flow index/field", (v.index, v.field), (Some(49), "amount"));

    same(
        "row counts after rejected batches",
        row_counts(&fx).await,
        counts,
    );
    same("bars after rejected batches", btc_hourly(&fx).await, bars);
}

/// Duplicate keys inside one batch resolve to the last occurrence.
pub async fn duplicates_in_batch_last_wins(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let base = Candle {
        symbol: "ETHUSDT".into(),
        interval: Interval::M1,
        time: Interval::M1.floor(fixture_now()) - TimeDelta::hours(1),
        open: Decimal::from(10),
        high: Decimal::from(12),
        low: Decimal::from(9),
        close: Decimal::from(11),
        volume: Decimal::from(5),
    };
    let mut second = base.clone();
    second.close = Decimal::from(12);
    second.volume = Decimal::from(7);
    let mut other = base.clone();
    other.time += TimeDelta::minutes(1);
    let summary = fx
        .store
        .store_candles(&[base.clone(), other, second.clone()])
        .await
        .expect("store");
    same("summary", (summary.received, summary.distinct), (3, 2));
    let q = OhlcvQuery::new(
        "ETHUSDT",
        Interval::M1,
        TimeRange::new(base.time, base.time + TimeDelta::minutes(1)).expect("range"),
    );
    same(
        "last duplicate wins",
        fx.store.ohlcv(&q).await.expect("ohlcv").bars,
        vec![second.bar()],
    );

    let reading = |score: f64| SentimentReading {
        asset: "ETH".into(),
        source: "news".into(),
        time: fixture_now() - TimeDelta::hours(1),
        score,
        label: SentimentLabel::from_score(score),
        mention_volume: 1,
        engagement: 0.0,
    };
    fx.store
        .store_sentiments(&[reading(0.1), reading(-0.5)])
        .await
        .expect("store");
    let latest = fx
        .store
        .latest_sentiment("ETH", None)
        .await
        .expect("latest");
    same(
        "last sentiment duplicate wins",
        latest.map(|r| r.score),
        Some(-0.5),
    );

    let flow = |amount: i64| Flow {
        asset: "ETH".into(),
        time: fixture_now() - TimeDelta::hours(1),
        flow_type: FlowType::ExchangeInflow,
        amount: Decimal::from(amount),
        usd_value: Decimal::from(amount * 3),
        source: "kraken".into(),
        reference: "tx1".into(),
    };
    fx.store
        .store_flows(&[flow(1), flow(2)])
        .await
        .expect("store");
    let history = fx
        .store
        .flow_history("ETH", everything(), None)
        .await
        .expect("history");
    same("last flow duplicate wins", history, vec![flow(2)]);
}

/// A batch over the configured maximum is a typed error and stores nothing.
pub async fn oversized_batch_is_rejected(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let max = fx.store.capabilities().max_batch_size;
    let template = Fixture::market_candles().swap_remove(0);
    let Ok(n) = i32::try_from(max + 1) else {
        eprintln!("SKIPPED oversized_batch_is_rejected: max_batch_size {max} is too large to build a batch over it");
        return;
    };
    let batch: Vec<Candle> = (0..n)
        .map(|i| Candle {
            time: template.time + TimeDelta::seconds(i64::from(i)),
            ..template.clone()
        })
        .collect();
    let err = fx
        .store
        .store_candles(&batch)
        .await
        .expect_err("oversized batch must fail");
    same("error kind", err.kind(), ErrorKind::BatchTooLarge);
    same(
        "nothing stored",
        fx.store.symbols().await.expect("symbols"),
        Vec::<String>::new(),
    );
}

/// Malformed query arguments are typed `InvalidInput` errors, never panics or empty answers.
pub async fn bad_arguments_are_typed_errors(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    fx.candles(&Fixture::market_candles()[..100]).await;
    let s = &fx.store;
    let kind = |r: Result<(), marketseries_core::Error>| r.expect_err("must fail").kind();
    let range = everything();
    let zero_step = VolumeProfileQuery {
        symbol: "BTCUSDT".into(),
        range,
        price_step: Decimal::ZERO,
    };
    same(
        "zero price step",
        kind(s.volume_profile(&zero_step).await.map(drop)),
        ErrorKind::InvalidInput,
    );
    let negative = WhaleQuery {
        asset: None,
        range,
        min_amount: Decimal::from(-1),
    };
    same(
        "negative whale threshold",
        kind(s.whale_activity(&negative).await.map(drop)),
        ErrorKind::InvalidInput,
    );
    for window in [TimeDelta::zero(), TimeDelta::hours(-1)] {
        same(
            "price change window",
            kind(s.price_change("BTCUSDT", window).await.map(drop)),
            ErrorKind::InvalidInput,
        );
        same(
            "sentiment trend window",
            kind(s.sentiment_trend("BTC", window).await.map(drop)),
            ErrorKind::InvalidInput,
        );
        same(
            "flow velocity window",
            kind(s.flow_velocity("BTC", window).await.map(drop)),
            ErrorKind::InvalidInput,
        );
        same(
            "sentiment summary window",
            kind(s.sentiment_summary(window).await.map(drop)),
            ErrorKind::InvalidInput,
        );
    }
}

/// A record more than the allowed skew (a day) ahead of the store's clock fails its whole
/// batch with a validation error naming it, for every dataset; one exactly a day ahead is
/// stored. (A candle dated 2099 would otherwise be the latest price for good.)
pub async fn records_far_ahead_of_the_clock_are_rejected(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let now = fixture_now();
    let counts = row_counts(&fx).await;
    let limit = now + TimeDelta::days(1);
    let candle = |time| Candle {
        symbol: "BTCUSDT".into(),
        interval: Interval::M1,
        time,
        open: Decimal::TEN,
        high: Decimal::TEN,
        low: Decimal::TEN,
        close: Decimal::TEN,
        volume: Decimal::ONE,
    };
    let batch = [candle(now), candle(limit + TimeDelta::minutes(1))];
    let err = fx
        .store
        .store_candles(&batch)
        .await
        .expect_err("a candle a day and a minute ahead");
    let v = err
        .as_validation()
        .unwrap_or_else(|| panic!("expected a validation error, got {err}"));
    same("candle index/field", (v.index, v.field), (Some(1), "time"));
    let far = candle("2099-06-01T00:00:00Z".parse().expect("time"));
    let err = fx.store.store_candles(&[far]).await.expect_err("2099");
    same("error kind", err.kind(), ErrorKind::InvalidInput);

    let reading = SentimentReading {
        asset: "BTC".into(),
        source: "news".into(),
        time: limit + TimeDelta::hours(1),
        score: 0.1,
        label: SentimentLabel::Neutral,
        mention_volume: 1,
        engagement: 1.0,
    };
    let err = fx
        .store
        .store_sentiments(&[reading])
        .await
        .expect_err("sentiment");
    same(
        "sentiment field",
        err.as_validation().map(|v| v.field),
        Some("time"),
    );
    let flow = Flow {
        asset: "BTC".into(),
        time: limit + TimeDelta::hours(1),
        flow_type: FlowType::ExchangeInflow,
        amount: Decimal::ONE,
        usd_value: Decimal::ONE,
        source: "binance".into(),
        reference: "ahead".into(),
    };
    let err = fx.store.store_flows(&[flow]).await.expect_err("flow");
    same(
        "flow field",
        err.as_validation().map(|v| v.field),
        Some("time"),
    );
    let value = marketseries_core::IndicatorValue {
        symbol: "BTCUSDT".into(),
        interval: Interval::M1,
        name: "rsi_14".into(),
        time: limit + TimeDelta::hours(1),
        value: Decimal::ONE,
    };
    let err = fx
        .store
        .store_indicators(&[value])
        .await
        .expect_err("indicator");
    same(
        "indicator field",
        err.as_validation().map(|v| v.field),
        Some("time"),
    );
    same(
        "row counts after rejected batches",
        row_counts(&fx).await,
        counts,
    );

    fx.candles(&[candle(limit)]).await;
    let latest = fx
        .store
        .latest_price("BTCUSDT")
        .await
        .expect("latest")
        .expect("a candle exactly at the limit is stored");
    same("latest time", latest.time, limit);
}

/// An engagement so large that sums of it could overflow is rejected, naming the field.
pub async fn engagement_is_bounded(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let mut readings = Fixture::market_sentiment()[..3].to_vec();
    readings[2].engagement = 1e300;
    let err = fx
        .store
        .store_sentiments(&readings)
        .await
        .expect_err("engagement 1e300");
    let v = err
        .as_validation()
        .unwrap_or_else(|| panic!("expected a validation error, got {err}"));
    same("index/field", (v.index, v.field), (Some(2), "engagement"));
}
