//! Point-in-time price reads: symbols, native intervals, latest price, price change and
//! the market overview, each one cached statement from [`crate::statements`] (those that
//! differ per backend from the flavor's [`ReadStatements`]).

use chrono::{DateTime, Utc};
use diesel::sql_types::{Nullable, Numeric, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::methods::LoadQuery;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use marketseries_core::candle::overview_window;
use marketseries_core::{Interval, MarketOverview, PriceChange, PricePoint, Result, TimeRange};
use rust_decimal::Decimal;

use crate::cached::cached;
use crate::error::db;
use crate::flavor::Flavor;
use crate::statements::ReadStatements;
use crate::store::SqlStore;

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
    #[diesel(sql_type = Text)]
    interval: String,
    #[diesel(sql_type = Timestamptz)]
    time: DateTime<Utc>,
    #[diesel(sql_type = Numeric)]
    close: Decimal,
}

/// Change columns; all `NULL` in the overview for a symbol without candles in the window.
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

impl ChangeRow {
    fn into_change(self, symbol: &str, range: TimeRange) -> Option<PriceChange> {
        Some(PriceChange {
            symbol: symbol.to_owned(),
            range,
            first_time: self.first_time?,
            open: self.open?,
            last_time: self.last_time?,
            close: self.close?,
            high: self.high?,
            low: self.low?,
        })
    }
}

#[derive(QueryableByName)]
struct OverviewRow {
    #[diesel(sql_type = Text)]
    symbol: String,
    #[diesel(sql_type = Text)]
    interval: String,
    #[diesel(sql_type = Timestamptz)]
    time: DateTime<Utc>,
    #[diesel(sql_type = Numeric)]
    price: Decimal,
    #[diesel(embed)]
    change: ChangeRow,
}

#[derive(QueryableByName)]
struct SeriesRow {
    #[diesel(sql_type = Text)]
    interval: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    complete: bool,
}

/// Native intervals of `symbol` on `conn`, finest first, each with whether the materialized
/// aggregates are complete for that series (by the flavor's
/// [`ReadStatements::series`](crate::statements::ReadStatements::series)).
pub(crate) async fn series_of(
    conn: &mut AsyncPgConnection,
    reads: &'static ReadStatements,
    symbol: &str,
) -> Result<Vec<(Interval, bool)>> {
    let rows: Vec<SeriesRow> = cached(reads.series())
        .bind::<Text, _>(symbol)
        .load(conn)
        .await
        .map_err(db)?;
    let mut series = rows
        .into_iter()
        .map(|r| Ok((r.interval.parse()?, r.complete)))
        .collect::<Result<Vec<(Interval, bool)>>>()?;
    series.sort();
    Ok(series)
}

/// Native intervals of `symbol` on `conn`, finest first.
pub(crate) async fn native_intervals(
    conn: &mut AsyncPgConnection,
    reads: &'static ReadStatements,
    symbol: &str,
) -> Result<Vec<Interval>> {
    let rows: Vec<IntervalRow> = cached(reads.native_intervals())
        .bind::<Text, _>(symbol)
        .load(conn)
        .await
        .map_err(db)?;
    let mut natives = rows
        .into_iter()
        .map(|r| r.interval.parse())
        .collect::<Result<Vec<Interval>>>()?;
    natives.sort();
    Ok(natives)
}

/// Loads a window read on `conn`, planned for this call's parameters when the flavor asks
/// for it ([`Flavor::plans_window_reads_per_call`]).
pub(crate) async fn load_window<'a, F, Q, U>(
    flavor: &F,
    conn: &mut AsyncPgConnection,
    query: Q,
) -> Result<Vec<U>>
where
    F: Flavor,
    Q: LoadQuery<'a, AsyncPgConnection, U> + Send + 'a,
    U: Send + 'a,
{
    if !flavor.plans_window_reads_per_call() {
        return query.load(conn).await.map_err(db);
    }
    conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        diesel::sql_query("SET LOCAL plan_cache_mode = force_custom_plan")
            .execute(conn)
            .await?;
        query.load(conn).await
    })
    .await
    .map_err(db)
}

impl<F: Flavor> SqlStore<F> {
    pub(crate) async fn symbol_list(&self) -> Result<Vec<String>> {
        let mut conn = self.conn().await?;
        let rows: Vec<SymbolRow> = cached(self.flavor().reads().symbols())
            .load(&mut conn)
            .await
            .map_err(db)?;
        Ok(rows.into_iter().map(|r| r.symbol).collect())
    }

    pub(crate) async fn latest(&self, symbol: &str) -> Result<Option<PricePoint>> {
        let mut conn = self.conn().await?;
        let row: Option<LatestRow> = cached(self.flavor().reads().latest_price())
            .bind::<Text, _>(symbol)
            .load(&mut conn)
            .await
            .map_err(db)?
            .pop();
        row.map(|r| {
            Ok(PricePoint {
                symbol: symbol.to_owned(),
                time: r.time,
                interval: r.interval.parse()?,
                price: r.close,
            })
        })
        .transpose()
    }

    pub(crate) async fn change(
        &self,
        symbol: &str,
        range: TimeRange,
    ) -> Result<Option<PriceChange>> {
        let mut conn = self.conn().await?;
        // Owned binds: a borrowed one inside the transaction's future is not `Send` for
        // every lifetime, which `async_trait` requires.
        let query = cached(self.flavor().reads().price_change())
            .bind::<Text, _>(symbol.to_owned())
            .bind::<Timestamptz, _>(range.from())
            .bind::<Timestamptz, _>(range.to());
        let row: Option<ChangeRow> = load_window(self.flavor(), &mut conn, query).await?.pop();
        Ok(row.and_then(|r| r.into_change(symbol, range)))
    }

    pub(crate) async fn overview(&self) -> Result<Vec<MarketOverview>> {
        let range = TimeRange::last(self.now(), overview_window())?;
        let mut conn = self.conn().await?;
        let query = cached(self.flavor().reads().market_overview())
            .bind::<Timestamptz, _>(range.from())
            .bind::<Timestamptz, _>(range.to());
        let rows: Vec<OverviewRow> = load_window(self.flavor(), &mut conn, query).await?;
        rows.into_iter()
            .map(|r| {
                Ok(MarketOverview {
                    change_24h: r.change.into_change(&r.symbol, range),
                    latest: PricePoint {
                        interval: r.interval.parse()?,
                        symbol: r.symbol,
                        time: r.time,
                        price: r.price,
                    },
                })
            })
            .collect()
    }
}
