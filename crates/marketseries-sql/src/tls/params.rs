//! The TLS parameters of a connection string, read with libpq's meanings and taken out of
//! the string `tokio-postgres` parses (it knows `disable`, `prefer` and `require` only, and
//! no `sslrootcert`).

use std::ops::Range;

use marketseries_core::{Error, Result};

/// How a connection uses TLS: libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SslMode {
    /// Plaintext only.
    Disable,
    /// TLS when the server offers it, plaintext otherwise; the certificate is not checked.
    /// libpq's default, and this crate's when neither the URL nor `PGSSLMODE` names one.
    Prefer,
    /// TLS or no connection; the certificate is not checked, unless `sslrootcert` is given,
    /// when it is checked as `verify-ca` does (libpq does the same).
    Require,
    /// TLS, with the server's certificate chaining to a root of `sslrootcert`; the host name
    /// is not checked.
    VerifyCa,
    /// As `verify-ca`, and the certificate must be valid for the host name connected to.
    VerifyFull,
}

impl SslMode {
    /// Parses libpq's spelling (`disable`, `prefer`, `require`, `verify-ca`,
    /// `verify-full`).
    ///
    /// # Errors
    /// [`Error::Config`] naming the value for anything else (`allow` included, which this
    /// crate does not offer).
    pub fn parse(value: &str) -> Result<Self> {
        Ok(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            "allow" => {
                return Err(Error::Config(
                    "sslmode=allow is not supported (it tries plaintext first); use `prefer` \
                     or `disable`"
                        .into(),
                ))
            }
            other => {
                return Err(Error::Config(format!(
                    "invalid sslmode {other:?}: expected disable, prefer, require, verify-ca \
                     or verify-full"
                )))
            }
        })
    }

    /// libpq's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    /// Whether a server without TLS is refused.
    pub fn requires_tls(self) -> bool {
        matches!(self, Self::Require | Self::VerifyCa | Self::VerifyFull)
    }

    /// The mode `tokio-postgres` is given: it negotiates, the verifier checks.
    fn driver(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require | Self::VerifyCa | Self::VerifyFull => "require",
        }
    }
}

impl std::fmt::Display for SslMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`split`] found in a connection string.
pub(crate) struct TlsParams {
    /// `sslmode`, if the string names one.
    pub(crate) mode: Option<SslMode>,
    /// `sslrootcert`, if the string names one: a file, or `system`.
    pub(crate) root_cert: Option<String>,
    source: String,
    drop: Vec<Range<usize>>,
    rebuild: Rebuild,
}

impl TlsParams {
    /// The string for the driver: without `sslmode` and `sslrootcert`, then with the one
    /// of the driver's three modes `mode` maps onto (it negotiates, the verifier checks).
    pub(crate) fn driver_url(&self, mode: SslMode) -> String {
        self.rebuild.apply(&self.source, &self.drop, mode.driver())
    }
}

/// libpq parameters for client certificates and revocation lists, which this crate does
/// not implement: refused rather than ignored, since ignoring them would connect with less
/// than was asked for.
const UNSUPPORTED: &[&str] = &["sslcert", "sslkey", "sslpassword", "sslcrl", "sslcrldir"];

/// Reads `sslmode` and `sslrootcert` out of a connection string (URL form
/// `postgres://...?sslmode=verify-full&sslrootcert=/path` or key/value form
/// `host=... sslmode=verify-full`).
///
/// # Errors
/// [`Error::Config`] for a malformed string, an unknown `sslmode` and the client
/// certificate parameters this crate does not implement.
pub(crate) fn split(url: &str) -> Result<TlsParams> {
    let (pairs, rebuild) = if is_uri(url) {
        uri_pairs(url)?
    } else {
        key_value_pairs(url)?
    };
    let mut mode = None;
    let mut root_cert = None;
    for pair in &pairs {
        match pair.key.as_str() {
            "sslmode" => mode = Some(SslMode::parse(&pair.value)?),
            "sslrootcert" => root_cert = Some(pair.value.clone()),
            key if UNSUPPORTED.contains(&key) => {
                return Err(Error::Config(format!(
                    "the connection string sets `{key}`: client certificates and revocation \
                     lists are not supported (use password authentication over \
                     sslmode=verify-full)"
                )))
            }
            _ => {}
        }
    }
    let drop = pairs
        .iter()
        .filter(|p| p.key == "sslmode" || p.key == "sslrootcert")
        .map(|p| p.span.clone())
        .collect();
    Ok(TlsParams {
        mode,
        root_cert,
        source: url.to_owned(),
        drop,
        rebuild,
    })
}

/// One `key=value` of a connection string: decoded key and value, and where it stands.
struct Pair {
    key: String,
    value: String,
    span: Range<usize>,
}

/// How to put the string back together without some pairs and with a new `sslmode`.
enum Rebuild {
    /// Query parameters joined by `&`, after a `?` at this offset (or none yet).
    Uri { query_start: Option<usize> },
    /// Pairs separated by spaces.
    KeyValue,
}

impl Rebuild {
    fn apply(&self, url: &str, drop: &[Range<usize>], sslmode: &str) -> String {
        match self {
            Rebuild::Uri { query_start } => {
                let (base, query) = match query_start {
                    Some(q) => (&url[..q - 1], &url[*q..]),
                    None => (url, ""),
                };
                let mut kept: Vec<&str> = Vec::new();
                let mut at = query_start.unwrap_or(url.len());
                for part in query.split('&') {
                    let span = at..at + part.len();
                    at = span.end + 1;
                    if !part.is_empty() && !drop.contains(&span) {
                        kept.push(part);
                    }
                }
                let mode = format!("sslmode={sslmode}");
                kept.push(&mode);
                format!("{base}?{}", kept.join("&"))
            }
            Rebuild::KeyValue => {
                let mut out = String::with_capacity(url.len() + 16);
                let mut at = 0;
                for span in drop {
                    out.push_str(&url[at..span.start]);
                    at = span.end;
                }
                out.push_str(&url[at..]);
                let mut out = out.trim_end().to_owned();
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str("sslmode=");
                out.push_str(sslmode);
                out
            }
        }
    }
}

