//! Property tests of the query router: every route is valid and the coarsest usable
//! aggregate is chosen; and, executed by the reference store, the routed answer equals a
//! naive aggregation of the raw candles, whatever the backend shape.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use common::{common_interval, config, runtime};
use marketseries_core::{
    AggregateCapability, Bar, Candle, Capabilities, ErrorKind, FixedClock, Freshness, Interval,
    MemoryStore, OhlcvQuery, PriceStore, QueryRouter, Route, TimeRange, TimeSeriesStore,
};
use marketseries_testkit::naive::naive_ohlcv;
use proptest::prelude::*;
use rust_decimal::Decimal;

const AGGREGATES: [&str; 9] = ["2m", "5m", "10m", "15m", "1h", "3h", "4h", "1d", "1w"];
const NATIVES: [&str; 4] = ["1m", "3m", "5m", "1h"];
const SYMBOLS: [&str; 3] = ["BTC", "ETH", "DOGE"];

fn iv(s: &str) -> Interval {
    s.parse().unwrap()
}

/// A backend shape: a random set of aggregates, flat or built hierarchically on a base.
fn capabilities() -> impl Strategy<Value = Capabilities> {
    (
        prop::collection::vec(any::<bool>(), AGGREGATES.len()),
        prop::sample::select(vec![None, Some("1m"), Some("5m"), Some("15m")]),
        any::<bool>(),
    )
        .prop_map(|(present, base, real_time)| {
            let aggregates = AGGREGATES
                .iter()
                .zip(present)
                .filter(|(_, p)| *p)
                .map(|(a, _)| {
                    let interval = iv(a);
                    match base.map(iv) {
                        Some(b) if b.divides(interval) => AggregateCapability {
                            interval,
                            covers: b,
                        },
                        _ => AggregateCapability::flat(interval),
                    }
                })
                .collect();
            Capabilities {
                aggregates,
                real_time_aggregates: real_time,
                ..Capabilities::raw_only("memory")
            }
        })
}

fn freshness() -> impl Strategy<Value = Freshness> {
    prop::sample::select(vec![
        Freshness::RealTime,
        Freshness::Refreshed,
        Freshness::MaterializedOnly,
    ])
}

fn base_time() -> DateTime<Utc> {
    "2024-03-04T00:00:00Z".parse().unwrap()
}

/// (symbol, native, slot, offset in permille of the native width, price in cents, spread, volume).
type CandleSpec = (usize, usize, i64, i64, i64, i64, i64);

fn candle_spec() -> impl Strategy<Value = CandleSpec> {
    (
        0..SYMBOLS.len(),
        0..NATIVES.len(),
        0i64..400,
        prop_oneof![3 => Just(0i64), 1 => 0i64..1000],
        1_000i64..100_000,
        0i64..500,
        0i64..1_000_000,
    )
}

fn build(spec: &CandleSpec) -> Candle {
    let &(s, n, slot, permille, cents, spread, volume) = spec;
    let native = iv(NATIVES[n]);
    let offset = TimeDelta::microseconds(native.micros() / 1000 * permille);
    let open = Decimal::new(cents, 2);
    let close = Decimal::new(cents + spread - 250, 2).max(Decimal::new(1, 2));
    Candle {
        symbol: SYMBOLS[s].to_owned(),
        interval: native,
        time: base_time() + native.duration() * i32::try_from(slot).unwrap() + offset,
        open,
        high: open.max(close) + Decimal::new(spread, 2),
        low: (open.min(close) - Decimal::new(spread, 3)).max(Decimal::new(1, 3)),
        close,
        volume: Decimal::new(volume, 3),
    }
}

fn query() -> impl Strategy<Value = OhlcvQuery> {
    (
        0..SYMBOLS.len(),
        prop_oneof![common_interval(), Just(iv("7m"))],
        -600i64..30_000,
        1i64..30_000,
        freshness(),
    )
        .prop_map(|(s, interval, from_min, len_min, freshness)| {
            let from = base_time() + TimeDelta::minutes(from_min) + TimeDelta::seconds(17);
            let to = from + TimeDelta::minutes(len_min);
            OhlcvQuery::new(SYMBOLS[s], interval, TimeRange::new(from, to).unwrap())
                .with_freshness(freshness)
        })
}

/// The answer computed the simplest way (testkit's naive oracle) from the final candles.
fn naive(
    truth: &BTreeMap<(String, Interval, DateTime<Utc>), Candle>,
    q: &OhlcvQuery,
) -> Result<Vec<Bar>, ErrorKind> {
    let candles: Vec<Candle> = truth.values().cloned().collect();
    naive_ohlcv(&candles, q).ok_or(ErrorKind::UnsupportedInterval)
}

