//! The command handlers. Results go to stdout; routes, notes and progress to stderr, so
//! stdout stays clean for pipes (`marketseries ohlcv --format csv > bars.csv`).

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;

use marketseries::timescale::{TimescaleExt, TimescaleStore};
use marketseries_core::{
    Dataset, Expiry, Freshness, IndicatorQuery, OhlcvQuery, Policies, RefreshProgress,
    TimeSeriesStore,
};

use crate::cli::{
    CandleImportArgs, Command, ImportArgs, ImportCommand, IndicatorAtArgs, IndicatorSeriesArgs,
    IndicatorSymbolArgs, IndicatorsCommand, LatestArgs, MaintainArgs, MigrateArgs, OhlcvArgs,
    ReportArgs, ReportFormat, ValueFormat,
};
use crate::connect::{connect, ConnectOptions, DbUrl, OpenedStore};
use crate::error::{CliError, CliResult};
use crate::import::candles::CandleFormat;
use crate::import::flows::FlowFormat;
use crate::import::indicators::IndicatorFormat;
use crate::import::sentiment::SentimentFormat;
use crate::import::times::TimeReader;
use crate::import::{self, RecordFormat};
use crate::output::{self, plural, ValueColumn};
use crate::parse::format_time;
use crate::query::Answer;
use marketseries::Opened;

/// Where to find the database.
#[derive(Debug, Clone)]
pub struct Target {
    /// The URL.
    pub url: DbUrl,
    /// Connection settings.
    pub options: ConnectOptions,
}

impl Target {
    pub(crate) async fn open(&self) -> CliResult<Arc<dyn TimeSeriesStore>> {
        Ok(self.open_backend().await?.store())
    }

    async fn open_backend(&self) -> CliResult<OpenedStore> {
        connect(&self.url, self.options).await
    }
}

/// Runs one command.
///
/// # Errors
/// Whatever the command reports; see [`CliError`].
pub async fn run(command: Command, target: &Target) -> CliResult {
    match command {
        Command::Migrate(args) => migrate(args, target).await,
        Command::Import(ImportCommand::Candles(args)) => import_candles(args, target).await,
        Command::Import(ImportCommand::Sentiment(args)) => {
            import_file(&args, target, |first| {
                SentimentFormat::new(first, &args.file)
            })
            .await
        }
        Command::Import(ImportCommand::Flows(args)) => {
            import_file(&args, target, |first| FlowFormat::new(first, &args.file)).await
        }
        Command::Import(ImportCommand::Indicators(args)) => {
            import_file(&args, target, |first| {
                IndicatorFormat::new(first, &args.file)
            })
            .await
        }
        Command::Ohlcv(args) => ohlcv(args, target).await,
        Command::Latest(args) => latest(args, target).await,
        Command::Indicators(IndicatorsCommand::Series(args)) => {
            indicator_series(args, target).await
        }
        Command::Indicators(IndicatorsCommand::Latest(args)) => {
            latest_indicators(args, target).await
        }
        Command::Indicators(IndicatorsCommand::List(args)) => indicator_list(args, target).await,
        Command::Indicators(IndicatorsCommand::At(args)) => indicator_at(args, target).await,
        Command::Overview(args) => overview(args, target).await,
        Command::Change(args) => crate::query::price::change(args, target).await,
        Command::Range(args) => crate::query::price::range(args, target).await,
        Command::VolumeProfile(args) => crate::query::price::volume_profile(args, target).await,
        Command::Symbols(args) => crate::query::price::symbols(args, target).await,
        Command::Sentiment(command) => crate::query::sentiment::run(command, target).await,
        Command::Flows(command) => crate::query::flows::run(command, target).await,
        Command::Stats(args) => stats(args, target).await,
        Command::Maintain(args) => maintain(args, target).await,
        Command::Policy(command) => crate::policy::run(command, target).await,
        Command::Serve(args) => crate::serve::run(args, target).await,
        Command::Export(args) => crate::transfer::export::run(args, target).await,
        Command::Copy(args) => crate::transfer::copy::run(args, target).await,
        // Answered in `main` before a database is looked for.
        Command::Completions(_) => Ok(()),
    }
}

