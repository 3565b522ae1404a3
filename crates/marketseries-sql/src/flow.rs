//! [`FlowStore`] on a PostgreSQL-family server.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use diesel::sql_types::{BigInt, Nullable, Numeric, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use marketseries_core::validate::validate_flows;
use marketseries_core::{
    AggregateBucket, Error, ExchangeFlow, Flow, FlowAggregate, FlowStore, FlowType, FlowVelocity,
    NetFlow, Result, TimeRange, WhaleQuery, WriteSummary,
};
use rust_decimal::Decimal;
use tokio_postgres::types::ToSql;

use crate::batch::{count, last_wins};
use crate::cached::{cached, fixed};
use crate::error::db;
use crate::flavor::{Batch, Flavor};
use crate::store::SqlStore;

#[derive(QueryableByName)]
pub(crate) struct FlowRow {
    #[diesel(sql_type = Text)]
    asset: String,
    #[diesel(sql_type = Timestamptz)]
    time: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    flow_type: String,
    #[diesel(sql_type = Numeric)]
    amount: Decimal,
    #[diesel(sql_type = Numeric)]
    usd_value: Decimal,
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Text)]
    reference: String,
}

impl FlowRow {
    pub(crate) fn into_flow(self) -> Result<Flow> {
        Ok(Flow {
            asset: self.asset,
            time: self.time,
            flow_type: self.flow_type.parse()?,
            amount: self.amount,
            usd_value: self.usd_value,
            source: self.source,
            reference: self.reference,
        })
    }
}

#[derive(QueryableByName)]
struct AggregateRow {
    #[diesel(sql_type = Timestamptz)]
    time: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    flow_type: String,
    #[diesel(sql_type = Numeric)]
    amount: Decimal,
    #[diesel(sql_type = Numeric)]
    usd_value: Decimal,
    #[diesel(sql_type = BigInt)]
    transactions: i64,
}

/// Inflow and outflow sums of one group (all rows, or one source).
#[derive(QueryableByName)]
struct InOutRow {
    #[diesel(sql_type = Nullable<Text>)]
    source: Option<String>,
    #[diesel(sql_type = Numeric)]
    inflow_amount: Decimal,
    #[diesel(sql_type = Numeric)]
    outflow_amount: Decimal,
    #[diesel(sql_type = Numeric)]
    inflow_usd: Decimal,
    #[diesel(sql_type = Numeric)]
    outflow_usd: Decimal,
    #[diesel(sql_type = BigInt)]
    inflows: i64,
    #[diesel(sql_type = BigInt)]
    outflows: i64,
}

#[derive(QueryableByName)]
struct VelocityRow {
    #[diesel(sql_type = Numeric)]
    cur_amount: Decimal,
    #[diesel(sql_type = BigInt)]
    cur_n: i64,
    #[diesel(sql_type = Numeric)]
    prev_amount: Decimal,
    #[diesel(sql_type = BigInt)]
    prev_n: i64,
}

pub(crate) const COLUMNS: &str = "asset, time, flow_type, amount, usd_value, source, reference";
const KEY_ORDER: &str = "source COLLATE \"C\", flow_type COLLATE \"C\", reference COLLATE \"C\"";
const IN_OUT: &str =
    "coalesce(sum(amount) FILTER (WHERE flow_type = 'exchange_inflow'), 0) AS inflow_amount, \
    coalesce(sum(amount) FILTER (WHERE flow_type = 'exchange_outflow'), 0) AS outflow_amount, \
    coalesce(sum(usd_value) FILTER (WHERE flow_type = 'exchange_inflow'), 0) AS inflow_usd, \
    coalesce(sum(usd_value) FILTER (WHERE flow_type = 'exchange_outflow'), 0) AS outflow_usd, \
    count(*) FILTER (WHERE flow_type = 'exchange_inflow') AS inflows, \
    count(*) FILTER (WHERE flow_type = 'exchange_outflow') AS outflows";

