//! Scan checks: every dataset read back page by page, as the reference store pages it.

use chrono::TimeDelta;
use marketseries_core::time::{max_time, MIN_TIME};
use marketseries_core::{
    Dataset, ErrorKind, IndicatorStore, ScanPage, ScanQuery, TimeRange, TimeSeriesStore,
};

use super::fixtures::{fixture_now, same, Fixture};
use super::StoreFactory;

/// Every page of `query` from `store`.
async fn pages(store: &dyn TimeSeriesStore, query: ScanQuery) -> Vec<ScanPage> {
    let mut out = Vec::new();
    let mut next = Some(query);
    while let Some(q) = next {
        let page = store.scan(&q).await.expect("scan");
        next = q.after(&page);
        out.push(page);
        assert!(out.len() < 100_000, "the scan does not end");
    }
    out
}

/// Pages, counts, key filters, sub-ranges and an instant holding more records than a page:
/// every page equal to the reference store's, the pages together every selected record once,
/// in time order, no page over its limit unless it is one instant.
pub async fn scans_match_reference(factory: &dyn StoreFactory) {
    let fx = Fixture::new(factory).await;
    fx.candles(&Fixture::market_candles()).await;
    fx.sentiments(&Fixture::market_sentiment()).await;
    fx.flows(&Fixture::market_flows()).await;
    let indicators = super::indicator::market_indicators();
    fx.store
        .store_indicators(&indicators)
        .await
        .expect("indicators");
    fx.reference
        .store_indicators(&indicators)
        .await
        .expect("indicators");
    let (s, r): (&dyn TimeSeriesStore, &dyn TimeSeriesStore) = (fx.store.as_ref(), &fx.reference);

    let all = TimeRange::new(MIN_TIME, max_time()).expect("range");
    let now = fixture_now();
    let recent =
        TimeRange::new(now - TimeDelta::hours(30), now - TimeDelta::hours(20)).expect("range");
    let hour =
        TimeRange::new(now - TimeDelta::hours(26), now - TimeDelta::hours(25)).expect("range");
    let cases: Vec<(Dataset, TimeRange, Vec<&str>, usize)> = vec![
        (Dataset::Price, all, vec![], 5_000),
        (Dataset::Price, recent, vec!["ETHUSDT"], 97),
        // Two symbols share every minute: a limit of 1 pages whole minutes of 2 candles.
        (Dataset::Price, hour, vec![], 1),
        (Dataset::Sentiment, all, vec![], 500),
        (Dataset::Sentiment, recent, vec!["BTC"], 7),
        (Dataset::Flow, all, vec![], 13),
        (Dataset::Flow, recent, vec!["ETH", "NONE"], 3),
        (Dataset::Indicator, all, vec![], 50),
        (Dataset::Indicator, all, vec!["ETHUSDT"], 4),
    ];
    for (dataset, range, keys, limit) in cases {
        let query = ScanQuery::new(dataset, range, limit)
            .with_keys(keys.iter().map(|k| (*k).to_owned()).collect());
        let what = format!("scan of {dataset} over {range} keys {keys:?} limit {limit}");
        let got = pages(s, query.clone()).await;
        let want = pages(r, query.clone()).await;
        same(&what, &got, &want);
        let total: usize = got.iter().map(|p| p.records.len()).sum();
        assert!(total > 0, "{what}: nothing read");
        let counted = s.count(&query).await.expect("count");
        same(
            &format!("{what}: count"),
            counted,
            r.count(&query).await.expect("count"),
        );
        assert_eq!(
            counted,
            u64::try_from(total).expect("total"),
            "{what}: pages hold every record once"
        );
        for page in &got {
            let n = page.records.len();
            if n > limit {
                let json = serde_json::to_value(&page.records).expect("json");
                let times: std::collections::BTreeSet<String> = json
                    .as_array()
                    .expect("records")
                    .iter()
                    .map(|v| v["time"].to_string())
                    .collect();
                assert_eq!(
                    times.len(),
                    1,
                    "{what}: a page over its limit is one instant"
                );
            }
        }
    }
    let bad = ScanQuery::new(Dataset::Price, all, 0);
    assert_eq!(
        s.scan(&bad).await.expect_err("zero limit").kind(),
        ErrorKind::InvalidInput
    );
}
