//! `cargo xtask demo`, the main job: starts a throwaway PostgreSQL cluster, migrates, loads a
//! generated month of one-minute candles for five symbols plus sentiment and flows through
//! the library, and prints routed OHLCV (with the route taken), the market overview, a
//! sentiment trend, net flows and storage stats. Every answer is compared with the
//! in-memory reference store fed the same data; a disagreement fails the demo.

use std::error::Error;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use marketseries_core::{
    Candle, Clock, FixedClock, FlowStore, Interval, MemoryStore, OhlcvQuery, Policies, PriceStore,
    SentimentStore, TimeRange, TimeSeriesStore, WhaleQuery,
};
use marketseries_postgres::{PgConfig, PgStore};
use marketseries_testkit::generate::{self, asset_of, CandleSpec};
use marketseries_testkit::launcher::{self, fresh_database, Flavor, ServerKind};
use rust_decimal::Decimal;

const SYMBOLS: usize = 5;
const DAYS: u32 = 30;
const BATCH: usize = 50_000;

/// Runs the demo, stopping the database server afterwards if the demo started it.
pub fn run() -> Result<(), Box<dyn Error>> {
    let was_running = launcher::status()
        .into_iter()
        .any(|s| s.kind == ServerKind::Postgres && s.alive && s.flavor != Some(Flavor::External));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(demo());
    drop(runtime);
    if !was_running {
        if let Err(e) = launcher::stop_all() {
            eprintln!("warning: could not stop the demo's database server: {e}");
        }
    }
    result
}

/// Fails unless the database answer equals the reference answer.
fn agree<T: PartialEq + Debug>(what: &str, db: &T, reference: &T) -> Result<(), Box<dyn Error>> {
    if db == reference {
        Ok(())
    } else {
        Err(
            format!("{what}: postgres answered {db:?} but the reference store says {reference:?}")
                .into(),
        )
    }
}

async fn demo() -> Result<(), Box<dyn Error>> {
    let start: DateTime<Utc> = "2024-03-01T00:00:00Z".parse()?;
    let now = start + TimeDelta::days(i64::from(DAYS)) - TimeDelta::minutes(7);
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(now));

    let t0 = Instant::now();
    let db = fresh_database(ServerKind::Postgres).await?;
    let pg = PgStore::connect_with_clock(PgConfig::new(db.url()), clock.clone()).await?;
    pg.migrate().await?;
    pg.apply_policies(&Policies::default()).await?;
    let reference = MemoryStore::with_clock(clock);
    println!(
        "marketseries demo: plain PostgreSQL ({} server, database {}), clock pinned at {now}",
        db.flavor(),
        db.name()
    );
    println!(
        "server ready and schema migrated in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    let candles = CandleSpec::minutes(SYMBOLS, DAYS, start, 2024).generate();
    let t1 = Instant::now();
    for chunk in candles.chunks(BATCH) {
        pg.store_candles(chunk).await?;
    }
    let ingest = t1.elapsed().as_secs_f64();
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
    let written = pg.store_sentiments(&sentiment).await?;
    agree(
        "sentiment write",
        &written,
        &reference.store_sentiments(&sentiment).await?,
    )?;
    pg.store_flows(&flows).await?;
    reference.store_flows(&flows).await?;
    println!(
        "loaded {} one-minute candles ({SYMBOLS} symbols x {DAYS} days) in {ingest:.1} s ({:.0} rows/s, rollups included), {} sentiment readings, {} flows",
        candles.len(),
        f64::from(u32::try_from(candles.len())?) / ingest,
        sentiment.len(),
        flows.len(),
    );

    let focus = "BTCUSDT";
    println!("\n== Routed OHLCV for {focus}, last 3 days (answers checked against the reference store) ==");
    let range = TimeRange::new(now - TimeDelta::days(3), now)?;
    for interval in ["1h", "4h", "1d", "2h", "30m", "7m", "1w"] {
        let q = OhlcvQuery::new(focus, interval.parse()?, range);
        let t = Instant::now();
        let got = pg.ohlcv(&q).await?;
        let took = t.elapsed().as_secs_f64() * 1e3;
        agree(
            &format!("{interval} bars"),
            &got.bars,
            &reference.ohlcv(&q).await?.bars,
        )?;
        println!(
            "{interval:>4}: {:<52} {:>4} bars in {took:>6.1} ms, equal: yes",
            got.route.to_string(),
            got.bars.len()
        );
    }
    let q = OhlcvQuery::new(
        focus,
        Interval::H4,
        TimeRange::new(now - TimeDelta::hours(16), now)?,
    );
    println!("\n{focus} 4h candles, last 16 hours:");
    println!(
        "{:<18} {:>10} {:>10} {:>10} {:>10} {:>14}",
        "time", "open", "high", "low", "close", "volume"
    );
    for b in pg.ohlcv(&q).await?.bars {
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

    println!("\n== Market overview ==");
    let overview = pg.market_overview().await?;
    agree(
        "market overview",
        &overview,
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
    println!("\n== Sentiment and flows for {asset} ==");
    let trend = pg.sentiment_trend(asset, TimeDelta::hours(24)).await?;
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
        &reference.sentiment_distribution(asset, week).await?,
    )?;
    println!(
        "7-day distribution: {} bearish, {} neutral, {} bullish",
        d.bearish, d.neutral, d.bullish
    );
    let net = pg.net_flow(asset, week).await?;
    agree("net flow", &net, &reference.net_flow(asset, week).await?)?;
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
        &reference.whale_activity(&whales).await?,
    )?;
    println!("7-day whale activity (>= 50 {asset}): {} flows", w.len());

    println!("\n== Storage ==");
    let stats = pg.stats().await?;
    for t in &stats.tables {
        println!(
            "{:<10} {:>9} rows {:>4} partitions {:>8.1} MiB",
            t.name,
            t.rows,
            t.partitions,
            mib(t.total_bytes.unwrap_or(0))
        );
    }
    println!(
        "rollups: {}",
        stats
            .aggregates
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );

    println!("\n== Errors are typed ==");
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
    println!("\ndemo finished in {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}

/// Bytes to MiB for display; table sizes are far below 2^53 bytes.
fn mib(bytes: u64) -> f64 {
    f64::from(u32::try_from(bytes / 1024).unwrap_or(u32::MAX)) / 1024.0
}