fn is_uri(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn uri_pairs(url: &str) -> Result<(Vec<Pair>, Rebuild)> {
    let Some(q) = url.find('?').map(|i| i + 1) else {
        return Ok((Vec::new(), Rebuild::Uri { query_start: None }));
    };
    let mut pairs = Vec::new();
    let mut at = q;
    for part in url[q..].split('&') {
        let span = at..at + part.len();
        at = span.end + 1;
        if part.is_empty() {
            continue;
        }
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        pairs.push(Pair {
            key: percent_decode(key)?,
            value: percent_decode(value)?,
            span,
        });
    }
    Ok((
        pairs,
        Rebuild::Uri {
            query_start: Some(q),
        },
    ))
}

fn percent_decode(text: &str) -> Result<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    Error::Config("invalid percent-encoding in the connection URL".into())
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| Error::Config("the connection URL decodes to invalid UTF-8".into()))
}

/// libpq's key/value syntax: `key = value` pairs separated by whitespace, a value in single
/// quotes (with `\'` and `\\`) or bare (with `\` escapes).
fn key_value_pairs(text: &str) -> Result<(Vec<Pair>, Rebuild)> {
    let bytes = text.as_bytes();
    let mut pairs = Vec::new();
    let mut i = 0;
    let skip_space = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    loop {
        i = skip_space(i);
        if i >= bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b'=' && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = text[start..i].to_owned();
        i = skip_space(i);
        if bytes.get(i) != Some(&b'=') {
            return Err(Error::Config(format!(
                "invalid connection string: `{key}` has no `=` after it"
            )));
        }
        i = skip_space(i + 1);
        let mut value = Vec::new();
        if bytes.get(i) == Some(&b'\'') {
            i += 1;
            loop {
                match bytes.get(i) {
                    None => {
                        return Err(Error::Config(format!(
                            "invalid connection string: the quoted value of `{key}` is not \
                             closed"
                        )))
                    }
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') if i + 1 < bytes.len() => {
                        value.push(bytes[i + 1]);
                        i += 2;
                    }
                    Some(&b) => {
                        value.push(b);
                        i += 1;
                    }
                }
            }
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                if bytes[i] == b'\\' && i + 1 < bytes.len() {
                    i += 1;
                }
                value.push(bytes[i]);
                i += 1;
            }
        }
        pairs.push(Pair {
            key,
            value: String::from_utf8_lossy(&value).into_owned(),
            span: start..i,
        });
    }
    Ok((pairs, Rebuild::KeyValue))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_given(url: &str) -> Result<(TlsParams, String)> {
        let p = split(url)?;
        let driver = p.driver_url(p.mode.unwrap_or(SslMode::Prefer));
        Ok((p, driver))
    }

    #[test]
    fn url_form_loses_the_root_cert_and_maps_the_mode() {
        let (p, driver) = as_given(
            "postgres://u:p%40ss@db.example:5432/x?application_name=a&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(p.mode, Some(SslMode::VerifyFull));
        assert_eq!(p.root_cert.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(
            driver,
            "postgres://u:p%40ss@db.example:5432/x?application_name=a&connect_timeout=3&sslmode=require"
        );
    }

    #[test]
    fn url_without_a_query_gets_the_resolved_mode() {
        let p = split("postgresql://u@h/db").unwrap();
        assert_eq!(p.mode, None);
        assert_eq!(
            p.driver_url(SslMode::VerifyCa),
            "postgresql://u@h/db?sslmode=require"
        );
        let (_, driver) = as_given("postgres://u@h/db?sslmode=disable").unwrap();
        assert_eq!(driver, "postgres://u@h/db?sslmode=disable");
    }

    #[test]
    fn key_value_form_with_quotes() {
        let (p, driver) = as_given(
            "host=h  sslrootcert = '/tmp/my ca\\'s.pem' dbname=d sslmode=verify-ca password='a b'",
        )
        .unwrap();
        assert_eq!(p.mode, Some(SslMode::VerifyCa));
        assert_eq!(p.root_cert.as_deref(), Some("/tmp/my ca's.pem"));
        assert_eq!(driver, "host=h   dbname=d  password='a b' sslmode=require");
        let parsed: tokio_postgres::Config = driver.parse().unwrap();
        assert_eq!(parsed.get_dbname(), Some("d"));
        assert_eq!(parsed.get_password(), Some(&b"a b"[..]));
    }

    #[test]
    fn bad_values_are_named() {
        let e = split("postgres://h/d?sslmode=verify").err().unwrap();
        assert!(e.to_string().contains("\"verify\""), "{e}");
        let e = split("host=h sslmode=allow").err().unwrap();
        assert!(e.to_string().contains("sslmode=allow"), "{e}");
        let e = split("postgres://h/d?sslcert=/c.pem").err().unwrap();
        assert!(e.to_string().contains("`sslcert`"), "{e}");
        let e = split("host=h dbname").err().unwrap();
        assert!(e.to_string().contains("`dbname`"), "{e}");
        let e = split("host='h").err().unwrap();
        assert!(e.to_string().contains("not closed"), "{e}");
        let e = split("postgres://h/d?sslrootcert=%zz").err().unwrap();
        assert!(e.to_string().contains("percent"), "{e}");
    }
}
