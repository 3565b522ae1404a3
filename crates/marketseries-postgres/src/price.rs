//! [`PriceStore`] on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use diesel::sql_types::{Array, BigInt, Nullable, Numeric, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use marketseries_core::candle::overview_window;
use marketseries_core::validate::validate_candles;
use marketseries_core::{
    Bar, Candle, Dataset, Error, Interval, MarketOverview, OhlcvQuery, OhlcvSeries, PriceChange,
    PricePoint, PriceRange, PriceStore, QueryRouter, Result, Route, TimeRange, VolumeLevel,
    VolumeProfileQuery, WriteSummary,
};
use rust_decimal::Decimal;

use crate::batch::{count, last_wins};
use crate::error::db;
use crate::flavor::{Batch, Flavor};
use crate::rollup;
use crate::store::SqlStore;

/// `date_bin` stride for an interval; the origin is bound separately.
pub(crate) fn stride(interval: Interval) -> String {
    format!("{} seconds", interval.seconds())
}

#[derive(QueryableByName)]
struct BarRow {
    #[diesel(sql_type = Timestamptz)]
    time: DateTime<Utc>,
    #[diesel(sql_type = Numeric)]
    open: Decimal,
    #[diesel(sql_type = Numeric)]
    high: Decimal,
    #[diesel(sql_type = Numeric)]
    low: Decimal,
    #[diesel(sql_type = Numeric)]
    close: Decimal,
    #[diesel(sql_type = Numeric)]
    volume: Decimal,
}

#[derive(QueryableByName)]
struct IntervalRow {
    #[diesel(sql_type = Text)]
    interval: String,
}

#[derive(QueryableByName)]
struct SymbolRow {
    #[diesel(sql_type = Text)]
    symbol: String,
}

#[derive(QueryableByName)]
struct LatestRow {
    #[diesel(sql_type = Timestamptz)]
    time: DateTime<Utc>,
    #[diesel(sql_type = Numeric)]
    close: Decimal,
}

#[derive(QueryableByName)]
struct ChangeRow {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    first_time: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Numeric>)]
    open: Option<Decimal>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_time: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Numeric>)]
    close: Option<Decimal>,
    #[diesel(sql_type = Nullable<Numeric>)]
    high: Option<Decimal>,
    #[diesel(sql_type = Nullable<Numeric>)]
    low: Option<Decimal>,
}

#[derive(QueryableByName)]
struct LevelRow {
    #[diesel(sql_type = Numeric)]
    price: Decimal,
    #[diesel(sql_type = Numeric)]
    volume: Decimal,
    #[diesel(sql_type = BigInt)]
    candles: i64,
}

const INSERT: &str =
    "INSERT INTO candles (symbol, interval, time, open, high, low, close, volume) \
    SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::numeric[], \
                         $5::numeric[], $6::numeric[], $7::numeric[], $8::numeric[]) \
    ON CONFLICT (symbol, interval, time) DO UPDATE SET open = EXCLUDED.open, \
    high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close, volume = EXCLUDED.volume";

/// Aggregates rows of `table` (raw candles or a finer rollup) into buckets.
fn aggregate_sql(table: &str) -> String {
    format!(
        "SELECT date_bin($1::interval, time, $2) AS time, \
         (array_agg(open ORDER BY time))[1] AS open, max(high) AS high, min(low) AS low, \
         (array_agg(close ORDER BY time DESC))[1] AS close, sum(volume) AS volume \
         FROM {table} WHERE symbol = $3 AND interval = $4 AND time >= $5 AND time < $6 \
         GROUP BY 1 ORDER BY 1"
    )
}

/// Reads a rollup of exactly the requested width.
fn materialized_sql(table: &str) -> String {
    format!(
        "SELECT time, open, high, low, close, volume FROM {table} \
         WHERE symbol = $1 AND interval = $2 AND time >= $3 AND time < $4 ORDER BY time"
    )
}

const CHANGE: &str = "SELECT (array_agg(time ORDER BY time))[1] AS first_time, \
    (array_agg(open ORDER BY time))[1] AS open, (array_agg(time ORDER BY time DESC))[1] AS last_time, \
    (array_agg(close ORDER BY time DESC))[1] AS close, max(high) AS high, min(low) AS low \
    FROM candles WHERE symbol = $1 AND interval = $2 AND time >= $3 AND time < $4";

