//! Writes under injected faults (issue 12): connections cut before and after `COMMIT`
//! (through a [`FaultProxy`]) and a real deadlock with another session. Every write is an
//! idempotent upsert, so the store repeats it and the stored rows are exactly those of
//! the reference store, fed the same batches once; the store's retry counters
//! ([`StoreStats::write_retries`](marketseries_core::StoreStats)) show that the retry
//! path, and not luck, kept them.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use marketseries_core::{
    AggregateBucket, Candle, ErrorKind, FixedClock, Flow, FlowStore, Interval, MemoryStore,
    OhlcvQuery, PriceStore, SentimentReading, SentimentStore, TimeRange, TimeSeriesStore,
};
use tokio_postgres::NoTls;

use crate::fault_proxy::{Cut, Fault, FaultProxy, Trigger};
use crate::generate::{self, CandleSpec};

/// The store under test next to the reference, with the proxy the store connects through.
struct Pair<'a> {
    store: &'a dyn TimeSeriesStore,
    reference: MemoryStore,
    proxy: &'a FaultProxy,
}

/// One write of the same batch to both stores.
enum Write<'a> {
    Candles(&'a [Candle]),
    Sentiment(&'a [SentimentReading]),
    Flows(&'a [Flow]),
}

impl Pair<'_> {
    async fn write(&self, what: &str, write: &Write<'_>) -> marketseries_core::Result<()> {
        match write {
            Write::Candles(b) => {
                self.reference.store_candles(b).await.expect("reference");
                self.store.store_candles(b).await.map(drop)
            }
            Write::Sentiment(b) => {
                self.reference.store_sentiments(b).await.expect("reference");
                self.store.store_sentiments(b).await.map(drop)
            }
            Write::Flows(b) => {
                self.reference.store_flows(b).await.expect("reference");
                self.store.store_flows(b).await.map(drop)
            }
        }
        .map_err(|e| marketseries_core::Error::Other(format!("{what}: {e} (kind {})", e.kind())))
    }

    /// Writes with `fault` armed; the write must succeed and the fault must have fired.
    async fn write_through(&self, what: &str, fault: Fault, write: Write<'_>) {
        let before = self.proxy.cuts();
        self.proxy.arm(fault.clone());
        let outcome = self.write(what, &write).await;
        self.proxy.disarm();
        outcome.unwrap_or_else(|e| panic!("{e}: the store did not recover from {fault:?}"));
        assert!(
            self.proxy.cuts() > before,
            "{what}: {fault:?} never fired, so this case tested nothing"
        );
    }
}

fn commit(cut: Cut) -> Fault {
    Fault {
        trigger: Trigger::Commit,
        cut,
        times: 1,
    }
}

/// Writes candles by the `COPY` path and by the upsert, sentiment and flows, each with its
/// connection cut once before the `COMMIT` reaches the server (nothing committed) and once
/// after (committed, but the answer lost), plus an upsert cut before its `INSERT`; then
/// compares every row with the reference and checks the retry counters. Finally a commit
/// cut on every attempt: the write fails with [`ErrorKind::AmbiguousCommit`], stores
/// nothing (the cuts came before the server saw a `COMMIT`), and the same batch then goes
/// through.
///
/// `store` connects through `proxy` (to a migrated, empty database) and reads `now` on
/// its clock.
///
/// # Panics
/// When a write fails, a fault does not fire, or a row differs (the test's failure).
pub async fn writes_survive_cut_connections(
    store: &dyn TimeSeriesStore,
    proxy: &FaultProxy,
    now: DateTime<Utc>,
) {
    let pair = Pair {
        store,
        reference: MemoryStore::with_clock(Arc::new(FixedClock::new(now))),
        proxy,
    };
    let start = now - TimeDelta::days(2);
    // One day of one-minute candles per symbol: 1,440 rows, a batch big enough for `COPY`.
    let spec = CandleSpec::minutes(4, 1, start, 5);
    let copied: Vec<Vec<Candle>> = (0..4).map(|s| spec.symbol_candles(s).collect()).collect();
    let late: Vec<Candle> = copied[0][..10]
        .iter()
        .map(|c| Candle {
            close: c.close + rust_decimal::Decimal::ONE,
            high: c.high + rust_decimal::Decimal::ONE,
            ..c.clone()
        })
        .collect();
    let sentiment = generate::sentiment(&["BTC", "ETH"], start, TimeDelta::minutes(10), 60, 8);
    let (s_half, s_rest) = sentiment.split_at(sentiment.len() / 2);
    let flows = generate::flows(&["BTC", "ETH"], start, 1, 40, 9);
    let (f_half, f_rest) = flows.split_at(flows.len() / 2);

    let before = commit(Cut::BeforeForwarding);
    let after = commit(Cut::AfterForwarding);
    pair.write_through(
        "COPY batch, COMMIT cut before the server saw it",
        before.clone(),
        Write::Candles(&copied[0]),
    )
    .await;
    pair.write_through(
        "COPY batch, COMMIT cut after the server saw it",
        after.clone(),
        Write::Candles(&copied[1]),
    )
    .await;
    pair.write_through(
        "upsert of corrections, COMMIT cut before",
        before.clone(),
        Write::Candles(&late[..5]),
    )
    .await;
    pair.write_through(
        "upsert of corrections, COMMIT cut after",
        after.clone(),
        Write::Candles(&late[5..]),
    )
    .await;
    pair.write_through(
        "sentiment, COMMIT cut before",
        before.clone(),
        Write::Sentiment(s_half),
    )
    .await;
    pair.write_through(
        "sentiment, COMMIT cut after",
        after.clone(),
        Write::Sentiment(s_rest),
    )
    .await;
    pair.write_through("flows, COMMIT cut before", before, Write::Flows(f_half))
        .await;
    pair.write_through("flows, COMMIT cut after", after, Write::Flows(f_rest))
        .await;
    let insert = Fault {
        trigger: Trigger::Statement("INSERT INTO candles"),
        cut: Cut::BeforeForwarding,
        times: 1,
    };
    pair.write_through(
        "upsert, connection cut before its INSERT",
        insert,
        Write::Candles(&copied[2][..20]),
    )
    .await;

    let retries = store.stats().await.expect("stats").write_retries;
    let ambiguous = retries.get("ambiguous-commit").copied().unwrap_or(0);
    let lost = retries.get("connection-lost").copied().unwrap_or(0);
    assert!(
        ambiguous >= 8 && lost >= 1,
        "every cut write was repeated by the retry path: {retries:?}"
    );

    // Cut on every attempt: the write gives up, typed, and leaves nothing behind.
    let never = &copied[3][..30];
    proxy.arm(Fault {
        trigger: Trigger::Commit,
        cut: Cut::BeforeForwarding,
        times: 1_000,
    });
    let failed = store.store_candles(never).await;
    proxy.disarm();
    let err = failed.expect_err("a write whose every COMMIT is cut cannot succeed");
    assert_eq!(err.kind(), ErrorKind::AmbiguousCommit, "{err}");
    assert!(err.to_string().contains("attempts"), "{err}");
    let range = TimeRange::new(
        never[0].time,
        never[never.len() - 1].time + TimeDelta::minutes(1),
    )
    .expect("range");
    let symbol = never[0].symbol.clone();
    let stored = store
        .ohlcv(&OhlcvQuery::new(symbol.clone(), Interval::M1, range))
        .await
        .expect("read");
    assert!(
        stored.bars.is_empty(),
        "no COMMIT reached the server, yet {} candles of {symbol} were stored",
        stored.bars.len()
    );
    pair.write(
        "the same batch once the network is back",
        &Write::Candles(never),
    )
    .await
    .expect("write after the faults");

    compare(&pair, &spec, start, now).await;
}

/// Every candle, reading and flow of the pair, and the hourly flow aggregates, equal.
async fn compare(pair: &Pair<'_>, spec: &CandleSpec, start: DateTime<Utc>, now: DateTime<Utc>) {
    let range = TimeRange::new(start, now).expect("range");
    for s in 0..4 {
        let symbol = spec.symbol_candles(s).next().expect("a candle").symbol;
        for interval in [Interval::M1, Interval::H1] {
            let q = OhlcvQuery::new(symbol.clone(), interval, range);
            let got = pair.store.ohlcv(&q).await.expect("store ohlcv").bars;
            let expected = pair
                .reference
                .ohlcv(&q)
                .await
                .expect("reference ohlcv")
                .bars;
            assert!(
                got == expected,
                "{symbol} {interval} after the faults: the store has {} bars, the reference {} \
                 (first difference: {:?})",
                got.len(),
                expected.len(),
                got.iter().zip(&expected).find(|(a, b)| a != b)
            );
        }
    }
    for asset in ["BTC", "ETH"] {
        let got = pair
            .store
            .sentiment_readings(asset, range, None)
            .await
            .expect("store readings");
        let expected = pair
            .reference
            .sentiment_readings(asset, range, None)
            .await
            .expect("reference readings");
        assert!(
            got == expected,
            "{asset} sentiment readings after the faults differ"
        );
        let got = pair
            .store
            .flow_history(asset, range, None)
            .await
            .expect("store flows");
        let expected = pair
            .reference
            .flow_history(asset, range, None)
            .await
            .expect("reference flows");
        assert!(got == expected, "{asset} flows after the faults differ");
        let got = pair
            .store
            .flow_aggregates(asset, AggregateBucket::Hour, range)
            .await
            .expect("store flow aggregates");
        let expected = pair
            .reference
            .flow_aggregates(asset, AggregateBucket::Hour, range)
            .await
            .expect("reference flow aggregates");
        assert!(
            got == expected,
            "{asset} hourly flow aggregates after the faults: the store answered {got:#?}, \
             the reference {expected:#?}"
        );
    }
}

/// A real deadlock between the store's write and another session (`url`, a direct
/// connection as a superuser): the other session holds the `candle_series` row of series
/// B and, once the store's transaction waits for it, inserts the candle of series A the
/// store's transaction has just inserted. The server aborts the store's transaction
/// (40P01; the other session's `deadlock_timeout` is set long so the store's backend
/// detects the cycle first); the store repeats the write after the other session commits,
/// and its values win. Returns nothing; panics on failure.
///
/// `store` is migrated and empty and reads `now` on its clock.
///
/// # Panics
/// When the write fails, no deadlock was retried, or the stored rows are not the store's.
pub async fn deadlocked_writes_are_retried(
    store: &dyn TimeSeriesStore,
    url: &str,
    now: DateTime<Utc>,
) {
    let t0 = now - TimeDelta::hours(2);
    let t1 = now - TimeDelta::hours(1);
    let candle = |symbol: &str, time, price: i64| Candle {
        symbol: symbol.to_owned(),
        interval: Interval::M1,
        time,
        open: price.into(),
        high: price.into(),
        low: price.into(),
        close: price.into(),
        volume: 5.into(),
    };
    store
        .store_candles(&[candle("DLA", t0, 10), candle("DLB", t0, 10)])
        .await
        .expect("the series");
    let (other, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("the other session");
    tokio::spawn(connection);
    other
        .batch_execute(
            "SET deadlock_timeout = '30s'; BEGIN; \
             UPDATE candle_series SET latest_close = latest_close WHERE symbol = 'DLB'",
        )
        .await
        .expect("the other session holds DLB's series row");
    let before = store.stats().await.expect("stats").write_retries;
    let batch = [candle("DLA", t1, 20), candle("DLB", t1, 20)];
    let write = store.store_candles(&batch);
    let interfere = async {
        // Until the store's transaction waits for the row lock (it has inserted DLA's
        // candle by then).
        let mut waited = 0;
        loop {
            let waiting: i64 = other
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                     AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
                    &[],
                )
                .await
                .expect("pg_stat_activity")
                .get(0);
            if waiting > 0 {
                break;
            }
            waited += 1;
            assert!(
                waited < 3_000,
                "the store's write never waited for the row lock"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        other
            .execute(
                "INSERT INTO candles (symbol, interval, time, open, high, low, close, volume) \
                 VALUES ('DLA', '1m', $1, 1, 1, 1, 1, 1)",
                &[&t1],
            )
            .await
            .expect("the other session's insert goes through once the store's is aborted");
        other.batch_execute("COMMIT").await.expect("commit");
    };
    let (written, ()) = tokio::join!(write, interfere);
    written.expect("the deadlocked write is repeated and succeeds");
    let after = store.stats().await.expect("stats").write_retries;
    let deadlocks =
        |m: &std::collections::BTreeMap<String, u64>| m.get("40P01").copied().unwrap_or(0);
    assert!(
        deadlocks(&after) > deadlocks(&before),
        "the server reported a deadlock and the retry path repeated the write: {after:?}"
    );
    let range = TimeRange::new(t1, t1 + TimeDelta::minutes(1)).expect("range");
    for symbol in ["DLA", "DLB"] {
        let bars = store
            .ohlcv(&OhlcvQuery::new(symbol, Interval::M1, range))
            .await
            .expect("read")
            .bars;
        assert_eq!(bars.len(), 1, "{symbol}");
        assert_eq!(
            bars[0].close,
            20.into(),
            "{symbol}: the repeated write's value wins"
        );
    }
    let latest = store
        .latest_price("DLA")
        .await
        .expect("latest")
        .expect("a price");
    assert_eq!((latest.time, latest.price), (t1, 20.into()));
}
