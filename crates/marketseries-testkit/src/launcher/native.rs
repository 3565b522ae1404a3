//! Throwaway native PostgreSQL clusters (plain, or with TimescaleDB preloaded).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::state::{now_secs, Layout, ServerState};
use super::{sys, Flavor, LaunchError, ServerKind};

/// The Debian package named when PostgreSQL is missing.
const PG_PACKAGE: &str = "postgresql-15";
/// The system user that runs clusters when the launcher runs as root.
const PG_USER: &str = "postgres";
/// File that marks a directory as created by this launcher (safe to delete).
pub(crate) const MARKER_FILE: &str = ".marketseries-launcher";

/// A PostgreSQL server installation.
#[derive(Debug, Clone)]
pub(crate) struct PgInstall {
    /// Directory holding `initdb`, `pg_ctl` and `postgres`.
    pub(crate) bin_dir: PathBuf,
    /// `pg_config --pkglibdir` of that installation.
    pub(crate) pkglib_dir: PathBuf,
}

impl PgInstall {
    /// Whether TimescaleDB can be preloaded into this installation.
    pub(crate) fn has_timescaledb(&self) -> bool {
        self.pkglib_dir.join("timescaledb.so").is_file()
    }
}

fn has_server_binaries(dir: &Path) -> bool {
    ["initdb", "postgres", "pg_ctl"]
        .iter()
        .all(|b| sys::is_executable(&dir.join(b)))
}

fn pg_config(program: &Path, flag: &str) -> Option<PathBuf> {
    let out = Command::new(program).arg(flag).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!text.is_empty()).then(|| PathBuf::from(text))
}

