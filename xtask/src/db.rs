//! `cargo xtask db start|stop|status`: the throwaway database servers used by tests,
//! benches and the demo (see `marketseries_testkit::launcher`).

use std::error::Error;

use marketseries_testkit::launcher::{self, ServerKind};

const USAGE: &str = "usage: cargo xtask db <start|stop|status>
  start   start (or reuse) the test PostgreSQL and TimescaleDB servers and print their URLs
  stop    stop the servers `db start` or the tests started
  status  show each server's URL and whether it is running
MARKETSERIES_TIMESCALEDB=auto|embedded|native picks the TimescaleDB server (auto: native
when timescaledb.so is installed, else embedded); TIMESCALEDB_URL / DATABASE_URL win.";

/// Runs `cargo xtask db <subcommand>`; `args` are the words after `db`.
///
/// # Errors
///
/// Unknown or missing subcommand (with usage), or a server that cannot be started or
/// stopped (with the tail of its log).
pub fn run(args: &[String]) -> Result<(), Box<dyn Error>> {
    match args {
        [cmd] if cmd == "start" => start(),
        [cmd] if cmd == "stop" => stop(),
        [cmd] if cmd == "status" => {
            status();
            Ok(())
        }
        [cmd] if cmd == "help" || cmd == "--help" || cmd == "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        [] => Err(format!("missing subcommand\n{USAGE}").into()),
        _ => Err(format!("unknown subcommand: db {}\n{USAGE}", args.join(" ")).into()),
    }
}

fn start() -> Result<(), Box<dyn Error>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut failures = Vec::new();
    for kind in ServerKind::ALL {
        let started = std::time::Instant::now();
        match runtime.block_on(launcher::ensure_server(kind)) {
            Ok(server) => println!(
                "{:<12} {} ({}, ready in {:.1} s)",
                kind.label(),
                launcher::redact(server.url()),
                server.flavor,
                started.elapsed().as_secs_f64()
            ),
            Err(e) => {
                eprintln!("{:<12} FAILED: {e}", kind.label());
                failures.push(kind.label());
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("could not start: {}", failures.join(", ")).into())
    }
}

fn stop() -> Result<(), Box<dyn Error>> {
    let stopped = launcher::stop_all()?;
    if stopped.is_empty() {
        println!("no database server started by marketseries was running");
    } else {
        for kind in stopped {
            println!("stopped {kind}");
        }
    }
    Ok(())
}

fn status() {
    for s in launcher::status() {
        let url = s
            .url
            .as_deref()
            .map_or_else(|| "-".to_owned(), launcher::redact);
        let state = if s.alive { "running" } else { "stopped" };
        match s.flavor {
            Some(flavor) => println!("{:<12} {url} {state} ({flavor})", s.kind.label()),
            None => println!("{:<12} {url} {state}", s.kind.label()),
        }
    }
}
