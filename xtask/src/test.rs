//! `cargo xtask test` and `cargo xtask ci`.

use std::error::Error;

use marketseries_testkit::launcher::{self, Flavor, ServerKind};

use crate::cmd;

/// Starts the servers, runs doctests and then every test of the workspace (with
/// cargo-nextest when installed, so its summary closes the output); where `auto` picked a
/// native TimescaleDB, the TimescaleDB packages' tests run a second time on the embedded
/// server. If no launcher-managed
/// server was running beforehand, stops them afterwards; otherwise leaves them running
/// (servers given by `DATABASE_URL` / `TIMESCALEDB_URL` are never touched). `args` go to
/// the test runner.
pub fn run(args: &[String]) -> Result<(), Box<dyn Error>> {
    let already_running: Vec<ServerKind> = launcher::status()
        .into_iter()
        .filter(|s| s.alive && s.flavor != Some(Flavor::External))
        .map(|s| s.kind)
        .collect();
    crate::db::run(&["start".to_owned()])?;
    let result = run_tests(args);
    drop_external_test_databases();
    if already_running.is_empty() {
        match launcher::stop_all() {
            Ok(stopped) => println!(
                "stopped the servers this run started: {}",
                stopped
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(e) => eprintln!("warning: could not stop the test servers: {e}"),
        }
    } else {
        println!("leaving the database servers running (they were running before `xtask test`)");
    }
    result
}

/// Drops the databases the tests created on external servers (`DATABASE_URL`,
/// `TIMESCALEDB_URL`), now that every test process has exited; servers this run started
/// are stopped (or reaped by the next run) instead.
fn drop_external_test_databases() {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    for kind in ServerKind::ALL {
        if std::env::var_os(kind.override_var()).is_none() {
            continue;
        }
        match runtime.block_on(launcher::drop_test_databases(kind)) {
            Ok(dropped) => println!(
                "dropped the {} test databases this run created on the external {} server",
                dropped.len(),
                kind.label()
            ),
            Err(e) => eprintln!(
                "warning: could not drop the test databases on the external {} server: {e}",
                kind.label()
            ),
        }
    }
}

fn run_tests(args: &[String]) -> Result<(), Box<dyn Error>> {
    let mut doc = cmd::cargo();
    doc.args(["test", "--workspace", "--doc"]);
    cmd::run(doc)?;
    let mut tests = cmd::cargo();
    if cmd::available("cargo", &["nextest"]) {
        tests.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
    } else {
        println!("cargo-nextest is not installed; using cargo test (install it with `cargo install cargo-nextest`)");
        tests.args(["test", "--workspace", "--all-targets", "--no-fail-fast"]);
    }
    tests.args(args);
    let first = cmd::run(tests);
    let second = match embedded_pass_needed()? {
        true => run_embedded_pass(args),
        false => Ok(()),
    };
    first.and(second)
}

/// Packages whose tests talk to TimescaleDB (the launcher's own tests cover both servers
/// themselves).
const TIMESCALEDB_PACKAGES: [&str; 3] =
    ["marketseries-timescale", "marketseries", "marketseries-cli"];

/// Whether the main run used a native TimescaleDB that `auto` picked: then the embedded
/// server, the one CI machines without a native build use, is tested too. Not when
/// `MARKETSERIES_TIMESCALEDB` or `TIMESCALEDB_URL` chose the server.
fn embedded_pass_needed() -> Result<bool, Box<dyn Error>> {
    let choice = launcher::TimescaleChoice::from_env()?;
    Ok(choice == launcher::TimescaleChoice::Auto
        && std::env::var_os(launcher::TIMESCALEDB_URL_VAR).is_none()
        && choice.local_flavor()? == Flavor::Native)
}

/// Runs the TimescaleDB packages' tests again on the embedded server.
fn run_embedded_pass(args: &[String]) -> Result<(), Box<dyn Error>> {
    println!(
        "\nthe run above used the native TimescaleDB; running the TimescaleDB tests again on \
         the embedded server ({}=embedded)",
        launcher::TIMESCALEDB_CHOICE_VAR
    );
    let mut tests = cmd::cargo();
    tests.env(launcher::TIMESCALEDB_CHOICE_VAR, "embedded");
    if cmd::available("cargo", &["nextest"]) {
        tests.args(["nextest", "run", "--no-fail-fast"]);
    } else {
        tests.args(["test", "--all-targets", "--no-fail-fast"]);
    }
    for package in TIMESCALEDB_PACKAGES {
        tests.args(["-p", package]);
    }
    tests.args(args);
    cmd::run(tests)
}

/// Format check, clippy with warnings denied on every target, docs with warnings denied,
/// then [`run`], then `bench --quick`.
pub fn ci() -> Result<(), Box<dyn Error>> {
    let mut fmt = cmd::cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    cmd::run(fmt)?;
    let mut clippy = cmd::cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    cmd::run(clippy)?;
    let mut doc = cmd::cargo();
    doc.args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings");
    cmd::run(doc)?;
    run(&[])?;
    // Every benchmark operation once on every target, answers checked against the Rust API.
    crate::bench::run(&["--quick".to_owned()])
}
