//! Dropping the test databases of test processes that have exited, on a server this
//! launcher started.
//!
//! Every database with the TimescaleDB extension holds a background scheduler worker while
//! it exists, and a server has a fixed number of them (`timescaledb.max_background_workers`):
//! leftover test databases once took every slot, so that the jobs of later tests silently
//! never ran. A test database is named `t_<pid>_...` after the process that created it; once
//! that process is gone, nothing can use the database any more.

use tokio_postgres::NoTls;

use super::sys::pid_alive;

/// The pid in a test database name `t_<pid>_<counter>_<nanos>`.
fn creator(name: &str) -> Option<u32> {
    name.strip_prefix("t_")?.split('_').next()?.parse().ok()
}

/// Drops every `t_<pid>_...` database on the server at `admin_url` whose creating process
/// has exited. Best effort: a database another process is dropping at the same moment, or
/// one that cannot be dropped, is left for the next time.
pub(crate) async fn orphaned_databases(admin_url: &str) {
    let Ok((client, connection)) = tokio_postgres::connect(admin_url, NoTls).await else {
        return;
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
    for name in names {
        let Some(pid) = creator(&name) else { continue };
        if pid == me || pid_alive(pid, "") {
            continue;
        }
        // Names are ours (`t_`, digits and underscores): quoting is enough.
        let _ = client
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
    }
    drop(client);
    let _ = task.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_creator_is_read_from_the_name() {
        assert_eq!(creator("t_4242_0_123456"), Some(4242));
        assert_eq!(creator("t_x_0_1"), None);
        assert_eq!(creator("market"), None);
    }
}
