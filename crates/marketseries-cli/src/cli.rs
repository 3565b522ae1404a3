//! Command-line syntax (clap derive types). Parsing only; the handlers live in
//! [`crate::commands`].

use std::num::NonZeroUsize;
use std::path::PathBuf;

use chrono::{DateTime, TimeDelta, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use marketseries_core::{Dataset, Interval};

use crate::connect::{BackendChoice, DbUrl};

/// Store and query crypto market time series (OHLCV candles, sentiment, flows, technical
/// indicators) in PostgreSQL.
#[derive(Parser)]
#[command(name = "marketseries", version, about, propagate_version = true)]
pub struct Cli {
    /// Database URL, e.g. postgres://user@host:5432/market (never printed).
    // `hide_env_values`: clap would otherwise show the variable's value, password
    // included, in `--help`.
    #[arg(
        long,
        env = "MARKETSERIES_URL",
        hide_env_values = true,
        global = true,
        value_name = "URL"
    )]
    pub url: Option<DbUrl>,

    /// Seconds to wait for a database connection.
    #[arg(long, global = true, default_value_t = 10, value_name = "SECS")]
    pub connect_timeout: u64,

    /// Backend for a postgres:// URL (a timescaledb:// URL always means TimescaleDB).
    #[arg(
        long,
        env = "MARKETSERIES_BACKEND",
        global = true,
        value_enum,
        default_value_t = BackendChoice::Auto
    )]
    pub backend: BackendChoice,

    /// A file holding the database password (one trailing newline dropped), added to the
    /// URL; the URL must then carry none. For secrets mounted as files.
    #[arg(
        long,
        env = "MARKETSERIES_PASSWORD_FILE",
        global = true,
        value_name = "PATH"
    )]
    pub password_file: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or upgrade the database schema (idempotent); with `--roles`, also the
    /// least-privilege reader and writer roles.
    ///
    /// Example: `marketseries migrate --roles`.
    Migrate(MigrateArgs),
    /// Import a CSV file (the whole file is checked before anything is stored).
    #[command(subcommand)]
    Import(ImportCommand),
    /// OHLCV bars of one symbol at any interval its candles support.
    ///
    /// Example: `marketseries ohlcv --symbol BTCUSDT --interval 4h --last 30d --format csv`.
    Ohlcv(OhlcvArgs),
    /// The latest price of a symbol.
    ///
    /// Example: `marketseries latest --symbol BTCUSDT --format json`.
    Latest(LatestArgs),
    /// Technical indicator values (computed elsewhere, stored as given): a series over a
    /// range, the latest values, the stored series, an as-of lookup.
    #[command(subcommand)]
    Indicators(IndicatorsCommand),
    /// Latest price and 24-hour change of every symbol.
    ///
    /// Example: `marketseries overview --format csv`.
    Overview(ReportArgs),
    /// First open to last close of a symbol over a window ending now or at `--at`.
    ///
    /// Example: `marketseries change --symbol BTCUSDT --last 7d --at 2024-03-01`.
    Change(crate::query::price::ChangeArgs),
    /// Highest high and lowest low of a symbol over a range.
    ///
    /// Example: `marketseries range --symbol BTCUSDT --from 2024-03-01 --to 2024-03-08`.
    Range(crate::query::price::PriceRangeArgs),
    /// Volume by closing-price level over a range, lowest level first.
    ///
    /// Example: `marketseries volume-profile --symbol BTCUSDT --step 500 --last 7d`.
    VolumeProfile(crate::query::price::VolumeProfileArgs),
    /// Every symbol with candles.
    ///
    /// Example: `marketseries symbols --format json`.
    Symbols(crate::query::price::SymbolsArgs),
    /// Sentiment questions: readings, aggregates, trend, by source, distribution, latest,
    /// summary.
    #[command(subcommand)]
    Sentiment(crate::query::sentiment::SentimentCommand),
    /// Flow questions: history, aggregates, net exchange flow, whales, exchanges, velocity.
    #[command(subcommand)]
    Flows(crate::query::flows::FlowsCommand),
    /// Rows, partitions and sizes per table; aggregates and jobs where the backend has them.
    ///
    /// Example: `marketseries stats --format json`.
    Stats(ReportArgs),
    /// Apply the stored policies, refresh aggregates and (with --retention) drop what the
    /// stored retention horizons expire.
    ///
    /// Example: `marketseries maintain --retention --jobs 2`.
    Maintain(MaintainArgs),
    /// Show or change the stored policies (retention, compression, refresh). A new store
    /// keeps everything; retention drops data only where a horizon was set here.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Write stored records as CSV in the layout the matching `import` reads (export then
    /// import round-trips exactly).
    ///
    /// Example: `marketseries export candles --symbols BTCUSDT --since 2024-03-01 -o btc.csv`.
    Export(crate::transfer::export::ExportArgs),
    /// Copy candles, sentiment, flows and indicators from one store to another (plain
    /// PostgreSQL to TimescaleDB and back, or between servers), in pages, then check row
    /// counts and sampled OHLCV answers on both sides. Re-run after an interruption, it
    /// writes only what is missing and reports what it skipped.
    ///
    /// Example: `marketseries copy --from postgres://old/market --to timescaledb://new/market
    /// --since 2024-01-01 --symbols BTCUSDT,ETHUSDT`.
    Copy(crate::transfer::copy::CopyArgs),
    /// Print a shell completion script.
    ///
    /// Example: `marketseries completions bash > /etc/bash_completion.d/marketseries`, or
    /// `source <(marketseries completions bash)`; zsh: `marketseries completions zsh >
    /// "${fpath[1]}/_marketseries"`; fish: `marketseries completions fish >
    /// ~/.config/fish/completions/marketseries.fish`. Needs no database.
    Completions(CompletionsArgs),
    /// Run as a service: /metrics (Prometheus), /health and /ready over HTTP, and
    /// maintenance on a schedule (refresh, stored policies, stored retention), until
    /// SIGTERM. Example: `marketseries serve --listen 0.0.0.0:9187 --refresh-every 30s`.
    Serve(ServeArgs),
}

