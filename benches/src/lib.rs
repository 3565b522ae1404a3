//! `cargo xtask bench`: the marketseries backends against the seed's plain table, at scale,
//! on the launcher's servers (or the ones `--postgres-url` / `--timescale-url` name).
//!
//! One criterion binary (`benches/marketseries.rs`) loads the same generated rows into
//! three targets ([`target::TargetKind`]), times the loads and the stores' own maintenance
//! once each ([`load`]), measures every read with criterion right after the load and after
//! maintenance ([`ops`]), checks every answer against the Rust API's, repeats the growth
//! reads at four times the data and the market-wide reads on 100 symbols, compares the CLI
//! import with `psql \copy` ([`cli_import`]), and writes `report.md`, `chart.svg` and
//! `results.json` ([`report`]). Settings come from `MARKETSERIES_BENCH_*` variables
//! ([`settings::Settings`]); see `docs/benchmarks.md`.
//!
//! The launcher's native servers run with `fsync=off` and `synchronous_commit=off`:
//! absolute figures are optimistic; the ratios measured in one run are what the targets are
//! about. Figures from the embedded TimescaleDB (WebAssembly) are never performance figures:
//! the report marks them so.

pub mod answer;
pub mod cli_import;
pub mod data;
pub mod load;
pub mod ops;
pub mod report;
pub mod results;
pub mod run;
pub mod settings;
pub mod target;
