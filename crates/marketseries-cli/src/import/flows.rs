//! Flow files: `time,asset,flow_type,amount,usd_value,source,reference`.

use std::hash::{DefaultHasher, Hash};
use std::path::Path;

use chrono::{DateTime, Utc};
use csv::StringRecord;
use marketseries_core::validate::validate_flow;
use marketseries_core::{Dataset, Error, Flow, FlowType, Records, TimeSeriesStore};

use super::detect::Header;
use super::times::TimeReader;
use super::{check_width, take, RecordFormat, WriteFuture};
use crate::error::{CliError, CliResult};
use crate::parse::{self, FieldError};

/// The header `import flows` expects.
const EXPECTED: &str =
    "time,asset,flow_type,amount,usd_value,source,reference (reference may be left out or empty)";

/// Column positions of a flow file.
#[derive(Debug)]
pub struct FlowFormat {
    width: usize,
    /// `[time, asset, flow_type, amount, usd_value, source]`.
    required: [usize; 6],
    reference: Option<usize>,
    times: TimeReader,
}

impl FlowFormat {
    /// Reads the header.
    ///
    /// # Errors
    /// A header without the required columns.
    pub fn new(first: &StringRecord, path: &Path) -> CliResult<Self> {
        let header = Header::new(first);
        let required = header
            .require([
                "time",
                "asset",
                "flow_type",
                "amount",
                "usd_value",
                "source",
            ])
            .map_err(|missing| {
                let shown: Vec<&str> = first.iter().collect();
                CliError::invalid(format!(
                    "{}: unrecognised flow header `{}` ({missing}); expected {EXPECTED}",
                    path.display(),
                    shown.join(","),
                ))
            })?;
        Ok(Self {
            times: TimeReader::default(),
            width: header.width,
            required,
            reference: header.get("reference"),
        })
    }
}

/// Reads a flow type in any letter case.
fn flow_type(text: &str) -> Result<FlowType, FieldError> {
    text.to_ascii_lowercase()
        .parse::<FlowType>()
        .map_err(|e| match e {
            Error::InvalidArgument { reason, .. } => FieldError::new("flow_type", reason),
            other => FieldError::new("flow_type", other.to_string()),
        })
}

impl RecordFormat for FlowFormat {
    fn times(&self) -> &TimeReader {
        &self.times
    }

    fn times_mut(&mut self) -> &mut TimeReader {
        &mut self.times
    }

    type Record = Flow;
    const NOUN: (&'static str, &'static str) = ("flow", "flows");
    const GROUP_NOUN: (&'static str, &'static str) = ("asset", "assets");

    fn has_header(&self) -> bool {
        true
    }

    fn parse(&self, row: &StringRecord, errors: &mut Vec<FieldError>) -> Option<Flow> {
        take(check_width(row, Some(self.width), 0), errors)?;
        let field = |i: usize| row.get(i).unwrap_or("");
        let [t, a, ft, amt, usd, src] = self.required;
        let time = take(
            self.times
                .read(field(t))
                .map(|p| p.time)
                .map_err(|r| FieldError::new("time", r)),
            errors,
        );
        let kind = take(flow_type(field(ft)), errors);
        let amount = take(parse::decimal("amount", field(amt)), errors);
        let usd_value = take(parse::decimal("usd_value", field(usd)), errors);
        let flow = Flow {
            asset: field(a).to_owned(),
            time: time?,
            flow_type: kind?,
            amount: amount?,
            usd_value: usd_value?,
            source: field(src).to_owned(),
            reference: self
                .reference
                .and_then(|i| row.get(i))
                .unwrap_or("")
                .to_owned(),
        };
        take(validate_flow(&flow).map_err(FieldError::from), errors)?;
        Some(flow)
    }

    const DATASET: Dataset = Dataset::Flow;

    fn time(record: &Flow) -> DateTime<Utc> {
        record.time
    }

    fn group(record: &Flow) -> &str {
        &record.asset
    }

    fn hash_value(record: &Flow, state: &mut DefaultHasher) {
        (record.amount, record.usd_value).hash(state);
    }

    fn records(batch: Vec<Flow>) -> Records {
        Records::Flows(batch)
    }

    fn hash_key(record: &Flow, state: &mut DefaultHasher) {
        (
            &record.asset,
            &record.source,
            record.flow_type,
            record.time,
            &record.reference,
        )
            .hash(state);
    }

    fn store<'a>(store: &'a dyn TimeSeriesStore, batch: &'a [Flow]) -> WriteFuture<'a> {
        store.store_flows(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(line: &str) -> StringRecord {
        StringRecord::from(line.split(',').collect::<Vec<_>>())
    }

    #[test]
    fn flows_parse_exactly() {
        let f = FlowFormat::new(
            &rec("time,asset,flow_type,amount,usd_value,source,reference"),
            Path::new("f.csv"),
        )
        .unwrap();
        let mut errors = Vec::new();
        let flow = f
            .parse(
                &rec("2024-03-01T00:00:00Z,BTC,Exchange_Inflow,1.23456789,80000.10,binance,"),
                &mut errors,
            )
            .unwrap();
        assert_eq!(flow.flow_type, FlowType::ExchangeInflow);
        assert_eq!(flow.usd_value.to_string(), "80000.10");
        assert_eq!(flow.reference, "");
        assert!(f
            .parse(
                &rec("2024-03-01T00:00:00Z,BTC,teleport,-1,NaN,binance,x"),
                &mut errors
            )
            .is_none());
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["flow_type", "usd_value"]);
    }
}