/// `policy` subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// The stored policies and the jobs the server runs for them.
    ///
    /// Example: `marketseries policy show --format json`.
    Show(PolicyShowArgs),
    /// Change one stored policy, e.g. `policy set retention price 400d`,
    /// `policy set retention all forever`, `policy set compression sentiment off`,
    /// `policy set refresh schedule 10m`. A horizon that would make stored rows expire is
    /// refused with a report of what it would drop, unless `--yes` is given.
    ///
    /// Example: `marketseries policy set retention price 400d`.
    #[command(subcommand)]
    Set(PolicySet),
}

/// What `policy set` changes.
#[derive(Debug, Subcommand)]
pub enum PolicySet {
    /// How long a dataset is kept: a duration (`400d`, `12h`) or `forever`.
    Retention(RetentionSetArgs),
    /// After how long a dataset is compressed (TimescaleDB): a duration or `off`.
    Compression(CompressionSetArgs),
    /// How aggregates are refreshed.
    Refresh(RefreshSetArgs),
}

/// Which datasets a policy change applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DatasetArg {
    /// Candles.
    Price,
    /// Sentiment readings.
    Sentiment,
    /// Flows.
    Flow,
    /// Indicator values.
    Indicator,
    /// Every dataset.
    All,
}

impl DatasetArg {
    /// The datasets this names.
    pub fn datasets(self) -> Vec<Dataset> {
        match self {
            Self::Price => vec![Dataset::Price],
            Self::Sentiment => vec![Dataset::Sentiment],
            Self::Flow => vec![Dataset::Flow],
            Self::Indicator => vec![Dataset::Indicator],
            Self::All => Dataset::ALL.to_vec(),
        }
    }
}

/// Shells `completions` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellArg {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
}

/// Options of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: ShellArg,
}

/// Options of `policy set retention`.
#[derive(Debug, Args)]
pub struct RetentionSetArgs {
    /// Dataset.
    #[arg(value_enum)]
    pub dataset: DatasetArg,
    /// Horizon: `400d`, `36h`, `90m`, `3600s`, or `forever` (`off`, `none`).
    #[arg(value_parser = crate::parse::optional_duration)]
    pub horizon: OptionalDuration,
    /// Store it even where stored rows expire (the next retention run drops them; on
    /// TimescaleDB the server's retention job may run at once).
    #[arg(long)]
    pub yes: bool,
}

