//! Test support for marketseries: the conformance suite every backend runs, deterministic
//! data generators, a naive OHLCV oracle, and the launcher that starts throwaway PostgreSQL
//! and TimescaleDB servers for tests, benches and `cargo xtask`.

pub mod conformance;
pub mod counts;
pub mod fault_proxy;
pub mod faults;
pub mod generate;
pub mod http;
pub mod launcher;
pub mod naive;
pub mod sql_checks;
pub mod tls;

pub use conformance::{MemoryFactory, StoreFactory};