fn check_route(
    q: &OhlcvQuery,
    natives: &[Interval],
    caps: &Capabilities,
) -> Result<(), TestCaseError> {
    let result = QueryRouter::route(q, natives, caps);
    let finest = natives
        .iter()
        .copied()
        .filter(|n| n.divides(q.interval))
        .min();
    let route = match (result, finest) {
        (Err(e), None) if !natives.is_empty() => {
            prop_assert_eq!(e.kind(), ErrorKind::UnsupportedInterval);
            return Ok(());
        }
        (Ok(Route::NoData), _) => {
            prop_assert!(natives.is_empty());
            return Ok(());
        }
        (Ok(r), Some(_)) => r,
        (other, f) => {
            return Err(TestCaseError::fail(format!(
                "route {other:?} with finest {f:?}"
            )))
        }
    };
    let native = route.native().unwrap();
    prop_assert_eq!(Some(native), finest);
    prop_assert!(native.divides(q.interval));
    let aggregates_allowed = q.freshness != Freshness::RealTime || caps.real_time_aggregates;
    let usable: Vec<Interval> = caps
        .aggregates
        .iter()
        .filter(|a| a.holds_native(native) && a.interval.divides(q.interval))
        .map(|a| a.interval)
        .collect();
    match route {
        Route::Raw { .. } => prop_assert!(!aggregates_allowed || usable.is_empty()),
        Route::Materialized { aggregate, .. } | Route::ReAggregate { aggregate, .. } => {
            prop_assert!(aggregates_allowed);
            prop_assert!(
                usable.contains(&aggregate),
                "aggregate must hold the native and divide the request"
            );
            prop_assert!(
                native.divides(aggregate),
                "never finer than the native interval"
            );
            prop_assert!(
                usable.iter().all(|u| *u <= aggregate),
                "coarsest usable aggregate"
            );
            prop_assert_eq!(
                matches!(route, Route::Materialized { .. }),
                aggregate == q.interval
            );
        }
        Route::NoData => unreachable!(),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_route_is_valid(q in query(), caps in capabilities(),
                            natives in prop::collection::vec(prop::sample::select(NATIVES.to_vec()), 0..4)) {
        let natives: Vec<Interval> = natives.into_iter().map(iv).collect();
        check_route(&q, &natives, &caps)?;
    }

    #[test]
    fn routed_answers_equal_naive_aggregation(
        caps in capabilities(),
        first in prop::collection::vec(candle_spec(), 0..120),
        duplicates in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
        corrections in prop::collection::vec((any::<prop::sample::Index>(), 1_000i64..100_000), 0..15),
        queries in prop::collection::vec(query(), 1..4),
    ) {
        let rt = runtime();
        // After every generated candle: stores refuse records far ahead of their clock.
        let clock = Arc::new(FixedClock::new(base_time() + TimeDelta::days(3_650)));
        let stores = [
            MemoryStore::with_capabilities(clock.clone(), caps.clone()),
            MemoryStore::with_clock(clock.clone()),
            MemoryStore::with_capabilities(clock, Capabilities::raw_only("memory")),
        ];
        let mut truth = BTreeMap::new();
        let mut batch: Vec<Candle> = first.iter().map(build).collect();
        // Duplicates inside the batch: an earlier copy with other values; the later one wins.
        for d in &duplicates {
            if batch.is_empty() { break; }
            let mut early = batch[d.index(batch.len())].clone();
            early.volume += Decimal::ONE;
            batch.insert(0, early);
        }
        for c in &batch {
            truth.insert((c.symbol.clone(), c.interval, c.time), c.clone());
        }
        rt.block_on(async {
            for s in &stores {
                s.store_candles(&batch).await.unwrap();
            }
        });
        let run = |truth: &BTreeMap<_, _>| -> Result<(), TestCaseError> {
            for q in &queries {
                let expected = naive(truth, q);
                for store in &stores {
                    let got = rt.block_on(async {
                        if q.freshness == Freshness::MaterializedOnly {
                            store.refresh(None).await.unwrap();
                        }
                        store.ohlcv(q).await
                    });
                    match (&expected, got) {
                        (Ok(bars), Ok(series)) => {
                            prop_assert_eq!(bars, &series.bars, "route {} for {} {}", series.route, q.interval, q.range);
                            check_route(q, &rt.block_on(store.native_intervals(&q.symbol)).unwrap(), &store.capabilities())?;
                        }
                        (Err(kind), Err(e)) => prop_assert_eq!(*kind, e.kind()),
                        (e, g) => return Err(TestCaseError::fail(format!("expected {e:?}, got {g:?}"))),
                    }
                }
            }
            Ok(())
        };
        run(&truth)?;
        // Late corrections to candles already aggregated: a later upsert of the same key.
        if !batch.is_empty() {
            let late: Vec<Candle> = corrections
                .iter()
                .map(|(i, cents)| {
                    let mut c = batch[i.index(batch.len())].clone();
                    c.close = Decimal::new(*cents, 2);
                    c.high = c.high.max(c.close);
                    c.low = c.low.min(c.close);
                    c
                })
                .collect();
            for c in &late {
                truth.insert((c.symbol.clone(), c.interval, c.time), c.clone());
            }
            rt.block_on(async {
                for s in &stores {
                    s.store_candles(&late).await.unwrap();
                }
            });
            run(&truth)?;
        }
    }
}
