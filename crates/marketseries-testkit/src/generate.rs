//! Deterministic data generators: the same seed gives the same data on every run (the
//! transcendental functions come from the platform's libm, so another platform could in
//! principle round a last digit differently).
//!
//! Candles are a geometric random walk with tick rounding and log-normal volumes; sentiment
//! is a mean-reverting score per source; flows are log-normal amounts of random types.
//! The PRNG is a self-contained SplitMix64 so output never changes with a dependency update.

use chrono::{DateTime, TimeDelta, Utc};
use marketseries_core::{Candle, Flow, FlowType, Interval, SentimentLabel, SentimentReading};
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::Decimal;

/// SplitMix64: tiny, fast, and stable across versions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, with 52 random mantissa bits (no integer-to-float casts).
    pub fn uniform(&mut self) -> f64 {
        f64::from_bits(0x3FF0_0000_0000_0000 | (self.next_u64() >> 12)) - 1.0
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Uniform integer in `[0, n)`; `n` must be positive.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// A seed for a named stream, so that different streams of one data set are independent.
fn stream_seed(seed: u64, name: &str) -> u64 {
    name.bytes().fold(seed ^ 0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
    })
}

const NAMED: [(&str, f64, f64); 10] = [
    // (symbol, starting price, log of typical volume per minute)
    ("BTCUSDT", 43_000.0, 3.0),
    ("ETHUSDT", 2_300.0, 6.0),
    ("SOLUSDT", 98.0, 8.0),
    ("BNBUSDT", 310.0, 6.5),
    ("XRPUSDT", 0.62, 12.0),
    ("DOGEUSDT", 0.085, 21.0), // about 10^9 per minute: daily volumes beyond 10^12
    ("ADAUSDT", 0.55, 12.5),
    ("AVAXUSDT", 36.0, 8.5),
    ("DOTUSDT", 7.4, 9.5),
    ("LINKUSDT", 15.0, 9.0),
];

/// The `i`-th symbol name the generators use (`BTCUSDT`, `ETHUSDT`, ... then `SYM10USDT`).
pub fn symbol_name(i: usize) -> String {
    NAMED
        .get(i)
        .map_or_else(|| format!("SYM{i}USDT"), |(s, _, _)| (*s).to_owned())
}

/// The asset of a symbol (`BTCUSDT` -> `BTC`).
pub fn asset_of(symbol: &str) -> &str {
    symbol.strip_suffix("USDT").unwrap_or(symbol)
}

/// Parameters of a candle data set.
#[derive(Debug, Clone)]
pub struct CandleSpec {
    /// Number of symbols.
    pub symbols: usize,
    /// Number of candles per symbol.
    pub candles: usize,
    /// Time of the first candle.
    pub start: DateTime<Utc>,
    /// Native interval (and spacing) of the candles.
    pub interval: Interval,
    /// Per-step volatility of the log price.
    pub volatility: f64,
    /// Seed.
    pub seed: u64,
}

impl CandleSpec {
    /// `symbols` x `days` of one-minute candles from `start`.
    pub fn minutes(symbols: usize, days: u32, start: DateTime<Utc>, seed: u64) -> Self {
        Self {
            symbols,
            candles: usize::try_from(days).unwrap_or(0) * 1_440,
            start,
            interval: Interval::M1,
            volatility: 0.0008,
            seed,
        }
    }

    /// Every candle of the set, symbol by symbol, in time order.
    pub fn generate(&self) -> Vec<Candle> {
        (0..self.symbols)
            .flat_map(|s| self.symbol_candles(s))
            .collect()
    }

    /// Candles of the `s`-th symbol, lazily.
    pub fn symbol_candles(&self, s: usize) -> impl Iterator<Item = Candle> + '_ {
        let symbol = symbol_name(s);
        let (start_price, log_volume) = NAMED.get(s).map_or((50.0, 7.0), |(_, p, v)| (*p, *v));
        let mut rng = Rng::new(stream_seed(self.seed, &symbol));
        // Tick size: 0.01 above 1, four more decimals below.
        let dp = if start_price >= 1.0 { 2 } else { 6 };
        let mut price = start_price;
        let step = self.interval.duration();
        (0..self.candles).filter_map(move |i| {
            let open = price;
            price *= (self.volatility * rng.normal()).exp();
            let close = price;
            let high = open.max(close) * (1.0 + (self.volatility * rng.normal()).abs() / 2.0);
            let low = open.min(close) * (1.0 - (self.volatility * rng.normal()).abs() / 2.0);
            let volume = (log_volume + 0.8 * rng.normal()).exp();
            let tick = |x: f64| Decimal::from_f64(x).map(|d| d.round_dp(dp));
            let (open, close) = (tick(open)?, tick(close)?);
            let min_price = Decimal::new(1, dp);
            let open = open.max(min_price);
            let close = close.max(min_price);
            Some(Candle {
                symbol: symbol.clone(),
                interval: self.interval,
                time: self.start + step * i32::try_from(i).ok()?,
                open,
                high: tick(high)?.max(open.max(close)),
                low: tick(low)?.max(min_price).min(open.min(close)),
                close,
                volume: Decimal::from_f64(volume)?.round_dp(4),
            })
        })
    }
}

