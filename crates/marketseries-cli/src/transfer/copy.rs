//! `copy --from URL --to URL`: every record of one store written into another, page by
//! page, then checked.
//!
//! Each source page is compared with what the destination already holds over the page's
//! time span (record by record, exactly: decimals by their text, so `100.50` and `100.5`
//! differ); only what is missing or different is written. A copy therefore needs no state
//! to resume: run after an interruption, it skips what an earlier run wrote and says how
//! much that was. Memory is bounded by the page size (`--batch-size`).

use std::collections::HashSet;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

use chrono::TimeDelta;
use clap::Args;
use marketseries::Opened;
use marketseries_core::{
    Dataset, ErrorKind, Interval, OhlcvQuery, Records, ScanPage, ScanQuery, TimeRange,
    TimeSeriesStore,
};

use super::{store_all, DatasetName, Selection};
use crate::commands::{print, Target};
use crate::connect::{connect, BackendChoice, ConnectOptions, DbUrl};
use crate::error::{CliError, CliResult};
use crate::output::plural;
use crate::progress::Progress;

/// Options of `copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The store to read (a `postgres://` or `timescaledb://` URL; never printed).
    #[arg(
        long = "from",
        value_name = "URL",
        env = "MARKETSERIES_COPY_FROM",
        hide_env_values = true
    )]
    pub source: DbUrl,
    /// The store to write (migrated first, as `marketseries migrate` would).
    #[arg(
        long = "to",
        value_name = "URL",
        env = "MARKETSERIES_COPY_TO",
        hide_env_values = true
    )]
    pub destination: DbUrl,
    /// Datasets to copy, comma separated [default: all four].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub datasets: Vec<DatasetName>,
    /// Which records.
    #[command(flatten)]
    pub selection: Selection,
    /// Copy candles from this table of the seed's shape (`time, symbol, interval, open,
    /// high, low, close, volume`; `name` or `schema.name`) in the `--from` database, which
    /// then needs no marketseries schema, instead of from a store.
    #[arg(long, value_name = "TABLE", conflicts_with = "datasets")]
    pub from_table: Option<String>,
    /// Skip the check after the copy (row counts and sampled OHLCV answers on both sides).
    #[arg(long)]
    pub no_verify: bool,
}

/// What one dataset's copy did.
#[derive(Debug, Default)]
struct Tally {
    read: u64,
    written: u64,
    skipped: u64,
}

/// Runs `copy`.
pub async fn run(args: CopyArgs, target: &Target) -> CliResult {
    let options = ConnectOptions {
        backend: BackendChoice::Auto,
        ..target.options
    };
    let opened = connect(&args.source, options).await?;
    let source = match &args.from_table {
        Some(table) => Source::Table(Box::new(opened.opened), table.clone()),
        None => Source::Store(opened.store()),
    };
    let destination = connect(&args.destination, options).await?.store();
    destination.migrate().await?;
    let datasets = match (&args.from_table, args.datasets.is_empty()) {
        (Some(_), _) => vec![DatasetName::Candles],
        (None, true) => DatasetName::ALL.to_vec(),
        (None, false) => args.datasets.clone(),
    };
    let mut report = String::new();
    let mut read = Vec::new();
    for name in &datasets {
        let query = args.selection.query(name.dataset())?;
        let started = Instant::now();
        let tally = copy_dataset(&source, destination.as_ref(), query, *name).await?;
        read.push(tally.read);
        let (one, many) = name.noun();
        report.push_str(&format!(
            "copied {}: {} written, {} already there (skipped), in {:.2} s\n",
            plural(tally.read, one, many),
            tally.written,
            tally.skipped,
            started.elapsed().as_secs_f64()
        ));
    }
    match (&source, args.no_verify) {
        (_, true) => {}
        (Source::Store(source), false) => {
            report.push_str(&verify(source.as_ref(), destination.as_ref(), &args, &datasets).await?)
        }
        (Source::Table(..), false) => {
            // A seed table answers no store questions: the destination must hold what was
            // read from it, no more and no less.
            let query = args.selection.query(Dataset::Price)?;
            let held = destination.count(&query).await?;
            let want = read.first().copied().unwrap_or_default();
            if held != want {
                return Err(CliError::failed(format!(
                    "verify: {want} candles read from the table, {held} on the destination \
                     in the selected span; it holds other candles there (copy never deletes)"
                )));
            }
            report.push_str(&format!("verified: {held} candles on both sides\n"));
        }
    }
    print(&report)
}

/// Where a copy reads.
enum Source {
    /// A store.
    Store(Arc<dyn TimeSeriesStore>),
    /// A table of the seed's shape on a database opened as a store.
    Table(Box<Opened>, String),
}

impl Source {
    async fn scan(&self, query: &ScanQuery) -> CliResult<ScanPage> {
        Ok(match self {
            Self::Store(store) => store.scan(query).await?,
            Self::Table(opened, table) => opened.scan_seed_table(table, query).await?,
        })
    }

