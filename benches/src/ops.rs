//! The read operations, per target: the Rust API on the stores, the same SQL issued
//! directly, the SQL API (TimescaleDB), plain PostgreSQL's real-time view, the plain
//! table's hand-written SQL, and first calls on fresh connections. Every operation's answer
//! is checked against the Rust API's answer to the same question ([`compare`]).

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use marketseries_core::candle::VolumeProfileQuery;
use marketseries_core::{Interval, OhlcvQuery, TimeRange, TimeSeriesStore, Unit, WhaleQuery};
use marketseries_sql::statements;
use rust_decimal::Decimal;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};

use crate::answer::{self, Answer};
use crate::data::DataSet;
use crate::results::{Key, Phase};
use crate::run::{Outcome, Runner};
use crate::target::{self, Target, TargetKind};

/// The symbol most single-symbol reads ask about.
pub const SYMBOL: &str = "BTCUSDT";
/// Its asset.
pub const ASSET: &str = "BTC";
/// Price step of the volume profile (BTC trades around 43,000).
const PROFILE_STEP: i64 = 100;
/// Minimum amount of a whale flow (the generator's amounts are log-normal around e^2).
const WHALE_MIN: i64 = 50;

/// Which operations a data set measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subset {
    /// Every operation (the main run).
    All,
    /// The reads whose growth with the data is reported (the growth run).
    Growth,
    /// The market-wide reads (100 symbols).
    Wide,
    /// The reads measured again after a database-wide `ANALYZE` ([`Phase::Analyzed`]).
    Analyzed,
}

impl Subset {
    fn wants(self, op: &str) -> bool {
        const GROWTH: [&str; 16] = [
            "raw_1d",
            "ohlcv_1h_30d",
            "ohlcv_1h_30d_raw",
            "ohlcv_1h_30d_sql",
            "ohlcv_2h_30d",
            "ohlcv_1d_1y",
            "latest_price",
            "latest_price_sql",
            "market_overview",
            "market_overview_sql",
            "price_change_24h",
            "roundtrip",
            "sql_get_ohlcv_1h_30d",
            "sql_market_overview_at",
            "view_ohlcv_1h_30d",
            "ohlcv_1h_30d_raw_sql",
        ];
        const WIDE: [&str; 8] = [
            "latest_price",
            "latest_price_sql",
            "market_overview",
            "market_overview_sql",
            "sql_market_overview_at",
            "market_overview_fresh",
            "market_overview_fresh_connect",
            "roundtrip",
        ];
        const ANALYZED: [&str; 12] = [
            "raw_1d",
            "ohlcv_1h_30d",
            "ohlcv_1d_1y",
            "latest_price",
            "market_overview",
            "price_change_24h",
            "volume_profile_7d",
            "whale_activity_7d",
            "latest_price_sql",
            "market_overview_sql",
            "view_ohlcv_1h_30d",
            "sql_get_ohlcv_1h_30d",
        ];
        match self {
            Self::All => true,
            Self::Growth => GROWTH.contains(&op),
            Self::Wide => WIDE.contains(&op),
            Self::Analyzed => ANALYZED.contains(&op),
        }
    }
}

/// Whether `op` may read the aggregates once they are up to date (and raw candles through
/// pending spans before): routed OHLCV, and the market overview and price change, whose
/// window high and low plain PostgreSQL takes from its rollups. Its time right after a load
/// is not compared with its time after maintenance (see `docs/benchmarks.md`).
pub fn through_aggregates(op: &str) -> bool {
    (op.starts_with("ohlcv_") && !op.starts_with("ohlcv_1h_30d_raw"))
        || op.starts_with("view_ohlcv_")
        || op.starts_with("sql_get_ohlcv_")
        || op.contains("market_overview")
        || op.contains("price_change")
}

/// What one round of reads is about.
pub struct Ctx<'a> {
    /// The data set.
    pub data: &'a DataSet,
    /// Its label (`1x`, `4x`, `wide`).
    pub label: &'a str,
    /// The phase.
    pub phase: Phase,
    /// Which operations.
    pub subset: Subset,
}

impl Ctx<'_> {
    fn key(&self, target: TargetKind, op: &str) -> Key {
        Key::new(self.label, self.phase, target, op)
    }

    /// `[end - days, end)`, clipped to the data.
    fn last(&self, days: i64) -> TimeRange {
        let from = (self.data.end - TimeDelta::days(days)).max(self.data.start());
        TimeRange::new(from, self.data.end).expect("a non-empty window")
    }

    fn window_24h(&self) -> TimeRange {
        TimeRange::new(self.data.end - TimeDelta::hours(24), self.data.end).expect("24h")
    }
}

/// An OHLCV request of the benchmark: interval and window length in days.
#[derive(Clone, Copy)]
struct OhlcvOp {
    name: &'static str,
    interval: Interval,
    days: i64,
}

