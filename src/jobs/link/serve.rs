//! The agent's side of the channel that peers connect to. Every client
//! must present a certificate; one whose fingerprint is a peer's is let in
//! as that peer, and one that is not may only present a pairing code made
//! here. Each connection has a thread of its own, at most
//! [`MAX_CONNECTIONS`] at once; the listener stops when asked.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::wire::{self, Msg, PROTOCOL};
use super::{IO_TIMEOUT, receive, tls, words};
use crate::db::{self, Db, audit, peers};
use crate::error::AppError;
use crate::storage::Backend;

/// Connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 32;
/// How long a client may take over its TLS handshake and first message.
const HELLO_TIMEOUT: Duration = Duration::from_secs(15);

type Server = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

/// The connections being served, by a number of their own, so that a
/// listener that stops can end them.
type Live = Arc<parking_lot::Mutex<Vec<(u64, TcpStream)>>>;

/// A listening channel; dropped, it stops listening and ends the
/// connections it serves (a transfer in flight breaks off, as when the
/// agent stops).
pub struct Listener {
    pub address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    live: Live,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for (_, sock) in self.live.lock().drain(..) {
            let _ = sock.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Listens on `bind` for peers, as this appliance's identity.
pub fn listen(db: Db, backend: Arc<dyn Backend>, bind: SocketAddr) -> Result<Listener, String> {
    let identity = tls::identity(&db).map_err(|e| e.to_string())?;
    let config = tls::server_config(&identity)?;
    let socket =
        TcpListener::bind(bind).map_err(|e| format!("the channel cannot listen on {bind}: {e}"))?;
    let address = socket.local_addr().map_err(|e| e.to_string())?;
    socket
        .set_nonblocking(true)
        .map_err(|e| format!("the channel's socket: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let open = Arc::new(AtomicUsize::new(0));
    let live: Live = Arc::default();
    let serving = live.clone();
    let mut next_id = 0u64;
    let thread = std::thread::Builder::new()
        .name("channel".into())
        .spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match socket.accept() {
                    Ok((sock, from)) => {
                        if open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
                            tracing::warn!(%from, "channel: too many connections, one closed");
                            continue;
                        }
                        open.fetch_add(1, Ordering::Relaxed);
                        next_id += 1;
                        let id = next_id;
                        if let Ok(clone) = sock.try_clone() {
                            serving.lock().push((id, clone));
                        }
                        let (db, backend, config, open, serving) = (
                            db.clone(),
                            backend.clone(),
                            config.clone(),
                            open.clone(),
                            serving.clone(),
                        );
                        let spawned = std::thread::Builder::new()
                            .name("channel-peer".into())
                            .spawn(move || {
                                if let Err(e) = serve(&db, backend.as_ref(), config, sock, from) {
                                    tracing::info!(%from, "channel: {e}");
                                }
                                serving.lock().retain(|(n, _)| *n != id);
                                open.fetch_sub(1, Ordering::Relaxed);
                            });
                        if spawned.is_err() {
                            tracing::warn!(%from, "channel: no thread for a connection");
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        // Woken as a connection comes (a sleep here made
                        // every connection wait up to its length), or to
                        // look whether to stop.
                        use std::os::fd::AsFd;
                        let mut ready = [nix::poll::PollFd::new(
                            socket.as_fd(),
                            nix::poll::PollFlags::POLLIN,
                        )];
                        let _ = nix::poll::poll(&mut ready, nix::poll::PollTimeout::from(100u16));
                    }
                    Err(e) => {
                        tracing::warn!("channel: accepting: {e}");
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
            }
        })
        .map_err(|e| format!("the channel's thread: {e}"))?;
    Ok(Listener {
        address,
        stop,
        thread: Some(thread),
        live,
    })
}

/// One connection, from its handshake to its end.
fn serve(
    db: &Db,
    backend: &dyn Backend,
    config: Arc<rustls::ServerConfig>,
    sock: TcpStream,
    from: SocketAddr,
) -> Result<(), String> {
    sock.set_nonblocking(false)
        .and_then(|()| sock.set_read_timeout(Some(HELLO_TIMEOUT)))
        .and_then(|()| sock.set_write_timeout(Some(IO_TIMEOUT)))
        .and_then(|()| sock.set_nodelay(true))
        .map_err(|e| e.to_string())?;
    let conn = rustls::ServerConnection::new(config).map_err(|e| e.to_string())?;
    let mut s = rustls::StreamOwned::new(conn, sock);
    let result = talk(db, backend, &mut s, from);
    linger(&mut s);
    result
}

/// How long a connection's end waits for the peer to stop sending.
const LINGER: Duration = Duration::from_secs(3);

/// The end of a connection: TLS's close_notify sent and the socket's
/// sending side shut, then what the peer still sends is read and dropped
/// until it hangs up too, for at most [`LINGER`]. Closed at once with
/// unread data, a socket answers with a reset, and the peer's kernel may
/// then drop the last answer (a refusal mid-transfer) before it is read.
fn linger(s: &mut Server) {
    use std::io::Read;
    s.conn.send_close_notify();
    while s.conn.wants_write() {
        if s.conn.write_tls(&mut s.sock).is_err() {
            return;
        }
    }
    let _ = s.sock.shutdown(std::net::Shutdown::Write);
    let until = Instant::now() + LINGER;
    let mut buf = vec![0u8; 64 << 10];
    while Instant::now() < until {
        let _ = s.sock.set_read_timeout(Some(Duration::from_millis(100)));
        match s.sock.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

/// A connection's handshake and what it asks for.
fn talk(db: &Db, backend: &dyn Backend, s: &mut Server, from: SocketAddr) -> Result<(), String> {
    while s.conn.is_handshaking() {
        s.conn
            .complete_io(&mut s.sock)
            .map_err(|e| format!("the TLS handshake failed: {}", words(&e)))?;
    }
    let fingerprint = s
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(tls::fingerprint)
        .ok_or("the client presented no certificate")?;
    let first = wire::recv_msg(s).map_err(|e| e.to_string())?;
    match first {
        Msg::Pair {
            protocol,
            secret,
            name,
            address,
        } => {
            let answer = match check_protocol(protocol) {
                Err(reason) => Msg::Refused { reason },
                Ok(()) => match pair(db, &fingerprint, &secret, &name, &address, from) {
                    Ok(own) => Msg::Paired { name: own },
                    Err(reason) => Msg::Refused { reason },
                },
            };
            wire::send(s, &answer).map_err(|e| e.to_string())
        }
        Msg::Hello { protocol } => {
            if let Err(reason) = check_protocol(protocol) {
                return refuse(s, reason);
            }
            let peer = {
                let mut conn = db.get().map_err(|e| e.to_string())?;
                peers::peer_by_fingerprint(&mut conn.conn(), &fingerprint)
                    .map_err(|e| e.to_string())?
            };
            let Some(peer) = peer else {
                return refuse(
                    s,
                    format!(
                        "this appliance is not paired with one whose certificate's SHA-256 is {}; \
                         pair them with a new pairing code",
                        crate::domain::peer::fingerprint_words(&fingerprint)
                    ),
                );
            };
            let own = own_name(db).map_err(|e| e.to_string())?;
            wire::send(s, &Msg::Welcome { name: own }).map_err(|e| e.to_string())?;
            s.sock
                .set_read_timeout(Some(IO_TIMEOUT))
                .map_err(|e| e.to_string())?;
            session(db, backend, s, &peer, from)
        }
        other => refuse(
            s,
            format!("a session starts with a pairing or a hello, not {other:?}"),
        ),
    }
}

fn refuse(s: &mut Server, reason: String) -> Result<(), String> {
    let _ = wire::send(
        s,
        &Msg::Refused {
            reason: reason.clone(),
        },
    );
    Err(reason)
}

fn check_protocol(protocol: u32) -> Result<(), String> {
    if protocol == PROTOCOL {
        Ok(())
    } else {
        Err(format!(
            "this appliance speaks version {PROTOCOL} of the channel, not {protocol}: update \
             both to the same Baystack"
        ))
    }
}

fn own_name(db: &Db) -> Result<String, AppError> {
    let mut conn = db.get()?;
    Ok(db::appliance::get(&mut conn.conn())?
        .map(|a| a.hostname)
        .unwrap_or_else(|| "appliance".into()))
}

/// What a known peer asks for, until it hangs up.
fn session(
    db: &Db,
    backend: &dyn Backend,
    s: &mut Server,
    peer: &peers::PeerRow,
    from: SocketAddr,
) -> Result<(), String> {
    loop {
        let m = match wire::recv_msg(s) {
            Ok(m) => m,
            // The peer hung up between requests: the session is over.
            Err(wire::WireError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Ok(());
            }
            Err(e) => return Err(e.to_string()),
        };
        let answer = match m {
            Msg::Forget => match forget(db, peer, from) {
                Ok(()) => Msg::Done,
                Err(reason) => Msg::Refused { reason },
            },
            Msg::Prepare {
                volume,
                size_bytes,
                pool,
                serial,
            } => receive::prepare(db, peer, from, &volume, size_bytes, &pool, &serial),
            Msg::Status { volume } => receive::status(db, peer, &volume),
            Msg::Release { volume } => receive::release(db, backend, peer, from, &volume),
            Msg::Reverse { volume, seq } => receive::reverse(db, backend, peer, from, &volume, seq),
            Msg::Offer {
                volume,
                seq,
                base,
                size_bytes,
                taken_at_ms,
                data_bytes,
                interval_s,
                rpo_s,
                target,
            } => {
                // The transfer answers for itself; a refused one ends the
                // session.
                let offer = receive::Offer {
                    volume,
                    seq,
                    base,
                    size_bytes,
                    taken_at_ms,
                    data_bytes,
                    interval_s,
                    rpo_s,
                    target,
                };
                receive::receive(db, backend, s, peer, offer)?;
                continue;
            }
            other => Msg::Refused {
                reason: format!("not a request: {other:?}"),
            },
        };
        wire::send(s, &answer).map_err(|e| e.to_string())?;
    }
}

/// A client presents a pairing code's secret: if it is one made here,
/// unused and unexpired, the client is recorded as a peer by its
/// certificate and the code is used up, in one transaction. Returns this
/// appliance's host name.
fn pair(
    db: &Db,
    fingerprint: &str,
    secret: &str,
    name: &str,
    address: &str,
    from: SocketAddr,
) -> Result<String, String> {
    crate::naming::validate_hostname(name).map_err(|e| format!("the peer's name: {e}"))?;
    crate::naming::validate_address(address)
        .map_err(|e| format!("the peer's channel address {e}"))?;
    let hash = crate::auth::secret_hash(secret);
    let mut conn = db.get().map_err(|e| e.to_string())?;
    conn.write(|c| -> Result<String, PairError> {
        let now = db::now();
        let own = db::appliance::get(c)?
            .map(|a| a.hostname)
            .ok_or_else(|| PairError::No("this appliance is not set up yet".into()))?;
        let Some(code) = peers::code_by_hash(c, &hash)? else {
            return Err(PairError::No(
                "the pairing code was not made on this appliance, or was made on it before it \
                 was set up again: make a new one here"
                    .into(),
            ));
        };
        if let Some(at) = code.used_at {
            return Err(PairError::No(format!(
                "the pairing code was used already, by {} at {} UTC: make a new one",
                code.used_by.as_deref().unwrap_or("another appliance"),
                at.format("%Y-%m-%d %H:%M:%S")
            )));
        }
        if code.expires_at <= now {
            return Err(PairError::No(format!(
                "the pairing code expired at {} UTC: make a new one",
                code.expires_at.format("%Y-%m-%d %H:%M:%S")
            )));
        }
        if name == own {
            return Err(PairError::No(format!(
                "the appliance pairing is called {name}, as this one is: an appliance cannot \
                 pair with itself, and two peers need different host names"
            )));
        }
        if let Some(other) = peers::peer_by_fingerprint(c, fingerprint)?
            && other.name != name
        {
            return Err(PairError::No(format!(
                "this appliance is paired with that certificate already, as {}",
                other.name
            )));
        }
        if !peers::use_code(c, code.id, name, now)? {
            return Err(PairError::No("the pairing code was used already".into()));
        }
        peers::keep_peer(
            c,
            &peers::PeerRow {
                name: name.into(),
                address: address.into(),
                fingerprint: fingerprint.into(),
                paired_at: now,
                paired_by: format!("pairing code {} of {}", code.id, code.created_by),
                last_seen_at: Some(now),
                last_error: None,
            },
        )?;
        audit::record(
            c,
            &audit::Entry {
                actor: Some(&format!("peer {name}")),
                address: Some(&from.ip().to_string()),
                action: "peer.pair",
                target: Some(&format!("peer {name}")),
                outcome: audit::Outcome::Ok,
                detail: &format!(
                    "paired by pairing code {} (made by {}); its channel at {address}, its \
                     certificate {}",
                    code.id,
                    code.created_by,
                    crate::domain::peer::fingerprint_words(fingerprint)
                ),
            },
            now,
        )?;
        Ok(own)
    })
    .map_err(|e| match e {
        PairError::No(why) => why,
        PairError::Db(e) => format!("the peer's database: {e}"),
    })
}

/// A peer removed this appliance on its side: it is forgotten here too.
fn forget(db: &Db, peer: &peers::PeerRow, from: SocketAddr) -> Result<(), String> {
    let mut conn = db.get().map_err(|e| e.to_string())?;
    conn.write(|c| -> Result<(), diesel::result::Error> {
        let now = db::now();
        if peers::remove_peer(c, &peer.name)? {
            audit::record(
                c,
                &audit::Entry {
                    actor: Some(&format!("peer {}", peer.name)),
                    address: Some(&from.ip().to_string()),
                    action: "peer.remove",
                    target: Some(&format!("peer {}", peer.name)),
                    outcome: audit::Outcome::Ok,
                    detail: "removed on its own side, which told this appliance",
                },
                now,
            )?;
        }
        Ok(())
    })
    .map_err(|e| e.to_string())
}

enum PairError {
    No(String),
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for PairError {
    fn from(e: diesel::result::Error) -> Self {
        PairError::Db(e)
    }
}