impl<F: Flavor> SqlStore<F> {
    /// The symbol's finest native interval, if it has candles.
    async fn base_interval(&self, symbol: &str) -> Result<Option<Interval>> {
        Ok(self.native_intervals(symbol).await?.into_iter().next())
    }

    async fn latest(&self, symbol: &str) -> Result<Option<PricePoint>> {
        let Some(interval) = self.base_interval(symbol).await? else {
            return Ok(None);
        };
        let mut conn = self.conn().await?;
        let row: Option<LatestRow> = diesel::sql_query(
            "SELECT time, close FROM candles WHERE symbol = $1 AND interval = $2 \
             ORDER BY time DESC LIMIT 1",
        )
        .bind::<Text, _>(symbol)
        .bind::<Text, _>(interval.to_string())
        .load(&mut conn)
        .await
        .map_err(db)?
        .pop();
        Ok(row.map(|r| PricePoint {
            symbol: symbol.to_owned(),
            time: r.time,
            interval,
            price: r.close,
        }))
    }

    async fn change(&self, symbol: &str, range: TimeRange) -> Result<Option<PriceChange>> {
        let Some(interval) = self.base_interval(symbol).await? else {
            return Ok(None);
        };
        let mut conn = self.conn().await?;
        let row: ChangeRow = diesel::sql_query(CHANGE)
            .bind::<Text, _>(symbol)
            .bind::<Text, _>(interval.to_string())
            .bind::<Timestamptz, _>(range.from())
            .bind::<Timestamptz, _>(range.to())
            .get_result(&mut conn)
            .await
            .map_err(db)?;
        Ok(match row {
            ChangeRow {
                first_time: Some(first_time),
                open: Some(open),
                last_time: Some(last_time),
                close: Some(close),
                high: Some(high),
                low: Some(low),
            } => Some(PriceChange {
                symbol: symbol.to_owned(),
                range,
                first_time,
                open,
                last_time,
                close,
                high,
                low,
            }),
            _ => None,
        })
    }
}

#[async_trait]
impl<F: Flavor> PriceStore for SqlStore<F> {
    async fn store_candles(&self, candles: &[Candle]) -> Result<WriteSummary> {
        validate_candles(candles, self.caps.max_batch_size)?;
        let rows = last_wins(candles, |c| (c.symbol.as_str(), c.interval, c.time));
        let summary = WriteSummary {
            received: candles.len(),
            distinct: rows.len(),
        };
        if rows.is_empty() {
            return Ok(summary);
        }
        let col = |f: fn(&Candle) -> Decimal| rows.iter().map(|c| f(c)).collect::<Vec<_>>();
        let insert = diesel::sql_query(INSERT)
            .bind::<Array<Text>, _>(rows.iter().map(|c| c.symbol.as_str()).collect::<Vec<_>>())
            .bind::<Array<Text>, _>(
                rows.iter()
                    .map(|c| c.interval.to_string())
                    .collect::<Vec<_>>(),
            )
            .bind::<Array<Timestamptz>, _>(rows.iter().map(|c| c.time).collect::<Vec<_>>())
            .bind::<Array<Numeric>, _>(col(|c| c.open))
            .bind::<Array<Numeric>, _>(col(|c| c.high))
            .bind::<Array<Numeric>, _>(col(|c| c.low))
            .bind::<Array<Numeric>, _>(col(|c| c.close))
            .bind::<Array<Numeric>, _>(col(|c| c.volume));
        self.write(Batch::Candles(&rows), insert).await?;
        Ok(summary)
    }

    async fn native_intervals(&self, symbol: &str) -> Result<Vec<Interval>> {
        let mut conn = self.conn().await?;
        let rows: Vec<IntervalRow> =
            diesel::sql_query("SELECT DISTINCT interval FROM candles WHERE symbol = $1")
                .bind::<Text, _>(symbol)
                .load(&mut conn)
                .await
                .map_err(db)?;
        let mut natives = rows
            .into_iter()
            .map(|r| r.interval.parse())
            .collect::<Result<Vec<Interval>>>()?;
        natives.sort();
        Ok(natives)
    }

