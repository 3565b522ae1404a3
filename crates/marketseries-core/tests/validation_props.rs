//! Property tests of validation: valid records pass, each corruption is caught and named.

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::config;
use marketseries_core::validate::{
    validate_candles, validate_flows, validate_indicators, validate_sentiments, Limits,
    MAX_INDICATOR_NAME_LEN, MAX_MAGNITUDE,
};
use marketseries_core::{
    Candle, Flow, FlowType, IndicatorValue, Interval, SentimentLabel, SentimentReading,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// Limits of `n` records and no future bound.
fn lim(n: usize) -> Limits {
    Limits {
        max_batch: n,
        not_after: DateTime::<Utc>::MAX_UTC,
    }
}

fn t() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..4_000_000_000).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
}

fn price() -> impl Strategy<Value = Decimal> {
    (1i64..10_000_000_000, 0u32..12).prop_map(|(m, s)| Decimal::new(m, s))
}

fn symbol() -> impl Strategy<Value = String> {
    "[A-Z0-9][A-Z0-9._/:-]{0,31}"
}

fn candle() -> impl Strategy<Value = Candle> {
    (symbol(), t(), price(), price(), price(), price(), price()).prop_map(
        |(symbol, time, a, b, up, down, volume)| {
            let (open, close) = (a, b);
            let high = open.max(close) + up;
            let low = (open.min(close) - down).max(Decimal::new(1, 12));
            Candle {
                symbol,
                interval: Interval::M1,
                time,
                open,
                high,
                low: low.min(open.min(close)),
                close,
                volume: volume * Decimal::from(1_000_000_000i64),
            }
        },
    )
}

fn sentiment() -> impl Strategy<Value = SentimentReading> {
    (
        symbol(),
        "[a-z]{1,20}",
        t(),
        -1.0f64..=1.0,
        0u64..1_000_000,
        0.0f64..1e9,
    )
        .prop_map(|(asset, source, time, score, mention_volume, engagement)| {
            SentimentReading {
                asset,
                source,
                time,
                score,
                label: SentimentLabel::from_score(score),
                mention_volume,
                engagement,
            }
        })
}

fn flow() -> impl Strategy<Value = Flow> {
    (
        symbol(),
        "[a-z]{1,20}",
        t(),
        0usize..6,
        price(),
        price(),
        "[0-9a-f]{0,64}",
    )
        .prop_map(
            |(asset, source, time, ty, amount, usd_value, reference)| Flow {
                asset,
                time,
                flow_type: FlowType::ALL[ty],
                amount,
                usd_value,
                source,
                reference,
            },
        )
}

/// Indicator values: any sign, up to 26 significant digits, up to 12 decimal places.
fn indicator_value() -> impl Strategy<Value = Decimal> {
    (any::<i64>(), 0u32..=12, any::<bool>()).prop_map(|(m, s, wide)| {
        if wide {
            // Beyond i64: up to 14 integer digits and 12 decimals, under the magnitude cap.
            Decimal::from_i128_with_scale(i128::from(m) * 10_000_000, 12)
        } else {
            Decimal::new(m, s)
        }
    })
}

fn indicator() -> impl Strategy<Value = IndicatorValue> {
    (
        symbol(),
        prop::sample::select(vec!["1m", "15m", "1h", "4h", "1d", "1w"]),
        "[A-Za-z0-9_.-]{1,64}",
        t(),
        indicator_value(),
    )
        .prop_map(|(symbol, interval, name, time, value)| IndicatorValue {
            symbol,
            interval: interval.parse().unwrap(),
            name,
            time,
            value,
        })
}

/// Characters a symbol may hold but an indicator name may not, and worse ones.
fn bad_name_char() -> impl Strategy<Value = char> {
    prop::sample::select(vec![' ', ',', '/', ':', '"', '\n', 'é', ';'])
}

#[derive(Debug, Clone, Copy)]
enum CandleCorruption {
    EmptySymbol,
    LongSymbol,
    BadSymbolChar,
    NegativeVolume,
    ZeroOpen,
    HighBelowLow,
    HighBelowClose,
    LowAboveOpen,
    TimeTooEarly,
    TimeTooLate,
    SubMicrosecond,
    HugeVolume,
}

fn candle_corruption() -> impl Strategy<Value = CandleCorruption> {
    use CandleCorruption::*;
    prop::sample::select(vec![
        EmptySymbol,
        LongSymbol,
        BadSymbolChar,
        NegativeVolume,
        ZeroOpen,
        HighBelowLow,
        HighBelowClose,
        LowAboveOpen,
        TimeTooEarly,
        TimeTooLate,
        SubMicrosecond,
        HugeVolume,
    ])
}

