//! [`Config`]: which database, which backend, and the store settings, from code or from the
//! environment.

use std::fmt;
use std::str::FromStr;

use marketseries_core::{Error, Result};
use marketseries_sql::PgConfig;

/// Environment variable holding the database URL (wins over the `TIMESCALEDB_*` variables).
pub const URL_VAR: &str = "MARKETSERIES_URL";
/// Environment variable choosing the backend (`auto`, `postgres`, `timescaledb`).
pub const BACKEND_VAR: &str = "MARKETSERIES_BACKEND";
/// Environment variable naming a file whose content (one trailing newline dropped) is the
/// database password, for secrets mounted as files (Docker, Kubernetes) instead of set in
/// the URL or the environment.
pub const PASSWORD_FILE_VAR: &str = "MARKETSERIES_PASSWORD_FILE";
/// The seed's variables, read when [`URL_VAR`] is not set: host, port, database name,
/// user, password, pool minimum and maximum.
pub const SEED_VARS: [&str; 7] = [
    "TIMESCALEDB_HOST",
    "TIMESCALEDB_PORT",
    "TIMESCALEDB_NAME",
    "TIMESCALEDB_USER",
    "TIMESCALEDB_PASSWORD",
    "TIMESCALEDB_POOL_MIN",
    "TIMESCALEDB_POOL_MAX",
];

/// A store backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Plain PostgreSQL (`marketseries-postgres`): partitioned tables and rollups.
    Postgres,
    /// TimescaleDB (`marketseries-timescale`): hypertables and continuous aggregates.
    Timescaledb,
}

impl Backend {
    /// The name used in URLs, options and [`marketseries_core::Capabilities::backend`].
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Timescaledb => "timescaledb",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which backend a [`Config`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// By URL scheme: `timescaledb://` (or `timescale://`) is TimescaleDB; for
    /// `postgres://` the server decides: TimescaleDB when the database has or can create
    /// the extension and holds no plain-PostgreSQL schema, plain PostgreSQL otherwise.
    #[default]
    Auto,
    /// This backend, whatever the server offers.
    Explicit(Backend),
}

impl FromStr for BackendChoice {
    type Err = Error;

    /// `auto`, `postgres` (or `postgresql`), `timescaledb` (or `timescale`), any case.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "postgres" | "postgresql" => Ok(Self::Explicit(Backend::Postgres)),
            "timescaledb" | "timescale" => Ok(Self::Explicit(Backend::Timescaledb)),
            _ => Err(Error::Config(format!(
                "unknown backend {s:?}: expected auto, postgres or timescaledb"
            ))),
        }
    }
}

/// Where the backend of a [`Config`] comes from, before any server is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// The URL scheme or the explicit choice names this backend.
    Backend(Backend),
    /// A `postgres://` URL with [`BackendChoice::Auto`]: the server decides.
    AskServer,
}

/// How to open a store: the database URL, the backend, and the store settings. The URL
/// (which carries the password) never appears in `Debug` output.
#[derive(Clone)]
pub struct Config {
    url: String,
    /// Which backend to open.
    pub backend: BackendChoice,
    /// Pool, timeouts, batch limit and partition width (its URL is this config's URL,
    /// with `timescaledb://` rewritten to `postgres://` for the driver).
    pub store: PgConfig,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("url", &"<redacted>")
            .field("backend", &self.backend)
            .field("store", &self.store)
            .finish()
    }
}

/// A `MARKETSERIES_*` or `TIMESCALEDB_*` variable that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {variable}: {problem}")]
pub struct EnvError {
    /// The variable's name.
    pub variable: String,
    /// What is wrong with it (never its value when that may be a secret).
    pub problem: String,
}

impl From<EnvError> for Error {
    fn from(e: EnvError) -> Self {
        Error::Config(e.to_string())
    }
}

impl Config {
    /// Defaults for `url` (`postgres://`, `postgresql://`, `timescaledb://` or
    /// `timescale://`), backend chosen by [`BackendChoice::Auto`].
    pub fn new(url: impl Into<String>) -> Self {
        let url = url.into();
        let store = PgConfig::new(driver_url(&url));
        Self {
            url,
            backend: BackendChoice::Auto,
            store,
        }
    }

