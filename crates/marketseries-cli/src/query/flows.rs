//! `flows ...`: history, aggregates, net exchange flow, whale activity, per-exchange
//! breakdown and velocity.

use clap::{Args, Subcommand};
use marketseries_core::{Flow, FlowType, WhaleQuery};
use rust_decimal::Decimal;

use super::sentiment::{AssetRangeArgs, AssetWindowArgs, BucketArgs};
use super::{or_dash, shown, Answer, RangeArgs};
use crate::cli::ReportFormat;
use crate::commands::Target;
use crate::error::CliResult;
use crate::parse::format_time;

/// `flows` subcommands.
#[derive(Debug, Subcommand)]
pub enum FlowsCommand {
    /// Flows of an asset over a range, optionally of one type.
    ///
    /// Example: `marketseries flows history --asset BTC --last 24h --type exchange_inflow`.
    History(HistoryArgs),
    /// Hourly or daily totals per flow type.
    ///
    /// Example: `marketseries flows aggregates --asset BTC --bucket day --last 30d`.
    Aggregates(BucketArgs),
    /// Exchange inflow against outflow over a range.
    ///
    /// Example: `marketseries flows net --asset BTC --from 2024-03-01 --to 2024-03-08`.
    Net(AssetRangeArgs),
    /// Flows of any type with an amount of at least `--min-amount`, newest first.
    ///
    /// Example: `marketseries flows whales --min-amount 100 --last 7d --asset BTC`.
    Whales(WhalesArgs),
    /// Exchange inflow and outflow per exchange (source) over a range.
    ///
    /// Example: `marketseries flows exchanges --asset ETH --last 7d --format csv`.
    Exchanges(AssetRangeArgs),
    /// Total flow of the window against the window before.
    ///
    /// Example: `marketseries flows velocity --asset BTC --last 6h --at 2024-03-01T12:00:00Z`.
    Velocity(AssetWindowArgs),
}

/// Options of `flows history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Asset, e.g. BTC.
    #[arg(long)]
    pub asset: String,
    /// Only flows of this type: exchange_inflow, exchange_outflow, whale_transfer, ...
    #[arg(long = "type", value_parser = flow_type, value_name = "FLOW_TYPE")]
    pub flow_type: Option<FlowType>,
    /// The range.
    #[command(flatten)]
    pub range: RangeArgs,
    /// Output format (CSV in the `import flows` layout).
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

