//! `import`: a file is read twice. The first pass ([`check`]) parses and validates every
//! row without touching the database, so a file with bad lines can be rejected as a whole
//! with every bad line listed. The second pass ([`store`]) parses again and writes in
//! batches, parsing the next batch on a thread of its own while the previous one is
//! written. Two passes instead of holding the file in memory: a year of one-minute candles
//! for a dozen symbols is millions of rows, and streaming keeps memory flat. Memory is
//! bounded whatever the file holds: a line longer than [`MAX_LINE_BYTES`] stops the import,
//! at most [`MAX_ERRORS`] problems are kept (the rest are counted), and bad rows are
//! counted, not remembered (the second pass finds them again).

pub mod candles;
pub mod detect;
pub mod flows;
pub mod indicators;
pub mod sentiment;
pub mod times;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::future::Future;
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Instant;

use chrono::{DateTime, Utc};
use csv::StringRecord;
use marketseries_core::validate::DEFAULT_MAX_FUTURE_SKEW;
use marketseries_core::{Dataset, Records, Result as CoreResult, TimeSeriesStore, WriteSummary};

use crate::error::{CliError, CliResult};
use crate::import::times::TimeReader;
use crate::output::plural;
use crate::parse::{format_duration, format_time, FieldError};
use crate::progress::Progress;

/// A bad line: its number in the file (the header is line 1) and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// Line number as an editor shows it.
    pub line: u64,
    /// Field and reason.
    pub error: FieldError,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.error)
    }
}

/// The future a store's batch write returns (the store traits box theirs already).
pub type WriteFuture<'a> = Pin<Box<dyn Future<Output = CoreResult<WriteSummary>> + Send + 'a>>;

/// One kind of record file: how rows become records and how records are stored.
pub trait RecordFormat {
    /// The record type.
    type Record;
    /// What records are called: singular, plural.
    const NOUN: (&'static str, &'static str);
    /// What the groups of [`RecordFormat::group`] are called: singular, plural.
    const GROUP_NOUN: (&'static str, &'static str);

    /// Whether line 1 is a header rather than data.
    fn has_header(&self) -> bool;

    /// Parses and validates one data row. Returns `None` after pushing at least one error.
    fn parse(&self, row: &StringRecord, errors: &mut Vec<FieldError>) -> Option<Self::Record>;

    /// The symbol or asset a record belongs to, for the summary.
    fn group(record: &Self::Record) -> &str;

    /// Feeds the record's natural key to `state`, for counting distinct keys.
    fn hash_key(record: &Self::Record, state: &mut DefaultHasher);

    /// The dataset the records belong to.
    const DATASET: Dataset;

    /// The record's time, for the span of what an import stored.
    fn time(record: &Self::Record) -> DateTime<Utc>;

    /// Writes one batch.
    fn store<'a>(store: &'a dyn TimeSeriesStore, batch: &'a [Self::Record]) -> WriteFuture<'a>;

    /// How the format reads times.
    fn times(&self) -> &TimeReader;

    /// The same, to set the `--timezone`.
    fn times_mut(&mut self) -> &mut TimeReader;

    /// Feeds the record's values (everything but its key) to `state`, so that two rows of
    /// one key with different values are told apart from plain repeats.
    fn hash_value(record: &Self::Record, state: &mut DefaultHasher);

    /// Records in the library's form, for printing them (`--dry-run`).
    fn records(batch: Vec<Self::Record>) -> Records;
}

/// The longest line an import reads (1 MiB): real rows are a few hundred bytes, and a
/// file without line breaks must not be read into memory whole.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Problems kept and printed at most; the rest are counted.
pub const MAX_ERRORS: usize = 100;

/// Rows `--dry-run` shows.
const SAMPLE_ROWS: usize = 5;

/// A reader that fails on a line longer than [`MAX_LINE_BYTES`].
struct BoundedLines<R> {
    inner: R,
    run: usize,
}

impl<R: io::Read> io::Read for BoundedLines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            if b == b'\n' {
                self.run = 0;
            } else {
                self.run += 1;
                if self.run > MAX_LINE_BYTES {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "a line is longer than {MAX_LINE_BYTES} bytes; is this a CSV file?"
                        ),
                    ));
                }
            }
        }
        Ok(n)
    }
}

