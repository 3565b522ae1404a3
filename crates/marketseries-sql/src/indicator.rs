//! [`IndicatorStore`] on a PostgreSQL-family server: the `indicators` table, primary key
//! `(symbol, interval, name, time)`. Every statement is a fixed text, cached per connection.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::sql_types::{Numeric, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use marketseries_core::time::{check_microseconds, max_time, MIN_TIME};
use marketseries_core::validate::validate_indicators;
use marketseries_core::{
    IndicatorQuery, IndicatorSeries, IndicatorStore, IndicatorValue, Interval, Result, WriteSummary,
};
use rust_decimal::Decimal;
use tokio_postgres::types::ToSql;

use crate::batch::last_wins;
use crate::cached::cached;
use crate::error::db;
use crate::flavor::{Batch, Flavor};
use crate::store::SqlStore;

/// The upsert: arrays `$1` symbols, `$2` native intervals, `$3` names, `$4` times, `$5`
/// values; a stored key is replaced.
const UPSERT: &str = "INSERT INTO indicators (symbol, interval, name, time, value) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], \
                          $5::numeric[]) \
     ON CONFLICT (symbol, interval, name, time) DO UPDATE SET value = EXCLUDED.value";

/// Values of one series with `time` in `[$4, $5)`, in time order.
const SERIES: &str = "SELECT time, value FROM indicators \
     WHERE symbol = $1 AND interval = $2 AND name = $3 AND time >= $4 AND time < $5 \
     ORDER BY time";

/// CTE `s (interval, name)`: the series of symbol `$1`, by a loose index scan of the
/// primary key (one probe per series, not a scan of every value).
macro_rules! series_cte {
    () => {
        "WITH RECURSIVE s (interval, name) AS ( \
           (SELECT interval, name FROM indicators WHERE symbol = $1 \
            ORDER BY interval, name LIMIT 1) \
           UNION ALL \
           SELECT n.interval, n.name FROM s CROSS JOIN LATERAL ( \
             SELECT i.interval, i.name FROM indicators i \
             WHERE i.symbol = $1 AND (i.interval, i.name) > (s.interval, s.name) \
             ORDER BY i.interval, i.name LIMIT 1) n) "
    };
}

/// The series of symbol `$1`.
const LIST: &str = concat!(series_cte!(), "SELECT interval, name FROM s");

/// The newest value of each series of symbol `$1` (one backward index probe each).
const LATEST: &str = concat!(
    series_cte!(),
    "SELECT s.interval, s.name, v.time, v.value FROM s CROSS JOIN LATERAL ( \
       SELECT i.time, i.value FROM indicators i \
       WHERE i.symbol = $1 AND i.interval = s.interval AND i.name = s.name \
       ORDER BY i.time DESC LIMIT 1) v"
);

/// The value of one series with the greatest `time <= $4`.
const AT: &str = "SELECT time, value FROM indicators \
     WHERE symbol = $1 AND interval = $2 AND name = $3 AND time <= $4 \
     ORDER BY time DESC LIMIT 1";

#[derive(QueryableByName)]
struct ValueRow {
    #[diesel(sql_type = Timestamptz)]
    time: DateTime<Utc>,
    #[diesel(sql_type = Numeric)]
    value: Decimal,
}

