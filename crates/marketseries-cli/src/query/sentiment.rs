//! `sentiment ...`: readings, aggregates, trend, per-source breakdown, label
//! distribution, latest reading and the all-asset summary.

use clap::{Args, Subcommand, ValueEnum};
use marketseries_core::{AggregateBucket, SentimentReading};

use super::{or_dash, shown, Answer, RangeArgs, WindowArgs};
use crate::cli::ReportFormat;
use crate::commands::Target;
use crate::error::CliResult;
use crate::parse::format_time;

/// `sentiment` subcommands.
#[derive(Debug, Subcommand)]
pub enum SentimentCommand {
    /// Raw readings of an asset over a range, optionally of one source.
    ///
    /// Example: `marketseries sentiment readings --asset BTC --last 6h --source reddit`.
    Readings(ReadingsArgs),
    /// Hourly or daily aggregates (all sources) of an asset.
    ///
    /// Example: `marketseries sentiment aggregates --asset BTC --bucket day --last 30d`.
    Aggregates(BucketArgs),
    /// Mean score of the window against the window before.
    ///
    /// Example: `marketseries sentiment trend --asset BTC --last 24h --at 2024-03-01`.
    Trend(AssetWindowArgs),
    /// Mean score per source over a range.
    ///
    /// Example: `marketseries sentiment by-source --asset BTC --last 7d --format csv`.
    BySource(AssetRangeArgs),
    /// Readings by label (bearish, neutral, bullish) over a range.
    ///
    /// Example: `marketseries sentiment distribution --asset BTC --last 7d`.
    Distribution(AssetRangeArgs),
    /// The newest reading of an asset, optionally of one source.
    ///
    /// Example: `marketseries sentiment latest --asset BTC --source twitter`.
    Latest(LatestArgs),
    /// Every asset with readings in the window: mean score, counts, labels.
    ///
    /// Example: `marketseries sentiment summary --last 24h --format json`.
    Summary(SummaryArgs),
}

/// Bucket width of an aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BucketArg {
    /// One hour.
    Hour,
    /// One day.
    Day,
}

impl From<BucketArg> for AggregateBucket {
    fn from(b: BucketArg) -> Self {
        match b {
            BucketArg::Hour => Self::Hour,
            BucketArg::Day => Self::Day,
        }
    }
}