/// Options of `policy set compression`.
#[derive(Debug, Args)]
pub struct CompressionSetArgs {
    /// Dataset.
    #[arg(value_enum)]
    pub dataset: DatasetArg,
    /// Delay: `7d`, `36h`, ..., or `off`.
    #[arg(value_parser = crate::parse::optional_duration)]
    pub after: OptionalDuration,
}

/// Settings of `policy set refresh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RefreshSetting {
    /// How far back each scheduled refresh reaches.
    StartOffset,
    /// How close to "now" it stops.
    EndOffset,
    /// How often it runs.
    Schedule,
}

/// Options of `policy set refresh`.
#[derive(Debug, Args)]
pub struct RefreshSetArgs {
    /// Setting.
    #[arg(value_enum)]
    pub setting: RefreshSetting,
    /// Duration: `3d`, `1m`, `300s`, ...
    #[arg(value_parser = crate::parse::duration)]
    pub value: TimeDelta,
}

/// A duration, or none (`forever`, `off`).
pub type OptionalDuration = Option<TimeDelta>;

/// `import` subcommands.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Candles: a Binance kline export, a Yahoo-style file, a pandas `DataFrame.to_csv()`
    /// (an unnamed index column of times, then Open,High,Low,Close,Volume) or a generic
    /// `time,symbol,interval,open,high,low,close,volume` file (detected by the header;
    /// `--columns` maps anything else).
    ///
    /// Example: `marketseries import candles btc.csv --symbol BTCUSDT --interval 1h
    /// --timezone +00:00 --dry-run`.
    Candles(CandleImportArgs),
    /// Sentiment: `time,asset,source,score,label,mention_volume,engagement` (label,
    /// mention_volume and engagement optional).
    ///
    /// Example: `marketseries import sentiment sentiment.csv --timezone +00:00`.
    Sentiment(ImportArgs),
    /// Flows: `time,asset,flow_type,amount,usd_value,source,reference` (reference optional).
    ///
    /// Example: `marketseries import flows flows.csv --skip-invalid`.
    Flows(ImportArgs),
    /// Indicator values: `time,symbol,interval,name,value` (any order; `indicator` may name
    /// the `name` column, `timestamp` the `time` column).
    ///
    /// Example: `marketseries import indicators rsi.csv --dry-run`.
    Indicators(ImportArgs),
}

impl ImportCommand {
    /// Whether this is a `--dry-run` (which needs no database).
    pub fn dry_run(&self) -> bool {
        match self {
            Self::Candles(a) => a.common.dry_run,
            Self::Sentiment(a) | Self::Flows(a) | Self::Indicators(a) => a.dry_run,
        }
    }
}

/// Options every import takes.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// CSV file to import.
    pub file: PathBuf,
    /// Report bad lines and import the rest, instead of rejecting the whole file.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Records per write (default: the store's maximum batch size).
    #[arg(long, value_name = "N")]
    pub batch_size: Option<NonZeroUsize>,
    /// How to read times without a UTC offset (and bare dates): `UTC`, the default (which
    /// the summary states), or a fixed offset such as `+02:00` or `-0500`.
    #[arg(long, value_parser = crate::parse::timezone, value_name = "ZONE")]
    pub timezone: Option<chrono::FixedOffset>,
    /// Check the file and print what was detected (layout, time forms, counts, repeated
    /// keys) and the first rows as they would be stored; store nothing and connect to no
    /// database.
    #[arg(long)]
    pub dry_run: bool,
}

/// Options of `import candles`.
#[derive(Debug, Args)]
pub struct CandleImportArgs {
    /// File and batching options.
    #[command(flatten)]
    pub common: ImportArgs,
    /// Symbol of every candle, for files without a `symbol` column.
    #[arg(long)]
    pub symbol: Option<String>,
    /// Native interval of every candle (e.g. 1m, 1h), for files without an `interval`
    /// column.
    #[arg(long)]
    pub interval: Option<Interval>,
    /// Which header column holds each field, for a layout that is not detected, e.g.
    /// `--columns time=Date,open=o,high=h,low=l,close=c,volume=v` (names as in the header,
    /// any case; `symbol=` and `interval=` optional). Overrides detection.
    #[arg(long, value_delimiter = ',', value_name = "FIELD=COLUMN")]
    pub columns: Vec<String>,
}