/// Writes `text` to stdout, mapping a closed pipe to a quiet exit.
pub(crate) fn print(text: &str) -> CliResult {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| CliError::output(&e))
}

/// Writes a note to stderr (never fails the command).
pub(crate) fn note(text: &str) {
    let _ = writeln!(io::stderr(), "{text}");
}

/// Renders into a buffer, then prints it.
pub(crate) fn render(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> CliResult {
    let mut buf = Vec::new();
    f(&mut buf).map_err(|e| CliError::output(&e))?;
    let mut out = io::stdout().lock();
    out.write_all(&buf)
        .and_then(|()| out.flush())
        .map_err(|e| CliError::output(&e))
}

async fn migrate(args: MigrateArgs, target: &Target) -> CliResult {
    let opened = connect(&target.url, target.options).await?;
    let store = opened.store();
    store.migrate().await?;
    let mut report = format!(
        "migrated: the {} schema is up to date\n",
        store.capabilities().backend
    );
    if args.roles {
        let roles = marketseries::Roles {
            reader: args.reader_role,
            writer: args.writer_role,
        };
        opened.opened.create_roles(&roles).await?;
        report.push_str(&format!(
            "roles: {} (reads) and {} (writes) granted on this database; grant them to \
             login roles (GRANT {} TO <user>)\n",
            roles.reader, roles.writer, roles.writer
        ));
    }
    print(&report)
}

async fn import_candles(args: CandleImportArgs, target: &Target) -> CliResult {
    let symbol = args.symbol.as_deref();
    let path: &Path = &args.common.file;
    import_file(&args.common, target, |first| {
        let (format, message) =
            CandleFormat::with_columns(first, path, symbol, args.interval, &args.columns)?;
        note(&message);
        Ok(format)
    })
    .await
}

/// Checks the whole file first (no database needed for that, so a bad file fails fast
/// even when the server is unreachable), then connects and stores it, then updates the
/// planner statistics of the partitions or chunks it wrote (so reads right after an import
/// are planned as well as after autovacuum's next pass; see
/// `SqlStore::analyze_written`). How long that took is noted on stderr.
async fn import_file<F>(
    args: &ImportArgs,
    target: &Target,
    make: impl FnOnce(&csv::StringRecord) -> CliResult<F>,
) -> CliResult
where
    F: RecordFormat + Send + 'static,
    F::Record: Send + Clone + 'static,
{
    let started = std::time::Instant::now();
    let zone = args.timezone;
    let checked = import::check(&args.file, args.skip_invalid, |first| {
        let mut format = make(first)?;
        *format.times_mut() = TimeReader::new(zone);
        Ok(format)
    })?;
    note(&format!(
        "checked {} in {:.2} s",
        args.file.display(),
        started.elapsed().as_secs_f64()
    ));
    if args.dry_run {
        return print(&checked.dry_run());
    }
    let opened = target.open_backend().await?;
    let stored = import::store(
        checked,
        opened.store().as_ref(),
        args.batch_size.map(std::num::NonZeroUsize::get),
    )
    .await?;
    if let Some((first, last)) = stored.span {
        let started = std::time::Instant::now();
        let analyzed = opened
            .opened
            .analyze_written(F::DATASET, first, last)
            .await?;
        note(&format!(
            "statistics updated: {} in {:.2} s",
            plural(analyzed, "partition", "partitions"),
            started.elapsed().as_secs_f64()
        ));
    }
    print(&format!("{}\n", stored.summary))
}

async fn ohlcv(args: OhlcvArgs, target: &Target) -> CliResult {
    let range = args.range.range()?;
    let freshness = if args.fresh {
        Freshness::Refreshed
    } else {
        Freshness::RealTime
    };
    let query = OhlcvQuery::new(args.symbol, args.interval, range).with_freshness(freshness);
    let store = target.open().await?;
    let series = store.ohlcv(&query).await?;
    note(&format!("route: {}", series.route));
    render(|out| output::bars(out, args.format, &series.bars))
}

async fn latest(args: LatestArgs, target: &Target) -> CliResult {
    let store = target.open().await?;
    let point = store.latest_price(&args.symbol).await?;
    let rows = point
        .iter()
        .map(|p| {
            vec![
                p.symbol.clone(),
                format_time(p.time),
                p.interval.to_string(),
                p.price.to_string(),
            ]
        })
        .collect();
    Answer {
        json: &point,
        headers: &["symbol", "time", "interval", "price"],
        numeric: &[false, false, false, true],
        rows,
        empty: format!("no candles for {}", args.symbol),
    }
    .print(args.format)
}

async fn indicator_series(args: IndicatorSeriesArgs, target: &Target) -> CliResult {
    let range = args.range.range()?;
    let key = args.key;
    let query = IndicatorQuery::new(key.symbol, key.interval, key.name, range);
    let store = target.open().await?;
    let values = store.indicator_series(&query).await?;
    render(|out| {
        output::indicator_values(
            out,
            args.format,
            &values,
            &[ValueColumn::Time, ValueColumn::Value],
        )
    })
}

async fn latest_indicators(args: IndicatorSymbolArgs, target: &Target) -> CliResult {
    let store = target.open().await?;
    let values = store.latest_indicators(&args.symbol).await?;
    if args.format == ValueFormat::Table && values.is_empty() {
        return print(&format!("no indicators for {}\n", args.symbol));
    }
    render(|out| {
        output::indicator_values(
            out,
            args.format,
            &values,
            &[
                ValueColumn::Interval,
                ValueColumn::Name,
                ValueColumn::Time,
                ValueColumn::Value,
            ],
        )
    })
}

async fn indicator_list(args: IndicatorSymbolArgs, target: &Target) -> CliResult {
    let store = target.open().await?;
    let series = store.indicator_list(&args.symbol).await?;
    if args.format == ValueFormat::Table && series.is_empty() {
        return print(&format!("no indicators for {}\n", args.symbol));
    }
    render(|out| output::indicator_series(out, args.format, &series))
}

async fn indicator_at(args: IndicatorAtArgs, target: &Target) -> CliResult {
    let key = args.key;
    let store = target.open().await?;
    let value = store
        .indicator_at(&key.symbol, key.interval, &key.name, args.at)
        .await?;
    match (args.format, value) {
        // One value or `null`, as `latest --format json` prints a price.
        (ValueFormat::Json, value) => render(|out| {
            serde_json::to_writer_pretty(&mut *out, &value)?;
            writeln!(out)
        }),
        (ValueFormat::Table, None) => print(&format!(
            "no {} ({}) value for {} at or before {}\n",
            key.name,
            key.interval,
            key.symbol,
            format_time(args.at)
        )),
        (format, value) => render(|out| {
            output::indicator_values(
                out,
                format,
                value.as_slice(),
                &[
                    ValueColumn::Symbol,
                    ValueColumn::Interval,
                    ValueColumn::Name,
                    ValueColumn::Time,
                    ValueColumn::Value,
                ],
            )
        }),
    }
}

async fn overview(args: ReportArgs, target: &Target) -> CliResult {
    let store = target.open().await?;
    let overview = store.market_overview().await?;
    let dash = || "-".to_owned();
    let rows = overview
        .iter()
        .map(|r| {
            let change = r.change_24h.as_ref();
            vec![
                r.latest.symbol.clone(),
                format_time(r.latest.time),
                r.latest.price.to_string(),
                change.map_or_else(dash, |c| c.change().to_string()),
                change
                    .and_then(marketseries_core::PriceChange::percent)
                    .map_or_else(dash, |p| match args.format {
                        // A table is read by people; CSV keeps every digit.
                        ReportFormat::Table => format!("{}%", p.round_dp(2)),
                        _ => p.to_string(),
                    }),
            ]
        })
        .collect();
    Answer {
        json: &overview,
        headers: &["symbol", "latest", "price", "change_24h", "change_pct"],
        numeric: &[false, false, true, true, true],
        rows,
        empty: "no candles stored".to_owned(),
    }
    .print(args.format)
}

async fn stats(args: ReportArgs, target: &Target) -> CliResult {
    let store = target.open().await?;
    let stats = store.stats().await?;
    match args.format {
        ReportFormat::Json => {
            return render(|out| {
                serde_json::to_writer_pretty(&mut *out, &stats)?;
                writeln!(out)
            })
        }
        // CSV carries the tables (one record each); JSON carries everything.
        ReportFormat::Csv => {
            let rows: Vec<Vec<String>> = stats
                .tables
                .iter()
                .map(|t| {
                    vec![
                        t.name.clone(),
                        t.rows.to_string(),
                        t.partitions.to_string(),
                        t.total_bytes.map(|b| b.to_string()).unwrap_or_default(),
                        t.compression_saving_percent()
                            .map(|p| format!("{p:.1}"))
                            .unwrap_or_default(),
                    ]
                })
                .collect();
            let headers = [
                "table",
                "rows",
                "partitions",
                "total_bytes",
                "compression_saving_percent",
            ];
            return render(|out| output::csv(out, &headers, &rows));
        }
        ReportFormat::Table => {}
    }
    let tables: Vec<Vec<String>> = stats
        .tables
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.rows.to_string(),
                t.partitions.to_string(),
                t.total_bytes.map_or_else(|| "-".to_owned(), output::bytes),
                t.compression_saving_percent()
                    .map_or_else(|| "-".to_owned(), |p| format!("{p:.1}%")),
            ]
        })
        .collect();
    render(|out| {
        writeln!(out, "backend: {}", stats.backend)?;
        output::table(
            out,
            &["table", "rows", "partitions", "size", "compression"],
            &tables,
            &[false, true, true, true, true],
        )?;
        if !stats.aggregates.is_empty() {
            let rows: Vec<Vec<String>> = stats
                .aggregates
                .iter()
                .map(|a| {
                    vec![
                        a.name.clone(),
                        a.watermark.map_or_else(|| "never".to_owned(), format_time),
                    ]
                })
                .collect();
            writeln!(out)?;
            output::table(
                out,
                &["aggregate", "materialized up to"],
                &rows,
                &[false, false],
            )?;
        }
        if !stats.jobs.is_empty() {
            let rows: Vec<Vec<String>> = stats
                .jobs
                .iter()
                .map(|j| {
                    vec![
                        j.id.to_string(),
                        j.name.clone(),
                        j.last_run.map_or_else(|| "never".to_owned(), format_time),
                        match j.last_succeeded {
                            Some(true) => "ok".to_owned(),
                            Some(false) => "failed".to_owned(),
                            None => "-".to_owned(),
                        },
                        j.failures.to_string(),
                    ]
                })
                .collect();
            writeln!(out)?;
            for j in &stats.jobs {
                if let Some(e) = &j.last_error {
                    writeln!(out, "job {} last failed: {e}", j.id)?;
                }
            }
            output::table(
                out,
                &["job", "name", "last run", "result", "failures"],
                &rows,
                &[true, false, false, false, true],
            )?;
        }
        Ok(())
    })
}

