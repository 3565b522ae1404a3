//! A TCP proxy in front of a real PostgreSQL server that cuts client connections at chosen
//! points of the frontend protocol (issue 12): just before or just after a `COMMIT` reaches
//! the server, or before a statement does. The store under test connects through it and
//! meets what a network failure or a server crash does to it, with a real server on the
//! other side.
//!
//! Only the client-to-server direction is parsed (message type and length, and the query
//! text of `Query` and `Parse` messages); the server's answers are passed through as they
//! come. Connections must not use TLS (`sslmode=disable`, as the launcher's URLs do).

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Which frontend message a fault fires at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A simple-protocol `COMMIT` (how `tokio-postgres` and diesel-async commit).
    Commit,
    /// A `Query` or `Parse` message whose statement starts with this text (compared
    /// case-insensitively, leading white space ignored), e.g. `"INSERT INTO candles"`.
    Statement(&'static str),
}

/// What the proxy does when a fault fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Close the connection without passing the message on: the server never sees it (for
    /// a `COMMIT`, the transaction is rolled back when the server notices the lost client).
    BeforeForwarding,
    /// Stop passing the server's answers on, pass the message on, give the server a moment
    /// to act on it, then close the connection: for a `COMMIT`, the transaction is
    /// committed and the client never hears so.
    AfterForwarding,
}

/// One armed fault: fire `times` times at `trigger`, doing `cut`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Where it fires.
    pub trigger: Trigger,
    /// What it does.
    pub cut: Cut,
    /// How many times, on any connections.
    pub times: usize,
}

#[derive(Debug, Default)]
struct State {
    armed: Mutex<VecDeque<Fault>>,
    cuts: AtomicU64,
    /// While set, every connection is refused (accepted and closed at once).
    down: AtomicBool,
    /// The relays of open connections, to cut them all when the proxy goes down.
    relays: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl State {
    /// Whether the message with `query` (`None`: not a statement) fires the first armed
    /// fault, and how it cuts.
    fn fires(&self, query: Option<&str>) -> Option<Cut> {
        let query = query?.trim_start().to_ascii_uppercase();
        let mut armed = self.armed.lock().unwrap_or_else(PoisonError::into_inner);
        let fault = armed.front_mut()?;
        let hit = match fault.trigger {
            Trigger::Commit => query.trim_end().trim_end_matches(';') == "COMMIT",
            Trigger::Statement(prefix) => query.starts_with(&prefix.to_ascii_uppercase()),
        };
        if !hit {
            return None;
        }
        let cut = fault.cut;
        fault.times = fault.times.saturating_sub(1);
        if fault.times == 0 {
            armed.pop_front();
        }
        self.cuts.fetch_add(1, Ordering::Relaxed);
        Some(cut)
    }
}

/// A running proxy; dropping it stops accepting connections.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    upstream_authority: String,
    state: Arc<State>,
    accept: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The `host:port` of a `postgres://user@host:port/db` URL.
fn authority(url: &str) -> io::Result<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host_port = &rest[..end];
    if host_port.contains(':') {
        Ok(host_port)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the URL names no host:port the proxy could stand in for: {host_port:?}"),
        ))
    }
}

impl FaultProxy {
    /// Listens on an ephemeral local port, forwarding to the server of `upstream_url` (a
    /// `postgres://user@host:port/db` URL).
    ///
    /// # Errors
    /// When the URL has no `host:port` or the listener cannot be bound.
    pub async fn start(upstream_url: &str) -> io::Result<Self> {
        let upstream_authority = authority(upstream_url)?.to_owned();
        let upstream = upstream_authority.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::default());
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if shared.down.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let state = shared.clone();
                let upstream = upstream.clone();
                let relay = tokio::spawn(async move {
                    // A connection that fails ends; the client sees it closed.
                    let _ = relay(client, &upstream, &state).await;
                });
                let mut relays = shared.relays.lock().unwrap_or_else(PoisonError::into_inner);
                relays.retain(|r| !r.is_finished());
                relays.push(relay.abort_handle());
            }
        });
        Ok(Self {
            addr,
            upstream_authority,
            state,
            accept,
        })
    }

    /// `upstream_url` with its `host:port` replaced by the proxy's.
    pub fn url(&self, upstream_url: &str) -> String {
        upstream_url.replacen(&self.upstream_authority, &self.addr.to_string(), 1)
    }

    /// Arms `fault` (after those already armed).
    pub fn arm(&self, fault: Fault) {
        self.state
            .armed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(fault);
    }

    /// Disarms every fault not yet fired.
    pub fn disarm(&self) {
        self.state
            .armed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Takes the "server" down (`true`: open connections are cut, new ones closed at
    /// once, as a stopped server would) or brings it back (`false`), without touching
    /// the real server, which other tests share.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
        if down {
            let relays = std::mem::take(
                &mut *self
                    .state
                    .relays
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            );
            for relay in relays {
                relay.abort();
            }
        }
    }

    /// Connections cut so far.
    pub fn cuts(&self) -> u64 {
        self.state.cuts.load(Ordering::Relaxed)
    }
}