    async fn ohlcv(&self, query: &OhlcvQuery) -> Result<OhlcvSeries> {
        let natives = self.native_intervals(&query.symbol).await?;
        let route = QueryRouter::route(query, &natives, &self.caps)?;
        let (start, end) = query.interval.covering(&query.range);
        if let Route::Materialized {
            refresh_first: true,
            ..
        }
        | Route::ReAggregate {
            refresh_first: true,
            ..
        } = route
        {
            let range = TimeRange::new(start, end)?;
            self.flavor()
                .refresh(self, &[Dataset::Price], Some(range))
                .await?;
        }
        let mut conn = self.conn().await?;
        let aggregate = |table: &str, native: Interval| {
            diesel::sql_query(aggregate_sql(table))
                .bind::<Text, _>(stride(query.interval))
                .bind::<Timestamptz, _>(query.interval.origin())
                .bind::<Text, _>(query.symbol.clone())
                .bind::<Text, _>(native.to_string())
                .bind::<Timestamptz, _>(start)
                .bind::<Timestamptz, _>(end)
        };
        let rows: Vec<BarRow> = match route {
            Route::NoData => {
                return Ok(OhlcvSeries {
                    route,
                    bars: Vec::new(),
                })
            }
            Route::Raw { native } => aggregate("candles", native).load(&mut conn).await,
            Route::ReAggregate {
                aggregate: m,
                native,
                ..
            } => aggregate(&rollup::table(m), native).load(&mut conn).await,
            Route::Materialized {
                aggregate: m,
                native,
                ..
            } => {
                diesel::sql_query(materialized_sql(&rollup::table(m)))
                    .bind::<Text, _>(&query.symbol)
                    .bind::<Text, _>(native.to_string())
                    .bind::<Timestamptz, _>(start)
                    .bind::<Timestamptz, _>(query.range.to())
                    .load(&mut conn)
                    .await
            }
        }
        .map_err(db)?;
        let bars = rows
            .into_iter()
            .map(|r| Bar {
                time: r.time,
                open: r.open,
                high: r.high,
                low: r.low,
                close: r.close,
                volume: r.volume,
            })
            .collect();
        Ok(OhlcvSeries { route, bars })
    }

    async fn latest_price(&self, symbol: &str) -> Result<Option<PricePoint>> {
        self.latest(symbol).await
    }

    async fn price_change(&self, symbol: &str, window: TimeDelta) -> Result<Option<PriceChange>> {
        let range = TimeRange::last(self.now(), window)?;
        self.change(symbol, range).await
    }

    async fn volume_profile(&self, query: &VolumeProfileQuery) -> Result<Vec<VolumeLevel>> {
        if query.price_step <= Decimal::ZERO {
            return Err(Error::invalid_argument(
                "price_step",
                "must be greater than zero",
            ));
        }
        let Some(interval) = self.base_interval(&query.symbol).await? else {
            return Ok(Vec::new());
        };
        let mut conn = self.conn().await?;
        let rows: Vec<LevelRow> = diesel::sql_query(
            "SELECT floor(close / $1) * $1 AS price, sum(volume) AS volume, count(*) AS candles \
             FROM candles WHERE symbol = $2 AND interval = $3 AND time >= $4 AND time < $5 \
             GROUP BY 1 ORDER BY 1",
        )
        .bind::<Numeric, _>(query.price_step)
        .bind::<Text, _>(&query.symbol)
        .bind::<Text, _>(interval.to_string())
        .bind::<Timestamptz, _>(query.range.from())
        .bind::<Timestamptz, _>(query.range.to())
        .load(&mut conn)
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|r| VolumeLevel {
                price: r.price.normalize(),
                volume: r.volume,
                candles: count(r.candles),
            })
            .collect())
    }

    async fn price_range(&self, symbol: &str, range: TimeRange) -> Result<Option<PriceRange>> {
        Ok(self.change(symbol, range).await?.map(|c| PriceRange {
            symbol: c.symbol,
            range,
            high: c.high,
            low: c.low,
        }))
    }

    async fn symbols(&self) -> Result<Vec<String>> {
        let mut conn = self.conn().await?;
        let rows: Vec<SymbolRow> = diesel::sql_query(
            "SELECT symbol FROM candles GROUP BY symbol ORDER BY symbol COLLATE \"C\"",
        )
        .load(&mut conn)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(|r| r.symbol).collect())
    }

    async fn market_overview(&self) -> Result<Vec<MarketOverview>> {
        let range = TimeRange::last(self.now(), overview_window())?;
        let mut out = Vec::new();
        for symbol in self.symbols().await? {
            if let Some(latest) = self.latest(&symbol).await? {
                out.push(MarketOverview {
                    change_24h: self.change(&symbol, range).await?,
                    latest,
                });
            }
        }
        Ok(out)
    }
}
