//! [`PriceStore`] on a PostgreSQL-family server.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use diesel::sql_types::{BigInt, Numeric, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use marketseries_core::validate::validate_candles;
use marketseries_core::{
    AggregateRead, Bar, Candle, Dataset, Error, Interval, MarketOverview, OhlcvQuery, OhlcvSeries,
    PriceChange, PricePoint, PriceRange, PriceStore, QueryRouter, Result, Route, TimeRange,
    VolumeLevel, VolumeProfileQuery, WriteSummary,
};
use rust_decimal::Decimal;
use tokio_postgres::types::ToSql;

use crate::batch::{count, last_wins};
use crate::cached::cached;
use crate::error::db;
use crate::flavor::{Batch, Flavor};
use crate::price_points::{load_window, native_intervals, series_of};
use crate::schema;
use crate::statements;
use crate::store::SqlStore;

#[derive(QueryableByName)]
pub(crate) struct BarRow {
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

impl BarRow {
    pub(crate) fn into_bar(self) -> Bar {
        Bar {
            time: self.time,
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume: self.volume,
        }
    }
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

#[async_trait]
impl<F: Flavor> PriceStore for SqlStore<F> {
    async fn store_candles(&self, candles: &[Candle]) -> Result<WriteSummary> {
        validate_candles(candles, &self.limits())?;
        let rows = last_wins(candles, |c| (c.symbol.as_str(), c.interval, c.time));
        let summary = WriteSummary {
            received: candles.len(),
            distinct: rows.len(),
        };
        if rows.is_empty() || self.flavor().write_candles_fast(self, &rows).await? {
            return Ok(summary);
        }
        let col = |f: fn(&Candle) -> Decimal| rows.iter().map(|c| f(c)).collect::<Vec<_>>();
        let symbols: Vec<&str> = rows.iter().map(|c| c.symbol.as_str()).collect();
        let natives: Vec<String> = rows.iter().map(|c| c.interval.to_string()).collect();
        let times: Vec<DateTime<Utc>> = rows.iter().map(|c| c.time).collect();
        let (open, high, low) = (col(|c| c.open), col(|c| c.high), col(|c| c.low));
        let (close, volume) = (col(|c| c.close), col(|c| c.volume));
        let params: [&(dyn ToSql + Sync); 8] = [
            &symbols, &natives, &times, &open, &high, &low, &close, &volume,
        ];
        self.write(Batch::Candles(&rows), statements::upsert_candles(), &params)
            .await?;
        Ok(summary)
    }

    async fn native_intervals(&self, symbol: &str) -> Result<Vec<Interval>> {
        native_intervals(&mut *self.conn().await?, self.flavor().reads(), symbol).await
    }

    async fn ohlcv(&self, query: &OhlcvQuery) -> Result<OhlcvSeries> {
        // One connection for the lookup and the read: a verified checkout is a round trip.
        let mut conn = self.conn().await?;
        let series = series_of(&mut conn, self.flavor().reads(), &query.symbol).await?;
        let natives: Vec<Interval> = series.iter().map(|&(native, _)| native).collect();
        let route = QueryRouter::route(query, &natives, &self.caps)?;
        let (start, end) = query.interval.covering(&query.range);
        if route.read() == Some(AggregateRead::RefreshFirst) {
            // The refresh checks out its own connection: give this one back meanwhile, so
            // that a pool of one cannot deadlock.
            drop(conn);
            let range = TimeRange::new(start, end)?;
            self.flavor()
                .refresh(self, &[Dataset::Price], Some(range), &|_| {})
                .await?;
            conn = self.conn().await?;
        }
        // Materialized-only reads leave out a real-time tail where the flavor has one; a
        // real-time read of a series whose materialization the flavor reports complete
        // reads the materialized relation too, skipping the real-time part's work.
        let materialized_only = match route {
            Route::Materialized { native, read, .. } | Route::ReAggregate { native, read, .. } => {
                read == AggregateRead::MaterializedOnly || series.contains(&(native, true))
            }
            Route::Raw { .. } | Route::NoData => false,
        };
        // `params`: the placeholders of symbol, native, first and end bucket start.
        let relation = |m: Interval, params: [&str; 4]| {
            if materialized_only {
                schema::ohlcv_materialized(m)
            } else {
                self.flavor().real_time_ohlcv(m, params)
            }
        };
        let aggregate = |table: &str, native: Interval| {
            cached(statements::aggregate_ohlcv(table))
                .bind::<Text, _>(schema::stride(query.interval))
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
            // A window read of candles: planned per call where the flavor asks for it.
            Route::Raw { native } => {
                load_window(self.flavor(), &mut conn, aggregate("candles", native)).await?
            }
            Route::ReAggregate {
                aggregate: m,
                native,
                ..
            } => aggregate(&relation(m, ["$3", "$4", "$5", "$6"]), native)
                .load(&mut conn)
                .await
                .map_err(db)?,
            Route::Materialized {
                aggregate: m,
                native,
                ..
            } => {
                // `end` (the covering end) selects the same buckets as the range's end and
                // is aligned, as `real_time_ohlcv` expects.
                let table = relation(m, ["$1", "$2", "$3", "$4"]);
                cached(statements::materialized_ohlcv(&table))
                    .bind::<Text, _>(&query.symbol)
                    .bind::<Text, _>(native.to_string())
                    .bind::<Timestamptz, _>(start)
                    .bind::<Timestamptz, _>(end)
                    .load(&mut conn)
                    .await
                    .map_err(db)?
            }
        };
        let bars = rows.into_iter().map(BarRow::into_bar).collect();
        Ok(OhlcvSeries { route, bars })
    }

    async fn latest_price(&self, symbol: &str) -> Result<Option<PricePoint>> {
        self.latest(symbol).await
    }

    async fn price_change(&self, symbol: &str, window: TimeDelta) -> Result<Option<PriceChange>> {
        self.price_change_at(symbol, window, self.now()).await
    }

    async fn price_change_at(
        &self,
        symbol: &str,
        window: TimeDelta,
        at: DateTime<Utc>,
    ) -> Result<Option<PriceChange>> {
        let range = TimeRange::last(at, window)?;
        self.change(symbol, range).await
    }

    async fn volume_profile(&self, query: &VolumeProfileQuery) -> Result<Vec<VolumeLevel>> {
        if query.price_step <= Decimal::ZERO {
            return Err(Error::invalid_argument(
                "price_step",
                "must be greater than zero",
            ));
        }
        let mut conn = self.conn().await?;
        // Owned, as in `change`.
        let levels = cached(self.flavor().reads().volume_profile())
            .bind::<Text, _>(query.symbol.clone())
            .bind::<Numeric, _>(query.price_step)
            .bind::<Timestamptz, _>(query.range.from())
            .bind::<Timestamptz, _>(query.range.to());
        let rows: Vec<LevelRow> = load_window(self.flavor(), &mut conn, levels).await?;
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
        self.symbol_list().await
    }

    async fn market_overview(&self) -> Result<Vec<MarketOverview>> {
        self.overview().await
    }
}