/// `SSLRequest` and `GSSENCRequest` codes: untyped messages before the startup message.
const PRE_STARTUP_CODES: [u32; 2] = [80_877_103, 80_877_104];

/// How long [`Cut::AfterForwarding`] lets the server act on the message before cutting.
const SERVER_GRACE: Duration = Duration::from_millis(300);

async fn relay(client: TcpStream, upstream: &str, state: &State) -> io::Result<()> {
    let server = TcpStream::connect(upstream).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let answers = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
        to_client
    });
    let outcome = frontend(&mut from_client, &mut to_server, state, &answers).await;
    answers.abort();
    outcome
}

/// Passes the client's messages on until it closes or a fault fires.
async fn frontend(
    from_client: &mut OwnedReadHalf,
    to_server: &mut OwnedWriteHalf,
    state: &State,
    answers: &JoinHandle<OwnedWriteHalf>,
) -> io::Result<()> {
    // Untyped: optional SSL/GSS requests, then the startup message.
    loop {
        let mut len = [0u8; 4];
        from_client.read_exact(&mut len).await?;
        let body = read_body(from_client, u32::from_be_bytes(len)).await?;
        to_server.write_all(&len).await?;
        to_server.write_all(&body).await?;
        let code = body
            .get(..4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        if !code.is_some_and(|c| PRE_STARTUP_CODES.contains(&c)) {
            break;
        }
    }
    loop {
        let mut header = [0u8; 5];
        from_client.read_exact(&mut header).await?;
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        let body = read_body(from_client, len).await?;
        match state.fires(statement(header[0], &body)) {
            None => {
                to_server.write_all(&header).await?;
                to_server.write_all(&body).await?;
            }
            Some(Cut::BeforeForwarding) => return Ok(()),
            Some(Cut::AfterForwarding) => {
                answers.abort();
                to_server.write_all(&header).await?;
                to_server.write_all(&body).await?;
                to_server.flush().await?;
                tokio::time::sleep(SERVER_GRACE).await;
                return Ok(());
            }
        }
    }
}

/// The body of a message whose length field (itself included) is `len`.
async fn read_body(from: &mut OwnedReadHalf, len: u32) -> io::Result<Vec<u8>> {
    let len = usize::try_from(len.saturating_sub(4))
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "message too long"))?;
    if len > 1 << 30 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "message too long",
        ));
    }
    let mut body = vec![0u8; len];
    from.read_exact(&mut body).await?;
    Ok(body)
}

/// The statement text of a `Query` (`Q`: the text) or `Parse` (`P`: a name, then the
/// text) message.
fn statement(kind: u8, body: &[u8]) -> Option<&str> {
    fn cstr(b: &[u8]) -> Option<(usize, &[u8])> {
        let end = b.iter().position(|&c| c == 0)?;
        Some((end, &b[..end]))
    }
    let text = match kind {
        b'Q' => cstr(body)?.1,
        b'P' => {
            let (name_end, _) = cstr(body)?;
            cstr(&body[name_end + 1..])?.1
        }
        _ => return None,
    };
    std::str::from_utf8(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_read_from_query_and_parse_messages() {
        assert_eq!(statement(b'Q', b"COMMIT\0"), Some("COMMIT"));
        assert_eq!(
            statement(b'P', b"s1\0INSERT INTO candles VALUES (1)\0\0\0"),
            Some("INSERT INTO candles VALUES (1)")
        );
        assert_eq!(statement(b'B', b"\0\0"), None);
    }

    #[test]
    fn faults_fire_in_order_and_are_counted() {
        let state = State::default();
        state.armed.lock().unwrap().push_back(Fault {
            trigger: Trigger::Commit,
            cut: Cut::BeforeForwarding,
            times: 2,
        });
        assert_eq!(state.fires(Some("BEGIN")), None);
        assert_eq!(state.fires(Some(" commit")), Some(Cut::BeforeForwarding));
        assert_eq!(state.fires(Some("COMMIT")), Some(Cut::BeforeForwarding));
        assert_eq!(
            state.fires(Some("COMMIT")),
            None,
            "fired twice, then disarmed"
        );
        assert_eq!(state.cuts.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn the_url_is_pointed_at_the_proxy() {
        assert_eq!(
            authority("postgres://u@127.0.0.1:5432/db?sslmode=disable").unwrap(),
            "127.0.0.1:5432"
        );
        assert!(authority("postgres:///db?host=/tmp").is_err());
    }
}
