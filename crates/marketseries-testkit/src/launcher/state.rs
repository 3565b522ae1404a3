//! Where the launcher keeps its state, the start-up lock and the per-server state files.
//!
//! One state file per *slot*, a (kind, flavor) pair: `postgres.json` and `timescaledb.json`
//! (native clusters, the names they always had) and `timescaledb-embedded.json`, so that a
//! native and an embedded TimescaleDB can be recorded (and running) at the same time and a
//! run never reuses a server of the other flavor. Launchers before the TimescaleDB switch
//! recorded an embedded server in `timescaledb.json` too; [`Layout::adopt_legacy_state`]
//! moves such a record into its slot.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{sys, Flavor, LaunchError, ServerKind};

/// Environment variable that overrides the state directory.
pub(crate) const DIR_VAR: &str = "MARKETSERIES_DB_DIR";

/// The servers the launcher can start, each with its own state file, in the order
/// `status` and `stop_all` report them.
pub(crate) const SLOTS: [(ServerKind, Flavor); 3] = [
    (ServerKind::Postgres, Flavor::Native),
    (ServerKind::Timescale, Flavor::Native),
    (ServerKind::Timescale, Flavor::Embedded),
];

/// File-name stem of a slot: the kind's label for a native cluster (`postgres`,
/// `timescaledb`: the names they always had, so that a launcher from before the
/// TimescaleDB switch and this one agree on the native servers), else `<kind>-<flavor>`
/// (`timescaledb-embedded`, the name its log always had).
pub(crate) fn slot_name(kind: ServerKind, flavor: Flavor) -> String {
    match flavor {
        Flavor::Native => kind.label().to_owned(),
        _ => format!("{}-{flavor}", kind.label()),
    }
}