    /// The same config asking for `backend`.
    #[must_use]
    pub fn with_backend(mut self, backend: BackendChoice) -> Self {
        self.backend = backend;
        self
    }

    /// The URL as given. Never print or log it: URLs carry passwords.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Reads the process environment (see [`Config::from_vars`]).
    ///
    /// # Errors
    /// [`EnvError`] naming the variable that is missing or malformed.
    pub fn from_env() -> std::result::Result<Self, EnvError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Builds a config from variables looked up by `var` (the environment for
    /// [`Config::from_env`]):
    ///
    /// - `MARKETSERIES_URL`, when set, is the URL; the backend is chosen by
    ///   `MARKETSERIES_BACKEND` (default `auto`).
    /// - Otherwise the seed's variables: `TIMESCALEDB_HOST`, `TIMESCALEDB_NAME` and
    ///   `TIMESCALEDB_USER` are required, `TIMESCALEDB_PORT` defaults to 5432,
    ///   `TIMESCALEDB_PASSWORD` to none, `TIMESCALEDB_POOL_MIN` / `TIMESCALEDB_POOL_MAX`
    ///   to the pool defaults (1 and 8). They mean the TimescaleDB backend unless
    ///   `MARKETSERIES_BACKEND` says otherwise.
    ///
    /// An empty variable counts as unset.
    ///
    /// # Errors
    /// [`EnvError`] naming the variable that is missing or malformed (never showing a
    /// password).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> std::result::Result<Self, EnvError> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let backend = get(BACKEND_VAR)
            .map(|b| {
                b.parse::<BackendChoice>().map_err(|_| EnvError {
                    variable: BACKEND_VAR.to_owned(),
                    problem: format!("{b:?} is not one of auto, postgres, timescaledb"),
                })
            })
            .transpose()?;
        let file_password = get(PASSWORD_FILE_VAR)
            .map(|path| read_password_file(&path))
            .transpose()?;
        if let Some(url) = get(URL_VAR) {
            let mut config = Self::new(url).with_backend(backend.unwrap_or_default());
            config.resolve().map_err(|e| EnvError {
                variable: URL_VAR.to_owned(),
                problem: e.to_string(),
            })?;
            if let Some(pw) = file_password {
                config = config.with_password(&pw).map_err(|e| EnvError {
                    variable: PASSWORD_FILE_VAR.to_owned(),
                    problem: e.to_string(),
                })?;
            }
            return Ok(config);
        }
        let [host, port, name, user, password, pool_min, pool_max] = SEED_VARS;
        if SEED_VARS.iter().all(|v| get(v).is_none()) {
            return Err(EnvError {
                variable: URL_VAR.to_owned(),
                problem: format!(
                    "not set, and neither are the {} variables: set {URL_VAR} to a \
                     postgres:// or timescaledb:// URL",
                    "TIMESCALEDB_*"
                ),
            });
        }
        let required = |v: &str| {
            get(v).ok_or_else(|| EnvError {
                variable: v.to_owned(),
                problem: "missing (needed with the other TIMESCALEDB_* variables)".to_owned(),
            })
        };
        let number = |v: &str, min: u32| -> std::result::Result<Option<u32>, EnvError> {
            get(v)
                .map(|text| match text.trim().parse::<u32>() {
                    Ok(n) if n >= min => Ok(n),
                    _ => Err(EnvError {
                        variable: v.to_owned(),
                        problem: format!("{text:?} is not a whole number of at least {min}"),
                    }),
                })
                .transpose()
        };
        let host_text = required(host)?;
        if host_text.contains(['/', '?', '#', '@']) || host_text.trim() != host_text {
            return Err(EnvError {
                variable: host.to_owned(),
                problem: format!("{host_text:?} is not a host name or address"),
            });
        }
        let port_number = match get(port) {
            None => 5432,
            Some(text) => match text.trim().parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => {
                    return Err(EnvError {
                        variable: port.to_owned(),
                        problem: format!("{text:?} is not a port number (1-65535)"),
                    })
                }
            },
        };
        let db = required(name)?;
        let user_text = required(user)?;
        let min = number(pool_min, 0)?;
        let max = number(pool_max, 1)?;
        let pw = match (get(password), file_password) {
            (Some(_), Some(_)) => {
                return Err(EnvError {
                    variable: PASSWORD_FILE_VAR.to_owned(),
                    problem: format!("set together with {password}: set one of them"),
                })
            }
            (pw, from_file) => pw.or(from_file),
        };
        let userinfo = match pw {
            Some(pw) => format!("{}:{}", encode(&user_text), encode(&pw)),
            None => encode(&user_text),
        };
        let host_part = if host_text.contains(':') && !host_text.starts_with('[') {
            format!("[{host_text}]")
        } else {
            host_text
        };
        let url = format!(
            "postgres://{userinfo}@{host_part}:{port_number}/{}",
            encode(&db)
        );
        let mut config = Self::new(url)
            .with_backend(backend.unwrap_or(BackendChoice::Explicit(Backend::Timescaledb)));
        if let Some(max) = max {
            config.store.pool_size = max;
        }
        if let Some(min) = min {
            if min > config.store.pool_size {
                return Err(EnvError {
                    variable: pool_min.to_owned(),
                    problem: format!(
                        "{min} is more than the pool maximum {} ({pool_max})",
                        config.store.pool_size
                    ),
                });
            }
            config.store.pool_min_idle = min;
        }
        Ok(config)
    }

    /// The same config with `password` added to the URL (as its `password` parameter,
    /// percent-encoded), for a password kept apart from the URL ([`PASSWORD_FILE_VAR`]).
    ///
    /// # Errors
    /// [`Error::Config`] when the URL already carries a password (in its user part or as a
    /// parameter): two passwords would leave it unclear which one is meant.
    pub fn with_password(mut self, password: &str) -> Result<Self> {
        if !url_passwords(&self.url).is_empty() {
            return Err(Error::Config(
                "the database URL already carries a password; give it in one place only".to_owned(),
            ));
        }
        let (base, fragment) = match self.url.split_once('#') {
            Some((b, f)) => (b.to_owned(), Some(f.to_owned())),
            None => (self.url.clone(), None),
        };
        let sep = if base.contains('?') { '&' } else { '?' };
        let mut url = format!("{base}{sep}password={}", encode(password));
        if let Some(f) = fragment {
            url.push('#');
            url.push_str(&f);
        }
        self.url = url;
        Ok(self)
    }

    /// What the URL scheme and [`Config::backend`] say, without asking a server.
    ///
    /// # Errors
    /// [`Error::Config`] for a URL scheme no backend accepts, a missing scheme, or a
    /// `timescaledb://` URL with [`Backend::Postgres`] asked for explicitly.
    pub fn resolve(&self) -> Result<Resolved> {
        let scheme = scheme(&self.url);
        let timescale_scheme = matches!(scheme.as_deref(), Some("timescaledb" | "timescale"));
        match (scheme.as_deref(), self.backend) {
            (Some("postgres" | "postgresql"), BackendChoice::Auto) => Ok(Resolved::AskServer),
            (Some("postgres" | "postgresql"), BackendChoice::Explicit(b)) => {
                Ok(Resolved::Backend(b))
            }
            (Some(_), BackendChoice::Explicit(Backend::Postgres)) if timescale_scheme => {
                Err(Error::Config(
                    "a timescaledb:// URL and the postgres backend contradict each other: use \
                     a postgres:// URL for the plain backend"
                        .to_owned(),
                ))
            }
            (Some(_), _) if timescale_scheme => Ok(Resolved::Backend(Backend::Timescaledb)),
            (Some(other), _) => Err(Error::Config(format!(
                "unsupported database URL scheme `{other}`: expected postgres://, \
                 postgresql:// or timescaledb://"
            ))),
            (None, _) => Err(Error::Config(
                "the database URL must start with postgres://, postgresql:// or \
                 timescaledb://"
                    .to_owned(),
            )),
        }
    }

    /// `text` with the URL and its password replaced, for messages that drivers may have
    /// built from the connection string.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.replace(&self.url, "<database url>");
        for password in passwords(&self.url) {
            out = out.replace(password.as_str(), "***");
        }
        out
    }
}

