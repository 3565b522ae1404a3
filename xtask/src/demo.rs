//! `cargo xtask demo`, the main job: starts a throwaway PostgreSQL cluster and the
//! TimescaleDB server (native when installed, else the embedded one), migrates both, loads
//! the same generated month of one-minute candles for five symbols plus sentiment and flows
//! into each through the library, and prints them side by side: routed OHLCV (with the
//! route each backend took), the market overview, a sentiment trend, net flows, storage and
//! compression. Every answer of both backends is compared with the in-memory reference
//! store fed the same data; a disagreement fails the demo. It ends with a few of the same
//! questions asked through the `marketseries` command (`change`, `volume-profile`,
//! `sentiment summary`, `flows net`, as of the pinned clock with `--at`) and a `copy` of
//! the sentiment and flows into a fresh database.

use std::error::Error;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use marketseries_core::{
    Candle, Clock, Dataset, Expiry, FixedClock, FlowStore, IndicatorStore, IndicatorValue,
    Interval, MemoryStore, OhlcvQuery, Policies, PriceStore, SentimentStore, SentimentTrend,
    StoreStats, TimeRange, TimeSeriesStore, WhaleQuery,
};
use marketseries_postgres::{PgConfig, PgStore};
use marketseries_testkit::generate::{self, asset_of, CandleSpec};
use marketseries_testkit::launcher::{self, fresh_database, Flavor, ServerKind, TestDatabase};
use marketseries_timescale::{TimescaleExt, TimescaleStore};
use rust_decimal::Decimal;

const SYMBOLS: usize = 5;
const DAYS: u32 = 30;
const BATCH: usize = 50_000;

/// Runs the demo, stopping the database servers afterwards if the demo started them.
pub fn run() -> Result<(), Box<dyn Error>> {
    let was_running = launcher::status()
        .into_iter()
        .any(|s| s.alive && s.flavor != Some(Flavor::External));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(demo());
    drop(runtime);
    if !was_running {
        if let Err(e) = launcher::stop_all() {
            eprintln!("warning: could not stop the demo's database servers: {e}");
        }
    }
    result
}

/// Fails unless both backends' answers equal the reference answer.
fn agree<T: PartialEq + Debug>(
    what: &str,
    pg: &T,
    ts: &T,
    reference: &T,
) -> Result<(), Box<dyn Error>> {
    for (backend, got) in [("postgres", pg), ("timescaledb", ts)] {
        if got != reference {
            return Err(format!(
                "{what}: {backend} answered {got:?} but the reference store says {reference:?}"
            )
            .into());
        }
    }
    Ok(())
}

/// Both stores, opened on fresh databases and migrated with the default policies.
struct Stores {
    pg: PgStore,
    ts: TimescaleStore,
    pg_db: TestDatabase,
    ts_db: TestDatabase,
}

async fn open(clock: &Arc<dyn Clock>) -> Result<Stores, Box<dyn Error>> {
    let pg_db = fresh_database(ServerKind::Postgres).await?;
    let ts_db = fresh_database(ServerKind::Timescale).await?;
    let pg = PgStore::connect_with_clock(PgConfig::new(pg_db.url()), clock.clone()).await?;
    let mut ts_config = PgConfig::new(ts_db.url());
    if ts_db.flavor() == Flavor::Embedded {
        // The embedded server serves one client per database.
        ts_config.pool_size = 1;
    }
    let ts = marketseries_timescale::TimescaleStore::connect_with_clock(ts_config, clock.clone())
        .await?;
    for store in [&pg as &dyn TimeSeriesStore, &ts] {
        store.migrate().await?;
        // Nothing is stored yet, so nothing can expire: no confirmation needed.
        store
            .apply_policies(&Policies::default(), Expiry::Refuse)
            .await?;
    }
    Ok(Stores {
        pg,
        ts,
        pg_db,
        ts_db,
    })
}

/// Loads `candles` in batches; returns rows per second.
async fn load_candles(
    store: &dyn TimeSeriesStore,
    candles: &[Candle],
) -> Result<f64, Box<dyn Error>> {
    let t = Instant::now();
    for chunk in candles.chunks(BATCH) {
        store.store_candles(chunk).await?;
    }
    Ok(f64::from(u32::try_from(candles.len())?) / t.elapsed().as_secs_f64())
}

