//! [`FlowStore`] for the reference store.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;

use super::MemoryStore;
use crate::error::{Error, Result};
use crate::flow::{ExchangeFlow, Flow, FlowAggregate, FlowType, FlowVelocity, NetFlow, WhaleQuery};
use crate::maintenance::WriteSummary;
use crate::sentiment::AggregateBucket;
use crate::store::FlowStore;
use crate::time::TimeRange;
use crate::validate::validate_flows;

fn n(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

impl MemoryStore {
    /// Flows of `asset` in `range`, ordered by `(time, source, flow_type, reference)`.
    fn flows_in(&self, asset: &str, range: TimeRange) -> Vec<Flow> {
        let mut v: Vec<_> = self
            .read()
            .flows
            .values()
            .filter(|f| f.asset == asset && range.contains(f.time))
            .cloned()
            .collect();
        v.sort_by(|a, b| {
            (a.time, &a.source, a.flow_type, &a.reference).cmp(&(
                b.time,
                &b.source,
                b.flow_type,
                &b.reference,
            ))
        });
        v
    }
}

#[async_trait]
impl FlowStore for MemoryStore {
    async fn store_flows(&self, flows: &[Flow]) -> Result<WriteSummary> {
        validate_flows(flows, &self.limits())?;
        let mut state = self.write();
        let mut keys = std::collections::BTreeSet::new();
        for f in flows {
            let key = (
                f.asset.clone(),
                f.source.clone(),
                f.flow_type,
                f.time,
                f.reference.clone(),
            );
            keys.insert(key.clone());
            state.flows.insert(key, f.clone());
        }
        Ok(WriteSummary {
            received: flows.len(),
            distinct: keys.len(),
        })
    }

    async fn flow_history(
        &self,
        asset: &str,
        range: TimeRange,
        flow_type: Option<FlowType>,
    ) -> Result<Vec<Flow>> {
        let mut v = self.flows_in(asset, range);
        if let Some(t) = flow_type {
            v.retain(|f| f.flow_type == t);
        }
        Ok(v)
    }

    async fn flow_aggregates(
        &self,
        asset: &str,
        bucket: AggregateBucket,
        range: TimeRange,
    ) -> Result<Vec<FlowAggregate>> {
        let interval = bucket.interval();
        let (start, end) = interval.covering(&range);
        let mut groups: BTreeMap<_, (Decimal, Decimal, u64)> = BTreeMap::new();
        for f in self.flows_in(asset, TimeRange::new(start, end)?) {
            let e = groups
                .entry((interval.floor(f.time), f.flow_type))
                .or_default();
            e.0 += f.amount;
            e.1 += f.usd_value;
            e.2 += 1;
        }
        Ok(groups
            .into_iter()
            .map(
                |((time, flow_type), (amount, usd_value, transactions))| FlowAggregate {
                    time,
                    flow_type,
                    amount,
                    usd_value,
                    transactions,
                },
            )
            .collect())
    }

    async fn net_flow(&self, asset: &str, range: TimeRange) -> Result<NetFlow> {
        let mut net = NetFlow {
            asset: asset.to_owned(),
            range,
            inflow_amount: Decimal::ZERO,
            outflow_amount: Decimal::ZERO,
            inflow_usd: Decimal::ZERO,
            outflow_usd: Decimal::ZERO,
            inflows: 0,
            outflows: 0,
        };
        for f in self.flows_in(asset, range) {
            match f.flow_type {
                FlowType::ExchangeInflow => {
                    net.inflow_amount += f.amount;
                    net.inflow_usd += f.usd_value;
                    net.inflows += 1;
                }
                FlowType::ExchangeOutflow => {
                    net.outflow_amount += f.amount;
                    net.outflow_usd += f.usd_value;
                    net.outflows += 1;
                }
                _ => {}
            }
        }
        Ok(net)
    }

    async fn whale_activity(&self, query: &WhaleQuery) -> Result<Vec<Flow>> {
        if query.min_amount.is_sign_negative() && !query.min_amount.is_zero() {
            return Err(Error::invalid_argument(
                "min_amount",
                "must not be negative",
            ));
        }
        let mut v: Vec<Flow> = self
            .read()
            .flows
            .values()
            .filter(|f| {
                query.asset.as_deref().is_none_or(|a| f.asset == a)
                    && query.range.contains(f.time)
                    && f.amount >= query.min_amount
            })
            .cloned()
            .collect();
        v.sort_by(|a, b| {
            b.time.cmp(&a.time).then_with(|| {
                (&a.asset, &a.source, a.flow_type, &a.reference).cmp(&(
                    &b.asset,
                    &b.source,
                    b.flow_type,
                    &b.reference,
                ))
            })
        });
        Ok(v)
    }

    async fn exchange_breakdown(&self, asset: &str, range: TimeRange) -> Result<Vec<ExchangeFlow>> {
        let mut by_source: BTreeMap<String, ExchangeFlow> = BTreeMap::new();
        for f in self.flows_in(asset, range) {
            let inflow = match f.flow_type {
                FlowType::ExchangeInflow => true,
                FlowType::ExchangeOutflow => false,
                _ => continue,
            };
            let e = by_source
                .entry(f.source.clone())
                .or_insert_with(|| ExchangeFlow {
                    source: f.source.clone(),
                    inflow_amount: Decimal::ZERO,
                    outflow_amount: Decimal::ZERO,
                    inflow_usd: Decimal::ZERO,
                    outflow_usd: Decimal::ZERO,
                    transactions: 0,
                });
            if inflow {
                e.inflow_amount += f.amount;
                e.inflow_usd += f.usd_value;
            } else {
                e.outflow_amount += f.amount;
                e.outflow_usd += f.usd_value;
            }
            e.transactions += 1;
        }
        Ok(by_source.into_values().collect())
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
        let current = self.flows_in(asset, current_range);
        let previous = self.flows_in(asset, previous_range);
        Ok(FlowVelocity {
            asset: asset.to_owned(),
            current_range,
            current_amount: current.iter().map(|f| f.amount).sum(),
            current_count: n(current.len()),
            previous_amount: previous.iter().map(|f| f.amount).sum(),
            previous_count: n(previous.len()),
        })
    }
}
