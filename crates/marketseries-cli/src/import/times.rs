//! How an import reads its times: naive ones in the `--timezone` (UTC by default), and a
//! tally of the forms seen, which the summary states so that no reading is a silent guess.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{FixedOffset, Offset, Utc};

use crate::parse::{self, EpochUnit, ParsedTime, TimeForm};

/// Every form, in the order the summary lists them.
const FORMS: [TimeForm; 7] = [
    TimeForm::WithOffset,
    TimeForm::Naive,
    TimeForm::Date,
    TimeForm::Epoch(EpochUnit::Seconds),
    TimeForm::Epoch(EpochUnit::Millis),
    TimeForm::Epoch(EpochUnit::Micros),
    TimeForm::Epoch(EpochUnit::Nanos),
];

/// Reads times and counts their forms (shared by both passes of an import; atomics
/// because the second pass reads on a thread of its own).
#[derive(Debug, Default)]
pub struct TimeReader {
    zone: Option<FixedOffset>,
    seen: [AtomicU64; 7],
}

impl TimeReader {
    /// A reader of naive times in `zone` (UTC when `None`).
    pub fn new(zone: Option<FixedOffset>) -> Self {
        Self {
            zone,
            seen: Default::default(),
        }
    }

    /// Whether `--timezone` was given.
    pub fn zone_given(&self) -> bool {
        self.zone.is_some()
    }

    /// Reads one time.
    ///
    /// # Errors
    /// As [`parse::timestamp`].
    pub fn read(&self, text: &str) -> Result<ParsedTime, String> {
        let parsed = parse::timestamp_in(text, self.zone.unwrap_or(Utc.fix()))?;
        if let Some(i) = FORMS.iter().position(|f| *f == parsed.form) {
            self.seen[i].fetch_add(1, Ordering::Relaxed);
        }
        Ok(parsed)
    }

    /// Forgets the tally (the second pass reads every time again).
    pub fn reset(&self) {
        for n in &self.seen {
            n.store(0, Ordering::Relaxed);
        }
    }

    /// `times: epoch milliseconds`, `times: date-times without an offset, read as UTC
    /// (no --timezone)`, or each form with its count when they are mixed.
    pub fn describe(&self) -> String {
        let seen: Vec<(TimeForm, u64)> = FORMS
            .iter()
            .zip(&self.seen)
            .map(|(f, n)| (*f, n.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect();
        let naive = seen
            .iter()
            .any(|(f, _)| matches!(f, TimeForm::Naive | TimeForm::Date));
        let forms = match seen.as_slice() {
            [] => "none read".to_owned(),
            [(form, _)] => form.to_string(),
            many => many
                .iter()
                .map(|(f, n)| format!("{n} {f}"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let reading = match (naive, self.zone) {
            (false, _) => String::new(),
            (true, None) => ", read as UTC (no --timezone given)".to_owned(),
            (true, Some(z)) => format!(", read as {z}"),
        };
        format!("times: {forms}{reading}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_forms_and_the_zone() {
        let r = TimeReader::new(None);
        r.read("1709251200000").unwrap();
        assert_eq!(r.describe(), "times: epoch milliseconds");
        r.read("2024-03-01 10:00").unwrap();
        assert_eq!(
            r.describe(),
            "times: 1 date-times without an offset, 1 epoch milliseconds, read as UTC (no \
             --timezone given)"
        );
        let r = TimeReader::new(Some(parse::timezone("+02:00").unwrap()));
        r.read("2024-03-01").unwrap();
        assert_eq!(r.describe(), "times: dates, read as +02:00");
    }
}