async fn demo() -> Result<(), Box<dyn Error>> {
    let start: DateTime<Utc> = "2024-03-01T00:00:00Z".parse()?;
    let now = start + TimeDelta::days(i64::from(DAYS)) - TimeDelta::minutes(7);
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(now));

    let t0 = Instant::now();
    let Stores {
        pg,
        ts,
        pg_db,
        ts_db,
    } = open(&clock).await?;
    let reference = MemoryStore::with_clock(clock);
    println!("marketseries demo: the same data in two backends, clock pinned at {now}");
    println!(
        "  postgres:    plain PostgreSQL ({} server, database {})",
        pg_db.flavor(),
        pg_db.name()
    );
    println!(
        "  timescaledb: TimescaleDB ({} server, database {}){}",
        ts_db.flavor(),
        ts_db.name(),
        if ts_db.flavor() == Flavor::Embedded {
            " - WebAssembly, for function not speed: its timings are no performance figures"
        } else {
            ""
        }
    );
    println!(
        "servers ready and schemas migrated in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    let candles = CandleSpec::minutes(SYMBOLS, DAYS, start, 2024).generate();
    let pg_rate = load_candles(&pg, &candles).await?;
    let ts_rate = load_candles(&ts, &candles).await?;
    for chunk in candles.chunks(BATCH) {
        reference.store_candles(chunk).await?;
    }
    let symbols = pg.symbols().await?;
    let assets: Vec<&str> = symbols.iter().map(|s| asset_of(s)).collect();
    let sentiment = generate::sentiment(
        &assets,
        start,
        TimeDelta::minutes(15),
        usize::try_from(DAYS)? * 96,
        2024,
    );
    let flows = generate::flows(&assets, start, DAYS, 200, 2024);
    agree(
        "sentiment write",
        &pg.store_sentiments(&sentiment).await?,
        &ts.store_sentiments(&sentiment).await?,
        &reference.store_sentiments(&sentiment).await?,
    )?;
    for store in [&pg as &dyn FlowStore, &ts, &reference] {
        store.store_flows(&flows).await?;
    }
    let indicators = hourly_sma(&candles, 60);
    for store in [&pg as &dyn IndicatorStore, &ts, &reference] {
        for chunk in indicators.chunks(BATCH) {
            store.store_indicators(chunk).await?;
        }
    }
    println!(
        "loaded {} one-minute candles ({SYMBOLS} symbols x {DAYS} days) into each: postgres {pg_rate:.0} rows/s (rollup refresh deferred), timescaledb {ts_rate:.0} rows/s; {} sentiment readings, {} flows",
        candles.len(),
        sentiment.len(),
        flows.len(),
    );
    // What the background refresher of plain PostgreSQL and TimescaleDB's jobs would have
    // done by "now": materialize the aggregates and compress chunks older than the
    // compression policy's 7 / 14 days. (Reads would be right without it, only slower.)
    let t = Instant::now();
    pg.refresh(None).await?;
    println!(
        "postgres: rollups refreshed from the pending spans in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    ts.refresh(None).await?;
    let refreshed = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let policy = Policies::default().compression;
    let mut compressed = 0;
    for dataset in Dataset::ALL {
        if let Some(after) = policy.after(dataset) {
            compressed += ts.compress_chunks(dataset, Some(now - after)).await?;
        }
    }
    println!(
        "timescaledb: aggregates refreshed in {refreshed:.1} s, {compressed} chunks compressed in {:.1} s (what its jobs do on schedule)",
        t.elapsed().as_secs_f64()
    );

    let focus = "BTCUSDT";
    println!(
        "\n== Routed OHLCV for {focus}, last 3 days: both backends equal to the reference store =="
    );
    println!(
        "{:>4}  {:<50} {:>8}  {:<50} {:>8} {:>5}",
        "", "postgres route", "ms", "timescaledb route", "ms", "bars"
    );
    let range = TimeRange::new(now - TimeDelta::days(3), now)?;
    for interval in ["1h", "4h", "1d", "2h", "30m", "7m", "1w"] {
        let q = OhlcvQuery::new(focus, interval.parse()?, range);
        let t = Instant::now();
        let from_pg = pg.ohlcv(&q).await?;
        let pg_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let from_ts = ts.ohlcv(&q).await?;
        let ts_ms = t.elapsed().as_secs_f64() * 1e3;
        agree(
            &format!("{interval} bars"),
            &from_pg.bars,
            &from_ts.bars,
            &reference.ohlcv(&q).await?.bars,
        )?;
        println!(
            "{interval:>4}  {:<50} {pg_ms:>8.1}  {:<50} {ts_ms:>8.1} {:>5}",
            from_pg.route.to_string(),
            from_ts.route.to_string(),
            from_pg.bars.len()
        );
    }
    let q = OhlcvQuery::new(
        focus,
        Interval::H4,
        TimeRange::new(now - TimeDelta::hours(16), now)?,
    );
    println!("\n{focus} 4h candles, last 16 hours (both backends):");
    println!(
        "{:<18} {:>10} {:>10} {:>10} {:>10} {:>14}",
        "time", "open", "high", "low", "close", "volume"
    );
    for b in ts.ohlcv(&q).await?.bars {
        println!(
            "{:<18} {:>10} {:>10} {:>10} {:>10} {:>14}",
            b.time.format("%Y-%m-%d %H:%M"),
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume.round_dp(2)
        );
    }

    println!("\n== Market overview (both backends) ==");
    let overview = pg.market_overview().await?;
    agree(
        "market overview",
        &overview,
        &ts.market_overview().await?,
        &reference.market_overview().await?,
    )?;
    println!("{:<10} {:>14} {:>10}", "symbol", "price", "24h %");
    for row in &overview {
        let pct = row
            .change_24h
            .as_ref()
            .and_then(|c| c.percent())
            .map_or("-".to_owned(), |p| format!("{p:+.2}"));
        println!(
            "{:<10} {:>14} {:>10}",
            row.latest.symbol, row.latest.price, pct
        );
    }

    let asset = asset_of(focus);
    println!("\n== Sentiment and flows for {asset} (both backends) ==");
    let trend = pg.sentiment_trend(asset, TimeDelta::hours(24)).await?;
    // Averages of floating-point scores: summation order differs between engines, so
    // they are compared to 9 decimal places, the reading counts exactly.
    let comparable = |t: &SentimentTrend| {
        [t.current, t.previous].map(|w| w.map(|w| (w.readings, format!("{:.9}", w.avg_score))))
    };
    agree(
        "sentiment trend",
        &comparable(&trend),
        &comparable(&ts.sentiment_trend(asset, TimeDelta::hours(24)).await?),
        &comparable(
            &reference
                .sentiment_trend(asset, TimeDelta::hours(24))
                .await?,
        ),
    )?;
    println!(
        "sentiment, last 24h vs the 24h before: {:+.3} vs {:+.3} (change {:+.3})",
        trend.current.map_or(f64::NAN, |w| w.avg_score),
        trend.previous.map_or(f64::NAN, |w| w.avg_score),
        trend.delta().unwrap_or(f64::NAN)
    );
    let week = TimeRange::new(now - TimeDelta::days(7), now)?;
    let d = pg.sentiment_distribution(asset, week).await?;
    agree(
        "distribution",
        &d,
        &ts.sentiment_distribution(asset, week).await?,
        &reference.sentiment_distribution(asset, week).await?,
    )?;
    println!(
        "7-day distribution: {} bearish, {} neutral, {} bullish",
        d.bearish, d.neutral, d.bullish
    );
    let net = pg.net_flow(asset, week).await?;
    agree(
        "net flow",
        &net,
        &ts.net_flow(asset, week).await?,
        &reference.net_flow(asset, week).await?,
    )?;
    println!(
        "7-day exchange net flow: {} {asset} (in {} / out {}), {} USD",
        net.net_amount().round_dp(4),
        net.inflow_amount.round_dp(4),
        net.outflow_amount.round_dp(4),
        net.net_usd().round_dp(2)
    );
    let whales = WhaleQuery {
        asset: Some(asset.to_owned()),
        range: week,
        min_amount: Decimal::from(50),
    };
    let w = pg.whale_activity(&whales).await?;
    agree(
        "whale activity",
        &w,
        &ts.whale_activity(&whales).await?,
        &reference.whale_activity(&whales).await?,
    )?;
    println!("7-day whale activity (>= 50 {asset}): {} flows", w.len());

    println!("\n== Indicators for {focus} (both backends) ==");
    let latest = pg.latest_indicators(focus).await?;
    agree(
        "latest indicators",
        &latest,
        &ts.latest_indicators(focus).await?,
        &reference.latest_indicators(focus).await?,
    )?;
    let at = now - TimeDelta::minutes(90);
    let asof = pg.indicator_at(focus, Interval::M1, "sma_60", at).await?;
    agree(
        "indicator as of",
        &asof,
        &ts.indicator_at(focus, Interval::M1, "sma_60", at).await?,
        &reference
            .indicator_at(focus, Interval::M1, "sma_60", at)
            .await?,
    )?;
    for v in &latest {
        println!(
            "latest {} ({}) at {}: {}",
            v.name,
            v.interval,
            v.time,
            v.value.round_dp(4)
        );
    }
    if let Some(v) = asof {
        println!(
            "sma_60 as of {} (what a strategy asks at a bar): {} from {}",
            at,
            v.value.round_dp(4),
            v.time
        );
    }

    println!("\n== Storage ==");
    storage(&pg.stats().await?, &ts.stats().await?);

    println!("\n== Errors are typed ==");
    typed_errors(&pg, &candles, range).await?;

    println!("\n== The same questions through the `marketseries` command (plain PostgreSQL) ==");
    command_line(pg_db.url(), focus, asset, now).await?;
    println!("\ndemo finished in {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}

/// A few of the `marketseries` commands on the demo's plain PostgreSQL database, as of
/// the demo's pinned clock (`--at`), then a `copy` of its sentiment and flows into a fresh
/// database. The TimescaleDB server is left alone: the embedded one serves one client at a
/// time and the demo holds it.
async fn command_line(
    url: &str,
    focus: &str,
    asset: &str,
    now: DateTime<Utc>,
) -> Result<(), Box<dyn Error>> {
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    let copy_db = fresh_database(ServerKind::Postgres).await?;
    let cli = |args: &[&str], target: &str| {
        let mut c = crate::cmd::cargo();
        c.args(["run", "-q", "-p", "marketseries-cli", "--"])
            .args(args)
            .env("MARKETSERIES_URL", target);
        c
    };
    for args in [
        vec!["change", "--symbol", focus, "--last", "24h", "--at", &at],
        vec![
            "volume-profile",
            "--symbol",
            focus,
            "--step",
            "1000",
            "--last",
            "24h",
            "--at",
            &at,
        ],
        vec!["sentiment", "summary", "--last", "24h", "--at", &at],
        vec![
            "flows", "net", "--asset", asset, "--last", "7d", "--at", &at, "--format", "csv",
        ],
    ] {
        tokio::task::block_in_place(|| crate::cmd::run(cli(&args, url)))?;
    }
    let mut copy = cli(
        &[
            "copy",
            "--from",
            url,
            "--to",
            copy_db.url(),
            "--datasets",
            "sentiment,flows",
        ],
        "",
    );
    // The URLs are the demo's throwaway databases, so the echoed command may show them.
    copy.env_remove("MARKETSERIES_URL");
    tokio::task::block_in_place(|| crate::cmd::run(copy))?;
    Ok(())
}

/// A 60-candle simple moving average of each series' closes, one value per full hour (an
/// indicator computed outside the store, as users' own would be).
fn hourly_sma(candles: &[Candle], window: usize) -> Vec<IndicatorValue> {
    let mut out = Vec::new();
    let mut by_series: std::collections::BTreeMap<(&str, Interval), Vec<&Candle>> =
        std::collections::BTreeMap::new();
    for c in candles {
        by_series
            .entry((&c.symbol, c.interval))
            .or_default()
            .push(c);
    }
    for ((symbol, interval), mut rows) in by_series {
        rows.sort_by_key(|c| c.time);
        for (i, c) in rows.iter().enumerate().skip(window.saturating_sub(1)) {
            if Interval::H1.floor(c.time) != c.time {
                continue;
            }
            let sum: Decimal = rows[i + 1 - window..=i].iter().map(|c| c.close).sum();
            out.push(IndicatorValue {
                symbol: symbol.to_owned(),
                interval,
                name: format!("sma_{window}"),
                time: c.time,
                value: (sum / Decimal::from(window)).round_dp(8),
            });
        }
    }
    out
}

/// Prints both backends' storage figures side by side.
fn storage(pg: &StoreStats, ts: &StoreStats) {
    println!(
        "{:<10} {:>8} | {:^22} | {:^52}",
        "", "", "postgres", "timescaledb"
    );
    println!(
        "{:<10} {:>8} | {:>10} {:>11} | {:>6} {:>11} {:>33}",
        "table",
        "rows",
        "partitions",
        "total",
        "chunks",
        "total",
        "compressed chunks: before -> after"
    );
    for (p, t) in pg.tables.iter().zip(&ts.tables) {
        let compressed = match (t.uncompressed_bytes, t.compressed_bytes) {
            (Some(before), Some(after)) => format!(
                "{:.1} MiB -> {:.1} MiB ({:.1}% saved)",
                mib(before),
                mib(after),
                t.compression_saving_percent().unwrap_or(0.0)
            ),
            _ => "-".to_owned(),
        };
        println!(
            "{:<10} {:>8} | {:>10} {:>7.1} MiB | {:>6} {:>7.1} MiB {:>33}",
            p.name,
            p.rows,
            p.partitions,
            mib(p.total_bytes.unwrap_or(0)),
            t.partitions,
            mib(t.total_bytes.unwrap_or(0)),
            compressed
        );
    }
    let names = |s: &StoreStats| {
        s.aggregates
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("postgres rollup tables:           {}", names(pg));
    println!("timescaledb continuous aggregates: {}", names(ts));
    if let Some(w) = ts.aggregates.iter().find(|a| a.name == "ohlcv_1h") {
        println!(
            "ohlcv_1h materialized up to {} (newer buckets are aggregated from raw rows at query time)",
            w.watermark.map_or("never".to_owned(), |t| t.to_string())
        );
    }
    let retention = ts
        .jobs
        .iter()
        .filter(|j| j.name.contains("Retention"))
        .count();
    println!(
        "timescaledb jobs: {} ({retention} retention: a job measures age by the server's clock, \
         so a store on another clock, like this demo's fixed one, gets none and retention runs \
         through apply_retention)",
        ts.jobs.len()
    );
}

/// Shows that bad input is refused with a typed error, on the plain PostgreSQL store.
async fn typed_errors(
    pg: &PgStore,
    candles: &[Candle],
    range: TimeRange,
) -> Result<(), Box<dyn Error>> {
    match "15x".parse::<Interval>() {
        Err(e) => println!("\"15x\" -> {} error: {e}", e.kind()),
        Ok(i) => return Err(format!("15x parsed as {i}").into()),
    }
    let mut hourly = candles[0].clone();
    hourly.symbol = "HOURLY".into();
    hourly.interval = Interval::H1;
    pg.store_candle(&hourly).await?;
    match pg
        .ohlcv(&OhlcvQuery::new("HOURLY", "30m".parse()?, range))
        .await
    {
        Err(e) => println!("30m for a symbol stored at 1h -> {} error: {e}", e.kind()),
        Ok(s) => return Err(format!("30m from 1h candles answered via {}", s.route).into()),
    }
    let bad = Candle {
        high: candles[1].low - Decimal::ONE,
        ..candles[1].clone()
    };
    match pg.store_candles(&[candles[0].clone(), bad]).await {
        Err(e) => println!("batch with high < low -> {} error: {e}", e.kind()),
        Ok(_) => return Err("a candle with high < low was accepted".into()),
    }
    Ok(())
}

/// Bytes to MiB for display; table sizes are far below 2^53 bytes.
fn mib(bytes: u64) -> f64 {
    f64::from(u32::try_from(bytes / 1024).unwrap_or(u32::MAX)) / 1024.0
}
