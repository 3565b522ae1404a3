//! Dropping the test databases of test processes that have exited: on a server this
//! launcher started, and on an external one (`DATABASE_URL`, `TIMESCALEDB_URL`).
//!
//! Every database with the TimescaleDB extension holds a background scheduler worker while
//! it exists, and a server has a fixed number of them (`timescaledb.max_background_workers`):
//! leftover test databases once took every slot, so that the jobs of later tests silently
//! never ran. A test database is named `t_<pid>_<host>_...` after the process that created
//! it and the machine it ran on; once that process is gone, nothing can use the database
//! any more. On an external server, which other machines may share, only databases of this
//! machine are considered.

use tokio_postgres::NoTls;

use super::sys::pid_alive;

/// The pid in a test database name `t_<pid>_...`.
fn creator(name: &str) -> Option<u32> {
    name.strip_prefix("t_")?.split('_').next()?.parse().ok()
}

/// The host tag in a test database name `t_<pid>_h<host>_<counter>_<nanos>` (`None` for
/// names without one).
fn host_of(name: &str) -> Option<&str> {
    name.strip_prefix("t_")?
        .split('_')
        .nth(1)?
        .strip_prefix('h')
}

/// This machine's tag: the FNV-1a hash of its host name, 8 hex digits.
pub(crate) fn this_host() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let hash = name.trim().bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{hash:08x}")
}

/// Which test databases a reaping may drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Every `t_` database of an exited process (a server only this machine uses).
    AnyHost,
    /// Only those created on this machine (an external server other machines may share).
    ThisHost,
}

/// Drops every `t_<pid>_...` database on the server at `admin_url` whose creating process
/// has exited (within `scope`), and returns their names. Best effort: a database another
/// process is dropping at the same moment, or one that cannot be dropped, is left for the
/// next time.
pub(crate) async fn orphaned_databases(admin_url: &str, scope: Scope) -> Vec<String> {
    let mut dropped = Vec::new();
    let Ok((client, connection)) = tokio_postgres::connect(admin_url, NoTls).await else {
        return dropped;
    };
    let task = tokio::spawn(connection);
    let names: Vec<String> = client
        .query(
            "SELECT datname::text FROM pg_database WHERE datname LIKE 't\\_%'",
            &[],
        )
        .await
        .map(|rows| rows.iter().map(|r| r.get(0)).collect())
        .unwrap_or_default();
    let me = std::process::id();
    let host = this_host();
    for name in names {
        let Some(pid) = creator(&name) else { continue };
        if scope == Scope::ThisHost && host_of(&name) != Some(host.as_str()) {
            continue;
        }
        if pid == me || pid_alive(pid, "") {
            continue;
        }
        // Names are ours (`t_`, digits, letters and underscores): quoting is enough.
        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        if client.batch_execute(&sql).await.is_ok() {
            dropped.push(name);
        }
    }
    drop(client);
    let _ = task.await;
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_creator_is_read_from_the_name() {
        assert_eq!(creator("t_4242_0_123456"), Some(4242));
        assert_eq!(creator("t_4242_hdeadbeef_0_123456"), Some(4242));
        assert_eq!(host_of("t_4242_hdeadbeef_0_123456"), Some("deadbeef"));
        assert_eq!(host_of("t_4242_0_123456"), None);
        assert_eq!(creator("t_x_0_1"), None);
        assert_eq!(creator("market"), None);
        assert_eq!(this_host().len(), 8);
    }

    /// A process that has exited, and whose pid is not (yet) reused.
    fn exited_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().expect("true");
        let pid = child.id();
        child.wait().expect("wait");
        pid
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_databases_of_exited_processes_of_this_host_are_dropped_from_an_external_server() {
        let server = super::super::ensure_server(super::super::ServerKind::Postgres)
            .await
            .expect("server");
        let dead = exited_pid();
        let host = this_host();
        let other_host = if host == "00000000" {
            "00000001"
        } else {
            "00000000"
        };
        let mine_dead = format!("t_{dead}_h{host}_0_1");
        let theirs_dead = format!("t_{dead}_h{other_host}_0_2");
        let mine_alive = format!("t_{}_h{host}_0_3", std::process::id());
        let (client, conn) = tokio_postgres::connect(server.url(), NoTls)
            .await
            .expect("admin");
        let task = tokio::spawn(conn);
        for name in [&mine_dead, &theirs_dead, &mine_alive] {
            client
                .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create");
        }
        let dropped = orphaned_databases(server.url(), Scope::ThisHost).await;
        assert!(dropped.contains(&mine_dead), "{dropped:?}");
        assert!(
            !dropped.contains(&theirs_dead) && !dropped.contains(&mine_alive),
            "{dropped:?}"
        );
        let left: Vec<String> = client
            .query(
                "SELECT datname::text FROM pg_database WHERE datname LIKE 't\\_%'",
                &[],
            )
            .await
            .expect("databases")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(!left.contains(&mine_dead), "{left:?}");
        assert!(
            left.contains(&theirs_dead) && left.contains(&mine_alive),
            "{left:?}"
        );
        for name in [&theirs_dead, &mine_alive] {
            client
                .batch_execute(&format!("DROP DATABASE \"{name}\""))
                .await
                .expect("clean up");
        }
        drop(client);
        let _ = task.await;
    }
}
