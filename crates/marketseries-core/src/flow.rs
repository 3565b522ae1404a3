//! On-chain and exchange flows and the flow query/result types.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::time::TimeRange;

/// What kind of movement a flow records.
///
/// Declared in alphabetical order of the stored names so that the derived `Ord` matches
/// SQL `ORDER BY flow_type` and every backend sorts the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowType {
    /// Coins moved onto an exchange.
    ExchangeInflow,
    /// Coins moved off an exchange.
    ExchangeOutflow,
    /// A large on-chain transaction.
    LargeTransaction,
    /// Coins leaving miner wallets.
    MinerOutflow,
    /// Movement by wallets classed as smart money.
    SmartMoney,
    /// A transfer by a whale wallet.
    WhaleTransfer,
}

impl FlowType {
    /// Every flow type, in declaration order.
    pub const ALL: [FlowType; 6] = [
        Self::ExchangeInflow,
        Self::ExchangeOutflow,
        Self::LargeTransaction,
        Self::MinerOutflow,
        Self::SmartMoney,
        Self::WhaleTransfer,
    ];

    /// Snake-case name as stored in SQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ExchangeInflow => "exchange_inflow",
            Self::ExchangeOutflow => "exchange_outflow",
            Self::WhaleTransfer => "whale_transfer",
            Self::LargeTransaction => "large_transaction",
            Self::SmartMoney => "smart_money",
            Self::MinerOutflow => "miner_outflow",
        }
    }
}

impl fmt::Display for FlowType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FlowType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                Error::invalid_argument(
                    "flow_type",
                    format!(
                        "{s:?} is not one of {}",
                        Self::ALL.map(FlowType::as_str).join(", ")
                    ),
                )
            })
    }
}

/// One flow event: natural key `(asset, source, flow_type, time, reference)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// Asset moved, e.g. `BTC`.
    pub asset: String,
    /// When it happened (UTC, microsecond precision).
    pub time: DateTime<Utc>,
    /// Kind of movement.
    pub flow_type: FlowType,
    /// Amount of the asset, non-negative.
    pub amount: Decimal,
    /// Value in USD at the time, non-negative.
    pub usd_value: Decimal,
    /// Exchange or data provider (per-exchange breakdowns group by it).
    pub source: String,
    /// Transaction hash or provider event id; may be empty when the provider reports at
    /// most one event per key.
    #[serde(default)]
    pub reference: String,
}

/// Flows of one type aggregated over one bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowAggregate {
    /// Bucket start.
    pub time: DateTime<Utc>,
    /// Flow type.
    pub flow_type: FlowType,
    /// Sum of amounts.
    pub amount: Decimal,
    /// Sum of USD values.
    pub usd_value: Decimal,
    /// Number of flows.
    pub transactions: u64,
}

/// Exchange inflow against exchange outflow over a range. Only
/// [`FlowType::ExchangeInflow`] and [`FlowType::ExchangeOutflow`] count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetFlow {
    /// Asset.
    pub asset: String,
    /// Range examined.
    pub range: TimeRange,
    /// Sum of inflow amounts.
    pub inflow_amount: Decimal,
    /// Sum of outflow amounts.
    pub outflow_amount: Decimal,
    /// Sum of inflow USD values.
    pub inflow_usd: Decimal,
    /// Sum of outflow USD values.
    pub outflow_usd: Decimal,
    /// Number of inflows.
    pub inflows: u64,
    /// Number of outflows.
    pub outflows: u64,
}

impl NetFlow {
    /// Inflow minus outflow, in the asset (positive: coins moving onto exchanges).
    pub fn net_amount(&self) -> Decimal {
        self.inflow_amount - self.outflow_amount
    }

    /// Inflow minus outflow, in USD.
    pub fn net_usd(&self) -> Decimal {
        self.inflow_usd - self.outflow_usd
    }
}

/// Selects large flows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhaleQuery {
    /// Restrict to one asset; `None` for all.
    pub asset: Option<String>,
    /// Range examined.
    pub range: TimeRange,
    /// Flows with `amount >= min_amount` are returned. Must not be negative.
    pub min_amount: Decimal,
}

/// Flows through one exchange (source) over a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExchangeFlow {
    /// Exchange (the flow's `source`).
    pub source: String,
    /// Sum of inflow amounts.
    pub inflow_amount: Decimal,
    /// Sum of outflow amounts.
    pub outflow_amount: Decimal,
    /// Sum of inflow USD values.
    pub inflow_usd: Decimal,
    /// Sum of outflow USD values.
    pub outflow_usd: Decimal,
    /// Number of exchange inflows and outflows.
    pub transactions: u64,
}

impl ExchangeFlow {
    /// Inflow minus outflow, in the asset.
    pub fn net_amount(&self) -> Decimal {
        self.inflow_amount - self.outflow_amount
    }
}

/// Total flow (all types) in the latest window against the window before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowVelocity {
    /// Asset.
    pub asset: String,
    /// `[now - window, now)`.
    pub current_range: TimeRange,
    /// Sum of amounts in the current window.
    pub current_amount: Decimal,
    /// Flows in the current window.
    pub current_count: u64,
    /// Sum of amounts in `[now - 2 window, now - window)`.
    pub previous_amount: Decimal,
    /// Flows in the previous window.
    pub previous_count: u64,
}

impl FlowVelocity {
    /// Current amount per hour of window, rounded to 8 decimal places.
    pub fn amount_per_hour(&self) -> Decimal {
        let hours =
            Decimal::from(self.current_range.duration().num_seconds()) / Decimal::from(3600);
        self.current_amount
            .checked_div(hours)
            .unwrap_or_default()
            .round_dp(8)
    }

    /// Ratio of current to previous amount (`None` when the previous window had none).
    pub fn acceleration(&self) -> Option<Decimal> {
        if self.previous_amount.is_zero() {
            return None;
        }
        Some(
            self.current_amount
                .checked_div(self.previous_amount)?
                .round_dp(8),
        )
    }

    /// The window length.
    pub fn window(&self) -> TimeDelta {
        self.current_range.duration()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_type_names_round_trip() {
        for t in FlowType::ALL {
            assert_eq!(t.as_str().parse::<FlowType>().unwrap(), t);
        }
        let mut names = FlowType::ALL.map(FlowType::as_str);
        names.sort_unstable();
        assert_eq!(
            names,
            FlowType::ALL.map(FlowType::as_str),
            "Ord must match SQL text order"
        );
        assert!("inflow".parse::<FlowType>().is_err());
    }
}
