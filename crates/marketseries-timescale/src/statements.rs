//! SQL text only TimescaleDB runs: the liveness condition of `candle_series` rows and the
//! read statements built with it (its [`Flavor::reads`](marketseries_sql::Flavor::reads)).
//! Public so that benchmarks can issue exactly what the store issues and operators can
//! `EXPLAIN` it.

use marketseries_sql::statements::{ReadPieces, ReadStatements, SHARED_PIECES};

/// Condition that series `s` (a `candle_series` row) still has its latest candle: its time
/// is at or after the start of the oldest chunk of `candles` (`marketseries_candles_floor`,
/// migration `00000000000006_live_floor`, which explains why that is exact). The floor is an
/// uncorrelated subquery over TimescaleDB's catalog, run once per statement; the shared
/// probe ([`marketseries_sql::statements::LIVE`]) looks the candle up in `candles`, whose
/// chunk is known only at run time, so a generic plan started up every chunk on every call
/// (5.4 ms server time per latest price at 90 days of 1m candles on native 2.28, 67 ms for
/// the first call on a connection). No chunk, no floor: no series is live.
pub const LIVE: &str =
    "coalesce(s.latest_time >= (SELECT fl.floor FROM marketseries_candles_floor() fl), false)";

/// Deletes the `candle_series` rows of series without candles (by the floor of [`LIVE`]).
/// Column `n`: how many. Run before every candle write, so that a write below the floor (a
/// backfill behind retention), which lowers it, cannot make a dead series' row look live
/// again; and after the store's retention.
pub const FORGET_DEAD_SERIES: &str = "SELECT marketseries_forget_dead_series() AS n";

/// The read statements of TimescaleDB: the shared ones with [`LIVE`].
pub static READS: ReadStatements = ReadStatements::new(ReadPieces {
    live: LIVE,
    ..SHARED_PIECES
});
