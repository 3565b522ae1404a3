//! Sentiment files: `time,asset,source,score,label,mention_volume,engagement`.

use std::hash::{DefaultHasher, Hash};
use std::path::Path;

use chrono::{DateTime, Utc};
use csv::StringRecord;
use marketseries_core::validate::validate_sentiment;
use marketseries_core::{Dataset, Records, SentimentLabel, SentimentReading, TimeSeriesStore};

use super::detect::Header;
use super::times::TimeReader;
use super::{check_width, take, RecordFormat, WriteFuture};
use crate::error::{CliError, CliResult};
use crate::parse::{self, FieldError};

/// The header `import sentiment` expects (optional columns included).
const EXPECTED: &str = "time,asset,source,score,label,mention_volume,engagement \
                        (label, mention_volume and engagement may be left out or empty)";

/// Column positions of a sentiment file.
#[derive(Debug)]
pub struct SentimentFormat {
    width: usize,
    /// `[time, asset, source, score]`.
    required: [usize; 4],
    label: Option<usize>,
    mention_volume: Option<usize>,
    engagement: Option<usize>,
    times: TimeReader,
}

impl SentimentFormat {
    /// Reads the header.
    ///
    /// # Errors
    /// A header without the required columns.
    pub fn new(first: &StringRecord, path: &Path) -> CliResult<Self> {
        let header = Header::new(first);
        let required = header
            .require(["time", "asset", "source", "score"])
            .map_err(|missing| {
                let shown: Vec<&str> = first.iter().collect();
                CliError::invalid(format!(
                    "{}: unrecognised sentiment header `{}` ({missing}); expected {EXPECTED}",
                    path.display(),
                    shown.join(","),
                ))
            })?;
        Ok(Self {
            times: TimeReader::default(),
            width: header.width,
            required,
            label: header.get("label"),
            mention_volume: header.get("mention_volume"),
            engagement: header.get("engagement"),
        })
    }
}

/// An optional column's text; empty when the file has no such column.
fn optional(row: &StringRecord, column: Option<usize>) -> &str {
    column.and_then(|i| row.get(i)).unwrap_or("")
}

impl RecordFormat for SentimentFormat {
    fn times(&self) -> &TimeReader {
        &self.times
    }

    fn times_mut(&mut self) -> &mut TimeReader {
        &mut self.times
    }

    type Record = SentimentReading;
    const NOUN: (&'static str, &'static str) = ("sentiment reading", "sentiment readings");
    const GROUP_NOUN: (&'static str, &'static str) = ("asset", "assets");

    fn has_header(&self) -> bool {
        true
    }

    fn parse(&self, row: &StringRecord, errors: &mut Vec<FieldError>) -> Option<SentimentReading> {
        take(check_width(row, Some(self.width), 0), errors)?;
        let field = |i: usize| row.get(i).unwrap_or("");
        let [t, a, s, sc] = self.required;
        let time = take(
            self.times
                .read(field(t))
                .map(|p| p.time)
                .map_err(|r| FieldError::new("time", r)),
            errors,
        );
        let score = take(parse::finite_f64("score", field(sc)), errors);
        let label_text = optional(row, self.label);
        // `Some(None)`: no label given; `None`: a bad one (already reported).
        let label = if label_text.is_empty() {
            Some(None)
        } else {
            take(
                label_text
                    .to_ascii_lowercase()
                    .parse::<SentimentLabel>()
                    .map(Some)
                    .map_err(|_| {
                        FieldError::new(
                            "label",
                            format!("{label_text:?} is not one of bearish, neutral, bullish"),
                        )
                    }),
                errors,
            )
        };
        let mentions = match optional(row, self.mention_volume) {
            "" => Some(0),
            text => take(parse::count("mention_volume", text), errors),
        };
        let engagement = match optional(row, self.engagement) {
            "" => Some(0.0),
            text => take(parse::finite_f64("engagement", text), errors),
        };
        let (score, label) = (score?, label?);
        let reading = SentimentReading {
            asset: field(a).to_owned(),
            source: field(s).to_owned(),
            time: time?,
            score,
            // The project's rule for sources that give no label.
            label: label.unwrap_or_else(|| SentimentLabel::from_score(score)),
            mention_volume: mentions?,
            engagement: engagement?,
        };
        take(
            validate_sentiment(&reading).map_err(FieldError::from),
            errors,
        )?;
        Some(reading)
    }

    const DATASET: Dataset = Dataset::Sentiment;

    fn time(record: &SentimentReading) -> DateTime<Utc> {
        record.time
    }

    fn group(record: &SentimentReading) -> &str {
        &record.asset
    }

    fn hash_value(record: &SentimentReading, state: &mut DefaultHasher) {
        (
            record.score.to_bits(),
            record.label,
            record.mention_volume,
            record.engagement.to_bits(),
        )
            .hash(state);
    }

    fn records(batch: Vec<SentimentReading>) -> Records {
        Records::Sentiment(batch)
    }

    fn hash_key(record: &SentimentReading, state: &mut DefaultHasher) {
        (&record.asset, &record.source, record.time).hash(state);
    }

    fn store<'a>(store: &'a dyn TimeSeriesStore, batch: &'a [SentimentReading]) -> WriteFuture<'a> {
        store.store_sentiments(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(line: &str) -> StringRecord {
        StringRecord::from(line.split(',').collect::<Vec<_>>())
    }

    #[test]
    fn labels_default_from_score() {
        let f = SentimentFormat::new(
            &rec("time,asset,source,score,label,mention_volume,engagement"),
            Path::new("s.csv"),
        )
        .unwrap();
        let mut errors = Vec::new();
        let r = f
            .parse(
                &rec("2024-03-01T00:00:00Z,BTC,news,0.5,,10,2.5"),
                &mut errors,
            )
            .unwrap();
        assert_eq!(r.label, SentimentLabel::Bullish);
        let r = f
            .parse(
                &rec("2024-03-01T00:00:00Z,BTC,news,0.5,Neutral,10,2.5"),
                &mut errors,
            )
            .unwrap();
        assert_eq!(r.label, SentimentLabel::Neutral);
        assert!(f
            .parse(
                &rec("2024-03-01T00:00:00Z,BTC,news,1.5,,10,2.5"),
                &mut errors
            )
            .is_none());
        assert_eq!(errors[0].field, "score");
    }

    #[test]
    fn minimal_header() {
        let f = SentimentFormat::new(&rec("asset,time,score,source"), Path::new("s.csv")).unwrap();
        let mut errors = Vec::new();
        let r = f
            .parse(&rec("ETH,1709251200,-0.4,reddit"), &mut errors)
            .unwrap();
        assert_eq!((r.mention_volume, r.label), (0, SentimentLabel::Bearish));
        let e = SentimentFormat::new(&rec("time,asset"), Path::new("s.csv")).unwrap_err();
        assert!(
            e.to_string().contains("unrecognised sentiment header"),
            "{e}"
        );
    }
}