/// Sources the sentiment generator uses.
pub const SENTIMENT_SOURCES: [&str; 3] = ["news", "reddit", "twitter"];
/// Exchanges the flow generator uses.
pub const EXCHANGES: [&str; 4] = ["binance", "coinbase", "kraken", "okx"];

/// Sentiment readings for `assets` from every source every `every`, `count` steps from
/// `start`.
pub fn sentiment(
    assets: &[&str],
    start: DateTime<Utc>,
    every: TimeDelta,
    count: usize,
    seed: u64,
) -> Vec<SentimentReading> {
    let mut out = Vec::new();
    for asset in assets {
        for source in SENTIMENT_SOURCES {
            let mut rng = Rng::new(stream_seed(seed, &format!("{asset}/{source}")));
            let mut score: f64 = 0.0;
            for i in 0..count {
                score = (0.9 * score + 0.25 * rng.normal()).clamp(-1.0, 1.0);
                let Ok(step) = i32::try_from(i) else { break };
                // Round to 6 decimal places so that text round trips are exact.
                let score = (score * 1e6).round() / 1e6;
                out.push(SentimentReading {
                    asset: (*asset).to_owned(),
                    source: source.to_owned(),
                    time: start + every * step,
                    score,
                    label: SentimentLabel::from_score(score),
                    mention_volume: rng.below(5_000),
                    engagement: (rng.uniform() * 1e6).round() / 100.0,
                });
            }
        }
    }
    out
}

/// About `per_day` flows a day for each asset over `days` days from `start`.
pub fn flows(
    assets: &[&str],
    start: DateTime<Utc>,
    days: u32,
    per_day: u32,
    seed: u64,
) -> Vec<Flow> {
    let mut out = Vec::new();
    let span = i64::from(days) * 86_400;
    for asset in assets {
        let mut rng = Rng::new(stream_seed(seed, asset));
        let n = u64::from(days) * u64::from(per_day);
        let mut times: Vec<i64> = (0..n)
            .map(|_| i64::try_from(rng.below(u64::try_from(span).unwrap_or(1))).unwrap_or(0))
            .collect();
        times.sort_unstable();
        for (k, secs) in times.into_iter().enumerate() {
            let flow_type = FlowType::ALL[usize::try_from(rng.below(6)).unwrap_or(0)];
            let amount = (2.0 + 1.5 * rng.normal()).exp();
            let Some(amount) = Decimal::from_f64(amount).map(|d| d.round_dp(8)) else {
                continue;
            };
            let price = Decimal::from(1 + rng.below(50_000));
            out.push(Flow {
                asset: (*asset).to_owned(),
                time: start + TimeDelta::seconds(secs),
                flow_type,
                amount,
                usd_value: (amount * price).round_dp(2),
                source: EXCHANGES[usize::try_from(rng.below(4)).unwrap_or(0)].to_owned(),
                reference: format!(
                    "{:016x}",
                    stream_seed(seed, asset) ^ u64::try_from(k).unwrap_or(0)
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use marketseries_core::validate::Limits;

    const UNBOUNDED: Limits = Limits {
        max_batch: usize::MAX,
        not_after: chrono::DateTime::<chrono::Utc>::MAX_UTC,
    };
    use marketseries_core::validate::{validate_candles, validate_flows, validate_sentiments};

    fn start() -> DateTime<Utc> {
        "2024-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn generated_data_is_valid_and_deterministic() {
        let spec = CandleSpec::minutes(10, 2, start(), 7);
        let a = spec.generate();
        assert_eq!(a.len(), 10 * 2 * 1_440);
        validate_candles(&a, &UNBOUNDED).unwrap();
        assert_eq!(a, spec.generate());
        assert_ne!(a, CandleSpec::minutes(10, 2, start(), 8).generate());
        let s = sentiment(&["BTC", "ETH"], start(), TimeDelta::minutes(15), 200, 7);
        validate_sentiments(&s, &UNBOUNDED).unwrap();
        let f = flows(&["BTC", "ETH"], start(), 3, 100, 7);
        validate_flows(&f, &UNBOUNDED).unwrap();
        assert!(f.len() > 500);
    }

    #[test]
    fn doge_volumes_exceed_a_trillion_a_day() {
        let day = CandleSpec::minutes(6, 1, start(), 1)
            .symbol_candles(5)
            .map(|c| c.volume)
            .sum::<Decimal>();
        assert!(day > Decimal::from(1_000_000_000_000u64), "{day}");
    }

    #[test]
    fn uniform_is_in_unit_interval() {
        let mut r = Rng::new(3);
        for _ in 0..10_000 {
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
