//! The embedded TimescaleDB server: `pglite/server.mjs` (PGlite WASM with TimescaleDB)
//! run under Node.js, detached so that it outlives the process that started it.

use std::fs::{self, File, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::state::{now_secs, Layout, ServerState};
use super::{sys, Flavor, LaunchError, ServerKind};

/// How long the node server may take to print `READY <port>`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Oldest Node.js major version the server supports.
const MIN_NODE_MAJOR: u32 = 18;

/// The directory holding `server.mjs`, `package.json` and `package-lock.json`.
pub(crate) fn pglite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pglite")
}

/// Finds `node` on PATH and checks its version.
fn find_node() -> Result<PathBuf, LaunchError> {
    let missing = |what: String| LaunchError::MissingPrerequisite {
        what,
        install_hint: "nodejs".to_owned(),
    };
    let node = sys::which("node").ok_or_else(|| {
        missing(format!(
            "`node` (Node.js >= {MIN_NODE_MAJOR}) on PATH, needed for the embedded TimescaleDB"
        ))
    })?;
    let out = sys::run(Command::new(&node).arg("--version"))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let major: Option<u32> = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok());
    match major {
        Some(m) if m >= MIN_NODE_MAJOR => Ok(node),
        _ => Err(missing(format!(
            "Node.js >= {MIN_NODE_MAJOR} for the embedded TimescaleDB (found {version} at {})",
            node.display()
        ))),
    }
}

/// Runs `npm ci` in the pglite directory unless its dependencies are installed.
fn ensure_node_modules(dir: &Path, layout: &Layout) -> Result<(), LaunchError> {
    // npm writes this file at the end of a successful install.
    if dir.join("node_modules/.package-lock.json").is_file() {
        return Ok(());
    }
    let npm = sys::which("npm").ok_or_else(|| LaunchError::MissingPrerequisite {
        what: format!(
            "`npm` on PATH, needed once to install the embedded TimescaleDB into {}/node_modules",
            dir.display()
        ),
        install_hint: "npm".to_owned(),
    })?;
    let mut cmd = Command::new(npm);
    cmd.args(["ci", "--no-audit", "--no-fund"]).current_dir(dir);
    let result = sys::run(&mut cmd);
    if let Ok(out) = &result {
        // Keep the install output next to the other logs; best effort.
        let _ = fs::write(layout.state_dir.join("npm-ci.log"), sys::output_tail(out));
    }
    result.map(|_| ())
}

/// Finds `READY <port>` in the server's log.
fn ready_port(log: &Path) -> Option<u16> {
    let text = fs::read_to_string(log).ok()?;
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("READY "))
        .find_map(|port| port.trim().parse().ok())
}

/// Starts the embedded server and waits for it to listen. Blocking.
pub(crate) fn start(layout: &Layout) -> Result<ServerState, LaunchError> {
    let kind = ServerKind::Timescale;
    let node = find_node()?;
    let dir = pglite_dir();
    let script = dir.join("server.mjs");
    let log = layout.state_dir.join("timescaledb-embedded.log");
    if !script.is_file() {
        return Err(LaunchError::Startup {
            kind,
            reason: format!(
                "the embedded TimescaleDB server {} is missing",
                script.display()
            ),
            log,
            log_tail: String::new(),
        });
    }
    ensure_node_modules(&dir, layout)?;
    if log.is_file() {
        // Keep the previous server's log for diagnosis; best effort.
        let _ = fs::rename(&log, layout.previous_log(kind, Flavor::Embedded));
    }

    let log_file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&log)
        .map_err(|e| LaunchError::io(format!("could not create {}", log.display()), e))?;
    let log_err: File = log_file
        .try_clone()
        .map_err(|e| LaunchError::io(format!("could not reopen {}", log.display()), e))?;
    let mut cmd = Command::new(&node);
    cmd.arg("server.mjs")
        .args(["--host", "127.0.0.1", "--port", "0"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        // Own process group: not killed with the test's group (nextest, Ctrl-C).
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| LaunchError::io(format!("could not run `{}`", sys::describe(&cmd)), e))?;
    let pid = child.id();

    let startup_error = |reason: String| LaunchError::Startup {
        kind,
        reason,
        log: log.clone(),
        log_tail: sys::log_tail(&log),
    };
    let deadline = Instant::now() + READY_TIMEOUT;
    let port = loop {
        if let Some(port) = ready_port(&log) {
            break port;
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                return Err(startup_error(format!(
                    "`node server.mjs` (pid {pid}) exited with {status} before printing READY"
                )));
            }
            Ok(None) => {}
            Err(e) => {
                return Err(LaunchError::io(
                    format!("could not watch node pid {pid}"),
                    e,
                ))
            }
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(startup_error(format!(
                "`node server.mjs` (pid {pid}) printed no READY line within {} s",
                READY_TIMEOUT.as_secs()
            )));
        }
        sleep(Duration::from_millis(25));
    };
    // The child is deliberately not waited for: it keeps running after we exit.
    drop(child);
    Ok(ServerState {
        kind,
        flavor: Flavor::Embedded,
        pid,
        port,
        url: format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable"),
        log,
        cluster_dir: None,
        data_dir: None,
        socket_dir: None,
        bin_dir: None,
        run_as: None,
        started_at: now_secs(),
    })
}

/// Stops the node server: SIGTERM, SIGKILL after 10 s. Blocking. Returns whether it was
/// running.
pub(crate) fn stop(state: &ServerState) -> Result<bool, LaunchError> {
    let marker = state.marker();
    if !sys::pid_alive(state.pid, &marker) {
        return Ok(false);
    }
    if sys::terminate(state.pid, &marker, Duration::from_secs(10)) {
        Ok(true)
    } else {
        Err(LaunchError::Stop {
            kind: state.kind,
            reason: format!("node pid {} survived SIGTERM and SIGKILL", state.pid),
            log: state.log.clone(),
            log_tail: sys::log_tail(&state.log),
        })
    }
}