/// Sort key for `/usr/lib/postgresql/<version>`: numeric version parts.
fn version_key(dir: &Path) -> Vec<u32> {
    dir.file_name()
        .map(|n| {
            n.to_string_lossy()
                .split('.')
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Finds PostgreSQL server binaries: `pg_config --bindir` if it has them, else the
/// newest `/usr/lib/postgresql/*/bin`.
pub(crate) fn find_install() -> Result<PgInstall, LaunchError> {
    let mut bin_dir = sys::which("pg_config")
        .and_then(|p| pg_config(&p, "--bindir"))
        .filter(|d| has_server_binaries(d));
    if bin_dir.is_none() {
        let mut candidates: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
            .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        candidates.retain(|v| has_server_binaries(&v.join("bin")));
        candidates.sort_by_key(|v| version_key(v));
        bin_dir = candidates.pop().map(|v| v.join("bin"));
    }
    let Some(bin_dir) = bin_dir else {
        return Err(LaunchError::MissingPrerequisite {
            what: "PostgreSQL server binaries (initdb, pg_ctl, postgres): none found via \
                   `pg_config --bindir` or in /usr/lib/postgresql/*/bin"
                .to_owned(),
            install_hint: PG_PACKAGE.to_owned(),
        });
    };
    let pkglib_dir = pg_config(&bin_dir.join("pg_config"), "--pkglibdir")
        .or_else(|| bin_dir.parent().map(|p| p.join("lib")))
        .unwrap_or_else(|| bin_dir.join("../lib"));
    Ok(PgInstall {
        bin_dir,
        pkglib_dir,
    })
}

/// A command for a PostgreSQL program, run as the `postgres` user via `runuser` when
/// this process is root (initdb and postgres refuse to run as root).
fn pg_command(program: &Path, as_user: Option<&str>) -> Command {
    let mut cmd = match as_user {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(program);
            c
        }
        None => Command::new(program),
    };
    // A directory every user can enter (our own cwd may be e.g. under /root), and no
    // inherited libpq/server environment that could redirect the tools.
    cmd.current_dir("/");
    for var in [
        "PGDATA",
        "PGPORT",
        "PGHOST",
        "PGHOSTADDR",
        "PGUSER",
        "PGDATABASE",
        "PGOPTIONS",
        "PGSERVICE",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Checks that the `postgres` user exists and `runuser` is available (root only).
fn check_root_prerequisites() -> Result<(), LaunchError> {
    if sys::which("runuser").is_none() {
        return Err(LaunchError::MissingPrerequisite {
            what: "`runuser` (needed to run PostgreSQL as the postgres user when running as root)"
                .to_owned(),
            install_hint: "util-linux".to_owned(),
        });
    }
    let exists = Command::new("id")
        .args(["-u", PG_USER])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !exists {
        return Err(LaunchError::MissingPrerequisite {
            what:
                "the `postgres` system user (initdb refuses to run as root, so the launcher runs \
                   clusters as that user)"
                    .to_owned(),
            install_hint: PG_PACKAGE.to_owned(),
        });
    }
    Ok(())
}

/// Whether the `postgres` user can traverse into `dir`.
fn postgres_can_reach(dir: &Path) -> bool {
    Command::new("runuser")
        .args(["-u", PG_USER, "--", "sh", "-c", "test -x \"$0\""])
        .arg(dir)
        .current_dir("/")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn chown_to_postgres(paths: &[&Path]) -> Result<(), LaunchError> {
    let mut cmd = Command::new("chown");
    cmd.arg(format!("{PG_USER}:"));
    cmd.args(paths);
    sys::run(&mut cmd).map(|_| ())
}

/// Removes a directory this launcher created (it carries [`MARKER_FILE`]); refuses to
/// delete anything else.
fn remove_own_dir(dir: &Path) -> Result<(), LaunchError> {
    if !dir.exists() {
        return Ok(());
    }
    if !dir.join(MARKER_FILE).exists() {
        return Err(LaunchError::io(
            format!(
                "refusing to delete {}: it was not created by the marketseries launcher \
                 (no {MARKER_FILE}); remove it yourself",
                dir.display()
            ),
            std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        ));
    }
    fs::remove_dir_all(dir)
        .map_err(|e| LaunchError::io(format!("could not delete {}", dir.display()), e))
}

fn make_own_dir(dir: &Path) -> Result<(), LaunchError> {
    fs::create_dir_all(dir)
        .map_err(|e| LaunchError::io(format!("could not create {}", dir.display()), e))?;
    fs::write(
        dir.join(MARKER_FILE),
        b"created by the marketseries test database launcher\n",
    )
    .map_err(|e| LaunchError::io(format!("could not write into {}", dir.display()), e))
}

/// `timescaledb.max_background_workers` of a TimescaleDB cluster this launcher starts.
///
/// Every database holding the extension takes one of these for its job scheduler while
/// it exists, and each running job one more. With the default of 16 (and
/// `max_worker_processes = 8`), about forty leftover test databases on one server left
/// none, and new databases' jobs never ran (DESIGN §4).
pub(crate) const TIMESCALE_BACKGROUND_WORKERS: u32 = 96;

/// `max_worker_processes` of a TimescaleDB cluster this launcher starts: the TimescaleDB
/// workers, its launcher, PostgreSQL's parallel workers (`max_parallel_workers`, 8 by
/// default) and headroom. Each slot costs shared memory (and a semaphore) like a
/// connection does, and counts towards the same limits as `max_connections`.
pub(crate) const TIMESCALE_WORKER_PROCESSES: u32 = 128;

/// The `postgres` options that make a cluster a TimescaleDB one: the library preloaded,
/// no telemetry, and worker limits that fit many test databases.
fn timescale_options() -> String {
    format!(
        " -c shared_preload_libraries=timescaledb -c timescaledb.telemetry_level=off \
         -c max_worker_processes={TIMESCALE_WORKER_PROCESSES} \
         -c timescaledb.max_background_workers={TIMESCALE_BACKGROUND_WORKERS}"
    )
}

/// The CA certificate of a PostgreSQL cluster's TLS, in its cluster directory.
pub(crate) const TLS_CA_FILE: &str = "tls-ca.pem";

/// Makes a certificate authority for the cluster and a server certificate from it for
/// [`crate::tls::SERVER_NAMES`]: the certificate and key into the data directory (the key
/// readable by the server's user alone, as PostgreSQL demands), the CA's certificate beside
/// it for clients' `sslrootcert`. The CA's key is not kept.
fn write_tls_files(cluster_dir: &Path, data_dir: &Path, root: bool) -> Result<(), LaunchError> {
    use std::os::unix::fs::PermissionsExt;
    let startup = |e: String| {
        LaunchError::io(
            "could not generate the cluster's TLS certificates",
            std::io::Error::other(e),
        )
    };
    let ca = crate::tls::TestCa::generate("marketseries launcher CA")
        .map_err(|e| startup(e.to_string()))?;
    let server = ca
        .server_cert(crate::tls::SERVER_NAMES)
        .map_err(|e| startup(e.to_string()))?;
    let write = |path: &Path, text: &str| {
        fs::write(path, text)
            .map_err(|e| LaunchError::io(format!("could not write {}", path.display()), e))
    };
    let (crt, key) = (data_dir.join("server.crt"), data_dir.join("server.key"));
    write(&crt, &server.cert_pem)?;
    write(&key, &server.key_pem)?;
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600))
        .map_err(|e| LaunchError::io(format!("could not restrict {}", key.display()), e))?;
    write(&cluster_dir.join(TLS_CA_FILE), ca.cert_pem())?;
    if root {
        chown_to_postgres(&[&crt, &key])?;
    }
    Ok(())
}

/// Postmaster pid from `<data>/postmaster.pid`, if the file is there.
fn postmaster_pid(data_dir: &Path) -> Option<u32> {
    let text = fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// Starts a fresh cluster for `kind` (plain PostgreSQL, or TimescaleDB preloaded).
/// Cleans up a stale cluster of this launcher's making first. Blocking.
pub(crate) fn start(
    layout: &Layout,
    kind: ServerKind,
    install: &PgInstall,
) -> Result<ServerState, LaunchError> {
    let root = sys::is_root();
    let run_as = if root {
        check_root_prerequisites()?;
        Some(PG_USER)
    } else {
        None
    };
    // As root, the cluster runs as `postgres`, which must be able to reach its data dir.
    let parent = if root && !postgres_can_reach(&layout.state_dir) {
        layout.tmp_base.clone()
    } else {
        layout.state_dir.clone()
    };
    let cluster_dir = parent.join(kind.label());
    let data_dir = cluster_dir.join("data");
    let socket_dir = layout.tmp_base.join(match kind {
        ServerKind::Postgres => "pg-sock",
        ServerKind::Timescale => "ts-sock",
    });
    let log = cluster_dir.join("server.log");

    // Stale cluster of ours (e.g. state file lost, or the machine rebooted): stop, delete.
    if let Some(pid) = postmaster_pid(&data_dir) {
        let marker = data_dir.to_string_lossy().into_owned();
        if sys::pid_alive(pid, &marker) && cluster_dir.join(MARKER_FILE).exists() {
            let mut stop = pg_command(&install.bin_dir.join("pg_ctl"), run_as);
            stop.arg("-D")
                .arg(&data_dir)
                .args(["-m", "immediate", "-w", "-t", "20", "stop"]);
            let _ = sys::run(&mut stop);
            sys::terminate(pid, &marker, Duration::from_secs(5));
        }
    }
    if log.is_file() {
        let _ = fs::copy(&log, layout.previous_log(kind, Flavor::Native));
    }
    remove_own_dir(&cluster_dir)?;
    make_own_dir(&cluster_dir)?;
    make_own_dir(&layout.tmp_base)?;
    if socket_dir.exists() {
        fs::remove_dir_all(&socket_dir).map_err(|e| {
            LaunchError::io(format!("could not delete {}", socket_dir.display()), e)
        })?;
    }
    fs::create_dir_all(&socket_dir)
        .map_err(|e| LaunchError::io(format!("could not create {}", socket_dir.display()), e))?;
    if root {
        chown_to_postgres(&[&cluster_dir, &socket_dir])?;
    }

    let started = (|| -> Result<ServerState, LaunchError> {
        let startup_error = |reason: String| LaunchError::Startup {
            kind,
            reason,
            log: log.clone(),
            log_tail: sys::log_tail(&log),
        };

        let mut initdb = pg_command(&install.bin_dir.join("initdb"), run_as);
        initdb.arg("-D").arg(&data_dir).args([
            "--auth=trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ]);
        sys::run(&mut initdb).map_err(|e| startup_error(format!("initdb failed: {e}")))?;

        let extra = match kind {
            ServerKind::Postgres => {
                write_tls_files(&cluster_dir, &data_dir, root)?;
                // `server.crt` and `server.key` in the data directory are the defaults.
                " -c ssl=on".to_owned()
            }
            ServerKind::Timescale => timescale_options(),
        };
        let mut attempt = 0;
        let port = loop {
            attempt += 1;
            let port = sys::free_port()?;
            let options = format!(
                "-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={} -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=200{extra}",
                socket_dir.display()
            );
            let log_len_before = fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
            let mut pg_ctl = pg_command(&install.bin_dir.join("pg_ctl"), run_as);
            pg_ctl
                .arg("-D")
                .arg(&data_dir)
                .arg("-l")
                .arg(&log)
                .arg("-o")
                .arg(&options)
                .args(["-w", "-t", "60", "start"]);
            match sys::run(&mut pg_ctl) {
                Ok(_) => break port,
                Err(e) => {
                    let new_log = fs::read(&log)
                        .map(|b| {
                            let from = usize::try_from(log_len_before).unwrap_or(0).min(b.len());
                            String::from_utf8_lossy(&b[from..]).into_owned()
                        })
                        .unwrap_or_default();
                    let port_taken =
                        new_log.contains("already in use") || new_log.contains("could not bind");
                    if port_taken && attempt < 3 {
                        continue;
                    }
                    return Err(startup_error(format!(
                        "pg_ctl start failed (attempt {attempt}): {e}"
                    )));
                }
            }
        };
        let pid = postmaster_pid(&data_dir).ok_or_else(|| {
            startup_error(format!(
                "no postmaster.pid in {} after start",
                data_dir.display()
            ))
        })?;
        Ok(ServerState {
            kind,
            flavor: Flavor::Native,
            pid,
            port,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable"),
            log,
            cluster_dir: Some(cluster_dir),
            data_dir: Some(data_dir),
            socket_dir: Some(socket_dir.clone()),
            bin_dir: Some(install.bin_dir.clone()),
            run_as: run_as.map(str::to_owned),
            started_at: now_secs(),
        })
    })();
    if started.is_err() {
        // The cluster dir stays (it holds the log named in the error); the socket dir goes.
        let _ = fs::remove_dir_all(&socket_dir);
    }
    started
}

/// Stops a cluster this launcher started (`pg_ctl stop -m fast`, then signals) and
/// deletes its directories. Blocking. Returns whether a process was running.
/// The server log is copied to `keep_log_as` before the directories go.
pub(crate) fn stop(state: &ServerState, keep_log_as: &Path) -> Result<bool, LaunchError> {
    let marker = state.marker();
    let was_alive = state.process_alive();
    if was_alive {
        if let (Some(bin_dir), Some(data_dir)) = (&state.bin_dir, &state.data_dir) {
            let mut pg_ctl = pg_command(&bin_dir.join("pg_ctl"), state.run_as.as_deref());
            pg_ctl
                .arg("-D")
                .arg(data_dir)
                .args(["-m", "fast", "-w", "-t", "30", "stop"]);
            // Failure is handled below by signalling the postmaster directly.
            let _ = sys::run(&mut pg_ctl);
        }
        if !sys::terminate(state.pid, &marker, Duration::from_secs(10)) {
            return Err(LaunchError::Stop {
                kind: state.kind,
                reason: format!(
                    "postmaster pid {} survived pg_ctl stop, SIGTERM and SIGKILL",
                    state.pid
                ),
                log: state.log.clone(),
                log_tail: sys::log_tail(&state.log),
            });
        }
    }
    if state.log.is_file() {
        // Best effort: the log only helps diagnose why a server went away.
        let _ = fs::copy(&state.log, keep_log_as);
    }
    if let Some(cluster_dir) = &state.cluster_dir {
        remove_own_dir(cluster_dir)?;
    }
    if let Some(socket_dir) = &state.socket_dir {
        if socket_dir.exists() {
            fs::remove_dir_all(socket_dir).map_err(|e| {
                LaunchError::io(format!("could not delete {}", socket_dir.display()), e)
            })?;
        }
    }
    Ok(was_alive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timescale_clusters_get_room_for_many_schedulers() {
        let options = timescale_options();
        assert!(options.contains("-c shared_preload_libraries=timescaledb "));
        assert!(options.contains("-c timescaledb.telemetry_level=off "));
        assert!(options.contains("-c max_worker_processes=128 "));
        assert!(options.ends_with("-c timescaledb.max_background_workers=96"));
        // The TimescaleDB workers, their launcher and the 8 default parallel workers fit.
        const { assert!(TIMESCALE_BACKGROUND_WORKERS + 1 + 8 <= TIMESCALE_WORKER_PROCESSES) };
    }

    #[test]
    fn versions_sort_numerically() {
        let mut dirs = [
            PathBuf::from("/usr/lib/postgresql/9.6"),
            PathBuf::from("/usr/lib/postgresql/15"),
            PathBuf::from("/usr/lib/postgresql/10"),
        ];
        dirs.sort_by_key(|d| version_key(d));
        assert_eq!(
            dirs.last().map(PathBuf::as_path),
            Some(Path::new("/usr/lib/postgresql/15"))
        );
    }
}