/// A recorded server as found on disk: its state file, and what it says (or why it
/// could not be read).
pub(crate) struct Recorded {
    /// The state file.
    pub(crate) path: PathBuf,
    /// Its contents.
    pub(crate) state: Result<ServerState, LaunchError>,
}

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

    /// The state file of one slot.
    pub(crate) fn state_path(&self, kind: ServerKind, flavor: Flavor) -> PathBuf {
        self.state_dir
            .join(format!("{}.json", slot_name(kind, flavor)))
    }

    /// Reads the state file of a slot; `Ok(None)` if there is none. A file that records a
    /// server of another slot is an error, so that it is never handed out for this one.
    pub(crate) fn read_state(
        &self,
        kind: ServerKind,
        flavor: Flavor,
    ) -> Result<Option<ServerState>, LaunchError> {
        let path = self.state_path(kind, flavor);
        let Some(state) = read_state_file(&path)? else {
            return Ok(None);
        };
        if (state.kind, state.flavor) != (kind, flavor) {
            return Err(LaunchError::State {
                path,
                reason: format!(
                    "it records a {} {} server (pid {}), not a {flavor} {kind} one; \
                     stop the recorded servers with `cargo xtask db stop`",
                    state.flavor, state.kind, state.pid
                ),
            });
        }
        Ok(Some(state))
    }

    /// Every state file present, in slot order, whatever server it records (so also an
    /// embedded one left in `timescaledb.json` by an older launcher).
    pub(crate) fn recorded(&self) -> Vec<Recorded> {
        let mut found = Vec::new();
        for path in SLOTS.map(|(kind, flavor)| self.state_path(kind, flavor)) {
            match read_state_file(&path) {
                Ok(None) => {}
                Ok(Some(state)) => found.push(Recorded {
                    path,
                    state: Ok(state),
                }),
                Err(e) => found.push(Recorded {
                    path,
                    state: Err(e),
                }),
            }
        }
        found
    }

    /// Moves a state file that records a server of another slot — an embedded
    /// TimescaleDB in `timescaledb.json`, written by a launcher from before the TimescaleDB
    /// switch — to the state file of its own slot, so that the server it records is
    /// reused and stopped like any other. Left in place when that slot is already taken
    /// ([`Layout::recorded`] still lists it, so `stop_all` stops it, and
    /// [`Layout::holds_other_server`] says so). Call with the lock held.
    pub(crate) fn adopt_legacy_state(&self) -> Result<(), LaunchError> {
        for (kind, flavor) in SLOTS {
            self.adopt_from(&self.state_path(kind, flavor), kind, flavor)?;
        }
        Ok(())
    }

    fn adopt_from(
        &self,
        legacy: &Path,
        kind: ServerKind,
        flavor: Flavor,
    ) -> Result<(), LaunchError> {
        match read_state_file(legacy) {
            Ok(Some(state)) if (state.kind, state.flavor) != (kind, flavor) => {
                let slot = self.state_path(state.kind, state.flavor);
                if slot.exists() {
                    return Ok(());
                }
                fs::rename(legacy, &slot).map_err(|e| {
                    LaunchError::io(
                        format!("could not move {} to {}", legacy.display(), slot.display()),
                        e,
                    )
                })?;
                self.note(&format!(
                    "{}: adopted {} as {}",
                    slot_name(state.kind, state.flavor),
                    legacy.display(),
                    slot.display()
                ));
                Ok(())
            }
            // Its own slot's server, nothing there, or unreadable (handled by the caller).
            _ => Ok(()),
        }
    }

    /// Whether the state file of a slot is readable but records a server of another slot
    /// (one that [`Layout::adopt_legacy_state`] could not move because that slot is taken).
    pub(crate) fn holds_other_server(&self, kind: ServerKind, flavor: Flavor) -> bool {
        read_state_file(&self.state_path(kind, flavor))
            .ok()
            .flatten()
            .is_some_and(|s| (s.kind, s.flavor) != (kind, flavor))
    }

    /// Writes a server's state file (the one of its slot) atomically (temporary file +
    /// rename), so readers that do not hold the lock never see half a file.
    pub(crate) fn write_state(&self, state: &ServerState) -> Result<(), LaunchError> {
        let path = self.state_path(state.kind, state.flavor);
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

    /// Where the log of the previous server of a slot is kept after it is stopped or
    /// replaced.
    pub(crate) fn previous_log(&self, kind: ServerKind, flavor: Flavor) -> PathBuf {
        self.state_dir
            .join(format!("{}-previous.log", slot_name(kind, flavor)))
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

    /// Removes the state file of a slot (missing is fine).
    pub(crate) fn remove_state(&self, kind: ServerKind, flavor: Flavor) -> Result<(), LaunchError> {
        remove_file(&self.state_path(kind, flavor))
    }
}

/// Reads and parses one state file; `Ok(None)` if it does not exist.
fn read_state_file(path: &Path) -> Result<Option<ServerState>, LaunchError> {
    let text = match fs::read_to_string(path) {
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
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

/// Removes a state file (missing is fine).
pub(crate) fn remove_file(path: &Path) -> Result<(), LaunchError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LaunchError::io(
            format!("could not remove {}", path.display()),
            e,
        )),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(name: &str) -> Layout {
        let state_dir = std::env::temp_dir().join(format!(
            "marketseries-state-test-{name}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&state_dir);
        fs::create_dir_all(&state_dir).expect("create test state dir");
        Layout {
            tmp_base: state_dir.join("tmp"),
            state_dir,
        }
    }

    fn state(kind: ServerKind, flavor: Flavor, pid: u32) -> ServerState {
        ServerState {
            kind,
            flavor,
            pid,
            port: 1,
            url: format!("postgres://postgres@127.0.0.1:1/{pid}"),
            log: PathBuf::from("/nonexistent.log"),
            cluster_dir: None,
            data_dir: None,
            socket_dir: None,
            bin_dir: None,
            run_as: None,
            started_at: 0,
        }
    }

    #[test]
    fn every_slot_has_its_own_file() {
        let names: Vec<String> = SLOTS.iter().map(|&(k, f)| slot_name(k, f)).collect();
        assert_eq!(names, ["postgres", "timescaledb", "timescaledb-embedded"]);
        let l = layout("slots");
        for &(kind, flavor) in &SLOTS {
            l.write_state(&state(kind, flavor, 7)).expect("write");
        }
        for &(kind, flavor) in &SLOTS {
            let read = l.read_state(kind, flavor).expect("read").expect("recorded");
            assert_eq!((read.kind, read.flavor), (kind, flavor));
        }
        assert_eq!(l.recorded().len(), 3);
        l.remove_state(ServerKind::Timescale, Flavor::Native)
            .expect("remove");
        assert!(l
            .read_state(ServerKind::Timescale, Flavor::Native)
            .expect("read")
            .is_none());
        assert!(l
            .read_state(ServerKind::Timescale, Flavor::Embedded)
            .expect("read")
            .is_some());
        let _ = fs::remove_dir_all(&l.state_dir);
    }

    /// What a launcher from before the TimescaleDB switch wrote where no native
    /// TimescaleDB was installed: an embedded server in `timescaledb.json`.
    fn write_old_embedded_record(l: &Layout, pid: u32) -> PathBuf {
        let path = l.state_dir.join("timescaledb.json");
        let old = state(ServerKind::Timescale, Flavor::Embedded, pid);
        fs::write(&path, serde_json::to_string(&old).expect("json")).expect("write");
        path
    }

    #[test]
    fn a_record_of_another_slot_is_never_handed_out() {
        let l = layout("mismatch");
        write_old_embedded_record(&l, 9);
        let err = l
            .read_state(ServerKind::Timescale, Flavor::Native)
            .expect_err("an embedded record in the native slot");
        assert!(matches!(err, LaunchError::State { .. }), "{err}");
        assert!(l.holds_other_server(ServerKind::Timescale, Flavor::Native));
        assert!(!l.holds_other_server(ServerKind::Timescale, Flavor::Embedded));
        let _ = fs::remove_dir_all(&l.state_dir);
    }

    #[test]
    fn an_old_embedded_record_is_adopted_into_its_slot() {
        let l = layout("legacy");
        let legacy = write_old_embedded_record(&l, 11);
        l.adopt_legacy_state().expect("adopt");
        assert!(!legacy.exists());
        let adopted = l
            .read_state(ServerKind::Timescale, Flavor::Embedded)
            .expect("read")
            .expect("adopted");
        assert_eq!(adopted.pid, 11);

        // With its slot taken, the old record stays and is still listed (for stop_all).
        write_old_embedded_record(&l, 12);
        l.adopt_legacy_state().expect("adopt");
        assert!(legacy.exists());
        assert!(l.holds_other_server(ServerKind::Timescale, Flavor::Native));
        let pids: Vec<u32> = l
            .recorded()
            .into_iter()
            .map(|r| r.state.expect("readable").pid)
            .collect();
        assert_eq!(pids, [12, 11]);

        // A native record in its own slot, or an unreadable file, stays where it is.
        fs::write(&legacy, "{not json").expect("write");
        l.adopt_legacy_state().expect("adopt");
        assert!(legacy.exists());
        assert!(!l.holds_other_server(ServerKind::Timescale, Flavor::Native));
        l.write_state(&state(ServerKind::Timescale, Flavor::Native, 13))
            .expect("write");
        l.adopt_legacy_state().expect("adopt");
        let native = l
            .read_state(ServerKind::Timescale, Flavor::Native)
            .expect("read")
            .expect("native");
        assert_eq!(native.pid, 13);
        let _ = fs::remove_dir_all(&l.state_dir);
    }
}
