//! What a backend can do; consulted by the router and the conformance suite.

use serde::Serialize;

use crate::interval::Interval;
use crate::validate::DEFAULT_MAX_BATCH;

/// Widths of the OHLCV aggregates every database backend materializes (and the in-memory
/// reference store mirrors), finest first; each divides the next, so the aggregates can be
/// built hierarchically. The one list: backends and [`MemoryStore`](crate::MemoryStore)
/// read it rather than keep their own.
pub const OHLCV_AGGREGATE_WIDTHS: [Interval; 5] = [
    Interval::M5,
    Interval::M15,
    Interval::H1,
    Interval::H4,
    Interval::D1,
];

/// One materialized OHLCV aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AggregateCapability {
    /// Bucket width of the aggregate.
    pub interval: Interval,
    /// The aggregate holds rows of every native interval that divides `covers` (grouped by
    /// native interval). A flat aggregate built from raw data has `covers == interval`; a
    /// hierarchical one built on a finer aggregate inherits that aggregate's `covers`.
    pub covers: Interval,
}

impl AggregateCapability {
    /// An aggregate built directly from raw candles.
    pub fn flat(interval: Interval) -> Self {
        Self {
            interval,
            covers: interval,
        }
    }

    /// Whether rows of native interval `native` are in this aggregate.
    pub fn holds_native(&self, native: Interval) -> bool {
        native.divides(self.covers) && native.divides(self.interval)
    }
}

/// What a backend offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// Backend name (`memory`, `postgres`, `timescaledb`).
    pub backend: &'static str,
    /// Materialized OHLCV aggregates.
    pub aggregates: Vec<AggregateCapability>,
    /// Whether reading an aggregate includes rows not yet materialized.
    pub real_time_aggregates: bool,
    /// Whether old data can be compressed.
    pub compression: bool,
    /// Whether retention drops expired data.
    pub retention: bool,
    /// Maximum records accepted in one batch.
    pub max_batch_size: usize,
}

impl Capabilities {
    /// A backend without aggregates or compression that serves everything from raw data.
    pub fn raw_only(backend: &'static str) -> Self {
        Self {
            backend,
            aggregates: Vec::new(),
            real_time_aggregates: false,
            compression: false,
            retention: true,
            max_batch_size: DEFAULT_MAX_BATCH,
        }
    }

    /// Intervals of the materialized aggregates, finest first.
    pub fn materialized_intervals(&self) -> Vec<Interval> {
        let mut v: Vec<_> = self.aggregates.iter().map(|a| a.interval).collect();
        v.sort();
        v
    }
}