impl<F: Flavor> SqlStore<F> {
    async fn in_out(
        &self,
        asset: &str,
        range: TimeRange,
        by_source: bool,
    ) -> Result<Vec<InOutRow>> {
        let (select, group) = if by_source {
            ("source", "GROUP BY source ORDER BY source COLLATE \"C\"")
        } else {
            ("NULL::text AS source", "")
        };
        let mut conn = self.conn().await?;
        fixed(format!(
            "SELECT {select}, {IN_OUT} FROM flows WHERE asset = $1 AND time >= $2 AND time < $3 \
             AND flow_type IN ('exchange_inflow', 'exchange_outflow') {group}"
        ))
        .bind::<Text, _>(asset)
        .bind::<Timestamptz, _>(range.from())
        .bind::<Timestamptz, _>(range.to())
        .load(&mut conn)
        .await
        .map_err(db)
    }
}

#[async_trait]
impl<F: Flavor> FlowStore for SqlStore<F> {
    async fn store_flows(&self, flows: &[Flow]) -> Result<WriteSummary> {
        validate_flows(flows, &self.limits())?;
        let rows = last_wins(flows, |f| {
            (
                f.asset.as_str(),
                f.source.as_str(),
                f.flow_type,
                f.time,
                f.reference.as_str(),
            )
        });
        let summary = WriteSummary {
            received: flows.len(),
            distinct: rows.len(),
        };
        if rows.is_empty() {
            return Ok(summary);
        }
        let upsert = format!(
            "INSERT INTO flows ({COLUMNS}) SELECT * FROM unnest($1::text[], $2::timestamptz[], \
             $3::text[], $4::numeric[], $5::numeric[], $6::text[], $7::text[]) \
             ON CONFLICT (asset, source, flow_type, time, reference) DO UPDATE SET \
             amount = EXCLUDED.amount, usd_value = EXCLUDED.usd_value"
        );
        let assets: Vec<&str> = rows.iter().map(|f| f.asset.as_str()).collect();
        let times: Vec<DateTime<Utc>> = rows.iter().map(|f| f.time).collect();
        let types: Vec<&str> = rows.iter().map(|f| f.flow_type.as_str()).collect();
        let amounts: Vec<Decimal> = rows.iter().map(|f| f.amount).collect();
        let values: Vec<Decimal> = rows.iter().map(|f| f.usd_value).collect();
        let sources: Vec<&str> = rows.iter().map(|f| f.source.as_str()).collect();
        let references: Vec<&str> = rows.iter().map(|f| f.reference.as_str()).collect();
        let params: [&(dyn ToSql + Sync); 7] = [
            &assets,
            &times,
            &types,
            &amounts,
            &values,
            &sources,
            &references,
        ];
        self.write(Batch::Flows(&rows), &upsert, &params).await?;
        Ok(summary)
    }

    async fn flow_history(
        &self,
        asset: &str,
        range: TimeRange,
        flow_type: Option<FlowType>,
    ) -> Result<Vec<Flow>> {
        let mut conn = self.conn().await?;
        let rows: Vec<FlowRow> = fixed(format!(
            "SELECT {COLUMNS} FROM flows WHERE asset = $1 AND time >= $2 AND time < $3 \
             AND ($4::text IS NULL OR flow_type = $4) ORDER BY time, {KEY_ORDER}"
        ))
        .bind::<Text, _>(asset)
        .bind::<Timestamptz, _>(range.from())
        .bind::<Timestamptz, _>(range.to())
        .bind::<Nullable<Text>, _>(flow_type.map(FlowType::as_str))
        .load(&mut conn)
        .await
        .map_err(db)?;
        rows.into_iter().map(FlowRow::into_flow).collect()
    }

    async fn flow_aggregates(
        &self,
        asset: &str,
        bucket: AggregateBucket,
        range: TimeRange,
    ) -> Result<Vec<FlowAggregate>> {
        let start = bucket.interval().floor(range.from());
        let mut conn = self.conn().await?;
        let rows: Vec<AggregateRow> = fixed(format!(
            "SELECT time, flow_type, amount, usd_value, transactions FROM {} \
             WHERE asset = $1 AND time >= $2 AND time < $3 ORDER BY time, flow_type COLLATE \"C\"",
            crate::schema::flow_aggregate(bucket)
        ))
        .bind::<Text, _>(asset)
        .bind::<Timestamptz, _>(start)
        .bind::<Timestamptz, _>(range.to())
        .load(&mut conn)
        .await
        .map_err(db)?;
        rows.into_iter()
            .map(|r| {
                Ok(FlowAggregate {
                    time: r.time,
                    flow_type: r.flow_type.parse()?,
                    amount: r.amount,
                    usd_value: r.usd_value,
                    transactions: count(r.transactions),
                })
            })
            .collect()
    }