fn ohlcv_ops() -> [OhlcvOp; 6] {
    let iv = |n, u| Interval::new(n, u).expect("interval");
    [
        OhlcvOp {
            name: "raw_1d",
            interval: Interval::M1,
            days: 1,
        },
        OhlcvOp {
            name: "raw_7d",
            interval: Interval::M1,
            days: 7,
        },
        OhlcvOp {
            name: "ohlcv_1h_30d",
            interval: Interval::H1,
            days: 30,
        },
        OhlcvOp {
            name: "ohlcv_2h_30d",
            interval: iv(2, Unit::Hour),
            days: 30,
        },
        OhlcvOp {
            name: "ohlcv_1d_1y",
            interval: Interval::D1,
            days: 365,
        },
        OhlcvOp {
            name: "ohlcv_3d_1y",
            interval: iv(3, Unit::Day),
            days: 365,
        },
    ]
}

fn overview_answer(rows: impl Iterator<Item = [String; 4]>, pct: Vec<String>) -> Answer {
    Answer(
        rows.zip(pct)
            .map(|(r, p)| format!("{}|{}|{}|{}|{p}", r[0], r[1], r[2], r[3]))
            .collect(),
    )
}

/// `(close - open) / open * 100`, as [`answer::percent`].
fn pct(open: Option<Decimal>, close: Option<Decimal>) -> String {
    match (open, close) {
        (Some(o), Some(c)) if !o.is_zero() => {
            answer::percent(&((c - o) / o * Decimal::ONE_HUNDRED))
        }
        _ => "-".to_owned(),
    }
}

/// The Rust API's reads on a store target.
pub fn api_reads(runner: &mut Runner, ctx: &Ctx<'_>, target: &mut Target) {
    let kind = target.kind;
    let store = match runner.rt.block_on(target.store()) {
        Ok(s) => s,
        Err(e) => return runner.results.fail(e),
    };
    let store: &dyn TimeSeriesStore = store.as_ref();
    for op in ohlcv_ops() {
        if !ctx.subset.wants(op.name) {
            continue;
        }
        let q = OhlcvQuery::new(SYMBOL, op.interval, ctx.last(op.days));
        runner.op(
            ctx.key(kind, op.name),
            &format!("Rust API ohlcv {} over {}d", op.interval, op.days),
            || async {
                let s = store.ohlcv(&q).await.map_err(|e| e.to_string())?;
                Ok(answer::bars(&s.bars))
            },
        );
    }
    let op = "latest_price";
    if ctx.subset.wants(op) {
        runner.op(ctx.key(kind, op), "Rust API latest_price", || async {
            let p = store
                .latest_price(SYMBOL)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Answer(
                p.iter()
                    .map(|p| {
                        format!(
                            "{}|{}|{}",
                            p.symbol,
                            answer::time(&p.time),
                            answer::dec(&p.price)
                        )
                    })
                    .collect(),
            ))
        });
    }
    let op = "market_overview";
    if ctx.subset.wants(op) {
        runner.op(ctx.key(kind, op), "Rust API market_overview", || async {
            let o = store.market_overview().await.map_err(|e| e.to_string())?;
            Ok(api_overview(&o))
        });
    }
    let op = "price_change_24h";
    if ctx.subset.wants(op) {
        let answer = runner.op(
            ctx.key(kind, op),
            "Rust API price_change over 24h",
            || async {
                let c = store
                    .price_change(SYMBOL, TimeDelta::hours(24))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Answer(
                    c.iter()
                        .map(|c| {
                            format!(
                                "{}|{}|{}|{}|{}|{}",
                                answer::time(&c.first_time),
                                answer::dec(&c.open),
                                answer::time(&c.last_time),
                                answer::dec(&c.close),
                                answer::dec(&c.high),
                                answer::dec(&c.low)
                            )
                        })
                        .collect(),
                ))
            },
        );
        // The percentage alone, for the SQL API's `price_change_percent`.
        if let Some(a) = answer {
            let p = a.0.first().map(|row| {
                let f: Vec<&str> = row.split('|').collect();
                pct(
                    f.get(1).and_then(|v| v.parse().ok()),
                    f.get(3).and_then(|v| v.parse().ok()),
                )
            });
            runner.remember(
                ctx.key(kind, "price_change_24h_percent"),
                Answer(p.into_iter().collect()),
            );
        }
    }
    let op = "volume_profile_7d";
    if ctx.subset.wants(op) {
        let q = VolumeProfileQuery {
            symbol: SYMBOL.to_owned(),
            range: ctx.last(7),
            price_step: Decimal::from(PROFILE_STEP),
        };
        runner.op(
            ctx.key(kind, op),
            "Rust API volume_profile over 7d",
            || async {
                let v = store.volume_profile(&q).await.map_err(|e| e.to_string())?;
                Ok(Answer(
                    v.iter()
                        .map(|l| {
                            format!(
                                "{}|{}|{}",
                                answer::dec(&l.price),
                                answer::dec(&l.volume),
                                l.candles
                            )
                        })
                        .collect(),
                ))
            },
        );
    }
    let op = "sentiment_trend_7d";
    if ctx.subset.wants(op) {
        runner.op(
            ctx.key(kind, op),
            "Rust API sentiment_trend over 7d",
            || async {
                let t = store
                    .sentiment_trend(ASSET, TimeDelta::days(7))
                    .await
                    .map_err(|e| e.to_string())?;
                let w = |w: &Option<marketseries_core::sentiment::SentimentWindow>| {
                    w.as_ref().map_or_else(
                        || "-".to_owned(),
                        |w| format!("{}/{}", answer::float(w.avg_score), w.readings),
                    )
                };
                Ok(Answer(vec![format!(
                    "{}|{}",
                    w(&t.current),
                    w(&t.previous)
                )]))
            },
        );
    }
    let op = "sentiment_summary_24h";
    if ctx.subset.wants(op) {
        runner.op(
            ctx.key(kind, op),
            "Rust API sentiment_summary over 24h",
            || async {
                let s = store
                    .sentiment_summary(TimeDelta::hours(24))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Answer(
                    s.iter()
                        .map(|s| {
                            format!(
                                "{}|{}|{}|{}|{}|{}|{}|{}",
                                s.asset,
                                answer::float(s.avg_score),
                                s.readings,
                                s.mentions,
                                s.distribution.bearish,
                                s.distribution.neutral,
                                s.distribution.bullish,
                                answer::time(&s.latest_time)
                            )
                        })
                        .collect(),
                ))
            },
        );
    }
    let op = "net_flow_7d";
    if ctx.subset.wants(op) {
        let range = ctx.last(7);
        runner.op(ctx.key(kind, op), "Rust API net_flow over 7d", || async {
            let n = store
                .net_flow(ASSET, range)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Answer(vec![format!(
                "{}|{}|{}|{}|{}|{}",
                answer::dec(&n.inflow_amount),
                answer::dec(&n.outflow_amount),
                answer::dec(&n.inflow_usd),
                answer::dec(&n.outflow_usd),
                n.inflows,
                n.outflows
            )]))
        });
    }
    let op = "whale_activity_7d";
    if ctx.subset.wants(op) {
        let q = WhaleQuery {
            asset: None,
            range: ctx.last(7),
            min_amount: Decimal::from(WHALE_MIN),
        };
        runner.op(
            ctx.key(kind, op),
            "Rust API whale_activity over 7d, all assets",
            || async {
                let f = store.whale_activity(&q).await.map_err(|e| e.to_string())?;
                Ok(Answer(
                    f.iter()
                        .map(|f| {
                            flow_row(
                                &f.asset,
                                &f.time,
                                f.flow_type.as_str(),
                                &f.amount,
                                &f.usd_value,
                                &f.source,
                                &f.reference,
                            )
                        })
                        .collect(),
                ))
            },
        );
    }
}

