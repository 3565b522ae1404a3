//! The benchmark's data: one-minute candles of `symbols` x `days` ending at the run's clock,
//! with sentiment and flows of the seed's shapes for the same assets and days.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use marketseries_core::{Candle, Flow, SentimentReading};
use marketseries_testkit::generate::{self, CandleSpec};

/// Seed of every generator (fixed: every target and every run gets the same rows).
pub const SEED: u64 = 20_261_201;
/// Sentiment: every source reports every this often.
pub const SENTIMENT_EVERY_MINUTES: i64 = 60;
/// Flows per asset per day.
pub const FLOWS_PER_DAY: u32 = 100;

/// One data set: what is loaded into every target of a run.
#[derive(Debug, Clone)]
pub struct DataSet {
    /// Number of symbols (`SYM0USDT`-style names from the testkit, the first ten the seed's).
    pub symbols: usize,
    /// Days of one-minute candles.
    pub days: u32,
    /// End of the data (exclusive) and the store's clock: the last candle starts a minute
    /// before it.
    pub end: DateTime<Utc>,
}

impl DataSet {
    /// `symbols` x `days` ending at `end` (rounded down to the minute).
    pub fn new(symbols: usize, days: u32, end: DateTime<Utc>) -> Self {
        let end = end.duration_trunc(TimeDelta::minutes(1)).unwrap_or(end);
        Self { symbols, days, end }
    }

    /// Time of the first candle.
    pub fn start(&self) -> DateTime<Utc> {
        self.end - TimeDelta::days(i64::from(self.days))
    }

    /// Number of candles.
    pub fn candle_count(&self) -> usize {
        self.symbols * usize::try_from(self.days).unwrap_or(0) * 1_440
    }

    /// The candle generator.
    pub fn spec(&self) -> CandleSpec {
        CandleSpec::minutes(self.symbols, self.days, self.start(), SEED)
    }

    /// Every candle, symbol by symbol, in time order.
    pub fn candles(&self) -> Vec<Candle> {
        self.spec().generate()
    }

    /// The symbols' names.
    pub fn symbol_names(&self) -> Vec<String> {
        (0..self.symbols).map(generate::symbol_name).collect()
    }

    /// The assets (symbols without their quote currency).
    pub fn assets(&self) -> Vec<String> {
        self.symbol_names()
            .iter()
            .map(|s| generate::asset_of(s).to_owned())
            .collect()
    }

    /// Sentiment of every asset from every source, hourly.
    pub fn sentiment(&self) -> Vec<SentimentReading> {
        let assets = self.assets();
        let assets: Vec<&str> = assets.iter().map(String::as_str).collect();
        let per_day = usize::try_from(24 * 60 / SENTIMENT_EVERY_MINUTES).unwrap_or(24);
        generate::sentiment(
            &assets,
            self.start(),
            TimeDelta::minutes(SENTIMENT_EVERY_MINUTES),
            per_day * usize::try_from(self.days).unwrap_or(0),
            SEED,
        )
    }

    /// About [`FLOWS_PER_DAY`] flows a day for every asset.
    pub fn flows(&self) -> Vec<Flow> {
        let assets = self.assets();
        let assets: Vec<&str> = assets.iter().map(String::as_str).collect();
        generate::flows(&assets, self.start(), self.days, FLOWS_PER_DAY, SEED)
    }

    /// The late corrections: every symbol's candles of one whole day a third of the way
    /// into the data, with one more unit of volume (what a venue's re-publication of a day
    /// looks like).
    pub fn late_day(&self, candles: &[Candle]) -> Vec<Candle> {
        let day_start = (self.start() + TimeDelta::days(i64::from(self.days / 3)))
            .duration_trunc(TimeDelta::days(1))
            .unwrap_or_else(|_| self.start());
        let day_end = day_start + TimeDelta::days(1);
        candles
            .iter()
            .filter(|c| c.time >= day_start && c.time < day_end)
            .map(|c| {
                let mut c = c.clone();
                c.volume += rust_decimal::Decimal::ONE;
                c
            })
            .collect()
    }

    /// One candle per day of the first symbol: writing these through a store creates
    /// every daily partition (untimed set-up of the COPY reference).
    pub fn one_per_day(&self, candles: &[Candle]) -> Vec<Candle> {
        let mut out: Vec<Candle> = Vec::new();
        let first = generate::symbol_name(0);
        for c in candles.iter().filter(|c| c.symbol == first) {
            let day = c.time.duration_trunc(TimeDelta::days(1)).unwrap_or(c.time);
            if out
                .last()
                .is_none_or(|l| l.time.duration_trunc(TimeDelta::days(1)).unwrap_or(l.time) != day)
            {
                out.push(c.clone());
            }
        }
        out
    }
}