#[derive(QueryableByName)]
struct SeriesRow {
    #[diesel(sql_type = Text)]
    interval: String,
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct LatestRow {
    #[diesel(embed)]
    series: SeriesRow,
    #[diesel(embed)]
    value: ValueRow,
}

impl SeriesRow {
    fn parse(self) -> Result<IndicatorSeries> {
        Ok(IndicatorSeries {
            interval: self.interval.parse()?,
            name: self.name,
        })
    }
}

fn value_of(symbol: &str, series: IndicatorSeries, row: ValueRow) -> IndicatorValue {
    IndicatorValue {
        symbol: symbol.to_owned(),
        interval: series.interval,
        name: series.name,
        time: row.time,
        value: row.value,
    }
}

#[async_trait]
impl<F: Flavor> IndicatorStore for SqlStore<F> {
    async fn store_indicators(&self, values: &[IndicatorValue]) -> Result<WriteSummary> {
        validate_indicators(values, &self.limits())?;
        let rows = last_wins(values, |v| {
            (v.symbol.as_str(), v.interval, v.name.as_str(), v.time)
        });
        let summary = WriteSummary {
            received: values.len(),
            distinct: rows.len(),
        };
        if rows.is_empty() {
            return Ok(summary);
        }
        let symbols: Vec<&str> = rows.iter().map(|v| v.symbol.as_str()).collect();
        let natives: Vec<String> = rows.iter().map(|v| v.interval.to_string()).collect();
        let names: Vec<&str> = rows.iter().map(|v| v.name.as_str()).collect();
        let times: Vec<DateTime<Utc>> = rows.iter().map(|v| v.time).collect();
        let values: Vec<Decimal> = rows.iter().map(|v| v.value).collect();
        let params: [&(dyn ToSql + Sync); 5] = [&symbols, &natives, &names, &times, &values];
        self.write(Batch::Indicators(&rows), UPSERT, &params)
            .await?;
        Ok(summary)
    }

    async fn indicator_series(&self, query: &IndicatorQuery) -> Result<Vec<IndicatorValue>> {
        let mut conn = self.conn().await?;
        let rows: Vec<ValueRow> = cached(SERIES)
            .bind::<Text, _>(&query.symbol)
            .bind::<Text, _>(query.interval.to_string())
            .bind::<Text, _>(&query.name)
            .bind::<Timestamptz, _>(query.range.from())
            .bind::<Timestamptz, _>(query.range.to())
            .load(&mut conn)
            .await
            .map_err(db)?;
        let series = IndicatorSeries {
            interval: query.interval,
            name: query.name.clone(),
        };
        Ok(rows
            .into_iter()
            .map(|r| value_of(&query.symbol, series.clone(), r))
            .collect())
    }

    async fn latest_indicators(&self, symbol: &str) -> Result<Vec<IndicatorValue>> {
        let mut conn = self.conn().await?;
        let rows: Vec<LatestRow> = cached(LATEST)
            .bind::<Text, _>(symbol)
            .load(&mut conn)
            .await
            .map_err(db)?;
        let mut out = rows
            .into_iter()
            .map(|r| Ok(value_of(symbol, r.series.parse()?, r.value)))
            .collect::<Result<Vec<_>>>()?;
        // The documented order is `Interval`'s (by width), which text order is not.
        out.sort_by(|a, b| (a.interval, &a.name).cmp(&(b.interval, &b.name)));
        Ok(out)
    }

    async fn indicator_list(&self, symbol: &str) -> Result<Vec<IndicatorSeries>> {
        let mut conn = self.conn().await?;
        let rows: Vec<SeriesRow> = cached(LIST)
            .bind::<Text, _>(symbol)
            .load(&mut conn)
            .await
            .map_err(db)?;
        let mut out = rows
            .into_iter()
            .map(SeriesRow::parse)
            .collect::<Result<Vec<_>>>()?;
        out.sort();
        Ok(out)
    }

    async fn indicator_at(
        &self,
        symbol: &str,
        interval: Interval,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<IndicatorValue>> {
        check_microseconds("at", at)?;
        // Stored times lie in [MIN_TIME, max_time()): before that nothing exists, after it
        // the answer is the newest value; clamping keeps any chrono time bindable.
        if at < MIN_TIME {
            return Ok(None);
        }
        let at = at.min(max_time());
        let mut conn = self.conn().await?;
        let row: Option<ValueRow> = cached(AT)
            .bind::<Text, _>(symbol)
            .bind::<Text, _>(interval.to_string())
            .bind::<Text, _>(name)
            .bind::<Timestamptz, _>(at)
            .load(&mut conn)
            .await
            .map_err(db)?
            .pop();
        Ok(row.map(|r| {
            value_of(
                symbol,
                IndicatorSeries {
                    interval,
                    name: name.to_owned(),
                },
                r,
            )
        }))
    }
}