fn flow_row(
    asset: &str,
    time: &DateTime<Utc>,
    flow_type: &str,
    amount: &Decimal,
    usd: &Decimal,
    source: &str,
    reference: &str,
) -> String {
    format!(
        "{asset}|{}|{flow_type}|{}|{}|{source}|{reference}",
        answer::time(time),
        answer::dec(amount),
        answer::dec(usd)
    )
}

fn api_overview(o: &[marketseries_core::MarketOverview]) -> Answer {
    overview_answer(
        o.iter().map(|o| {
            [
                o.latest.symbol.clone(),
                o.latest.interval.to_string(),
                answer::time(&o.latest.time),
                answer::dec(&o.latest.price),
            ]
        }),
        o.iter()
            .map(|o| {
                o.change_24h
                    .as_ref()
                    .and_then(marketseries_core::PriceChange::percent)
                    .map_or_else(|| "-".to_owned(), |p| answer::percent(&p))
            })
            .collect(),
    )
}

/// A prepared statement with its parameters and how to read its rows.
struct Sql<'a> {
    name: &'a str,
    what: String,
    text: String,
    types: Vec<Type>,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
    decode: fn(&[Row]) -> Answer,
}

fn run_sql(runner: &mut Runner, ctx: &Ctx<'_>, kind: TargetKind, client: &Client, sql: Sql<'_>) {
    if !ctx.subset.wants(sql.name) {
        return;
    }
    let key = ctx.key(kind, sql.name);
    // Prepared once, as the store keeps its statements prepared on each connection.
    let statement = match runner
        .rt
        .block_on(client.prepare_typed(&sql.text, &sql.types))
    {
        Ok(s) => s,
        Err(e) => {
            return runner.results.fail(format!(
                "{}/{}: prepare: {}",
                key.group(),
                key.op,
                target::pg_error(&e)
            ))
        }
    };
    let params: Vec<&(dyn ToSql + Sync)> = sql
        .params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect();
    let decode = sql.decode;
    runner.op(key, &sql.what, || async {
        let rows = client
            .query(&statement, &params)
            .await
            .map_err(|e| target::pg_error(&e))?;
        Ok(decode(&rows))
    });
}

