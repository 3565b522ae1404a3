//! `cargo xtask demo`: generated market data in the reference store, the router's decisions
//! for sample requests and the answers they produce, next to a raw-only store that must
//! agree. Later issues run the same scenario against the database backends.

use std::error::Error;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use marketseries_core::{
    AggregateBucket, Capabilities, Clock, FixedClock, FlowStore, Interval, MemoryStore, OhlcvQuery,
    PriceStore, SentimentStore, TimeRange, TimeSeriesStore, WhaleQuery,
};
use marketseries_testkit::generate::{self, asset_of, CandleSpec};
use rust_decimal::Decimal;

const SYMBOLS: usize = 5;
const DAYS: u32 = 30;

/// Runs the demo.
pub fn run() -> Result<(), Box<dyn Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    runtime.block_on(demo())
}

async fn demo() -> Result<(), Box<dyn Error>> {
    let start: DateTime<Utc> = "2024-03-01T00:00:00Z".parse()?;
    let now = start + TimeDelta::days(i64::from(DAYS)) - TimeDelta::minutes(7);
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(now));
    let store = MemoryStore::with_clock(clock.clone());
    let raw = MemoryStore::with_capabilities(clock, Capabilities::raw_only("memory (raw only)"));

    let t0 = Instant::now();
    let candles = CandleSpec::minutes(SYMBOLS, DAYS, start, 2024).generate();
    let symbols: Vec<String> = store_all(&[&store, &raw], &candles).await?;
    let focus = "BTCUSDT";
    let assets: Vec<&str> = symbols.iter().map(|s| asset_of(s)).collect();
    let sentiment = generate::sentiment(
        &assets,
        start,
        TimeDelta::minutes(15),
        usize::try_from(DAYS)? * 96,
        2024,
    );
    let flows = generate::flows(&assets, start, DAYS, 200, 2024);
    store.store_sentiments(&sentiment).await?;
    store.store_flows(&flows).await?;
    println!("marketseries demo: reference store (in memory), clock pinned at {now}");
    println!(
        "loaded {} one-minute candles ({SYMBOLS} symbols x {DAYS} days), {} sentiment readings, {} flows in {:.1} s",
        candles.len(),
        sentiment.len(),
        flows.len(),
        t0.elapsed().as_secs_f64()
    );
    let caps = store.capabilities();
    println!(
        "capabilities: aggregates {}, real-time {}",
        caps.materialized_intervals()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        caps.real_time_aggregates
    );

    println!("\n== Routed OHLCV for {focus} (last 3 days) ==");
    let range = TimeRange::new(now - TimeDelta::days(3), now)?;
    for interval in ["1h", "4h", "1d", "2h", "30m", "7m", "1w"] {
        let q = OhlcvQuery::new(focus, interval.parse()?, range);
        let routed = store.ohlcv(&q).await?;
        let baseline = raw.ohlcv(&q).await?;
        println!(
            "{interval:>4}: {:<55} {:>4} bars; raw-only store agrees: {}",
            routed.route.to_string(),
            routed.bars.len(),
            if routed.bars == baseline.bars {
                "yes"
            } else {
                "NO"
            }
        );
        if routed.bars != baseline.bars {
            return Err(format!(
                "route {} disagrees with raw aggregation for {interval}",
                routed.route
            )
            .into());
        }
    }
    let q = OhlcvQuery::new(
        focus,
        Interval::H4,
        TimeRange::new(now - TimeDelta::hours(16), now)?,
    );
    println!("\n{focus} 4h candles, last 16 hours:");
    println!(
        "{:<22} {:>12} {:>12} {:>12} {:>12} {:>16}",
        "time", "open", "high", "low", "close", "volume"
    );
    for b in store.ohlcv(&q).await?.bars {
        println!(
            "{:<22} {:>12} {:>12} {:>12} {:>12} {:>16}",
            b.time.format("%Y-%m-%d %H:%M"),
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume.round_dp(2)
        );
    }

    println!("\n== Market overview ==");
    println!("{:<10} {:>14} {:>12}", "symbol", "price", "24h %");
    for row in store.market_overview().await? {
        let pct = row
            .change_24h
            .as_ref()
            .and_then(|c| c.percent())
            .map_or("-".to_owned(), |p| format!("{:+.2}", p));
        println!(
            "{:<10} {:>14} {:>12}",
            row.latest.symbol, row.latest.price, pct
        );
    }

    let asset = asset_of(focus);
    println!("\n== Sentiment and flows for {asset} ==");
    let trend = store.sentiment_trend(asset, TimeDelta::hours(24)).await?;
    println!(
        "sentiment, last 24h vs the 24h before: {:.3} vs {:.3} (change {:+.3})",
        trend.current.map_or(f64::NAN, |w| w.avg_score),
        trend.previous.map_or(f64::NAN, |w| w.avg_score),
        trend.delta().unwrap_or(f64::NAN)
    );
    let week = TimeRange::new(now - TimeDelta::days(7), now)?;
    let d = store.sentiment_distribution(asset, week).await?;
    println!(
        "7-day distribution: {} bearish, {} neutral, {} bullish",
        d.bearish, d.neutral, d.bullish
    );
    let daily = store
        .sentiment_aggregates(
            asset,
            AggregateBucket::Day,
            TimeRange::new(now - TimeDelta::days(3), now)?,
        )
        .await?;
    for a in daily {
        println!(
            "  {}  mean {:+.3}  readings {}",
            a.time.format("%Y-%m-%d"),
            a.avg_score,
            a.readings
        );
    }
    let net = store.net_flow(asset, week).await?;
    println!(
        "7-day exchange net flow: {} {asset} (in {} / out {}), {} USD",
        net.net_amount().round_dp(4),
        net.inflow_amount.round_dp(4),
        net.outflow_amount.round_dp(4),
        net.net_usd().round_dp(2)
    );
    let whales = store
        .whale_activity(&WhaleQuery {
            asset: Some(asset.to_owned()),
            range: week,
            min_amount: Decimal::from(50),
        })
        .await?;
    println!(
        "7-day whale activity (>= 50 {asset}): {} flows",
        whales.len()
    );

    println!("\n== Errors are typed ==");
    match "15x".parse::<Interval>() {
        Err(e) => println!("\"15x\" -> {} error: {e}", e.kind()),
        Ok(i) => return Err(format!("15x parsed as {i}").into()),
    }
    let mut hourly = candles[0].clone();
    hourly.symbol = "HOURLY".into();
    hourly.interval = Interval::H1;
    store.store_candle(&hourly).await?;
    let q = OhlcvQuery::new("HOURLY", "30m".parse()?, range);
    match store.ohlcv(&q).await {
        Err(e) => println!("30m for a symbol stored at 1h -> {} error: {e}", e.kind()),
        Ok(s) => return Err(format!("30m from 1h candles answered via {}", s.route).into()),
    }
    let mut bad = candles[1].clone();
    bad.high = bad.low - Decimal::ONE;
    match store.store_candles(&[candles[0].clone(), bad]).await {
        Err(e) => println!("batch with high < low -> {} error: {e}", e.kind()),
        Ok(_) => return Err("a candle with high < low was accepted".into()),
    }
    Ok(())
}

async fn store_all(
    stores: &[&MemoryStore],
    candles: &[marketseries_core::Candle],
) -> Result<Vec<String>, Box<dyn Error>> {
    for s in stores {
        // A month of candles for five symbols is over the default batch limit: load in chunks.
        for chunk in candles.chunks(s.capabilities().max_batch_size) {
            s.store_candles(chunk).await?;
        }
    }
    Ok(stores[0].symbols().await?)
}
