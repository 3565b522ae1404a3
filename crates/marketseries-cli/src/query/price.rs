//! Price questions beyond `ohlcv`, `latest` and `overview`: `change`, `range`,
//! `volume-profile`, `symbols`.

use clap::Args;
use marketseries_core::{PriceChange, VolumeProfileQuery};
use rust_decimal::Decimal;

use super::{or_dash, shown, Answer, RangeArgs, WindowArgs};
use crate::cli::ReportFormat;
use crate::commands::Target;
use crate::error::CliResult;
use crate::parse::format_time;

/// Options of `change`.
#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// Symbol, e.g. BTCUSDT.
    #[arg(long)]
    pub symbol: String,
    /// The window.
    #[command(flatten)]
    pub window: WindowArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

/// Options of `range`.
#[derive(Debug, Args)]
pub struct PriceRangeArgs {
    /// Symbol, e.g. BTCUSDT.
    #[arg(long)]
    pub symbol: String,
    /// The range.
    #[command(flatten)]
    pub range: RangeArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

/// Options of `volume-profile`.
#[derive(Debug, Args)]
pub struct VolumeProfileArgs {
    /// Symbol, e.g. BTCUSDT.
    #[arg(long)]
    pub symbol: String,
    /// Width of a price level (each candle's volume goes to the level of its close),
    /// e.g. 100 or 0.5.
    #[arg(long, value_parser = price_step)]
    pub step: Decimal,
    /// The range.
    #[command(flatten)]
    pub range: RangeArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

/// Options of `symbols`.
#[derive(Debug, Args)]
pub struct SymbolsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

fn price_step(text: &str) -> Result<Decimal, String> {
    let step = crate::parse::decimal("step", text).map_err(|e| e.reason)?;
    if step <= Decimal::ZERO {
        return Err(format!("{text} is not greater than zero"));
    }
    Ok(step)
}

/// `change`: first open to last close over the window.
pub async fn change(args: ChangeArgs, target: &Target) -> CliResult {
    let store = target.open().await?;
    let change = match args.window.at {
        None => store.price_change(&args.symbol, args.window.last).await?,
        Some(at) => {
            store
                .price_change_at(&args.symbol, args.window.last, at)
                .await?
        }
    };
    let rows = change.iter().map(change_row).collect();
    Answer {
        json: &change,
        headers: &[
            "symbol",
            "first",
            "last",
            "open",
            "close",
            "high",
            "low",
            "change",
            "change_pct",
        ],
        numeric: &[false, false, false, true, true, true, true, true, true],
        rows,
        empty: format!("no candles for {} in the window", args.symbol),
    }
    .print(args.format)
}

fn change_row(c: &PriceChange) -> Vec<String> {
    vec![
        c.symbol.clone(),
        format_time(c.first_time),
        format_time(c.last_time),
        c.open.to_string(),
        c.close.to_string(),
        c.high.to_string(),
        c.low.to_string(),
        c.change().to_string(),
        or_dash(c.percent()),
    ]
}

/// `range`: highest high and lowest low over the range.
pub async fn range(args: PriceRangeArgs, target: &Target) -> CliResult {
    let range = args.range.range()?;
    let store = target.open().await?;
    let answer = store.price_range(&args.symbol, range).await?;
    let rows = answer
        .iter()
        .map(|r| {
            vec![
                r.symbol.clone(),
                format_time(r.range.from()),
                format_time(r.range.to()),
                r.high.to_string(),
                r.low.to_string(),
                r.spread().to_string(),
            ]
        })
        .collect();
    Answer {
        json: &answer,
        headers: &["symbol", "from", "to", "high", "low", "spread"],
        numeric: &[false, false, false, true, true, true],
        rows,
        empty: format!("no candles for {} in {}", args.symbol, shown(range)),
    }
    .print(args.format)
}

/// `volume-profile`: volume by closing price level, lowest level first.
pub async fn volume_profile(args: VolumeProfileArgs, target: &Target) -> CliResult {
    let range = args.range.range()?;
    let store = target.open().await?;
    let query = VolumeProfileQuery {
        symbol: args.symbol.clone(),
        range,
        price_step: args.step,
    };
    let levels = store.volume_profile(&query).await?;
    let rows = levels
        .iter()
        .map(|l| {
            vec![
                l.price.to_string(),
                l.volume.to_string(),
                l.candles.to_string(),
            ]
        })
        .collect();
    Answer {
        json: &levels,
        headers: &["price", "volume", "candles"],
        numeric: &[true, true, true],
        rows,
        empty: format!("no candles for {} in {}", args.symbol, shown(range)),
    }
    .print(args.format)
}

/// `symbols`: every symbol with candles.
pub async fn symbols(args: SymbolsArgs, target: &Target) -> CliResult {
    let store = target.open().await?;
    let symbols = store.symbols().await?;
    let rows = symbols.iter().map(|s| vec![s.clone()]).collect();
    Answer {
        json: &symbols,
        headers: &["symbol"],
        numeric: &[false],
        rows,
        empty: "no candles stored".to_owned(),
    }
    .print(args.format)
}
