//! The agents' channel to each other: TLS with both certificates pinned
//! ([`tls`]), carrying length-framed messages and checksummed blocks
//! ([`wire`]). A peer's agent listens ([`serve`]); a job connects to it
//! ([`connect`]).

pub mod receive;
pub mod send;
pub mod serve;
pub mod tls;
pub mod wire;

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::db::peers::Identity;

/// How long connecting to a peer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a read or a write may wait on a peer that says nothing.
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// A connection to a peer's agent.
pub type Client = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// Connects to the agent at `address` as `id`, accepting only the
/// certificate with SHA-256 `fingerprint`; the TLS handshake is done when
/// this returns. Every failure says where and why, in words.
pub fn connect(id: &Identity, address: &str, fingerprint: &str) -> Result<Client, String> {
    let addrs: Vec<_> = address
        .to_socket_addrs()
        .map_err(|e| format!("{address}: the name does not resolve: {e}"))?
        .collect();
    let mut last = format!("{address}: the name resolves to no address");
    let mut sock = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
            Ok(s) => {
                sock = Some(s);
                break;
            }
            Err(e) => last = format!("{address} ({a}): {}", words(&e)),
        }
    }
    let sock = sock.ok_or(last)?;
    sock.set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| sock.set_write_timeout(Some(IO_TIMEOUT)))
        .and_then(|()| sock.set_nodelay(true))
        .map_err(|e| format!("{address}: {e}"))?;
    let config = tls::client_config(id, fingerprint)?;
    let conn = rustls::ClientConnection::new(config, tls::server_name())
        .map_err(|e| format!("{address}: {e}"))?;
    let mut stream = rustls::StreamOwned::new(conn, sock);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| format!("{address}: the TLS handshake failed: {}", words(&e)))?;
    }
    Ok(stream)
}

/// An I/O error in words: rustls' own reason where TLS refused.
pub fn words(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => {
            "connection refused (is the peer's agent running and its channel listening?)".into()
        }
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "no answer in time".into(),
        _ => e.to_string(),
    }
}