/// Options of `flows whales`.
#[derive(Debug, Args)]
pub struct WhalesArgs {
    /// Only flows of this asset (default: every asset).
    #[arg(long)]
    pub asset: Option<String>,
    /// Smallest amount that counts, e.g. 100 or 0.5.
    #[arg(long, value_parser = min_amount)]
    pub min_amount: Decimal,
    /// The range.
    #[command(flatten)]
    pub range: RangeArgs,
    /// Output format (CSV in the `import flows` layout).
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

fn flow_type(text: &str) -> Result<FlowType, String> {
    text.parse()
        .map_err(|e: marketseries_core::Error| e.to_string())
}

fn min_amount(text: &str) -> Result<Decimal, String> {
    crate::parse::decimal("min_amount", text).map_err(|e| e.reason)
}

/// The CSV header of flows: the layout `import flows` reads.
pub const FLOW_HEADERS: [&str; 7] = [
    "time",
    "asset",
    "flow_type",
    "amount",
    "usd_value",
    "source",
    "reference",
];

const FLOW_NUMERIC: [bool; 7] = [false, false, false, true, true, false, false];

/// A flow as a row of [`FLOW_HEADERS`].
pub fn flow_row(f: &Flow) -> Vec<String> {
    vec![
        format_time(f.time),
        f.asset.clone(),
        f.flow_type.as_str().to_owned(),
        f.amount.to_string(),
        f.usd_value.to_string(),
        f.source.clone(),
        f.reference.clone(),
    ]
}

/// Runs a `flows` subcommand.
pub async fn run(command: FlowsCommand, target: &Target) -> CliResult {
    match command {
        FlowsCommand::History(a) => history(a, target).await,
        FlowsCommand::Aggregates(a) => aggregates(a, target).await,
        FlowsCommand::Net(a) => net(a, target).await,
        FlowsCommand::Whales(a) => whales(a, target).await,
        FlowsCommand::Exchanges(a) => exchanges(a, target).await,
        FlowsCommand::Velocity(a) => velocity(a, target).await,
    }
}

async fn history(args: HistoryArgs, target: &Target) -> CliResult {
    let range = args.range.range()?;
    let store = target.open().await?;
    let flows = store
        .flow_history(&args.asset, range, args.flow_type)
        .await?;
    Answer {
        json: &flows,
        headers: &FLOW_HEADERS,
        numeric: &FLOW_NUMERIC,
        rows: flows.iter().map(flow_row).collect(),
        empty: format!("no flows of {} in {}", args.asset, shown(range)),
    }
    .print(args.format)
}

async fn aggregates(args: BucketArgs, target: &Target) -> CliResult {
    let range = args.range.range()?;
    let store = target.open().await?;
    let buckets = store
        .flow_aggregates(&args.asset, args.bucket.into(), range)
        .await?;
    let rows = buckets
        .iter()
        .map(|b| {
            vec![
                format_time(b.time),
                b.flow_type.as_str().to_owned(),
                b.amount.to_string(),
                b.usd_value.to_string(),
                b.transactions.to_string(),
            ]
        })
        .collect();
    Answer {
        json: &buckets,
        headers: &["time", "flow_type", "amount", "usd_value", "transactions"],
        numeric: &[false, false, true, true, true],
        rows,
        empty: format!("no flows of {} in {}", args.asset, shown(range)),
    }
    .print(args.format)
}

async fn net(args: AssetRangeArgs, target: &Target) -> CliResult {
    let range = args.range.range()?;
    let store = target.open().await?;
    let n = store.net_flow(&args.asset, range).await?;
    let row = vec![
        n.asset.clone(),
        format_time(n.range.from()),
        format_time(n.range.to()),
        n.inflow_amount.to_string(),
        n.outflow_amount.to_string(),
        n.net_amount().to_string(),
        n.inflow_usd.to_string(),
        n.outflow_usd.to_string(),
        n.net_usd().to_string(),
        n.inflows.to_string(),
        n.outflows.to_string(),
    ];
    Answer {
        json: &n,
        headers: &[
            "asset",
            "from",
            "to",
            "inflow",
            "outflow",
            "net",
            "inflow_usd",
            "outflow_usd",
            "net_usd",
            "inflows",
            "outflows",
        ],
        numeric: &[
            false, false, false, true, true, true, true, true, true, true, true,
        ],
        rows: vec![row],
        empty: String::new(),
    }
    .print(args.format)
}

async fn whales(args: WhalesArgs, target: &Target) -> CliResult {
    let range = args.range.range()?;
    let store = target.open().await?;
    let query = WhaleQuery {
        asset: args.asset.clone(),
        range,
        min_amount: args.min_amount,
    };
    let flows = store.whale_activity(&query).await?;
    Answer {
        json: &flows,
        headers: &FLOW_HEADERS,
        numeric: &FLOW_NUMERIC,
        rows: flows.iter().map(flow_row).collect(),
        empty: format!(
            "no flows of at least {} in {}",
            args.min_amount,
            shown(range)
        ),
    }
    .print(args.format)
}

async fn exchanges(args: AssetRangeArgs, target: &Target) -> CliResult {
    let range = args.range.range()?;
    let store = target.open().await?;
    let by = store.exchange_breakdown(&args.asset, range).await?;
    let rows = by
        .iter()
        .map(|e| {
            vec![
                e.source.clone(),
                e.inflow_amount.to_string(),
                e.outflow_amount.to_string(),
                e.net_amount().to_string(),
                e.inflow_usd.to_string(),
                e.outflow_usd.to_string(),
                e.transactions.to_string(),
            ]
        })
        .collect();
    Answer {
        json: &by,
        headers: &[
            "source",
            "inflow",
            "outflow",
            "net",
            "inflow_usd",
            "outflow_usd",
            "transactions",
        ],
        numeric: &[false, true, true, true, true, true, true],
        rows,
        empty: format!("no exchange flows of {} in {}", args.asset, shown(range)),
    }
    .print(args.format)
}

async fn velocity(args: AssetWindowArgs, target: &Target) -> CliResult {
    let store = target.open().await?;
    let (asset, window) = (&args.asset, args.window.last);
    let v = match args.window.at {
        None => store.flow_velocity(asset, window).await?,
        Some(at) => store.flow_velocity_at(asset, window, at).await?,
    };
    let row = vec![
        v.asset.clone(),
        format_time(v.current_range.from()),
        format_time(v.current_range.to()),
        v.current_amount.to_string(),
        v.current_count.to_string(),
        v.previous_amount.to_string(),
        v.previous_count.to_string(),
        v.amount_per_hour().to_string(),
        or_dash(v.acceleration()),
    ];
    Answer {
        json: &v,
        headers: &[
            "asset",
            "from",
            "to",
            "amount",
            "flows",
            "previous_amount",
            "previous_flows",
            "per_hour",
            "acceleration",
        ],
        numeric: &[false, false, false, true, true, true, true, true, true],
        rows: vec![row],
        empty: String::new(),
    }
    .print(args.format)
}