/// Options of `sentiment readings`.
#[derive(Debug, Args)]
pub struct ReadingsArgs {
    /// Asset, e.g. BTC.
    #[arg(long)]
    pub asset: String,
    /// Only readings of this source.
    #[arg(long)]
    pub source: Option<String>,
    /// The range.
    #[command(flatten)]
    pub range: RangeArgs,
    /// Output format (CSV in the `import sentiment` layout).
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

/// Options of the aggregate commands.
#[derive(Debug, Args)]
pub struct BucketArgs {
    /// Asset, e.g. BTC.
    #[arg(long)]
    pub asset: String,
    /// Bucket width.
    #[arg(long, value_enum, default_value_t = BucketArg::Hour)]
    pub bucket: BucketArg,
    /// The range.
    #[command(flatten)]
    pub range: RangeArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

/// Options of commands over one asset and a range.
#[derive(Debug, Args)]
pub struct AssetRangeArgs {
    /// Asset, e.g. BTC.
    #[arg(long)]
    pub asset: String,
    /// The range.
    #[command(flatten)]
    pub range: RangeArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

/// Options of commands over one asset and a window ending now or at `--at`.
#[derive(Debug, Args)]
pub struct AssetWindowArgs {
    /// Asset, e.g. BTC.
    #[arg(long)]
    pub asset: String,
    /// The window.
    #[command(flatten)]
    pub window: WindowArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

/// Options of `sentiment latest`.
#[derive(Debug, Args)]
pub struct LatestArgs {
    /// Asset, e.g. BTC.
    #[arg(long)]
    pub asset: String,
    /// Only readings of this source.
    #[arg(long)]
    pub source: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

/// Options of `sentiment summary`.
#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// The window.
    #[command(flatten)]
    pub window: WindowArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

/// The CSV header of sentiment readings: the layout `import sentiment` reads.
pub const READING_HEADERS: [&str; 7] = [
    "time",
    "asset",
    "source",
    "score",
    "label",
    "mention_volume",
    "engagement",
];

/// A reading as a row of [`READING_HEADERS`].
pub fn reading_row(r: &SentimentReading) -> Vec<String> {
    vec![
        format_time(r.time),
        r.asset.clone(),
        r.source.clone(),
        r.score.to_string(),
        r.label.to_string(),
        r.mention_volume.to_string(),
        r.engagement.to_string(),
    ]
}

const READING_NUMERIC: [bool; 7] = [false, false, false, true, false, true, true];

/// Runs a `sentiment` subcommand.
pub async fn run(command: SentimentCommand, target: &Target) -> CliResult {
    match command {
        SentimentCommand::Readings(a) => readings(a, target).await,
        SentimentCommand::Aggregates(a) => aggregates(a, target).await,
        SentimentCommand::Trend(a) => trend(a, target).await,
        SentimentCommand::BySource(a) => by_source(a, target).await,
        SentimentCommand::Distribution(a) => distribution(a, target).await,
        SentimentCommand::Latest(a) => latest(a, target).await,
        SentimentCommand::Summary(a) => summary(a, target).await,
    }
}

async fn readings(args: ReadingsArgs, target: &Target) -> CliResult {
    let range = args.range.range()?;
    let store = target.open().await?;
    let readings = store
        .sentiment_readings(&args.asset, range, args.source.as_deref())
        .await?;
    Answer {
        json: &readings,
        headers: &READING_HEADERS,
        numeric: &READING_NUMERIC,
        rows: readings.iter().map(reading_row).collect(),
        empty: format!("no readings of {} in {}", args.asset, shown(range)),
    }
    .print(args.format)
}

async fn aggregates(args: BucketArgs, target: &Target) -> CliResult {
    let range = args.range.range()?;
    let store = target.open().await?;
    let buckets = store
        .sentiment_aggregates(&args.asset, args.bucket.into(), range)
        .await?;
    let rows = buckets
        .iter()
        .map(|b| {
            vec![
                format_time(b.time),
                b.avg_score.to_string(),
                b.min_score.to_string(),
                b.max_score.to_string(),
                b.readings.to_string(),
                b.mentions.to_string(),
                b.engagement.to_string(),
            ]
        })
        .collect();
    Answer {
        json: &buckets,
        headers: &[
            "time",
            "avg_score",
            "min_score",
            "max_score",
            "readings",
            "mentions",
            "engagement",
        ],
        numeric: &[false, true, true, true, true, true, true],
        rows,
        empty: format!("no readings of {} in {}", args.asset, shown(range)),
    }
    .print(args.format)
}

async fn trend(args: AssetWindowArgs, target: &Target) -> CliResult {
    let store = target.open().await?;
    let (asset, window) = (&args.asset, args.window.last);
    let trend = match args.window.at {
        None => store.sentiment_trend(asset, window).await?,
        Some(at) => store.sentiment_trend_at(asset, window, at).await?,
    };
    let row = vec![
        trend.asset.clone(),
        format_time(trend.current_range.from()),
        format_time(trend.current_range.to()),
        or_dash(trend.current.map(|w| w.avg_score)),
        or_dash(trend.current.map(|w| w.readings)),
        or_dash(trend.previous.map(|w| w.avg_score)),
        or_dash(trend.previous.map(|w| w.readings)),
        or_dash(trend.delta()),
    ];
    Answer {
        json: &trend,
        headers: &[
            "asset",
            "from",
            "to",
            "avg_score",
            "readings",
            "previous_avg_score",
            "previous_readings",
            "delta",
        ],
        numeric: &[false, false, false, true, true, true, true, true],
        rows: vec![row],
        empty: String::new(),
    }
    .print(args.format)
}

async fn by_source(args: AssetRangeArgs, target: &Target) -> CliResult {
    let range = args.range.range()?;
    let store = target.open().await?;
    let sources = store.sentiment_by_source(&args.asset, range).await?;
    let rows = sources
        .iter()
        .map(|s| {
            vec![
                s.source.clone(),
                s.avg_score.to_string(),
                s.readings.to_string(),
                s.mentions.to_string(),
            ]
        })
        .collect();
    Answer {
        json: &sources,
        headers: &["source", "avg_score", "readings", "mentions"],
        numeric: &[false, true, true, true],
        rows,
        empty: format!("no readings of {} in {}", args.asset, shown(range)),
    }
    .print(args.format)
}

async fn distribution(args: AssetRangeArgs, target: &Target) -> CliResult {
    let range = args.range.range()?;
    let store = target.open().await?;
    let d = store.sentiment_distribution(&args.asset, range).await?;
    Answer {
        json: &d,
        headers: &["bearish", "neutral", "bullish", "total"],
        numeric: &[true, true, true, true],
        rows: vec![vec![
            d.bearish.to_string(),
            d.neutral.to_string(),
            d.bullish.to_string(),
            d.total().to_string(),
        ]],
        empty: String::new(),
    }
    .print(args.format)
}

async fn latest(args: LatestArgs, target: &Target) -> CliResult {
    let store = target.open().await?;
    let reading = store
        .latest_sentiment(&args.asset, args.source.as_deref())
        .await?;
    Answer {
        json: &reading,
        headers: &READING_HEADERS,
        numeric: &READING_NUMERIC,
        rows: reading.iter().map(reading_row).collect(),
        empty: format!("no readings of {}", args.asset),
    }
    .print(args.format)
}

async fn summary(args: SummaryArgs, target: &Target) -> CliResult {
    let store = target.open().await?;
    let window = args.window.last;
    let summary = match args.window.at {
        None => store.sentiment_summary(window).await?,
        Some(at) => store.sentiment_summary_at(window, at).await?,
    };
    let rows = summary
        .iter()
        .map(|s| {
            vec![
                s.asset.clone(),
                s.avg_score.to_string(),
                s.readings.to_string(),
                s.mentions.to_string(),
                s.distribution.bearish.to_string(),
                s.distribution.neutral.to_string(),
                s.distribution.bullish.to_string(),
                format_time(s.latest_time),
            ]
        })
        .collect();
    Answer {
        json: &summary,
        headers: &[
            "asset",
            "avg_score",
            "readings",
            "mentions",
            "bearish",
            "neutral",
            "bullish",
            "latest",
        ],
        numeric: &[false, true, true, true, true, true, true, false],
        rows,
        empty: "no readings in the window".to_owned(),
    }
    .print(args.format)
}