fn decode_bars(rows: &[Row]) -> Answer {
    Answer(
        rows.iter()
            .map(|r| {
                let t: DateTime<Utc> = r.get(0);
                let v: [Decimal; 5] = [r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)];
                answer::bar(&t, [&v[0], &v[1], &v[2], &v[3], &v[4]])
            })
            .collect(),
    )
}

fn decode_store_overview(rows: &[Row]) -> Answer {
    let heads: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            let t: DateTime<Utc> = r.get(2);
            let p: Decimal = r.get(3);
            [r.get(0), r.get(1), answer::time(&t), answer::dec(&p)]
        })
        .collect();
    let pcts = rows.iter().map(|r| pct(r.get(5), r.get(7))).collect();
    overview_answer(heads.into_iter(), pcts)
}

/// `[from, to)` of an OHLCV request as the store aggregates it (whole buckets).
fn covering(interval: Interval, range: &TimeRange) -> (DateTime<Utc>, DateTime<Utc>) {
    interval.covering(range)
}

/// Raw aggregation of `table` for one of [`ohlcv_ops`], as the store's raw route issues it.
fn raw_aggregation<'a>(
    name: &'a str,
    what: String,
    table: &str,
    op: OhlcvOp,
    range: &TimeRange,
) -> Sql<'a> {
    let (from, to) = covering(op.interval, range);
    Sql {
        name,
        what,
        text: statements::aggregate_ohlcv(table),
        types: vec![
            Type::TEXT,
            Type::TIMESTAMPTZ,
            Type::TEXT,
            Type::TEXT,
            Type::TIMESTAMPTZ,
            Type::TIMESTAMPTZ,
        ],
        params: vec![
            Box::new(format!("{} seconds", op.interval.seconds())),
            Box::new(op.interval.origin()),
            Box::new(SYMBOL.to_owned()),
            Box::new(Interval::M1.to_string()),
            Box::new(from),
            Box::new(to),
        ],
        decode: decode_bars,
    }
}

fn range_read<'a>(name: &'a str, what: String, table: &str, range: &TimeRange) -> Sql<'a> {
    Sql {
        name,
        what,
        text: statements::materialized_ohlcv(table),
        types: vec![Type::TEXT, Type::TEXT, Type::TIMESTAMPTZ, Type::TIMESTAMPTZ],
        params: vec![
            Box::new(SYMBOL.to_owned()),
            Box::new(Interval::M1.to_string()),
            Box::new(range.from()),
            Box::new(range.to()),
        ],
        decode: decode_bars,
    }
}

fn roundtrip<'a>() -> Sql<'a> {
    Sql {
        name: "roundtrip",
        what: "SELECT 1, prepared: the client-server round trip".into(),
        text: "SELECT 1".into(),
        types: vec![],
        params: vec![],
        decode: |rows| Answer(vec![rows.len().to_string()]),
    }
}