/// A digest of a record's values (see [`RecordFormat::hash_value`]).
fn value_digest<F: RecordFormat>(record: &F::Record) -> u64 {
    let mut h = DefaultHasher::new();
    F::hash_value(record, &mut h);
    h.finish()
}

/// A 128-bit digest of a record's natural key. Counting distinct keys by digest instead
/// of by cloned key keeps the first pass at 16 bytes per row; a collision among even
/// billions of keys is vanishingly unlikely, and it could only change a count in the
/// summary, never what is stored.
fn key_digest<F: RecordFormat>(record: &F::Record) -> u128 {
    let half = |salt: u8| {
        let mut h = DefaultHasher::new();
        salt.hash(&mut h);
        F::hash_key(record, &mut h);
        h.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

/// Hashes a [`key_digest`] for the set of distinct keys: the digest is already a hash,
/// so folding it is enough (hashing it again with `SipHash` was about a sixth of the
/// checking pass's time on 1.3M candles).
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }
}

/// Distinct key digests, each with the digest of its last row's values and that row's line.
type DigestMap = HashMap<u128, (u64, u64), BuildHasherDefault<DigestHasher>>;

/// One row as read: its line number and the record or the reason it is not text.
type Row<'r> = (u64, Result<&'r StringRecord, FieldError>);

/// Rows of a CSV file with their line numbers. Blank lines are skipped.
struct Rows {
    reader: csv::Reader<BoundedLines<File>>,
    record: StringRecord,
    path: PathBuf,
}

impl Rows {
    fn open(path: &Path) -> CliResult<Self> {
        let reader = csv::ReaderBuilder::new()
            // Headers are detected, not assumed (Binance exports have none).
            .has_headers(false)
            // Short and long rows are reported per line rather than aborting the read.
            .flexible(true)
            .trim(csv::Trim::All)
            // Only `\n` ends a record; a `\r` before it is trimmed as whitespace. With
            // the default CRLF terminator csv 1.4 reports every record after a CRLF line
            // one line too early, and CRLF is what spreadsheet exports write.
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(BoundedLines {
                inner: File::open(path).map_err(|e| {
                    CliError::invalid(format!("cannot open {}: {e}", path.display()))
                })?,
                run: 0,
            });
        Ok(Self {
            reader,
            record: StringRecord::new(),
            path: path.to_owned(),
        })
    }

    /// The next row, or `None` at the end of the file.
    fn next(&mut self) -> CliResult<Option<Row<'_>>> {
        loop {
            let (line, result) = match self.reader.read_record(&mut self.record) {
                Ok(false) => return Ok(None),
                Ok(true) => {
                    // A line holding only whitespace (`\r` of a blank CRLF line).
                    if self.record.len() == 1 && self.record.get(0) == Some("") {
                        continue;
                    }
                    let line = self.record.position().map_or(0, csv::Position::line);
                    (line, Ok(()))
                }
                Err(e) => match e.kind() {
                    csv::ErrorKind::Utf8 { pos, .. } => {
                        let line = pos.as_ref().map_or(0, csv::Position::line);
                        (line, Err(FieldError::new("row", "is not valid UTF-8")))
                    }
                    _ => {
                        return Err(CliError::invalid(format!(
                            "cannot read {}: {e}",
                            self.path.display()
                        )))
                    }
                },
            };
            return Ok(Some((line, result.map(|()| &self.record))));
        }
    }
}

/// What the checking pass found; hand it to [`store`].
pub struct Checked<F: RecordFormat> {
    format: F,
    path: PathBuf,
    started: Instant,
    good: u64,
    distinct: usize,
    groups: usize,
    /// Rows that failed (the second pass skips the rows that fail again).
    bad: u64,
    /// Problems beyond the [`MAX_ERRORS`] kept.
    unshown: u64,
    /// Keys that occur again with other values: how many, and the first such pair of
    /// lines (the later row is what is stored).
    conflicts: u64,
    conflict_example: Option<(u64, u64)>,
    /// The latest time accepted (see [`accept`]), fixed for both passes.
    not_after: DateTime<Utc>,
    /// The first valid records.
    sample: Vec<F::Record>,
    /// What [`TimeReader::describe`] said after this pass.
    times: String,
}

impl<F: RecordFormat> Checked<F> {
    /// What the check found beyond the counts: the time forms, and keys given twice with
    /// different values (the last row wins, as in every store write).
    pub fn findings(&self) -> String {
        let mut out = self.times.clone();
        if let Some((first, later)) = self.conflict_example {
            out.push_str(&format!(
                "; {} repeated with different values, the last row winning (e.g. line {later} \
                 replaces line {first})",
                plural(self.conflicts, "key", "keys")
            ));
        }
        out
    }

