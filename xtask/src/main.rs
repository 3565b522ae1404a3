//! Project automation, run as `cargo xtask <command>`:
//!
//! - `db start|stop|status`: the throwaway PostgreSQL and TimescaleDB servers;
//! - `test [ARGS]`: starts the servers, runs every test in the workspace, then stops the
//!   servers unless they were already running;
//! - `ci`: format check, clippy (warnings denied), docs (warnings denied), then `test`;
//! - `demo`: the main job (see `demo.rs`);
//! - `bench [OPTIONS]`: the benchmark at scale, with its report (see `bench.rs`).

// A binary has no public API: `pub` here only means "used by other modules".
#![allow(unreachable_pub)]

mod bench;
mod cmd;
mod db;
mod demo;
mod test;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>
  db start|stop|status   manage the throwaway PostgreSQL and TimescaleDB servers
  test [ARGS]            start the servers, run every test (ARGS go to the test runner)
  ci                     fmt check, clippy -D warnings, cargo doc -D warnings, test
  demo                   run the demonstration job
  bench [OPTIONS]        the benchmark (targets, data sizes, report); `bench --help`";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("db") => db::run(&args[1..]),
        Some("test") => test::run(&args[1..]),
        Some("ci") => test::ci(),
        Some("demo") => demo::run(),
        Some("bench") => bench::run(&args[1..]),
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n{USAGE}").into()),
        None => Err(USAGE.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