/// Direct SQL on a target: the plain table's hand-written SQL, or a store's own statements,
/// its real-time views and (TimescaleDB) its SQL API.
pub fn sql_reads(runner: &mut Runner, ctx: &Ctx<'_>, target: &mut Target) {
    let kind = target.kind;
    let client = match runner.rt.block_on(target.client()) {
        Ok(c) => c,
        Err(e) => return runner.results.fail(e),
    };
    run_sql(runner, ctx, kind, client, roundtrip());
    let ohlcv = ohlcv_ops();
    let h1 = ohlcv[2];
    let month = ctx.last(30);
    let (from_24h, to_24h) = (ctx.window_24h().from(), ctx.window_24h().to());
    if kind == TargetKind::Plain {
        for op in ohlcv {
            let range = ctx.last(op.days);
            let sql = if op.interval == Interval::M1 {
                range_read(
                    op.name,
                    format!("plain table: range of 1m candles over {}d", op.days),
                    "candles",
                    &range,
                )
            } else {
                raw_aggregation(
                    op.name,
                    format!(
                        "plain table: raw aggregation to {} over {}d",
                        op.interval, op.days
                    ),
                    "candles",
                    op,
                    &range,
                )
            };
            run_sql(runner, ctx, kind, client, sql);
        }
        run_sql(runner, ctx, kind, client, Sql {
            name: "latest_price",
            what: "plain table: latest 1m candle of one symbol (ORDER BY time DESC LIMIT 1)".into(),
            text: "SELECT symbol, time, close FROM candles WHERE symbol = $1 AND interval = '1m' ORDER BY time DESC LIMIT 1".into(),
            types: vec![Type::TEXT],
            params: vec![Box::new(SYMBOL.to_owned())],
            decode: |rows| Answer(rows.iter().map(|r| {
                let s: String = r.get(0);
                let t: DateTime<Utc> = r.get(1);
                let p: Decimal = r.get(2);
                format!("{s}|{}|{}", answer::time(&t), answer::dec(&p))
            }).collect()),
        });
        run_sql(runner, ctx, kind, client, Sql {
            name: "market_overview",
            what: "plain table: DISTINCT ON (symbol) latest candle, first and last candle of 24h".into(),
            text: "WITH latest AS (SELECT DISTINCT ON (symbol) symbol, interval, time, close FROM candles ORDER BY symbol, time DESC) \
                   SELECT l.symbol, l.interval, l.time, l.close, NULL::timestamptz, \
                   (SELECT c.open FROM candles c WHERE c.symbol = l.symbol AND c.interval = l.interval AND c.time >= $1 AND c.time < $2 ORDER BY c.time LIMIT 1), \
                   NULL::timestamptz, \
                   (SELECT c.close FROM candles c WHERE c.symbol = l.symbol AND c.interval = l.interval AND c.time >= $1 AND c.time < $2 ORDER BY c.time DESC LIMIT 1) \
                   FROM latest l ORDER BY l.symbol COLLATE \"C\"".into(),
            types: vec![Type::TIMESTAMPTZ, Type::TIMESTAMPTZ],
            params: vec![Box::new(from_24h), Box::new(to_24h)],
            decode: decode_store_overview,
        });
        run_sql(runner, ctx, kind, client, Sql {
            name: "price_change_24h",
            what: "plain table: first/last candle, high and low over 24h".into(),
            text: "SELECT (SELECT time FROM candles WHERE symbol = $1 AND interval = '1m' AND time >= $2 AND time < $3 ORDER BY time LIMIT 1), \
                   (SELECT open FROM candles WHERE symbol = $1 AND interval = '1m' AND time >= $2 AND time < $3 ORDER BY time LIMIT 1), \
                   (SELECT time FROM candles WHERE symbol = $1 AND interval = '1m' AND time >= $2 AND time < $3 ORDER BY time DESC LIMIT 1), \
                   (SELECT close FROM candles WHERE symbol = $1 AND interval = '1m' AND time >= $2 AND time < $3 ORDER BY time DESC LIMIT 1), \
                   max(high), min(low) FROM candles WHERE symbol = $1 AND interval = '1m' AND time >= $2 AND time < $3".into(),
            types: vec![Type::TEXT, Type::TIMESTAMPTZ, Type::TIMESTAMPTZ],
            params: vec![Box::new(SYMBOL.to_owned()), Box::new(from_24h), Box::new(to_24h)],
            decode: |rows| Answer(rows.iter().filter(|r| r.get::<_, Option<DateTime<Utc>>>(0).is_some()).map(|r| {
                let (ft, lt): (DateTime<Utc>, DateTime<Utc>) = (r.get(0), r.get(2));
                let v: [Decimal; 4] = [r.get(1), r.get(3), r.get(4), r.get(5)];
                format!("{}|{}|{}|{}|{}|{}", answer::time(&ft), answer::dec(&v[0]), answer::time(&lt), answer::dec(&v[1]), answer::dec(&v[2]), answer::dec(&v[3]))
            }).collect()),
        });
        let week = ctx.last(7);
        run_sql(runner, ctx, kind, client, Sql {
            name: "volume_profile_7d",
            what: "plain table: volume by price level over 7d".into(),
            text: "SELECT floor(close / $2) * $2, sum(volume), count(*) FROM candles \
                   WHERE symbol = $1 AND interval = '1m' AND time >= $3 AND time < $4 GROUP BY 1 ORDER BY 1".into(),
            types: vec![Type::TEXT, Type::NUMERIC, Type::TIMESTAMPTZ, Type::TIMESTAMPTZ],
            params: vec![Box::new(SYMBOL.to_owned()), Box::new(Decimal::from(PROFILE_STEP)), Box::new(week.from()), Box::new(week.to())],
            decode: |rows| Answer(rows.iter().map(|r| {
                let (p, v): (Decimal, Decimal) = (r.get(0), r.get(1));
                let n: i64 = r.get(2);
                format!("{}|{}|{n}", answer::dec(&p), answer::dec(&v))
            }).collect()),
        });
        return;
    }

    // A store target: its own statements run directly (the API's overhead), raw
    // aggregation of its own table (the router's speed-up), real-time views and SQL API.
    run_sql(
        runner,
        ctx,
        kind,
        client,
        raw_aggregation(
            "ohlcv_1h_30d_raw",
            format!("{kind}: raw aggregation of its own candles to 1h over 30d"),
            "candles",
            h1,
            &month,
        ),
    );
    let (from, _) = covering(Interval::H1, &month);
    // TimescaleDB's real-time read is the flavor's subquery over ohlcv_1h's materialization
    // and raw candles (the flavor's `real_time_ohlcv`), not the view ohlcv_1h.
    let (materialized, relation) = match kind {
        TargetKind::Postgres => ("ohlcv_1h_materialized", "ohlcv_1h_materialized".to_owned()),
        _ => (
            "ohlcv_1h_materialized below its watermark, raw candles above",
            marketseries_sql::Flavor::real_time_ohlcv(
                &marketseries_timescale::Timescale::new(marketseries_timescale::Edition::Community),
                Interval::H1,
                ["$1", "$2", "$3", "$4"],
            ),
        ),
    };
    run_sql(runner, ctx, kind, client, Sql {
        name: "ohlcv_1h_30d_sql",
        what: format!("{kind}: the aggregate read the API issues for 1h over 30d ({materialized}), direct"),
        text: statements::materialized_ohlcv(&relation),
        types: vec![Type::TEXT, Type::TEXT, Type::TIMESTAMPTZ, Type::TIMESTAMPTZ],
        params: vec![Box::new(SYMBOL.to_owned()), Box::new(Interval::M1.to_string()), Box::new(from), Box::new(month.to())],
        decode: decode_bars,
    });
    run_sql(
        runner,
        ctx,
        kind,
        client,
        Sql {
            name: "latest_price_sql",
            what: format!("{kind}: the API's latest-price statement, direct"),
            text: match kind {
                TargetKind::Postgres => marketseries_postgres::statements::READS.latest_price(),
                _ => marketseries_timescale::statements::READS.latest_price(),
            }
            .to_owned(),
            types: vec![Type::TEXT],
            params: vec![Box::new(SYMBOL.to_owned())],
            decode: |rows| {
                Answer(
                    rows.iter()
                        .map(|r| {
                            let t: DateTime<Utc> = r.get(1);
                            let p: Decimal = r.get(2);
                            format!("{SYMBOL}|{}|{}", answer::time(&t), answer::dec(&p))
                        })
                        .collect(),
                )
            },
        },
    );
    let overview = match kind {
        TargetKind::Postgres => marketseries_postgres::statements::READS.market_overview(),
        _ => marketseries_timescale::statements::READS.market_overview(),
    };
    run_sql(
        runner,
        ctx,
        kind,
        client,
        Sql {
            name: "market_overview_sql",
            what: format!("{kind}: the API's market-overview statement, direct"),
            text: overview.to_owned(),
            types: vec![Type::TIMESTAMPTZ, Type::TIMESTAMPTZ],
            params: vec![Box::new(from_24h), Box::new(to_24h)],
            decode: decode_store_overview,
        },
    );
    if kind == TargetKind::Postgres {
        run_sql(
            runner,
            ctx,
            kind,
            client,
            Sql {
                name: "view_ohlcv_1h_30d",
                what: "postgres: the real-time view ohlcv_1h, 1h over 30d".into(),
                text: statements::materialized_ohlcv("ohlcv_1h"),
                types: vec![Type::TEXT, Type::TEXT, Type::TIMESTAMPTZ, Type::TIMESTAMPTZ],
                params: vec![
                    Box::new(SYMBOL.to_owned()),
                    Box::new(Interval::M1.to_string()),
                    Box::new(from),
                    Box::new(month.to()),
                ],
                decode: decode_bars,
            },
        );
    }
    // The SQL API, which both backends have.
    run_sql(
        runner,
        ctx,
        kind,
        client,
        Sql {
            name: "sql_get_ohlcv_1h_30d",
            what: "SQL API: get_ohlcv(symbol, '1h', 30d)".into(),
            text: "SELECT * FROM get_ohlcv($1, '1h', $2, $3)".into(),
            types: vec![Type::TEXT, Type::TIMESTAMPTZ, Type::TIMESTAMPTZ],
            params: vec![
                Box::new(SYMBOL.to_owned()),
                Box::new(month.from()),
                Box::new(month.to()),
            ],
            decode: decode_bars,
        },
    );
    run_sql(runner, ctx, kind, client, Sql {
        name: "sql_market_overview_at",
        what: "SQL API: market_overview_at(clock)".into(),
        text: "SELECT symbol, interval, time, price, change_percent_24h FROM market_overview_at($1)".into(),
        types: vec![Type::TIMESTAMPTZ],
        params: vec![Box::new(ctx.data.end)],
        decode: |rows| {
            let heads: Vec<[String; 4]> = rows.iter().map(|r| {
                let t: DateTime<Utc> = r.get(2);
                let p: Decimal = r.get(3);
                [r.get(0), r.get(1), answer::time(&t), answer::dec(&p)]
            }).collect();
            let pcts = rows.iter().map(|r| r.get::<_, Option<Decimal>>(4).map_or_else(|| "-".to_owned(), |p| answer::percent(&p))).collect();
            overview_answer(heads.into_iter(), pcts)
        },
    });
    run_sql(
        runner,
        ctx,
        kind,
        client,
        Sql {
            name: "sql_market_overview",
            what: "SQL API: SELECT * FROM market_overview (the view, at now())".into(),
            text: "SELECT * FROM market_overview".into(),
            types: vec![],
            params: vec![],
            decode: |rows| Answer(vec![rows.len().to_string()]),
        },
    );
    run_sql(
        runner,
        ctx,
        kind,
        client,
        Sql {
            name: "sql_price_change_percent",
            what: "SQL API: price_change_percent(symbol, 24h, clock)".into(),
            text: "SELECT price_change_percent($1, INTERVAL '24 hours', $2)".into(),
            types: vec![Type::TEXT, Type::TIMESTAMPTZ],
            params: vec![Box::new(SYMBOL.to_owned()), Box::new(ctx.data.end)],
            decode: |rows| {
                Answer(
                    rows.iter()
                        .filter_map(|r| r.get::<_, Option<Decimal>>(0))
                        .map(|p| answer::percent(&p))
                        .collect(),
                )
            },
        },
    );
    run_sql(
        runner,
        ctx,
        kind,
        client,
        Sql {
            name: "sql_sentiment_summary_at",
            what: "SQL API: sentiment_summary_at(24h, clock)".into(),
            text: "SELECT * FROM sentiment_summary_at(INTERVAL '24 hours', $1)".into(),
            types: vec![Type::TIMESTAMPTZ],
            params: vec![Box::new(ctx.data.end)],
            decode: |rows| {
                Answer(
                    rows.iter()
                        .map(|r| {
                            let (a, s): (String, f64) = (r.get(0), r.get(1));
                            let n: [i64; 5] = [r.get(2), r.get(3), r.get(4), r.get(5), r.get(6)];
                            let t: DateTime<Utc> = r.get(7);
                            format!(
                                "{a}|{}|{}|{}|{}|{}|{}|{}",
                                answer::float(s),
                                n[0],
                                n[1],
                                n[2],
                                n[3],
                                n[4],
                                answer::time(&t)
                            )
                        })
                        .collect(),
                )
            },
        },
    );
    let week = ctx.last(7);
    run_sql(runner, ctx, kind, client, Sql {
        name: "sql_whale_activity_between",
        what: "SQL API: whale_activity_between(min, 7d)".into(),
        text: "SELECT asset, time, flow_type, amount, usd_value, source, reference FROM whale_activity_between($1, $2, $3)".into(),
        types: vec![Type::NUMERIC, Type::TIMESTAMPTZ, Type::TIMESTAMPTZ],
        params: vec![Box::new(Decimal::from(WHALE_MIN)), Box::new(week.from()), Box::new(week.to())],
        decode: |rows| Answer(rows.iter().map(|r| {
            let (a, t, ft): (String, DateTime<Utc>, String) = (r.get(0), r.get(1), r.get(2));
            let (am, us): (Decimal, Decimal) = (r.get(3), r.get(4));
            let (s, re): (String, String) = (r.get(5), r.get(6));
            flow_row(&a, &t, &ft, &am, &us, &s, &re)
        }).collect()),
    });
}