/// Output formats of `ohlcv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BarFormat {
    /// Aligned columns for people.
    Table,
    /// `time,open,high,low,close,volume` with RFC 3339 UTC times.
    Csv,
    /// A JSON array of bars (decimals as strings, exact).
    Json,
}

/// Output formats of the question and reporting commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Aligned columns for people.
    Table,
    /// CSV with a header row, RFC 3339 UTC times, exact decimals.
    Csv,
    /// One JSON document: exact decimals as strings, RFC 3339 UTC times.
    Json,
}

/// Options of `ohlcv`.
#[derive(Debug, Args)]
pub struct OhlcvArgs {
    /// Symbol, e.g. BTCUSDT.
    #[arg(long)]
    pub symbol: String,
    /// Bar width, e.g. 15m, 2h, 1d, 1w.
    #[arg(long)]
    pub interval: Interval,
    /// The range (`--from` is floored to the interval).
    #[command(flatten)]
    pub range: crate::query::RangeArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = BarFormat::Table)]
    pub format: BarFormat,
    /// Refresh the aggregates over the range before reading (reflects late corrections).
    #[arg(long)]
    pub fresh: bool,
}

/// Options of `latest`.
#[derive(Debug, Args)]
pub struct LatestArgs {
    /// Symbol, e.g. BTCUSDT.
    #[arg(long)]
    pub symbol: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

/// Output formats of the `indicators` commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValueFormat {
    /// Aligned columns for people.
    Table,
    /// CSV with RFC 3339 UTC times; values in the `import indicators` layout
    /// `time,symbol,interval,name,value`, so the output can be imported again.
    Csv,
    /// JSON (decimals as strings, exact).
    Json,
}

/// `indicators` subcommands.
#[derive(Debug, Subcommand)]
pub enum IndicatorsCommand {
    /// Values of one series (symbol, native interval, name) with time in [--from, --to).
    ///
    /// Example: `marketseries indicators series --symbol BTCUSDT --interval 1h --name rsi_14
    /// --last 7d`.
    Series(IndicatorSeriesArgs),
    /// The newest value of every series of a symbol.
    ///
    /// Example: `marketseries indicators latest --symbol BTCUSDT --format csv`.
    Latest(IndicatorSymbolArgs),
    /// The series (interval and name) stored for a symbol.
    ///
    /// Example: `marketseries indicators list --symbol BTCUSDT`.
    List(IndicatorSymbolArgs),
    /// As-of lookup: the value of one series in force at --at (the newest at or before it).
    ///
    /// Example: `marketseries indicators at --symbol BTCUSDT --interval 1h --name rsi_14
    /// --at 2024-03-01T11:30:00Z`.
    At(IndicatorAtArgs),
}

/// Which indicator series: symbol, native interval and name.
#[derive(Debug, Args)]
pub struct SeriesKey {
    /// Symbol, e.g. BTCUSDT.
    #[arg(long)]
    pub symbol: String,
    /// Native interval of the series, e.g. 1h (values are never re-sampled).
    #[arg(long)]
    pub interval: Interval,
    /// Indicator name, e.g. rsi_14 (case matters).
    #[arg(long)]
    pub name: String,
}

/// Options of `indicators series`.
#[derive(Debug, Args)]
pub struct IndicatorSeriesArgs {
    /// The series.
    #[command(flatten)]
    pub key: SeriesKey,
    /// The range.
    #[command(flatten)]
    pub range: crate::query::RangeArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ValueFormat::Table)]
    pub format: ValueFormat,
}

/// Options of `indicators latest` and `indicators list`.
#[derive(Debug, Args)]
pub struct IndicatorSymbolArgs {
    /// Symbol, e.g. BTCUSDT.
    #[arg(long)]
    pub symbol: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ValueFormat::Table)]
    pub format: ValueFormat,
}

