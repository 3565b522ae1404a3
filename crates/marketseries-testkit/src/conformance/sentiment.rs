//! Sentiment checks: every sentiment method against the reference store.

use std::fmt::Debug;

use chrono::TimeDelta;
use marketseries_core::{AggregateBucket, SentimentStore, TimeRange};

use super::approx::Approx;
use super::fixtures::{fixture_now, Fixture};
use super::StoreFactory;

#[track_caller]
fn close_enough<T: Approx + Debug>(what: &str, got: T, expected: T) {
    assert!(
        got.approx_eq(&expected),
        "{what}: the store answered\n{got:#?}\nbut the reference says\n{expected:#?}"
    );
}

/// Raw readings, hourly/daily aggregates, trend, per-source breakdown, distribution, latest
/// and the summary, compared with the reference store.
pub async fn sentiment_queries_match_reference(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    fx.sentiments(&Fixture::market_sentiment()).await;
    let (s, r) = (&fx.store, &fx.reference);
    let now = fixture_now();
    let ranges = [
        TimeRange::new(now - TimeDelta::days(5), now).expect("range"),
        TimeRange::new(
            now - TimeDelta::hours(50) + TimeDelta::minutes(7),
            now - TimeDelta::hours(3) - TimeDelta::seconds(1),
        )
        .expect("range"),
    ];
    for asset in ["BTC", "ETH", "NONE"] {
        for range in ranges {
            for source in [None, Some("twitter"), Some("nobody")] {
                close_enough(
                    "readings",
                    s.sentiment_readings(asset, range, source)
                        .await
                        .expect("readings"),
                    r.sentiment_readings(asset, range, source)
                        .await
                        .expect("readings"),
                );
            }
            for bucket in [AggregateBucket::Hour, AggregateBucket::Day] {
                close_enough(
                    "aggregates",
                    s.sentiment_aggregates(asset, bucket, range)
                        .await
                        .expect("aggregates"),
                    r.sentiment_aggregates(asset, bucket, range)
                        .await
                        .expect("aggregates"),
                );
            }
            close_enough(
                "by source",
                s.sentiment_by_source(asset, range)
                    .await
                    .expect("by source"),
                r.sentiment_by_source(asset, range)
                    .await
                    .expect("by source"),
            );
            assert_eq!(
                s.sentiment_distribution(asset, range)
                    .await
                    .expect("distribution"),
                r.sentiment_distribution(asset, range)
                    .await
                    .expect("distribution"),
                "distribution of {asset} over {range}"
            );
        }
        for window in [TimeDelta::hours(6), TimeDelta::days(1)] {
            close_enough(
                "trend",
                s.sentiment_trend(asset, window).await.expect("trend"),
                r.sentiment_trend(asset, window).await.expect("trend"),
            );
            let at = fixture_now() - TimeDelta::hours(20) - TimeDelta::seconds(13);
            close_enough(
                "trend as of",
                s.sentiment_trend_at(asset, window, at)
                    .await
                    .expect("trend at"),
                r.sentiment_trend_at(asset, window, at)
                    .await
                    .expect("trend at"),
            );
        }
        for source in [None, Some("reddit")] {
            close_enough(
                "latest",
                s.latest_sentiment(asset, source).await.expect("latest"),
                r.latest_sentiment(asset, source).await.expect("latest"),
            );
        }
    }
    let summary = s
        .sentiment_summary(TimeDelta::hours(24))
        .await
        .expect("summary");
    assert_eq!(summary.len(), 2, "summary rows");
    close_enough(
        "summary",
        summary,
        r.sentiment_summary(TimeDelta::hours(24))
            .await
            .expect("summary"),
    );
    let at = fixture_now() - TimeDelta::hours(40);
    close_enough(
        "summary as of",
        s.sentiment_summary_at(TimeDelta::hours(24), at)
            .await
            .expect("summary at"),
        r.sentiment_summary_at(TimeDelta::hours(24), at)
            .await
            .expect("summary at"),
    );
    let hourly = s
        .sentiment_aggregates("BTC", AggregateBucket::Hour, ranges[0])
        .await
        .expect("aggregates");
    assert!(
        hourly.len() >= 90,
        "expected about 96 hourly buckets, got {}",
        hourly.len()
    );
    assert!(
        hourly[1..hourly.len() - 1].iter().all(|a| a.readings == 18),
        "every inner hour holds 3 sources x 6 readings"
    );
}