fn corrupt(c: &mut Candle, how: CandleCorruption) -> &'static str {
    use CandleCorruption::*;
    match how {
        EmptySymbol => {
            c.symbol.clear();
            "symbol"
        }
        LongSymbol => {
            c.symbol = "X".repeat(33);
            "symbol"
        }
        BadSymbolChar => {
            c.symbol.push(' ');
            "symbol"
        }
        NegativeVolume => {
            c.volume = -c.volume - Decimal::ONE;
            "volume"
        }
        ZeroOpen => {
            c.open = Decimal::ZERO;
            "open"
        }
        HighBelowLow => {
            c.high = c.low - c.low / Decimal::TWO;
            "high"
        }
        HighBelowClose => {
            c.close = c.high + Decimal::ONE;
            "high"
        }
        LowAboveOpen => {
            c.low = c.open + Decimal::ONE;
            c.high = c.high.max(c.low);
            "low"
        }
        TimeTooEarly => {
            c.time = DateTime::from_timestamp(-1, 0).unwrap();
            "time"
        }
        TimeTooLate => {
            c.time = DateTime::from_timestamp(4_102_444_800, 0).unwrap();
            "time"
        }
        SubMicrosecond => {
            c.time += TimeDelta::nanoseconds(1);
            "time"
        }
        HugeVolume => {
            c.volume = marketseries_core::validate::MAX_MAGNITUDE * Decimal::TWO;
            "volume"
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn valid_records_pass(c in prop::collection::vec(candle(), 0..20),
                          s in prop::collection::vec(sentiment(), 0..20),
                          f in prop::collection::vec(flow(), 0..20),
                          i in prop::collection::vec(indicator(), 0..20)) {
        prop_assert!(validate_candles(&c, &lim(100)).is_ok());
        prop_assert!(validate_sentiments(&s, &lim(100)).is_ok());
        prop_assert!(validate_flows(&f, &lim(100)).is_ok());
        prop_assert!(validate_indicators(&i, &lim(100)).is_ok());
    }

    #[test]
    fn each_candle_corruption_is_caught(mut batch in prop::collection::vec(candle(), 1..20),
                                        pick in any::<prop::sample::Index>(),
                                        how in candle_corruption()) {
        let i = pick.index(batch.len());
        let field = corrupt(&mut batch[i], how);
        let err = validate_candles(&batch, &lim(100)).unwrap_err();
        let v = err.as_validation().expect("a validation error");
        prop_assert_eq!(v.index, Some(i));
        prop_assert_eq!(v.field, field, "{:?}", how);
    }

    #[test]
    fn each_sentiment_corruption_is_caught(mut batch in prop::collection::vec(sentiment(), 1..20),
                                           pick in any::<prop::sample::Index>(),
                                           how in 0usize..6) {
        let i = pick.index(batch.len());
        let r = &mut batch[i];
        let field = match how {
            0 => { r.score = f64::NAN; "score" }
            1 => { r.score = if r.score >= 0.0 { 1.5 } else { -1.5 }; "score" }
            2 => { r.engagement = f64::INFINITY; "engagement" }
            3 => { r.engagement = -1.0; "engagement" }
            4 => { r.source.clear(); "source" }
            _ => { r.mention_volume = u64::MAX; "mention_volume" }
        };
        let err = validate_sentiments(&batch, &lim(100)).unwrap_err();
        let v = err.as_validation().expect("a validation error");
        prop_assert_eq!((v.index, v.field), (Some(i), field));
    }

    #[test]
    fn each_flow_corruption_is_caught(mut batch in prop::collection::vec(flow(), 1..20),
                                      pick in any::<prop::sample::Index>(),
                                      how in 0usize..5) {
        let i = pick.index(batch.len());
        let f = &mut batch[i];
        let field = match how {
            0 => { f.amount = -f.amount - Decimal::ONE; "amount" }
            1 => { f.usd_value = -Decimal::ONE; "usd_value" }
            2 => { f.asset = String::new(); "asset" }
            3 => { f.reference = "r".repeat(129); "reference" }
            _ => { f.time = DateTime::from_timestamp(5_000_000_000, 0).unwrap(); "time" }
        };
        let err = validate_flows(&batch, &lim(100)).unwrap_err();
        let v = err.as_validation().expect("a validation error");
        prop_assert_eq!((v.index, v.field), (Some(i), field));
    }

    #[test]
    fn each_indicator_corruption_is_caught(mut batch in prop::collection::vec(indicator(), 1..20),
                                           pick in any::<prop::sample::Index>(),
                                           bad_char in bad_name_char(),
                                           how in 0usize..9) {
        let i = pick.index(batch.len());
        let v = &mut batch[i];
        let field = match how {
            0 => { v.name.clear(); "name" }
            1 => { v.name = "x".repeat(MAX_INDICATOR_NAME_LEN + 1); "name" }
            2 => { v.name.truncate(MAX_INDICATOR_NAME_LEN - 1); v.name.push(bad_char); "name" }
            3 => { v.symbol.clear(); "symbol" }
            4 => { v.value = MAX_MAGNITUDE + Decimal::ONE; "value" }
            5 => { v.value = -MAX_MAGNITUDE * Decimal::TWO; "value" }
            6 => { v.time = DateTime::from_timestamp(-60, 0).unwrap(); "time" }
            7 => { v.time = DateTime::from_timestamp(4_102_444_800, 0).unwrap(); "time" }
            _ => { v.time += TimeDelta::nanoseconds(500); "time" }
        };
        let err = validate_indicators(&batch, &lim(100)).unwrap_err();
        let v = err.as_validation().expect("a validation error");
        prop_assert_eq!((v.index, v.field), (Some(i), field));
    }

    #[test]
    fn oversized_batches_are_rejected(batch in prop::collection::vec(candle(), 2..10),
                                      values in prop::collection::vec(indicator(), 2..10)) {
        let err = validate_candles(&batch, &lim(batch.len() - 1)).unwrap_err();
        prop_assert_eq!(err.kind(), marketseries_core::ErrorKind::BatchTooLarge);
        let err = validate_indicators(&values, &lim(values.len() - 1)).unwrap_err();
        prop_assert_eq!(err.kind(), marketseries_core::ErrorKind::BatchTooLarge);
    }
}
