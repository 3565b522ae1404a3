//! `marketseries serve`: the facade's [`Service`] on a listener, until SIGTERM or SIGINT.
//! On the signal `/ready` turns 503, the listener closes, a running maintenance task gets
//! `--shutdown-grace` to finish (then it is cancelled, its transaction rolled back by the
//! server as its connection closes), every connection is closed, and the process exits 0.

use std::sync::Arc;

use marketseries::service::{Service, ServiceOptions};
use marketseries::{Config, TimeSeriesStore};
use tokio::net::TcpListener;

use crate::cli::ServeArgs;
use crate::commands::Target;
use crate::connect::{connect, ConnectOptions};
use crate::error::{CliError, CliResult};

/// Runs the service until SIGTERM or SIGINT.
///
/// # Errors
/// A failure when the database cannot be opened, its schema is missing, or the address
/// cannot be listened on.
pub async fn run(args: ServeArgs, target: &Target) -> CliResult {
    let opened = connect(
        &target.url,
        ConnectOptions {
            connections: args.connections,
            refresh_workers: args.connections.div_ceil(2),
            ..target.options
        },
    )
    .await?;
    // A service over a database nobody migrated would report only errors.
    opened.store().policies().await.map_err(|e| {
        CliError::failed(format!(
            "{} (has `marketseries migrate` been run on this database?)",
            target.url.redact(&e.to_string())
        ))
    })?;
    let options = ServiceOptions::default()
        .refresh_every(args.refresh_every)
        .refresh(!args.no_refresh)
        .policies_every(args.policies_every)
        .max_lag(args.max_lag)
        .per_symbol_labels(!args.no_symbol_labels)
        .shutdown_grace(args.shutdown_grace);
    let config = Config::new(target.url.expose());
    let service = Service::new(opened.opened, &config, options)?;
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| CliError::failed(format!("cannot listen on {}: {e}", args.listen)))?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::failed(format!("cannot listen on {}: {e}", args.listen)))?;
    let mut term = signal(tokio::signal::unix::SignalKind::terminate(), "SIGTERM")?;
    let mut int = signal(tokio::signal::unix::SignalKind::interrupt(), "SIGINT")?;
    eprintln!(
        "serve: listening on http://{local} (/metrics /health /ready), {} backend",
        service.store().capabilities().backend
    );
    let shutdown = async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        eprintln!("serve: {name}: shutting down");
    };
    let result = Arc::clone(&service).run(listener, shutdown).await;
    // The last reference to the pools: their connections close before the process ends.
    drop(service);
    result.map_err(|e| CliError::failed(format!("serve: {e}")))?;
    eprintln!("serve: stopped");
    Ok(())
}

fn signal(
    kind: tokio::signal::unix::SignalKind,
    name: &str,
) -> CliResult<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind)
        .map_err(|e| CliError::failed(format!("cannot watch {name}: {e}")))
}
