//! Flow checks: every flow method against the reference store.

use chrono::TimeDelta;
use marketseries_core::{AggregateBucket, FlowStore, FlowType, TimeRange, WhaleQuery};
use rust_decimal::Decimal;

use super::fixtures::{fixture_now, same, Fixture};
use super::StoreFactory;

/// History, aggregates, net flow, whale activity, per-exchange breakdown and velocity.
pub async fn flow_queries_match_reference(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    let flows = Fixture::market_flows();
    fx.flows(&flows).await;
    let (s, r) = (&fx.store, &fx.reference);
    let now = fixture_now();
    let ranges = [
        TimeRange::new(now - TimeDelta::days(5), now).expect("range"),
        TimeRange::new(
            now - TimeDelta::hours(40) - TimeDelta::minutes(11),
            now - TimeDelta::hours(1),
        )
        .expect("range"),
    ];
    for asset in ["BTC", "ETH", "NONE"] {
        for range in ranges {
            for t in [
                None,
                Some(FlowType::ExchangeInflow),
                Some(FlowType::WhaleTransfer),
            ] {
                same(
                    "history",
                    s.flow_history(asset, range, t).await.expect("history"),
                    r.flow_history(asset, range, t).await.expect("history"),
                );
            }
            for bucket in [AggregateBucket::Hour, AggregateBucket::Day] {
                same(
                    "aggregates",
                    s.flow_aggregates(asset, bucket, range)
                        .await
                        .expect("aggregates"),
                    r.flow_aggregates(asset, bucket, range)
                        .await
                        .expect("aggregates"),
                );
            }
            same(
                "net flow",
                s.net_flow(asset, range).await.expect("net"),
                r.net_flow(asset, range).await.expect("net"),
            );
            same(
                "by exchange",
                s.exchange_breakdown(asset, range).await.expect("breakdown"),
                r.exchange_breakdown(asset, range).await.expect("breakdown"),
            );
        }
        for window in [TimeDelta::hours(6), TimeDelta::days(1)] {
            same(
                "velocity",
                s.flow_velocity(asset, window).await.expect("velocity"),
                r.flow_velocity(asset, window).await.expect("velocity"),
            );
            let at = fixture_now() - TimeDelta::hours(30) - TimeDelta::seconds(1);
            same(
                "velocity as of",
                s.flow_velocity_at(asset, window, at)
                    .await
                    .expect("velocity at"),
                r.flow_velocity_at(asset, window, at)
                    .await
                    .expect("velocity at"),
            );
        }
    }
    for asset in [None, Some("BTC".to_owned())] {
        for min in ["0", "20", "100.5"] {
            let q = WhaleQuery {
                asset: asset.clone(),
                range: ranges[0],
                min_amount: min.parse().expect("decimal"),
            };
            same(
                "whales",
                s.whale_activity(&q).await.expect("whales"),
                r.whale_activity(&q).await.expect("whales"),
            );
        }
    }
    let net = s.net_flow("BTC", ranges[0]).await.expect("net");
    let by_hand: Decimal = flows
        .iter()
        .filter(|f| f.asset == "BTC" && ranges[0].contains(f.time))
        .map(|f| match f.flow_type {
            FlowType::ExchangeInflow => f.amount,
            FlowType::ExchangeOutflow => -f.amount,
            _ => Decimal::ZERO,
        })
        .sum();
    same("net amount computed by hand", net.net_amount(), by_hand);
    assert!(
        net.inflows > 0 && net.outflows > 0,
        "fixture must have both directions"
    );
}