/// `1 partition`, `3 partitions`, `0 rows`: retention reports name their unit in the
/// plural.
fn removed(n: u64, unit: &str) -> String {
    let singular = unit.strip_suffix('s').unwrap_or(unit);
    plural(n, singular, unit)
}

async fn maintain(args: MaintainArgs, target: &Target) -> CliResult {
    let opened = connect(
        &target.url,
        ConnectOptions {
            connections: args.jobs,
            refresh_workers: args.jobs,
            ..target.options
        },
    )
    .await?;
    if args.compress && !matches!(opened.opened, Opened::Timescale(_)) {
        // Refused before anything is done.
        return Err(CliError::usage(
            "--compress needs the TimescaleDB backend (plain PostgreSQL has no compression)",
        ));
    }
    let store = opened.store();
    let policies = store.policies().await?;
    // Compression comes first: applying changed policies re-creates TimescaleDB's
    // compression jobs, which its scheduler starts at once, and a compression racing them
    // for the same chunks fails ("chunk ... is already compressed") or counts only the
    // chunks it won. Its lines are reported last, as before.
    let mut compressed = String::new();
    if let (true, Opened::Timescale(ts)) = (args.compress, &opened.opened) {
        compress(ts, &policies, &mut compressed).await?;
    }
    let mut retention = String::new();
    if args.retention {
        let done = store.apply_retention().await?;
        if done.actions.is_empty() {
            retention.push_str(
                "retention: nothing to do (no horizon stored; `marketseries policy set \
                 retention` sets one)\n",
            );
        }
        for a in &done.actions {
            retention.push_str(&format!(
                "retention: {}: removed {} (older than {})\n",
                a.dataset,
                removed(a.removed, a.unit),
                format_time(a.cutoff)
            ));
        }
    } else {
        retention.push_str("retention: skipped (pass --retention to drop expired data)\n");
    }
    // The refresh before the policies: TimescaleDB's scheduler starts a job the moment it is
    // added, so on a first `maintain` (or after a policy change) ten refresh jobs would
    // otherwise run beside this refresh over the same aggregates (native 2.28.3, a year of
    // ten symbols just imported: 59 s against 23 s). The store still waits out a job that
    // is running anyway.
    refresh_with_progress(store.as_ref()).await?;
    // The stored policies were confirmed when they were stored; re-applying them makes
    // nothing expire that they did not already expire, so this never needs `--yes`.
    let applied = store.apply_policies(&policies, Expiry::Refuse).await?;
    let mut report =
        crate::policy::applied(&applied, "stored ones applied (`marketseries policy show`)");
    report.push_str(&retention);
    let aggregates = store.capabilities().aggregates.len();
    report.push_str(&format!(
        "refresh: {} brought up to date\n",
        plural(aggregates, "aggregate", "aggregates")
    ));
    report.push_str(&compressed);
    print(&report)
}

