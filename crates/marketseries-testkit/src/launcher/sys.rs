//! Small operating-system helpers: running commands, process liveness, log tails,
//! free ports. Everything here is blocking and uses only std (no libc, no unsafe).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::LaunchError;

/// Lines of a log shown in error messages.
pub(crate) const TAIL_LINES: usize = 40;
/// Upper bound on the size of a log tail shown in error messages.
const TAIL_BYTES: u64 = 16 * 1024;

/// Whether this process runs as root (`id -u` prints 0). Computed once.
pub(crate) fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        Command::new("id")
            .arg("-u")
            .stdin(Stdio::null())
            .output()
            .map(|out| out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "0")
            .unwrap_or(false)
    })
}

/// Finds an executable on `PATH`.
pub(crate) fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a regular file with an execute bit.
pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Renders a command line for messages.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        let arg = arg.to_string_lossy();
        if arg.contains(' ') || arg.is_empty() {
            text.push('\'');
            text.push_str(&arg);
            text.push('\'');
        } else {
            text.push_str(&arg);
        }
    }
    text
}

/// Runs a command to completion with stdin closed and output captured; a non-zero exit
/// becomes [`LaunchError::Command`] carrying the tail of its output.
pub(crate) fn run(cmd: &mut Command) -> Result<Output, LaunchError> {
    let line = describe(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| LaunchError::io(format!("could not run `{line}`"), e))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(LaunchError::Command {
            command: line,
            status: out.status.to_string(),
            output: output_tail(&out),
        })
    }
}

/// The tail of a finished command's stdout and stderr.
pub(crate) fn output_tail(out: &Output) -> String {
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    if !err.trim().is_empty() {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&err);
    }
    tail_of(&text, TAIL_LINES)
}

/// The last `lines` lines of `text`.
pub(crate) fn tail_of(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..].join("\n")
}

/// The last [`TAIL_LINES`] lines of a log file, or a note saying why there are none.
pub(crate) fn log_tail(path: &Path) -> String {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return format!("(log {} unavailable: {e})", path.display()),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > TAIL_BYTES {
        // Seeking is best effort; on failure we just read from the start.
        let _ = file.seek(SeekFrom::Start(len - TAIL_BYTES));
    }
    let mut bytes = Vec::new();
    if let Err(e) = file.read_to_end(&mut bytes) {
        return format!("(log {} unreadable: {e})", path.display());
    }
    let text = String::from_utf8_lossy(&bytes);
    let tail = tail_of(&text, TAIL_LINES);
    if tail.trim().is_empty() {
        format!("(log {} is empty)", path.display())
    } else {
        tail
    }
}

/// Whether process `pid` exists, is not a zombie, and its command line contains
/// `marker` (guards against a recycled pid).
pub(crate) fn pid_alive(pid: u32, marker: &str) -> bool {
    if pid == 0 {
        return false;
    }
    if !Path::new("/proc/self/stat").exists() {
        // No procfs: fall back to `kill -0`, which cannot check the marker.
        return kill(pid, "0");
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // Format: "pid (comm) S ..."; comm may contain anything, so look after the last ')'.
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .unwrap_or("");
    if state == "Z" || state == "X" || state == "x" {
        return false;
    }
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => {
            let marker = marker.as_bytes();
            marker.is_empty() || cmdline.windows(marker.len()).any(|w| w == marker)
        }
        Err(_) => false,
    }
}

/// Sends `signal` (e.g. "TERM", "KILL", "0") to `pid` with the shell's `kill` builtin
/// (`sh` is always there; a `kill` executable may not be). True on success.
fn kill(pid: u32, signal: &str) -> bool {
    Command::new("sh")
        .args(["-c", "kill -s \"$0\" \"$1\""])
        .arg(signal)
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Sends `signal` (e.g. "TERM", "KILL") to `pid`. True on success.
pub(crate) fn signal(pid: u32, signal: &str) -> bool {
    kill(pid, signal)
}

/// Waits until `pid` is gone (see [`pid_alive`]); true if it went within `timeout`.
pub(crate) fn wait_gone(pid: u32, marker: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !pid_alive(pid, marker) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(50));
    }
}

/// Terminates `pid`: SIGTERM, then SIGKILL if it is still there after `grace`.
/// True if the process is gone at the end.
pub(crate) fn terminate(pid: u32, marker: &str, grace: Duration) -> bool {
    if !pid_alive(pid, marker) {
        return true;
    }
    signal(pid, "TERM");
    if wait_gone(pid, marker, grace) {
        return true;
    }
    signal(pid, "KILL");
    wait_gone(pid, marker, Duration::from_secs(5))
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub(crate) fn free_port() -> Result<u16, LaunchError> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| LaunchError::io("could not find a free TCP port on 127.0.0.1", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| LaunchError::io("could not find a free TCP port on 127.0.0.1", e))?
        .port();
    Ok(port)
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub(crate) fn port_open(port: u16) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}

/// FNV-1a, 64 bit: a stable hash for naming directories (std's hashers are not
/// guaranteed stable across Rust releases).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail_of("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail_of("a", 5), "a");
        assert_eq!(tail_of("", 5), "");
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn own_process_is_alive_and_pid_zero_is_not() {
        assert!(pid_alive(std::process::id(), ""));
        assert!(!pid_alive(0, ""));
        assert!(!pid_alive(
            std::process::id(),
            "no-such-marker-in-cmdline-\u{1}"
        ));
    }
}