    /// `--dry-run`: what was detected and the first rows as they would be stored, as CSV
    /// in the import layout.
    pub fn dry_run(self) -> String {
        let Checked {
            path,
            good,
            distinct,
            groups,
            bad,
            sample,
            ..
        } = &self;
        let mut out = format!(
            "dry run of {}: {} ({distinct} distinct) for {}, {}; {}\n",
            path.display(),
            plural(
                *good,
                &format!("valid {}", F::NOUN.0),
                &format!("valid {}", F::NOUN.1)
            ),
            plural(*groups, F::GROUP_NOUN.0, F::GROUP_NOUN.1),
            plural(*bad, "bad line", "bad lines"),
            self.findings(),
        );
        out.push_str(&format!(
            "the first {} as they would be stored:\n",
            plural(sample.len(), "row", "rows")
        ));
        let records = F::records(self.sample);
        let mut csv = Vec::new();
        let headers = crate::transfer::headers(F::DATASET);
        let _ = crate::output::csv(&mut csv, headers, &crate::transfer::rows(&records));
        out.push_str(&String::from_utf8_lossy(&csv));
        out.push_str("nothing stored (dry run)\n");
        out
    }
}

/// Parses and validates one row as both passes do; `None` after pushing its problems to
/// `errors` (at least one).
fn accept<F: RecordFormat>(
    format: &F,
    row: &StringRecord,
    not_after: DateTime<Utc>,
    errors: &mut Vec<FieldError>,
) -> Option<F::Record> {
    let record = format.parse(row, errors);
    match record {
        // The store rejects a batch with a record this far ahead; checked here so that
        // such a file fails before anything is stored, like every other bad line.
        Some(record) if F::time(&record) > not_after => {
            errors.push(FieldError::new(
                "time",
                format!(
                    "{} is more than {} ahead of now (latest accepted: {})",
                    format_time(F::time(&record)),
                    format_duration(DEFAULT_MAX_FUTURE_SKEW),
                    format_time(not_after)
                ),
            ));
            None
        }
        Some(record) => Some(record),
        None => {
            if errors.is_empty() {
                errors.push(FieldError::new("row", "could not be read"));
            }
            None
        }
    }
}

/// First pass: recognises the layout from line 1 (`make`), then parses and validates every
/// row. Bad lines are printed to stderr as `line N: <field>: <reason>`; unless
/// `skip_invalid`, any bad line fails the import before anything is stored.
///
/// # Errors
/// An unreadable or empty file, an unrecognised header (from `make`), or bad lines.
pub fn check<F: RecordFormat>(
    path: &Path,
    skip_invalid: bool,
    make: impl FnOnce(&StringRecord) -> CliResult<F>,
) -> CliResult<Checked<F>>
where
    F::Record: Clone,
{
    let (checked, errors) = scan(path, make)?;
    if !errors.is_empty() {
        let mut stderr = io::stderr().lock();
        for e in &errors {
            let _ = writeln!(stderr, "{e}");
        }
        if checked.unshown > 0 {
            let _ = writeln!(
                stderr,
                "... and {} more (the first {MAX_ERRORS} are shown)",
                plural(checked.unshown, "problem", "problems")
            );
        }
        let bad = plural(checked.bad, "bad line", "bad lines");
        if !skip_invalid {
            let good = checked.good;
            return Err(CliError::invalid(format!(
                "{bad} in {}; nothing stored (pass --skip-invalid to import the {})",
                path.display(),
                plural(
                    good,
                    &format!("valid {}", F::NOUN.0),
                    &format!("valid {}", F::NOUN.1)
                ),
            )));
        }
        let _ = writeln!(stderr, "skipping {bad}");
    }
    Ok(checked)
}

