//! [`PoolStatus`]: what a store's connection pools hold and how often callers waited, for a
//! service to export (`marketseries serve`'s pool gauges).

use std::time::Duration;

/// One pool's state at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PoolGauge {
    /// Connections open (idle or in use).
    pub connections: u32,
    /// Of those, idle.
    pub idle: u32,
    /// Checkouts since the pool was built.
    pub checkouts: u64,
    /// Of those, how many had to wait for a connection.
    pub waited: u64,
    /// Of those, how many gave up (the pool's connect timeout).
    pub timed_out: u64,
    /// Time spent waiting, summed over every checkout.
    pub wait_time: Duration,
}

impl From<bb8::State> for PoolGauge {
    fn from(s: bb8::State) -> Self {
        Self {
            connections: s.connections,
            idle: s.idle_connections,
            checkouts: s.statistics.get_started,
            waited: s.statistics.get_waited,
            timed_out: s.statistics.get_timed_out,
            wait_time: s.statistics.get_wait_time,
        }
    }
}

/// Both pools of a [`SqlStore`](crate::SqlStore): the diesel pool of reads and
/// maintenance, and the `tokio-postgres` clients of the write path (`None` until the first
/// write opens them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStatus {
    /// The read and maintenance pool.
    pub reads: PoolGauge,
    /// The write path's clients, once opened.
    pub writes: Option<PoolGauge>,
}
