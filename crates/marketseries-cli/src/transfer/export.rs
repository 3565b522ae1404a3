//! `export DATASET`: stored records as CSV in the layout the matching `import` reads, so
//! that `export` then `import` into another database stores the same records.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use super::{headers, progress, rows, DatasetName, Selection};
use crate::commands::{note, Target};
use crate::error::{CliError, CliResult};
use crate::output::plural;
use crate::parse::format_time;

/// Options of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// What to export.
    #[arg(value_enum)]
    pub dataset: DatasetName,
    /// The file to write (default: stdout). An existing file is refused unless `--force`.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Replace an existing `--output` file.
    #[arg(long, requires = "output")]
    pub force: bool,
    /// Which records.
    #[command(flatten)]
    pub selection: Selection,
}

/// Runs `export`.
pub async fn run(args: ExportArgs, target: &Target) -> CliResult {
    let mut query = Some(args.selection.query(args.dataset.dataset())?);
    let store = target.open().await?;
    let (out, shown): (Box<dyn Write>, String) = match &args.output {
        None => (Box::new(io::stdout().lock()), "stdout".to_owned()),
        Some(path) => {
            let mut options = OpenOptions::new();
            options.write(true);
            if args.force {
                options.create(true).truncate(true);
            } else {
                // Never replace what a file held unless asked to.
                options.create_new(true);
            }
            let file = options.open(path).map_err(|e| {
                let hint = if e.kind() == io::ErrorKind::AlreadyExists {
                    " (pass --force to replace it)"
                } else {
                    ""
                };
                CliError::invalid(format!("cannot create {}: {e}{hint}", path.display()))
            })?;
            (Box::new(file), path.display().to_string())
        }
    };
    let mut writer = csv::Writer::from_writer(BufWriter::new(out));
    let write_error = |e: csv::Error| match e.into_kind() {
        csv::ErrorKind::Io(e) => CliError::output(&e),
        other => CliError::failed(format!("cannot write CSV: {other:?}")),
    };
    writer
        .write_record(headers(args.dataset.dataset()))
        .map_err(write_error)?;
    let started = Instant::now();
    let (one, many) = args.dataset.noun();
    let progress = progress(store.as_ref(), query.as_ref(), many, "exporting").await?;
    let (mut n, mut first, mut last) = (0_u64, None, None);
    while let Some(q) = query {
        let page = store.scan(&q).await?;
        progress.inc(u64::try_from(page.records.len()).unwrap_or(u64::MAX));
        for row in rows(&page.records) {
            writer.write_record(&row).map_err(write_error)?;
        }
        n += u64::try_from(page.records.len()).unwrap_or(u64::MAX);
        if let Some((a, b)) = page.records.span() {
            first = first.or(Some(a));
            last = Some(b);
        }
        query = q.after(&page);
    }
    writer.flush().map_err(|e| CliError::output(&e))?;
    drop(progress);
    let within = match (first, last) {
        (Some(a), Some(b)) => format!(" from {} to {}", format_time(a), format_time(b)),
        _ => String::new(),
    };
    note(&format!(
        "exported {}{within} to {shown} in {:.2} s",
        plural(n, one, many),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}