/// The checking pass proper: every row parsed and validated, every problem collected.
fn scan<F: RecordFormat>(
    path: &Path,
    make: impl FnOnce(&StringRecord) -> CliResult<F>,
) -> CliResult<(Checked<F>, Vec<LineError>)>
where
    F::Record: Clone,
{
    let started = Instant::now();
    let mut rows = Rows::open(path)?;
    let Some((first_line, first)) = rows.next()? else {
        return Err(CliError::invalid(format!("{} is empty", path.display())));
    };
    let first = first.map_err(|e| {
        CliError::invalid(format!(
            "{}: {}",
            path.display(),
            LineError {
                line: first_line,
                error: e
            }
        ))
    })?;
    let format = make(first)?;

    let mut errors: Vec<LineError> = Vec::new();
    let mut unshown = 0u64;
    let mut good = 0u64;
    let mut bad = 0u64;
    let mut keys = DigestMap::default();
    let mut conflicts = 0u64;
    let mut conflict_example = None;
    let mut groups: HashSet<String> = HashSet::new();
    let mut scratch = Vec::new();
    let mut sample = Vec::new();
    let not_after = Utc::now() + DEFAULT_MAX_FUTURE_SKEW;
    let mut keep = |error: LineError, errors: &mut Vec<LineError>| {
        if errors.len() < MAX_ERRORS {
            errors.push(error);
        } else {
            unshown += 1;
        }
    };
    let mut handle = |line: u64, row: Result<&StringRecord, FieldError>| {
        let row = match row {
            Ok(row) => row,
            Err(error) => {
                bad += 1;
                return keep(LineError { line, error }, &mut errors);
            }
        };
        scratch.clear();
        match accept(&format, row, not_after, &mut scratch) {
            Some(record) => {
                good += 1;
                let value = value_digest::<F>(&record);
                match keys.insert(key_digest::<F>(&record), (value, line)) {
                    Some((before, earlier)) if before != value => {
                        conflicts += 1;
                        conflict_example.get_or_insert((earlier, line));
                    }
                    _ => {}
                }
                if !groups.contains(F::group(&record)) {
                    groups.insert(F::group(&record).to_owned());
                }
                if sample.len() < SAMPLE_ROWS {
                    sample.push(record);
                }
            }
            None => {
                bad += 1;
                for error in scratch.drain(..) {
                    keep(LineError { line, error }, &mut errors);
                }
            }
        }
    };
    if !format.has_header() {
        handle(first_line, Ok(first));
    }
    let progress = Progress::new(None, "lines", format!("checking {}", path.display()));
    while let Some((line, row)) = rows.next()? {
        handle(line, row);
        progress.inc(1);
    }
    drop(progress);
    let times = format.times().describe();
    format.times().reset();
    let checked = Checked {
        format,
        path: path.to_owned(),
        started,
        good,
        distinct: keys.len(),
        groups: groups.len(),
        bad,
        unshown,
        conflicts,
        conflict_example,
        not_after,
        sample,
        times,
    };
    Ok((checked, errors))
}

