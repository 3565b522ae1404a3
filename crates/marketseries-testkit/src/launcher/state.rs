//! Where the launcher keeps its state, the start-up lock and the per-server state files.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{sys, Flavor, LaunchError, ServerKind};

/// Environment variable that overrides the state directory.
pub(crate) const DIR_VAR: &str = "MARKETSERIES_DB_DIR";

/// The launcher's directories.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// `<workspace>/target/marketseries-db` (or `$MARKETSERIES_DB_DIR`), canonical.
    pub(crate) state_dir: PathBuf,
    /// `/tmp/marketseries-db-<hash of state_dir>`: short socket paths, and cluster data
    /// when the `postgres` user cannot reach `state_dir`.
    pub(crate) tmp_base: PathBuf,
}

impl Layout {
    /// Resolves (and creates) the state directory.
    pub(crate) fn resolve() -> Result<Self, LaunchError> {
        let dir = match std::env::var_os(DIR_VAR) {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/marketseries-db"),
        };
        fs::create_dir_all(&dir).map_err(|e| {
            LaunchError::io(
                format!(
                    "could not create the launcher state directory {}",
                    dir.display()
                ),
                e,
            )
        })?;
        let state_dir = fs::canonicalize(&dir).map_err(|e| {
            LaunchError::io(
                format!(
                    "could not resolve the launcher state directory {}",
                    dir.display()
                ),
                e,
            )
        })?;
        let hash = sys::fnv1a(state_dir.as_os_str().as_bytes()) & 0xffff_ffff_ffff;
        let tmp_base = PathBuf::from(format!("/tmp/marketseries-db-{hash:012x}"));
        Ok(Self {
            state_dir,
            tmp_base,
        })
    }

    /// Takes the exclusive start-up lock (blocks until it is free). Released on drop.
    pub(crate) fn lock(&self) -> Result<File, LaunchError> {
        let path = self.state_dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| {
                LaunchError::io(
                    format!("could not open the lock file {}", path.display()),
                    e,
                )
            })?;
        file.lock()
            .map_err(|e| LaunchError::io(format!("could not lock {}", path.display()), e))?;
        Ok(file)
    }

    /// The state file of one server.
    pub(crate) fn state_path(&self, kind: ServerKind) -> PathBuf {
        self.state_dir.join(format!("{}.json", kind.label()))
    }

    /// Reads a server's state file; `Ok(None)` if there is none.
    pub(crate) fn read_state(&self, kind: ServerKind) -> Result<Option<ServerState>, LaunchError> {
        let path = self.state_path(kind);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(LaunchError::io(
                    format!("could not read {}", path.display()),
                    e,
                ))
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| LaunchError::State {
                path,
                reason: e.to_string(),
            })
    }

    /// Writes a server's state file atomically (temporary file + rename), so readers that
    /// do not hold the lock never see half a file.
    pub(crate) fn write_state(&self, state: &ServerState) -> Result<(), LaunchError> {
        let path = self.state_path(state.kind);
        let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
        let text = serde_json::to_string_pretty(state).map_err(|e| LaunchError::State {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let write = || -> std::io::Result<()> {
            let mut file = File::create(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            fs::rename(&tmp, &path)
        };
        write().map_err(|e| LaunchError::io(format!("could not write {}", path.display()), e))
    }

    /// Where the log of the previous `kind` server is kept after it is stopped or replaced.
    pub(crate) fn previous_log(&self, kind: ServerKind) -> PathBuf {
        self.state_dir
            .join(format!("{}-previous.log", kind.label()))
    }

    /// Appends a line to `<state dir>/launcher.log` (why servers were started, reused
    /// after a check, or stopped). Best effort.
    pub(crate) fn note(&self, message: &str) {
        let path = self.state_dir.join("launcher.log");
        if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(file, "{} pid {}: {message}", now_secs(), std::process::id());
        }
    }

    /// Deletes the `/tmp` directory when nothing but its marker file is left in it.
    pub(crate) fn remove_tmp_base_if_unused(&self) {
        let Ok(entries) = fs::read_dir(&self.tmp_base) else {
            return;
        };
        let only_marker = entries
            .filter_map(Result::ok)
            .all(|e| e.file_name() == super::native::MARKER_FILE);
        if only_marker {
            // Best effort: a concurrent start-up (impossible under the lock) or a foreign
            // file just leaves it in place.
            let _ = fs::remove_dir_all(&self.tmp_base);
        }
    }

    /// Removes a server's state file (missing is fine).
    pub(crate) fn remove_state(&self, kind: ServerKind) -> Result<(), LaunchError> {
        let path = self.state_path(kind);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(LaunchError::io(
                format!("could not remove {}", path.display()),
                e,
            )),
        }
    }
}

/// What the launcher records about a server it started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ServerState {
    /// Which server.
    pub(crate) kind: ServerKind,
    /// How it is provided (native cluster or embedded node server).
    pub(crate) flavor: Flavor,
    /// Process id of the postmaster / node server.
    pub(crate) pid: u32,
    /// TCP port on 127.0.0.1.
    pub(crate) port: u16,
    /// Admin connection URL.
    pub(crate) url: String,
    /// The server's log file.
    pub(crate) log: PathBuf,
    /// Native: the directory this launcher created for the cluster (data dir + log).
    #[serde(default)]
    pub(crate) cluster_dir: Option<PathBuf>,
    /// Native: the cluster's data directory.
    #[serde(default)]
    pub(crate) data_dir: Option<PathBuf>,
    /// Native: the Unix socket directory.
    #[serde(default)]
    pub(crate) socket_dir: Option<PathBuf>,
    /// Native: the PostgreSQL binaries used.
    #[serde(default)]
    pub(crate) bin_dir: Option<PathBuf>,
    /// Native: the user the cluster runs as, when started as root via `runuser`.
    #[serde(default)]
    pub(crate) run_as: Option<String>,
    /// Seconds since the Unix epoch at start.
    #[serde(default)]
    pub(crate) started_at: u64,
}

impl ServerState {
    /// A string that the server process's command line contains.
    pub(crate) fn marker(&self) -> String {
        match (&self.flavor, &self.data_dir) {
            (Flavor::Native, Some(data)) => data.to_string_lossy().into_owned(),
            (Flavor::Native, None) => "postgres".to_owned(),
            _ => "server.mjs".to_owned(),
        }
    }

    /// Whether the recorded process still runs.
    pub(crate) fn process_alive(&self) -> bool {
        sys::pid_alive(self.pid, &self.marker())
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
