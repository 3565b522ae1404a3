//! Maintenance under TimescaleDB's own background scheduler (issue 12): imported history
//! older than the seed's horizons survives every maintenance path while the server's jobs
//! run, and once a horizon is stored, the server's retention job drops exactly the expired
//! chunks the dry run named. Needs a server with a scheduler: skipped, loudly, on the
//! embedded TimescaleDB (which runs none).

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use diesel::sql_types::{BigInt, Text};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use marketseries_core::{
    Candle, Dataset, Expiry, Flow, FlowStore, FlowType, Interval, Policies, PriceStore,
    RetentionPolicy, SentimentLabel, SentimentReading, SentimentStore, SystemClock,
    TimeSeriesStore,
};
use marketseries_testkit::launcher::{fresh_database, Flavor, ServerKind};
use marketseries_timescale::{PgConfig, TimescaleExt, TimescaleStore};
use rust_decimal::Decimal;

#[derive(QueryableByName, Debug)]
struct JobRuns {
    #[diesel(sql_type = BigInt)]
    id: i64,
    // Read only by the failure messages (`Debug`).
    #[allow(dead_code)]
    #[diesel(sql_type = Text)]
    proc_name: String,
    #[diesel(sql_type = BigInt)]
    runs: i64,
}

/// Every job of `procs` in this database with the runs the scheduler recorded.
async fn job_runs(store: &TimescaleStore, procs: &[&str]) -> Vec<JobRuns> {
    let procs: Vec<String> = procs.iter().map(|p| (*p).to_owned()).collect();
    diesel::sql_query(
        "SELECT j.job_id::bigint AS id, j.proc_name::text AS proc_name, \
         coalesce(s.total_runs, 0)::bigint AS runs \
         FROM timescaledb_information.jobs j \
         LEFT JOIN timescaledb_information.job_stats s USING (job_id) \
         WHERE j.job_id >= 1000 AND j.proc_name = ANY($1::text[]) ORDER BY j.job_id",
    )
    .bind::<diesel::sql_types::Array<Text>, _>(procs)
    .load(&mut *store.conn().await.expect("conn"))
    .await
    .expect("job stats")
}

/// Waits (a liveness wait, not a timing assertion) until the server's scheduler has run
/// every job of `procs` at least `more` times beyond `before`; panics after five minutes.
async fn wait_for_scheduler(store: &TimescaleStore, procs: &[&str], before: &[JobRuns]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let now = job_runs(store, procs).await;
        assert!(!now.is_empty(), "no {procs:?} jobs were installed");
        let pending: Vec<&JobRuns> = now
            .iter()
            .filter(|j| {
                let earlier = before.iter().find(|b| b.id == j.id).map_or(0, |b| b.runs);
                j.runs <= earlier
            })
            .collect();
        if pending.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the scheduler did not run these jobs within 5 minutes: {pending:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn rows(store: &TimescaleStore) -> std::collections::BTreeMap<String, u64> {
    marketseries_testkit::counts::table_rows(store).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_jobs_keep_history_until_a_horizon_is_stored_then_drop_exactly_it() {
    let db = fresh_database(ServerKind::Timescale)
        .await
        .expect("TimescaleDB test database");
    if db.flavor() == Flavor::Embedded {
        eprintln!(
            "SKIPPED the_servers_jobs_keep_history_until_a_horizon_is_stored_then_drop_exactly_it: \
             the embedded TimescaleDB runs no background scheduler; this test runs against a \
             native TimescaleDB (MARKETSERIES_TIMESCALEDB=native) or TIMESCALEDB_URL"
        );
        return;
    }
    let mut config = PgConfig::new(db.url());
    // Thirty-day chunks: a few dozen chunks for 500 days, so the jobs finish quickly.
    config.partition_width = TimeDelta::days(30);
    // Server jobs measure age by the server's clock: the store must be on the same one.
    let store = TimescaleStore::connect_with_clock(config, Arc::new(SystemClock))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");

    // 500 days of daily candles ending today, and 250 days of sentiment and flows: older
    // than every one of the seed's horizons (365 and 180 days).
    let today = Interval::D1.floor(Utc::now());
    let candles: Vec<Candle> = (0..500)
        .map(|d| Candle {
            symbol: "BTC-USD".into(),
            interval: Interval::D1,
            time: today - TimeDelta::days(d),
            open: Decimal::from(100 + d),
            high: Decimal::from(110 + d),
            low: Decimal::from(90 + d),
            close: Decimal::from(105 + d),
            volume: Decimal::from(7),
        })
        .collect();
    let readings: Vec<SentimentReading> = (0..250)
        .map(|d| SentimentReading {
            asset: "BTC".into(),
            source: "news".into(),
            time: today - TimeDelta::days(d),
            score: 0.25,
            label: SentimentLabel::Bullish,
            mention_volume: 3,
            engagement: 2.0,
        })
        .collect();
    let flows: Vec<Flow> = (0..250)
        .map(|d| Flow {
            asset: "BTC".into(),
            time: today - TimeDelta::days(d),
            flow_type: FlowType::ExchangeInflow,
            amount: Decimal::ONE,
            usd_value: Decimal::TEN,
            source: "binance".into(),
            reference: format!("tx{d}"),
        })
        .collect();
    store.store_candles(&candles).await.expect("candles");
    store.store_sentiments(&readings).await.expect("sentiment");
    store.store_flows(&flows).await.expect("flows");
    let loaded = rows(&store).await;

    // Every maintenance path, the way `marketseries maintain --compress --retention` runs
    // them, under the stored (default) policies.
    let policies = store.policies().await.expect("stored policies");
    assert_eq!(
        policies,
        Policies::default(),
        "a new store keeps everything"
    );
    for dataset in Dataset::ALL {
        store
            .compress_chunks(dataset, None)
            .await
            .expect("compress");
    }
    let report = store
        .apply_policies(&policies, Expiry::Refuse)
        .await
        .expect("apply the stored policies");
    assert!(
        report.jobs.iter().all(|j| !j.name.contains("Retention")),
        "retention jobs without a stored horizon: {:?}",
        report.jobs
    );
    let retention = store.apply_retention().await.expect("retention");
    assert!(retention.actions.is_empty(), "{retention:?}");
    store.refresh(None).await.expect("refresh");
    let procs = [
        "policy_compression",
        "policy_refresh_continuous_aggregate",
        "policy_retention",
    ];
    wait_for_scheduler(&store, &procs[..2], &[]).await;
    assert!(job_runs(&store, &["policy_retention"]).await.is_empty());
    assert_eq!(rows(&store).await, loaded, "every row after the jobs ran");

    // A stored horizon: refused without confirmation, then confirmed; the server's own
    // retention job drops exactly what the dry run named.
    let seed = Policies {
        retention: RetentionPolicy::SEED,
        ..policies
    };
    let preview = store.preview_policies(&seed).await.expect("preview");
    assert!(preview.drops_data(), "{preview:?}");
    let before = job_runs(&store, &procs).await;
    store
        .apply_policies(&seed, Expiry::Confirmed)
        .await
        .expect("confirmed");
    wait_for_scheduler(&store, &["policy_retention"], &before).await;
    let left = rows(&store).await;
    for (table, n) in &loaded {
        let dropped = preview
            .expiring
            .iter()
            .find(|e| e.table == table)
            .map_or(0, |e| e.rows);
        let now = left.get(table).copied();
        assert_eq!(
            now,
            Some(n - dropped),
            "{table}: the server's job dropped other rows than the dry run named"
        );
    }
}