/// What the second pass did.
#[derive(Debug)]
pub struct Stored {
    /// The summary line, `imported N candles (M distinct) for K symbols in X s`.
    pub summary: String,
    /// The earliest and latest time among the stored records (`None` when none were).
    pub span: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// What the reading thread of [`store`] hands to the writer.
enum Parsed<R> {
    /// A full batch (or the last one), with the earliest and latest time in it.
    Batch(Vec<R>, DateTime<Utc>, DateTime<Utc>),
    /// A row that was good in the first pass is not any more.
    Changed,
    /// The file could not be read.
    Failed(CliError),
}

/// The reading half of [`store`], on a thread of its own: parses the file again, skipping
/// the rows the first pass found bad, and sends batches of `batch_size` until the file
/// ends, something fails, or the writer is gone.
fn read_batches<F: RecordFormat>(
    format: &F,
    path: &Path,
    (bad, not_after): (u64, DateTime<Utc>),
    batch_size: usize,
    capacity: usize,
    out: &tokio::sync::mpsc::Sender<Parsed<F::Record>>,
) {
    let mut rows = match Rows::open(path) {
        Ok(rows) => rows,
        Err(e) => {
            let _ = out.blocking_send(Parsed::Failed(e));
            return;
        }
    };
    let mut scratch = Vec::new();
    let mut skip_header = format.has_header();
    let mut batch = Vec::with_capacity(capacity);
    let mut span: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    let send = |batch: Vec<F::Record>, span: &mut Option<(DateTime<Utc>, DateTime<Utc>)>| {
        let (first, last) = span.take().unwrap_or_default();
        out.blocking_send(Parsed::Batch(batch, first, last)).is_ok()
    };
    let mut failed = 0u64;
    loop {
        let row = match rows.next() {
            Ok(Some((_line, row))) => row,
            Ok(None) => break,
            Err(e) => {
                let _ = out.blocking_send(Parsed::Failed(e));
                return;
            }
        };
        if std::mem::take(&mut skip_header) {
            continue;
        }
        scratch.clear();
        let Some(record) = row
            .ok()
            .and_then(|row| accept(format, row, not_after, &mut scratch))
        else {
            // The rows the first pass found bad fail again and are skipped; one more
            // means the file changed in between.
            failed += 1;
            if failed > bad {
                let _ = out.blocking_send(Parsed::Changed);
                return;
            }
            continue;
        };
        let t = F::time(&record);
        span = Some(span.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
        batch.push(record);
        if batch.len() >= batch_size {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(capacity));
            if !send(full, &mut span) {
                return;
            }
        }
    }
    if failed != bad {
        let _ = out.blocking_send(Parsed::Changed);
        return;
    }
    if !batch.is_empty() {
        send(batch, &mut span);
    }
}

/// Second pass: parses the file again and stores its valid rows in batches of
/// `batch_size` (default and ceiling: the store's maximum). Parsing runs on a thread of its
/// own, one batch ahead of the writer, so the next batch is parsed while the store writes
/// the previous one (one batch queued between them: memory stays at about three batches).
///
/// # Errors
/// A batch size above the store's maximum, a store error (batches already written stay
/// written; re-running the import is harmless because writes are upserts), or a file that
/// changed since [`check`] read it.
pub async fn store<F>(
    checked: Checked<F>,
    store: &dyn TimeSeriesStore,
    batch_size: Option<usize>,
) -> CliResult<Stored>
where
    F: RecordFormat + Send + 'static,
    F::Record: Send + Clone + 'static,
{
    let max = store.capabilities().max_batch_size;
    let batch_size = match batch_size {
        Some(n) if n > max => {
            return Err(CliError::usage(format!(
                "--batch-size {n} exceeds the store's maximum batch size of {max}"
            )))
        }
        Some(n) => n,
        None => max,
    };
    let findings = checked.findings();
    let Checked {
        format,
        path,
        started,
        good,
        distinct,
        groups,
        bad,
        not_after,
        ..
    } = checked;
    let changed = |stored: u64| {
        CliError::invalid(format!(
            "{} changed while it was being imported ({} already stored); import it again",
            path.display(),
            plural(stored, F::NOUN.0, F::NOUN.1),
        ))
    };

    let capacity = batch_size.min(usize::try_from(good).unwrap_or(max));
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let reader = {
        let path = path.clone();
        std::thread::spawn(move || {
            read_batches(&format, &path, (bad, not_after), batch_size, capacity, &tx);
        })
    };
    let mut stored = 0u64;
    let mut span: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    let progress = Progress::new(Some(good), F::NOUN.1, format!("storing {}", path.display()));
    let mut outcome = Ok(());
    while let Some(parsed) = rx.recv().await {
        match parsed {
            Parsed::Batch(batch, first, last) => {
                match write::<F>(store, &batch).await {
                    Ok(n) => stored += n,
                    Err(e) => {
                        outcome = Err(e);
                        break;
                    }
                }
                span = Some(span.map_or((first, last), |(a, b)| (a.min(first), b.max(last))));
                progress.set(stored, None);
            }
            Parsed::Changed => {
                outcome = Err(changed(stored));
                break;
            }
            Parsed::Failed(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    // Dropping the receiver stops the reader at its next send.
    drop(rx);
    drop(progress);
    if reader.join().is_err() {
        return Err(CliError::failed(format!(
            "reading {} failed unexpectedly",
            path.display()
        )));
    }
    outcome?;
    if stored != good {
        return Err(changed(stored));
    }
    Ok(Stored {
        summary: format!(
            "imported {} ({distinct} distinct) for {} in {:.2} s; {findings}",
            plural(stored, F::NOUN.0, F::NOUN.1),
            plural(groups, F::GROUP_NOUN.0, F::GROUP_NOUN.1),
            started.elapsed().as_secs_f64(),
        ),
        span,
    })
}

/// Writes `batch`; returns how many records it held.
async fn write<F: RecordFormat>(
    store: &dyn TimeSeriesStore,
    batch: &[F::Record],
) -> CliResult<u64> {
    if batch.is_empty() {
        return Ok(0);
    }
    let summary = F::store(store, batch).await?;
    Ok(u64::try_from(summary.received).unwrap_or(u64::MAX))
}

/// Takes the value of a field result, or records its error.
pub fn take<T>(result: Result<T, FieldError>, errors: &mut Vec<FieldError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

/// Checks a row's field count against the header's (or a minimum for headerless files).
pub fn check_width(row: &StringRecord, exact: Option<usize>, min: usize) -> Result<(), FieldError> {
    let found = row.len();
    match exact {
        Some(w) if found != w => Err(FieldError::new(
            "row",
            format!("expected {w} fields (as in the header), found {found}"),
        )),
        None if found < min => Err(FieldError::new(
            "row",
            format!("expected at least {min} fields, found {found}"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::candles::CandleFormat;

    fn scan_text(name: &str, text: &str) -> (Checked<CandleFormat>, Vec<String>) {
        let path =
            std::env::temp_dir().join(format!("marketseries-cli-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let result = scan(&path, |first| {
            CandleFormat::new(first, &path, None, None).map(|(f, _)| f)
        });
        std::fs::remove_file(&path).unwrap();
        let (checked, errors) = result.unwrap();
        (checked, errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn line_numbers_survive_crlf_blank_lines_and_quoted_newlines() {
        let text = "time,symbol,interval,open,high,low,close,volume\r\n\
                    2024-03-01T00:00:00Z,BTCUSDT,1m,1,2,1,1,1\r\n\
                    \r\n\
                    \"2024-03-01T00:01:00Z\",BTCUSDT,1m,1,2,1,\"1\r\n\",1\r\n\
                    2024-03-01T00:02:00Z,BTCUSDT,1m,NaN,2,1,1,1\r\n\
                    2024-03-01T00:03:00Z,BTCUSDT,1m,1,2,1,1\r\n\
                    2024-03-01T00:03:00Z,BTCUSDT,1m,1,2,1,1,3\r\n";
        let (checked, errors) = scan_text("crlf.csv", text);
        assert_eq!(
            errors,
            [
                "line 6: open: must be a finite number (got NaN or infinity)",
                "line 7: row: expected 8 fields (as in the header), found 7",
            ]
        );
        assert_eq!((checked.good, checked.distinct, checked.groups), (3, 3, 1));
        assert_eq!(checked.bad, 2);
    }

    #[test]
    fn duplicates_count_once() {
        let row = "2024-03-01T00:00:00Z,BTCUSDT,1m,1,2,1,1,1\n";
        let text = format!("time,symbol,interval,open,high,low,close,volume\n{row}{row}");
        let (checked, errors) = scan_text("dup.csv", &text);
        assert!(errors.is_empty());
        assert_eq!((checked.good, checked.distinct), (2, 1));
        assert_eq!(checked.conflicts, 0, "a plain repeat is no conflict");
        let other = "2024-03-01T00:00:00Z,BTCUSDT,1m,1,2,1,1,5\n";
        let text = format!("time,symbol,interval,open,high,low,close,volume\n{row}{row}{other}");
        let (checked, _) = scan_text("conflict.csv", &text);
        assert_eq!(
            (checked.conflicts, checked.conflict_example),
            (1, Some((3, 4)))
        );
        assert!(
            checked.findings().contains("line 4 replaces line 3"),
            "{}",
            checked.findings()
        );
    }

    #[test]
    fn errors_are_capped_and_long_lines_refused() {
        let mut text = String::from("time,symbol,interval,open,high,low,close,volume\n");
        for _ in 0..250 {
            text.push_str("2024-03-01T00:00:00Z,BTCUSDT,1m,NaN,2,1,1,1\n");
        }
        let (checked, errors) = scan_text("many.csv", &text);
        assert_eq!(errors.len(), MAX_ERRORS);
        assert_eq!((checked.bad, checked.unshown), (250, 150));
        let long = format!(
            "time,symbol,interval,open,high,low,close,volume\n{}\n",
            "x".repeat(MAX_LINE_BYTES + 10)
        );
        let path =
            std::env::temp_dir().join(format!("marketseries-cli-{}-long.csv", std::process::id()));
        std::fs::write(&path, long).unwrap();
        let e = scan(&path, |first| {
            CandleFormat::new(first, &path, None, None).map(|(f, _)| f)
        })
        .err()
        .expect("refused");
        std::fs::remove_file(&path).unwrap();
        assert!(e.to_string().contains("longer than"), "{e}");
    }
}