/// Options of `indicators at`.
#[derive(Debug, Args)]
pub struct IndicatorAtArgs {
    /// The series.
    #[command(flatten)]
    pub key: SeriesKey,
    /// The instant: RFC 3339, a date, or epoch seconds/ms.
    #[arg(long, value_parser = crate::parse::time_arg)]
    pub at: DateTime<Utc>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ValueFormat::Table)]
    pub format: ValueFormat,
}

/// Output formats of `policy show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextFormat {
    /// Lines for people.
    Table,
    /// One JSON document.
    Json,
}

/// Options of `policy show`.
#[derive(Debug, Args)]
pub struct PolicyShowArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = TextFormat::Table)]
    pub format: TextFormat,
}

/// Options of `overview` and `stats`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
}

/// Options of `migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Also create (where missing) the group roles `--reader-role` (reads only) and
    /// `--writer-role` (adds and corrects rows; no deletes, DDL or policies), and grant them
    /// their rights on this database; the migrating role stays the owner. Needs
    /// CREATEROLE. Grant them to login roles yourself: `GRANT marketseries_writer TO
    /// ingest`.
    #[arg(long)]
    pub roles: bool,
    /// Name of the reader role.
    #[arg(long, default_value = "marketseries_reader", requires = "roles")]
    pub reader_role: String,
    /// Name of the writer role.
    #[arg(long, default_value = "marketseries_writer", requires = "roles")]
    pub writer_role: String,
}

/// Options of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address for /metrics, /health and /ready (port 0 takes a free one; the address is
    /// printed on stderr).
    #[arg(long, default_value = "127.0.0.1:9187", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// How often to refresh the aggregates and read their lag.
    #[arg(long, default_value = "1m", value_parser = crate::parse::std_duration)]
    pub refresh_every: std::time::Duration,
    /// Leave refreshing to another process (TimescaleDB's refresh jobs, `maintain`) and
    /// only read the aggregates' lag every `--refresh-every`.
    #[arg(long)]
    pub no_refresh: bool,
    /// How often to apply the stored policies (partitions ahead on plain PostgreSQL,
    /// TimescaleDB's jobs) and retention (only where `policy set retention` stored a
    /// horizon); both also run at start.
    #[arg(long, default_value = "1h", value_parser = crate::parse::std_duration)]
    pub policies_every: std::time::Duration,
    /// Lag of an aggregate beyond its own bucket (a watermark trails the clock by up to one
    /// bucket) at which /health answers 503, or `off`.
    #[arg(long, default_value = "1h", value_parser = crate::parse::optional_duration)]
    pub max_lag: OptionalDuration,
    /// Database connections the service holds at most; refreshes use half of them.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub connections: u32,
    /// Count inserts under the symbol label `all` instead of per symbol, to bound the
    /// series a scrape carries when there are thousands of symbols.
    #[arg(long)]
    pub no_symbol_labels: bool,
    /// How long SIGTERM waits for a running maintenance task before cancelling it.
    #[arg(long, default_value = "30s", value_parser = crate::parse::std_duration)]
    pub shutdown_grace: std::time::Duration,
}

/// Options of `maintain`.
#[derive(Debug, Args)]
pub struct MaintainArgs {
    /// Also drop data older than the stored retention horizons (`marketseries policy
    /// show`; none unless set with `policy set retention`). Off by default because it
    /// deletes data.
    #[arg(long)]
    pub retention: bool,
    /// Also compress now what the stored compression policy would (by default chunks older
    /// than 7 days for candles, flows and indicators, 14 for sentiment), as TimescaleDB's
    /// background job does on its schedule. TimescaleDB only.
    #[arg(long)]
    pub compress: bool,
    /// Connections the refresh works on at once (1-64, default 1): plain PostgreSQL
    /// rebuilds the rollups of different series on each, TimescaleDB refreshes the
    /// aggregates of prices, sentiment and flows side by side. More than the server's
    /// cores gains nothing; a server that serves one client at a time needs 1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bad_interval_is_a_usage_error() {
        let e = Cli::try_parse_from([
            "marketseries",
            "ohlcv",
            "--symbol",
            "X",
            "--interval",
            "90x",
            "--from",
            "2024-01-01",
            "--to",
            "2024-01-02",
        ])
        .err()
        .unwrap();
        assert_eq!(e.exit_code(), 2);
    }
}