/// `maintain`'s refresh, with its progress on stderr per committed step (a refresh of a
/// large backlog runs in bounded steps): a bar on a terminal, one line per step otherwise
/// (logs keep them).
async fn refresh_with_progress(store: &dyn TimeSeriesStore) -> CliResult {
    let terminal = io::stderr().is_terminal();
    let bar = crate::progress::Progress::new(Some(0), "steps", "refresh");
    let observe = |p: &RefreshProgress| {
        if terminal {
            bar.message(format!("refresh: {}", p.target));
            bar.set(p.step, p.steps.or(Some(p.step)));
        } else {
            note(&p.to_string());
        }
    };
    let outcome = store.refresh_with_progress(None, &observe).await;
    drop(bar);
    Ok(outcome?)
}

/// `maintain --compress`: what the compression policy's job would compress now.
async fn compress(store: &TimescaleStore, policies: &Policies, report: &mut String) -> CliResult {
    for dataset in Dataset::ALL {
        let Some(after) = policies.compression.after(dataset) else {
            continue;
        };
        let older_than = store.now() - after;
        let bar = crate::progress::Progress::new(None, "chunks", format!("compressing {dataset}"));
        let n = store.compress_chunks(dataset, Some(older_than)).await?;
        drop(bar);
        report.push_str(&format!(
            "compression: {dataset}: compressed {} (ending before {})\n",
            plural(n, "chunk", "chunks"),
            format_time(older_than)
        ));
    }
    Ok(())
}