/// The scheme of `url`, lower-cased, when it has a well-formed one.
fn scheme(url: &str) -> Option<String> {
    let (scheme, _) = url.split_once("://")?;
    let valid = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then(|| scheme.to_ascii_lowercase())
}

/// The URL the driver understands: `timescaledb://` and `timescale://` become
/// `postgres://` (the rest is a PostgreSQL connection URL).
fn driver_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("timescaledb")
                || scheme.eq_ignore_ascii_case("timescale") =>
        {
            format!("postgres://{rest}")
        }
        _ => url.to_owned(),
    }
}

/// The passwords in `url`: `user:PASSWORD@host`, or a `password=` query parameter, raw and
/// percent-decoded.
fn passwords(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if let Some((_, password)) = userinfo.split_once(':') {
                found.push(password.to_owned());
            }
        }
    }
    if let Some((_, query)) = url.split_once('?') {
        for pair in query.split('&') {
            if let Some(password) = pair.strip_prefix("password=") {
                found.push(password.to_owned());
            }
        }
    }
    let decoded: Vec<String> = found.iter().filter_map(|p| decode(p)).collect();
    found.extend(decoded);
    found.retain(|p| !p.is_empty());
    found.sort_by_key(|p| std::cmp::Reverse(p.len()));
    found.dedup();
    found
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
/// Reads a password file: its content without one trailing newline (`\n` or `\r\n`).
///
/// # Errors
/// [`EnvError`] naming [`PASSWORD_FILE_VAR`] and the path (never the content) when the
/// file cannot be read, is not UTF-8 or holds an empty password.
pub fn read_password_file(path: &str) -> std::result::Result<String, EnvError> {
    let fail = |problem: String| EnvError {
        variable: PASSWORD_FILE_VAR.to_owned(),
        problem,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read {path}: {e}")))?;
    let pw = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if pw.is_empty() {
        return Err(fail(format!("{path} holds an empty password")));
    }
    Ok(pw.to_owned())
}

/// The passwords `url` carries, as written: in its user part (`user:PASSWORD@host`) and in
/// `password=` parameters; empty ones are left out. For redacting messages and for
/// [`Config::with_password`]'s check.
pub fn url_passwords(url: &str) -> Vec<&str> {
    let mut found = Vec::new();
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if let Some((_, password)) = userinfo.split_once(':') {
                found.push(password);
            }
        }
    }
    if let Some((_, query)) = url.split_once('?') {
        let query = query.split('#').next().unwrap_or("");
        found.extend(
            query
                .split('&')
                .filter_map(|kv| kv.strip_prefix("password=")),
        );
    }
    found.retain(|p| !p.is_empty());
    found
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-decodes `text`; `None` when it has no escapes or they are malformed.
fn decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return None;
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn password_file(name: &str, content: &str) -> String {
        let path = std::env::temp_dir().join(format!("ms-pw-{}-{name}", std::process::id()));
        std::fs::write(&path, content).expect("write password file");
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn a_password_file_joins_either_url_form_and_never_shows() {
        let file = password_file("ok", "p@ss word/1\n");
        let c = Config::from_vars(vars(&[
            (URL_VAR, "postgres://bob@h:5432/db?sslmode=disable"),
            (PASSWORD_FILE_VAR, &file),
        ]))
        .expect("url with file");
        assert_eq!(
            c.url(),
            "postgres://bob@h:5432/db?sslmode=disable&password=p%40ss%20word%2F1"
        );
        let seed = Config::from_vars(vars(&[
            ("TIMESCALEDB_HOST", "h"),
            ("TIMESCALEDB_NAME", "db"),
            ("TIMESCALEDB_USER", "bob"),
            (PASSWORD_FILE_VAR, &file),
        ]))
        .expect("seed with file");
        assert_eq!(seed.url(), "postgres://bob:p%40ss%20word%2F1@h:5432/db");
        let both = Config::from_vars(vars(&[
            ("TIMESCALEDB_HOST", "h"),
            ("TIMESCALEDB_NAME", "db"),
            ("TIMESCALEDB_USER", "bob"),
            ("TIMESCALEDB_PASSWORD", "other"),
            (PASSWORD_FILE_VAR, &file),
        ]))
        .expect_err("two passwords");
        assert_eq!(both.variable, PASSWORD_FILE_VAR);
        for url in ["postgres://bob:pw@h/db", "postgres://bob@h/db?password=pw"] {
            let e = Config::from_vars(vars(&[(URL_VAR, url), (PASSWORD_FILE_VAR, &file)]))
                .expect_err("URL with a password");
            assert_eq!(e.variable, PASSWORD_FILE_VAR, "{url}");
        }
        // Missing and empty files name the variable and the path, never a password.
        let empty = password_file("empty", "\n");
        for path in [empty.as_str(), "/nonexistent/pw"] {
            let e = Config::from_vars(vars(&[
                (URL_VAR, "postgres://bob@h/db"),
                (PASSWORD_FILE_VAR, path),
            ]))
            .expect_err("unusable file");
            assert_eq!(e.variable, PASSWORD_FILE_VAR);
            assert!(e.problem.contains(path), "{e}");
        }
        let e = read_password_file(&file).expect("readable");
        assert!(!format!(
            "{:?}",
            Config::new("postgres://bob@h/db")
                .with_password(&e)
                .expect("pw")
        )
        .contains("p%40ss"));
        for f in [file, empty] {
            let _ = std::fs::remove_file(f);
        }
    }

    #[test]
    fn backend_by_scheme_and_choice() {
        let r = |url: &str, b: BackendChoice| Config::new(url).with_backend(b).resolve();
        let pg = BackendChoice::Explicit(Backend::Postgres);
        let ts = BackendChoice::Explicit(Backend::Timescaledb);
        let auto = BackendChoice::Auto;
        assert_eq!(r("postgres://u@h/db", auto).unwrap(), Resolved::AskServer);
        assert_eq!(r("PostgreSQL://u@h/db", auto).unwrap(), Resolved::AskServer);
        assert_eq!(
            r("postgres://u@h/db", pg).unwrap(),
            Resolved::Backend(Backend::Postgres)
        );
        assert_eq!(
            r("postgresql://u@h/db", ts).unwrap(),
            Resolved::Backend(Backend::Timescaledb)
        );
        for u in [
            "timescaledb://u@h/db",
            "TimescaleDB://u@h/db",
            "timescale://u@h/db",
        ] {
            assert_eq!(r(u, auto).unwrap(), Resolved::Backend(Backend::Timescaledb));
            assert_eq!(r(u, ts).unwrap(), Resolved::Backend(Backend::Timescaledb));
        }
        let e = r("timescaledb://u@h/db", pg).unwrap_err();
        assert_eq!(e.kind(), marketseries_core::ErrorKind::Config);
        assert!(e.to_string().contains("contradict"), "{e}");
        let e = r("mysql://root:pw@h/db", auto).unwrap_err();
        assert!(e.to_string().contains("`mysql`") && !e.to_string().contains("pw"));
        assert!(r("host=localhost", auto).is_err());
    }

    #[test]
    fn timescale_schemes_become_postgres_for_the_driver() {
        let c = Config::new("timescaledb://u:p@h:5432/db?sslmode=disable");
        assert_eq!(c.store.url(), "postgres://u:p@h:5432/db?sslmode=disable");
        assert_eq!(
            Config::new("Timescale://h/db").store.url(),
            "postgres://h/db"
        );
        assert_eq!(
            Config::new("postgresql://h/db").store.url(),
            "postgresql://h/db"
        );
    }

    #[test]
    fn debug_and_redaction_hide_url_and_passwords() {
        let c = Config::new("postgres://alice:s3cret@db.example:5432/market");
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("db.example"),
            "{shown}"
        );
        let msg = c.redact(&format!("cannot connect to {}: s3cret rejected", c.url()));
        assert!(!msg.contains("s3cret") && !msg.contains("alice:"), "{msg}");
        let q = Config::new("postgres://h/db?user=bob&password=hunter2");
        assert_eq!(q.redact("auth hunter2 failed"), "auth *** failed");
        let enc = Config::new("postgres://bob:p%40ss@h/db");
        assert_eq!(enc.redact("p@ss and p%40ss"), "*** and ***");
    }

    #[test]
    fn the_url_variable_wins_and_the_backend_variable_is_honoured() {
        let c = Config::from_vars(vars(&[
            (URL_VAR, "postgres://u@h/db"),
            ("TIMESCALEDB_HOST", "elsewhere"),
        ]))
        .unwrap();
        assert_eq!(c.url(), "postgres://u@h/db");
        assert_eq!(c.backend, BackendChoice::Auto);
        let c = Config::from_vars(vars(&[
            (URL_VAR, "postgres://u@h/db"),
            (BACKEND_VAR, "Postgres"),
        ]))
        .unwrap();
        assert_eq!(c.backend, BackendChoice::Explicit(Backend::Postgres));
        let e = Config::from_vars(vars(&[
            (URL_VAR, "postgres://u@h/db"),
            (BACKEND_VAR, "mysql"),
        ]))
        .unwrap_err();
        assert_eq!(e.variable, BACKEND_VAR);
        let e = Config::from_vars(vars(&[(URL_VAR, "mysql://root:pw@h/db")])).unwrap_err();
        assert_eq!(e.variable, URL_VAR);
        assert!(!e.to_string().contains("pw@"), "{e}");
    }

    #[test]
    fn the_seed_variables_build_a_timescaledb_url() {
        let c = Config::from_vars(vars(&[
            ("TIMESCALEDB_HOST", "db.internal"),
            ("TIMESCALEDB_PORT", "5433"),
            ("TIMESCALEDB_NAME", "crypto"),
            ("TIMESCALEDB_USER", "trader"),
            ("TIMESCALEDB_PASSWORD", "p@ss:w/rd"),
            ("TIMESCALEDB_POOL_MIN", "2"),
            ("TIMESCALEDB_POOL_MAX", "12"),
        ]))
        .unwrap();
        assert_eq!(
            c.url(),
            "postgres://trader:p%40ss%3Aw%2Frd@db.internal:5433/crypto"
        );
        assert_eq!(c.backend, BackendChoice::Explicit(Backend::Timescaledb));
        assert_eq!((c.store.pool_min_idle, c.store.pool_size), (2, 12));
        assert!(!format!("{c:?}").contains("p@ss"));
        let c = Config::from_vars(vars(&[
            ("TIMESCALEDB_HOST", "::1"),
            ("TIMESCALEDB_NAME", "crypto"),
            ("TIMESCALEDB_USER", "trader"),
            (BACKEND_VAR, "auto"),
        ]))
        .unwrap();
        assert_eq!(c.url(), "postgres://trader@[::1]:5432/crypto");
        assert_eq!(c.backend, BackendChoice::Auto);
    }

    #[test]
    fn missing_and_malformed_variables_are_named() {
        let base = [
            ("TIMESCALEDB_HOST", "h"),
            ("TIMESCALEDB_NAME", "n"),
            ("TIMESCALEDB_USER", "u"),
            ("TIMESCALEDB_PASSWORD", "topsecret"),
        ];
        let with = |extra: &[(&'static str, &'static str)], drop: &str| {
            let mut all: Vec<(&str, &str)> =
                base.iter().copied().filter(|(k, _)| *k != drop).collect();
            all.extend_from_slice(extra);
            Config::from_vars(vars(&all))
        };
        let e = Config::from_vars(vars(&[])).unwrap_err();
        assert_eq!(e.variable, URL_VAR);
        for missing in ["TIMESCALEDB_HOST", "TIMESCALEDB_NAME", "TIMESCALEDB_USER"] {
            let e = with(&[], missing).unwrap_err();
            assert_eq!(e.variable, missing, "{e}");
            assert!(!e.to_string().contains("topsecret"), "{e}");
        }
        for (var, bad) in [
            ("TIMESCALEDB_PORT", "54x"),
            ("TIMESCALEDB_PORT", "70000"),
            ("TIMESCALEDB_PORT", "0"),
            ("TIMESCALEDB_POOL_MAX", "0"),
            ("TIMESCALEDB_POOL_MAX", "-3"),
            ("TIMESCALEDB_POOL_MIN", "many"),
            ("TIMESCALEDB_HOST", "h/evil"),
            (BACKEND_VAR, "oracle"),
        ] {
            let e = with(
                &[(var, bad)],
                if var == "TIMESCALEDB_HOST" { var } else { "" },
            )
            .unwrap_err();
            assert_eq!(e.variable, var, "{var}={bad}: {e}");
            assert!(!e.to_string().contains("topsecret"), "{e}");
            assert_eq!(
                marketseries_core::Error::from(e).kind(),
                marketseries_core::ErrorKind::Config
            );
        }
        let e = with(
            &[("TIMESCALEDB_POOL_MIN", "9"), ("TIMESCALEDB_POOL_MAX", "4")],
            "",
        )
        .unwrap_err();
        assert_eq!(e.variable, "TIMESCALEDB_POOL_MIN");
    }
}