    async fn net_flow(&self, asset: &str, range: TimeRange) -> Result<NetFlow> {
        let row = self
            .in_out(asset, range, false)
            .await?
            .pop()
            .ok_or_else(|| Error::Other("aggregate query returned no row".into()))?;
        Ok(NetFlow {
            asset: asset.to_owned(),
            range,
            inflow_amount: row.inflow_amount,
            outflow_amount: row.outflow_amount,
            inflow_usd: row.inflow_usd,
            outflow_usd: row.outflow_usd,
            inflows: count(row.inflows),
            outflows: count(row.outflows),
        })
    }

    async fn whale_activity(&self, query: &WhaleQuery) -> Result<Vec<Flow>> {
        if query.min_amount.is_sign_negative() && !query.min_amount.is_zero() {
            return Err(Error::invalid_argument(
                "min_amount",
                "must not be negative",
            ));
        }
        let mut conn = self.conn().await?;
        let rows: Vec<FlowRow> = fixed(format!(
            "SELECT {COLUMNS} FROM flows WHERE ($1::text IS NULL OR asset = $1) \
             AND time >= $2 AND time < $3 AND amount >= $4 \
             ORDER BY time DESC, asset COLLATE \"C\", {KEY_ORDER}"
        ))
        .bind::<Nullable<Text>, _>(query.asset.as_deref())
        .bind::<Timestamptz, _>(query.range.from())
        .bind::<Timestamptz, _>(query.range.to())
        .bind::<Numeric, _>(query.min_amount)
        .load(&mut conn)
        .await
        .map_err(db)?;
        rows.into_iter().map(FlowRow::into_flow).collect()
    }

    async fn exchange_breakdown(&self, asset: &str, range: TimeRange) -> Result<Vec<ExchangeFlow>> {
        Ok(self
            .in_out(asset, range, true)
            .await?
            .into_iter()
            .map(|r| ExchangeFlow {
                source: r.source.unwrap_or_default(),
                inflow_amount: r.inflow_amount,
                outflow_amount: r.outflow_amount,
                inflow_usd: r.inflow_usd,
                outflow_usd: r.outflow_usd,
                transactions: count(r.inflows) + count(r.outflows),
            })
            .collect())
    }

    async fn flow_velocity(&self, asset: &str, window: TimeDelta) -> Result<FlowVelocity> {
        self.flow_velocity_at(asset, window, self.now()).await
    }

    async fn flow_velocity_at(
        &self,
        asset: &str,
        window: TimeDelta,
        at: DateTime<Utc>,
    ) -> Result<FlowVelocity> {
        let current_range = TimeRange::last(at, window)?;
        let previous_range = TimeRange::last(current_range.from(), window)?;
        let mut conn = self.conn().await?;
        let row: VelocityRow = cached(
            "SELECT coalesce(sum(amount) FILTER (WHERE time >= $2), 0) AS cur_amount, \
             count(*) FILTER (WHERE time >= $2) AS cur_n, \
             coalesce(sum(amount) FILTER (WHERE time < $2), 0) AS prev_amount, \
             count(*) FILTER (WHERE time < $2) AS prev_n \
             FROM flows WHERE asset = $1 AND time >= $3 AND time < $4",
        )
        .bind::<Text, _>(asset)
        .bind::<Timestamptz, _>(current_range.from())
        .bind::<Timestamptz, _>(previous_range.from())
        .bind::<Timestamptz, _>(current_range.to())
        .get_result(&mut conn)
        .await
        .map_err(db)?;
        Ok(FlowVelocity {
            asset: asset.to_owned(),
            current_range,
            current_amount: row.cur_amount,
            current_count: count(row.cur_n),
            previous_amount: row.prev_amount,
            previous_count: count(row.prev_n),
        })
    }
}