    async fn count(&self, query: &ScanQuery) -> CliResult<Option<u64>> {
        Ok(match self {
            Self::Store(store) => Some(store.count(query).await?),
            Self::Table(..) => None,
        })
    }
}

/// The records of a page as exact text, one per record.
fn exact(records: &Records) -> Vec<String> {
    fn each<T: serde::Serialize>(v: &[T]) -> Vec<String> {
        v.iter()
            .map(|r| serde_json::to_string(r).unwrap_or_default())
            .collect()
    }
    match records {
        Records::Candles(v) => each(v),
        Records::Sentiment(v) => each(v),
        Records::Flows(v) => each(v),
        Records::Indicators(v) => each(v),
    }
}

/// `records` without those whose exact text is in `present`.
fn missing(records: Records, present: &HashSet<String>) -> Records {
    fn keep<T: serde::Serialize>(v: Vec<T>, present: &HashSet<String>) -> Vec<T> {
        v.into_iter()
            .filter(|r| !present.contains(&serde_json::to_string(r).unwrap_or_default()))
            .collect()
    }
    match records {
        Records::Candles(v) => Records::Candles(keep(v, present)),
        Records::Sentiment(v) => Records::Sentiment(keep(v, present)),
        Records::Flows(v) => Records::Flows(keep(v, present)),
        Records::Indicators(v) => Records::Indicators(keep(v, present)),
    }
}

async fn copy_dataset(
    source: &Source,
    destination: &dyn TimeSeriesStore,
    first: ScanQuery,
    name: DatasetName,
) -> CliResult<Tally> {
    let mut tally = Tally::default();
    let (_, many) = name.noun();
    let total = if std::io::stderr().is_terminal() {
        source.count(&first).await?
    } else {
        None
    };
    let bar = Progress::new(total, many, format!("copying {many}"));
    let mut query = Some(first);
    while let Some(q) = query {
        let page = source.scan(&q).await?;
        query = q.after(&page);
        let Some((from, to)) = page.records.span() else {
            continue;
        };
        let n = u64::try_from(page.records.len()).unwrap_or(u64::MAX);
        tally.read += n;
        // What the destination holds over the page's span, read in pages of the same size.
        let mut present = HashSet::new();
        let end = to + TimeDelta::microseconds(1);
        let mut there = Some(ScanQuery {
            range: TimeRange::new(from, end)?,
            ..q.clone()
        });
        while let Some(d) = there {
            let held = destination.scan(&d).await?;
            present.extend(exact(&held.records));
            there = d.after(&held);
        }
        let todo = missing(page.records, &present);
        let written = u64::try_from(todo.len()).unwrap_or(u64::MAX);
        store_all(destination, &todo).await?;
        tally.written += written;
        tally.skipped += n - written;
        bar.inc(n);
    }
    Ok(tally)
}

/// Row counts per dataset and a sample of routed OHLCV answers, equal on both sides.
async fn verify(
    source: &dyn TimeSeriesStore,
    destination: &dyn TimeSeriesStore,
    args: &CopyArgs,
    datasets: &[DatasetName],
) -> CliResult<String> {
    let mut report = String::new();
    for name in datasets {
        let query = args.selection.query(name.dataset())?;
        let (a, b) = (
            source.count(&query).await?,
            destination.count(&query).await?,
        );
        if a != b {
            return Err(CliError::failed(format!(
                "verify: {} on the source, {} on the destination in the selected span; the \
                 destination holds other {} there (copy never deletes)",
                plural(a, name.noun().0, name.noun().1),
                b,
                name.noun().1,
            )));
        }
        report.push_str(&format!(
            "verified: {} {} on both sides\n",
            a,
            name.noun().1
        ));
    }
    if !datasets.contains(&DatasetName::Candles) {
        return Ok(report);
    }
    let mut symbols = source.symbols().await?;
    if !args.selection.symbols.is_empty() {
        symbols.retain(|s| args.selection.symbols.contains(s));
    }
    let mut checked = 0;
    for symbol in symbols.iter().take(5) {
        let Some(latest) = source.latest_price(symbol).await? else {
            continue;
        };
        let week = TimeRange::last(latest.time + TimeDelta::microseconds(1), TimeDelta::days(7))?;
        for interval in [latest.interval, Interval::H1, Interval::D1] {
            let q = OhlcvQuery::new(symbol.clone(), interval, week);
            let a = match source.ohlcv(&q).await {
                Ok(a) => a.bars,
                // 1h of daily candles, say: not a question this series answers.
                Err(e) if e.kind() == ErrorKind::UnsupportedInterval => continue,
                Err(e) => return Err(e.into()),
            };
            let b = destination.ohlcv(&q).await?.bars;
            if a != b {
                return Err(CliError::failed(format!(
                    "verify: {symbol} {interval} bars of the last week differ ({} on the \
                     source, {} on the destination)",
                    a.len(),
                    b.len()
                )));
            }
            checked += 1;
        }
    }
    report.push_str(&format!(
        "verified: {} sampled OHLCV answers equal\n",
        checked
    ));
    Ok(report)
}