/// First calls on fresh connections: `<op>_fresh` times the call alone (the connection and
/// its session set-up untimed), `<op>_fresh_connect` times both, which is what a CLI or a
/// serverless caller pays.
pub fn fresh_reads(runner: &mut Runner, ctx: &Ctx<'_>, target: &mut Target) {
    let kind = target.kind;
    if target.exclusive() {
        runner.rt.block_on(target.release());
    }
    let url = target.db.url().to_owned();
    let month = ctx.last(30);
    for (op, connect_too) in [
        ("latest_price", false),
        ("latest_price", true),
        ("market_overview", false),
        ("market_overview", true),
        ("ohlcv_1h_30d", false),
        ("ohlcv_1h_30d", true),
    ] {
        let name = format!("{op}_fresh{}", if connect_too { "_connect" } else { "" });
        if !ctx.subset.wants(&name) {
            continue;
        }
        let what = format!(
            "first {op} on a fresh {}{}",
            if kind == TargetKind::Plain {
                "connection"
            } else {
                "store (pool of 1)"
            },
            if connect_too {
                ", connect and session set-up included"
            } else {
                ", connect untimed"
            }
        );
        if kind == TargetKind::Plain {
            let sql = match op {
                "latest_price" => "SELECT symbol, time, close FROM candles WHERE symbol = 'BTCUSDT' AND interval = '1m' ORDER BY time DESC LIMIT 1".to_owned(),
                "ohlcv_1h_30d" => statements::aggregate_ohlcv("candles")
                    .replace("$1::interval", "'3600 seconds'::interval")
                    .replace("$2", "'2000-01-01T00:00:00Z'")
                    .replace("$3", "'BTCUSDT'")
                    .replace("$4", "'1m'")
                    .replace("$5", &format!("'{}'", covering(Interval::H1, &month).0.to_rfc3339()))
                    .replace("$6", &format!("'{}'", month.to().to_rfc3339())),
                _ => "SELECT DISTINCT ON (symbol) symbol, time, close FROM candles ORDER BY symbol, time DESC".to_owned(),
            };
            let url = url.clone();
            runner.op(ctx.key(kind, &name), &what, || {
                let (url, sql) = (url.clone(), sql.clone());
                async move {
                    let t = Instant::now();
                    let client = target::connect(&url, kind.session_setup()).await?;
                    let after_connect = Instant::now();
                    let rows = client
                        .query(sql.as_str(), &[])
                        .await
                        .map_err(|e| e.to_string())?;
                    let timed = if connect_too {
                        t.elapsed()
                    } else {
                        after_connect.elapsed()
                    };
                    Ok(Outcome {
                        answer: Answer(vec![rows.len().to_string()]),
                        timed: Some(timed),
                    })
                }
            });
            continue;
        }
        let mut config = target.config();
        config.store.pool_size = 1;
        let clock = target.clock();
        let q = OhlcvQuery::new(SYMBOL, Interval::H1, month);
        runner.op(ctx.key(kind, &name), &what, || {
            let (config, clock, q) = (config.clone(), clock.clone(), q.clone());
            async move {
                let t = Instant::now();
                let store: Arc<dyn TimeSeriesStore> = Arc::from(
                    marketseries::open_with_clock(&config, clock)
                        .await
                        .map_err(|e| e.to_string())?,
                );
                let after_connect = Instant::now();
                let answer = match op {
                    "latest_price" => {
                        let p = store
                            .latest_price(SYMBOL)
                            .await
                            .map_err(|e| e.to_string())?;
                        Answer(p.iter().map(|p| answer::dec(&p.price)).collect())
                    }
                    "market_overview" => {
                        api_overview(&store.market_overview().await.map_err(|e| e.to_string())?)
                    }
                    _ => answer::bars(&store.ohlcv(&q).await.map_err(|e| e.to_string())?.bars),
                };
                let timed = if connect_too {
                    t.elapsed()
                } else {
                    after_connect.elapsed()
                };
                drop(store);
                tokio::task::yield_now().await;
                Ok(Outcome {
                    answer,
                    timed: Some(timed),
                })
            }
        });
    }
}

/// After every target of one phase has been read: each operation that answers a Rust API
/// question must give the Rust API's answer.
pub fn compare(runner: &mut Runner, ctx: &Ctx<'_>, targets: &[TargetKind]) {
    let has = |t| targets.contains(&t);
    let key = |t, op: &str| ctx.key(t, op);
    // The plain table answers as plain PostgreSQL's API on the same rows.
    if has(TargetKind::Plain) && has(TargetKind::Postgres) {
        for op in [
            "raw_1d",
            "raw_7d",
            "ohlcv_1h_30d",
            "ohlcv_2h_30d",
            "ohlcv_1d_1y",
            "ohlcv_3d_1y",
            "latest_price",
            "market_overview",
            "price_change_24h",
            "volume_profile_7d",
        ] {
            runner.expect_same(&key(TargetKind::Plain, op), &key(TargetKind::Postgres, op));
        }
    }
    // Both stores answer alike.
    if has(TargetKind::Postgres) && has(TargetKind::Timescale) {
        for op in [
            "raw_1d",
            "ohlcv_1h_30d",
            "ohlcv_2h_30d",
            "ohlcv_1d_1y",
            "ohlcv_3d_1y",
            "latest_price",
            "market_overview",
            "price_change_24h",
            "volume_profile_7d",
            "sentiment_trend_7d",
            "sentiment_summary_24h",
            "net_flow_7d",
            "whale_activity_7d",
        ] {
            runner.expect_same(
                &key(TargetKind::Timescale, op),
                &key(TargetKind::Postgres, op),
            );
        }
    }
    for t in [TargetKind::Postgres, TargetKind::Timescale] {
        if !has(t) {
            continue;
        }
        runner.expect_same(&key(t, "ohlcv_1h_30d_raw"), &key(t, "ohlcv_1h_30d"));
        runner.expect_same(&key(t, "latest_price_sql"), &key(t, "latest_price"));
        runner.expect_same(&key(t, "market_overview_sql"), &key(t, "market_overview"));
        runner.expect_same(&key(t, "market_overview_fresh"), &key(t, "market_overview"));
        runner.expect_same(&key(t, "ohlcv_1h_30d_fresh"), &key(t, "ohlcv_1h_30d"));
        // A materialized table answers for everything only once maintenance ran.
        if ctx.phase != Phase::Loaded {
            runner.expect_same(&key(t, "ohlcv_1h_30d_sql"), &key(t, "ohlcv_1h_30d"));
        }
    }
    if has(TargetKind::Postgres) {
        runner.expect_same(
            &key(TargetKind::Postgres, "view_ohlcv_1h_30d"),
            &key(TargetKind::Postgres, "ohlcv_1h_30d"),
        );
    }
    for ts in [TargetKind::Postgres, TargetKind::Timescale] {
        if !has(ts) {
            continue;
        }
        runner.expect_same(&key(ts, "sql_get_ohlcv_1h_30d"), &key(ts, "ohlcv_1h_30d"));
        runner.expect_same(
            &key(ts, "sql_market_overview_at"),
            &key(ts, "market_overview"),
        );
        runner.expect_same(
            &key(ts, "sql_price_change_percent"),
            &key(ts, "price_change_24h_percent"),
        );
        runner.expect_same(
            &key(ts, "sql_sentiment_summary_at"),
            &key(ts, "sentiment_summary_24h"),
        );
        runner.expect_same(
            &key(ts, "sql_whale_activity_between"),
            &key(ts, "whale_activity_7d"),
        );
    }
}
