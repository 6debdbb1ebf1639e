//! The replica's side of a volume's replication, as a peer's agent asks
//! for it over the channel: a replica made (a thin volume, through this
//! appliance's own `volume.create` job), its standing, a point received
//! (written in order, its progress kept so a broken transfer resumes, then
//! snapshotted as the new consistent point), and replication released.
//!
//! A transfer writes into the replica's logical volume; its last
//! consistent point is a snapshot beside it that nothing but the next
//! commit replaces, so a transfer that breaks off leaves that point as it
//! was. Each side keeps only the newest point both hold, which the next
//! transfer is sent relative to.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;

use super::wire::{self, Frame, Msg};
use crate::db::replication::{self as store, Change, ReplicationRow};
use crate::db::{self, Conn, Db, audit, peers::PeerRow, pools, volumes};
use crate::domain::replica::{Role, SourceTarget, State, point_lv, point_of};
use crate::error::AppError;
use crate::storage::{Backend, NoLog};

/// How often a transfer's progress is made durable and recorded (and the
/// receiver's claim on the replica renewed), in bytes and in time.
const PERSIST_BYTES: u64 = 64 << 20;
const PERSIST_EVERY: Duration = Duration::from_secs(2);
/// How often the writing of what was received is started, not waited for.
const WRITEBACK_BYTES: u64 = 8 << 20;
/// How long a receiver's claim lasts without being renewed.
const CLAIM: chrono::Duration = chrono::Duration::seconds(30);

/// Anything that goes wrong, in words for the peer.
#[derive(Debug, Clone)]
pub struct Refusal(pub String);

impl From<String> for Refusal {
    fn from(s: String) -> Self {
        Refusal(s)
    }
}

impl From<diesel::result::Error> for Refusal {
    fn from(e: diesel::result::Error) -> Self {
        Refusal(db_words(e))
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn db_words(e: impl std::fmt::Display) -> String {
    format!("the replica's database: {e}")
}

fn actor(peer: &PeerRow) -> String {
    format!("peer {}", peer.name)
}

/// A unit serial as Baystack makes them (and LIO takes): hex and '-'.
fn check_serial(serial: &str) -> Result<(), Refusal> {
    if serial.is_empty()
        || serial.len() > 40
        || !serial.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
    {
        return Err(format!("{serial:?} is not a unit serial").into());
    }
    Ok(())
}

/// The replica of `volume` for `peer`, if this appliance holds one.
fn replica_of(c: &mut Conn<'_>, peer: &PeerRow, volume: &str) -> Result<ReplicationRow, Refusal> {
    match store::get(c, volume).map_err(db_words)? {
        Some(r) if r.role() == Role::Replica && r.peer == peer.name => Ok(r),
        Some(r) if r.role() == Role::Source => Err(format!(
            "{volume} is replicated from this appliance to {}, not to it",
            r.peer
        )
        .into()),
        Some(r) => Err(format!(
            "{volume} here is a replica of {}'s, not of this peer's",
            r.peer
        )
        .into()),
        None => Err(format!("there is no replica of {volume} here").into()),
    }
}

/// `Prepare`: records the replica and enqueues its volume's creation,
/// unless it is there already. Refused for a volume of this appliance's
/// own of that name, or when no pool has room.
pub(super) fn prepare(
    db: &Db,
    peer: &PeerRow,
    from: SocketAddr,
    volume: &str,
    size: u64,
    pool_hint: &str,
    serial: &str,
) -> Msg {
    let answer = (|| -> Result<Msg, Refusal> {
        crate::naming::validate_volume_name("volume", volume)?;
        check_serial(serial)?;
        if size == 0 || !size.is_multiple_of(512) || size > 1 << 50 {
            return Err(format!("{size} bytes is not a volume's size").into());
        }
        let mut conn = db.get().map_err(db_words)?;
        conn.write(|c| -> Result<Msg, Refusal> {
            if store::get(c, volume).map_err(db_words)?.is_some() {
                let r = replica_of(c, peer, volume)?;
                let ready = volumes::by_name(c, volume)
                    .map_err(db_words)?
                    .is_some_and(|v| v.lifecycle == "ready");
                return Ok(Msg::Prepared {
                    ready,
                    detail: format!("the replica of {volume} is in pool {} here", r.pool),
                });
            }
            if volumes::by_name(c, volume).map_err(db_words)?.is_some() {
                return Err(format!(
                    "this appliance has a volume named {volume} of its own: rename one of them, \
                     or delete this one"
                )
                .into());
            }
            let pool = pick_pool(c, pool_hint, size)?;
            let by = actor(peer);
            let spec = crate::jobs::kinds::record_volume(
                c,
                volume,
                &pool,
                size,
                true,
                &by,
                Some((serial, &crate::domain::target::naa_wwn(serial))),
            )
            .map_err(|e| e.to_string())?;
            let job = crate::jobs::enqueue_audited(
                c,
                &spec,
                &by,
                Some(&from.ip().to_string()),
                None,
                Some("the replica of a volume replicated here"),
            )
            .map_err(|e| AppError::from(e).to_string())?;
            let now = db::now();
            store::insert(
                c,
                &ReplicationRow::new(volume, &pool, &peer.name, Role::Replica, &by, now),
            )
            .map_err(db_words)?;
            audit::record(
                c,
                &audit::Entry {
                    actor: Some(&by),
                    address: Some(&from.ip().to_string()),
                    action: "replication.replica",
                    target: Some(&format!("volume {volume}")),
                    outcome: audit::Outcome::Ok,
                    detail: &format!(
                        "a replica of {}'s volume {volume} made in pool {pool} (job {job})",
                        peer.name
                    ),
                },
                now,
            )
            .map_err(db_words)?;
            Ok(Msg::Prepared {
                ready: false,
                detail: format!("the replica of {volume} is being made in pool {pool} (job {job})"),
            })
        })
    })();
    answer.unwrap_or_else(|r| Msg::Refused { reason: r.0 })
}

/// The pool a replica goes in: the source's pool's namesake when it has
/// room, else the ready pool with the most room; refused when none has.
fn pick_pool(c: &mut Conn<'_>, hint: &str, size: u64) -> Result<String, Refusal> {
    let pools = pools::list(c).map_err(db_words)?;
    let room = |p: &pools::PoolRow| crate::jobs::kinds::room_for(p, true);
    let ready: Vec<&pools::PoolRow> = pools.iter().filter(|p| p.lifecycle == "ready").collect();
    if let Some(p) = ready.iter().find(|p| p.name == hint && room(p) >= size) {
        return Ok(p.name.clone());
    }
    ready
        .iter()
        .filter(|p| room(p) >= size)
        .max_by_key(|p| room(p))
        .map(|p| p.name.clone())
        .ok_or_else(|| {
            Refusal(format!(
                "no pool here has room for a thin volume of {}",
                crate::domain::volume::size_words(size)
            ))
        })
}

/// `Status`: the replica's standing.
pub(super) fn status(db: &Db, peer: &PeerRow, volume: &str) -> Msg {
    let answer = (|| -> Result<Msg, Refusal> {
        let mut conn = db.get().map_err(db_words)?;
        let c = &mut conn.conn();
        let r = replica_of(c, peer, volume)?;
        let ready = volumes::by_name(c, volume)
            .map_err(db_words)?
            .is_some_and(|v| v.lifecycle == "ready");
        Ok(Msg::Replica {
            ready,
            seq: r.seq,
            state: r.state,
        })
    })();
    answer.unwrap_or_else(|r| Msg::Refused { reason: r.0 })
}

/// What an offer says.
pub(super) struct Offer {
    pub volume: String,
    pub seq: i64,
    pub base: Option<i64>,
    pub size_bytes: u64,
    pub taken_at_ms: i64,
    /// The changed bytes it carries.
    pub data_bytes: u64,
    pub interval_s: i64,
    pub rpo_s: i64,
    pub target: Option<SourceTarget>,
}

/// The replica's claim on its volume while it receives, and what it has
/// written of the point.
struct Receiving<'a> {
    db: &'a Db,
    volume: String,
    seq: i64,
    /// What the point carries, for what is still to come.
    data_bytes: u64,
    /// The volume is written in order up to here.
    upto: u64,
    written: u64,
    since_persist: u64,
    persisted_at: Instant,
}

impl Receiving<'_> {
    /// Records progress (after the caller made it durable) and renews the
    /// claim; refused when the replica was promoted meanwhile.
    fn persist(&mut self) -> Result<(), Refusal> {
        let (volume, upto, written, seq) = (self.volume.clone(), self.upto, self.written, self.seq);
        let pending = self.data_bytes.saturating_sub(written);
        let mut conn = self.db.get().map_err(db_words)?;
        conn.write(|c| -> Result<(), Refusal> {
            let r = store::get(c, &volume)
                .map_err(db_words)?
                .ok_or_else(|| format!("the replica of {volume} was removed here"))?;
            if r.stored_state() == State::Promoted || r.inflight_seq != Some(seq) {
                return Err(format!(
                    "the replica of {volume} was promoted or released here: it takes no more points"
                )
                .into());
            }
            let now = db::now();
            store::update(
                c,
                &volume,
                Change {
                    resume_offset: Some(upto as i64),
                    done_bytes: Some(written as i64),
                    pending_bytes: Some(pending as i64),
                    receiving_until: Some(Some(now + CLAIM)),
                    ..Change::default()
                },
                now,
            )
            .map_err(db_words)?;
            Ok(())
        })?;
        self.since_persist = 0;
        self.persisted_at = Instant::now();
        Ok(())
    }
}

fn time_of_ms(ms: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.naive_utc())
        .unwrap_or_else(db::now)
}

/// `Offer` and what follows it: accepts (or refuses) the point, writes its
/// blocks and zeroes in order, and on `Commit` makes it the consistent
/// point. Every answer goes to the peer; the error returned is for the
/// log.
pub(super) fn receive<S: std::io::Read + std::io::Write>(
    db: &Db,
    backend: &dyn Backend,
    s: &mut S,
    peer: &PeerRow,
    offer: Offer,
) -> Result<(), String> {
    // The point committed here already, its acknowledgement lost (the
    // link broke as it went): said again, nothing sent twice.
    let committed = db
        .get()
        .ok()
        .and_then(|mut conn| store::get(&mut conn.conn(), &offer.volume).ok().flatten())
        .is_some_and(|r| r.peer == peer.name && r.role() == Role::Replica && r.seq == offer.seq);
    if committed {
        return wire::send(s, &Msg::Committed { seq: offer.seq }).map_err(|e| e.to_string());
    }
    let accepted = grow_to(db, backend, peer, &offer).and_then(|()| accept(db, peer, &offer));
    let (r, offset, transfer) = match accepted {
        Ok(x) => x,
        Err(Refusal(reason)) => {
            let _ = wire::send(
                s,
                &Msg::Refused {
                    reason: reason.clone(),
                },
            );
            return Err(reason);
        }
    };
    let result = take_point(db, backend, s, &r, &offer, offset);
    let now = db::now();
    let (written, error) = match &result {
        Ok(w) => (*w, None),
        Err(e) => (0, Some(e.0.as_str())),
    };
    if let Ok(mut conn) = db.get() {
        let volume = offer.volume.clone();
        let _ = conn.write(|c| -> diesel::QueryResult<()> {
            store::transfer_ended(c, transfer, written as i64, 0, error, now)?;
            // A replica promoted (or released) meanwhile is left as that
            // made it: the refusal is the sender's news, not a breakage here.
            let still = store::get(c, &volume)?.is_some_and(|r| {
                r.stored_state() != State::Promoted && r.inflight_seq == Some(offer.seq)
            });
            if let Some(e) = error.filter(|_| still) {
                store::update(
                    c,
                    &volume,
                    Change {
                        receiving_until: Some(None),
                        ..Change::failed(State::Broken, e, now)
                    },
                    now,
                )?;
            }
            Ok(())
        });
    }
    match result {
        Ok(_) => Ok(()),
        Err(Refusal(reason)) => {
            let _ = wire::send(
                s,
                &Msg::Refused {
                    reason: reason.clone(),
                },
            );
            Err(reason)
        }
    }
}

/// A source grown online: its replica is grown to the point's size (its
/// logical volume, then its front device), as the source's was.
fn grow_to(db: &Db, backend: &dyn Backend, peer: &PeerRow, o: &Offer) -> Result<(), Refusal> {
    let (r, v) = {
        let mut conn = db.get().map_err(db_words)?;
        let c = &mut conn.conn();
        let r = replica_of(c, peer, &o.volume)?;
        let Some(v) = volumes::by_name(c, &o.volume)? else {
            return Ok(());
        };
        (r, v)
    };
    if r.stored_state() == State::Promoted
        || v.lifecycle != "ready"
        || v.size_bytes as u64 >= o.size_bytes
    {
        return Ok(());
    }
    backend
        .resize_volume(&r.pool, &v.lv, o.size_bytes, &mut NoLog)
        .map_err(|e| format!("growing the replica of {}: {e}", o.volume))?;
    backend
        .set_front_device(&r.pool, &o.volume, &mut NoLog)
        .map_err(|e| format!("growing the replica's front device: {e}"))?;
    let mut conn = db.get().map_err(db_words)?;
    conn.write(|c| -> Result<(), Refusal> {
        volumes::set_size(c, &o.volume, o.size_bytes)?;
        audit::record(
            c,
            &audit::Entry {
                actor: Some(&actor(peer)),
                address: None,
                action: "replication.grow",
                target: Some(&format!("volume {}", o.volume)),
                outcome: audit::Outcome::Ok,
                detail: &format!(
                    "the replica grown from {} to {} bytes, as its source was",
                    v.size_bytes, o.size_bytes
                ),
            },
            db::now(),
        )?;
        Ok(())
    })
}

/// Checks an offer against the replica and claims it: the offset to
/// resume from, and the transfer's record.
fn accept(db: &Db, peer: &PeerRow, o: &Offer) -> Result<(ReplicationRow, u64, i64), Refusal> {
    let mut conn = db.get().map_err(db_words)?;
    conn.write(|c| -> Result<(ReplicationRow, u64, i64), Refusal> {
        let r = replica_of(c, peer, &o.volume)?;
        let now = db::now();
        if r.stored_state() == State::Promoted {
            return Err(format!(
                "the replica of {} was promoted here by a failover: it takes no more points; \
                 fail back to send them the other way",
                o.volume
            )
            .into());
        }
        if r.receiving_until.is_some_and(|t| t > now) {
            return Err(format!("a transfer of {} is being received already", o.volume).into());
        }
        let v = volumes::by_name(c, &o.volume)
            .map_err(db_words)?
            .filter(|v| v.lifecycle == "ready")
            .ok_or_else(|| format!("the replica of {} is not made yet", o.volume))?;
        if (v.size_bytes as u64) < o.size_bytes {
            return Err(format!(
                "the replica of {} is {} bytes, the point {}: grow the replica first",
                o.volume, v.size_bytes, o.size_bytes
            )
            .into());
        }
        if o.seq <= r.seq {
            return Err(format!(
                "point {} of {} is here already (its last consistent point is {})",
                o.seq, o.volume, r.seq
            )
            .into());
        }
        if let Some(b) = o.base
            && b != r.seq
        {
            return Err(format!(
                "the point is sent relative to point {b}, but the replica's last consistent \
                 point is {}: send it in full",
                r.seq
            )
            .into());
        }
        let resume = r.inflight_seq == Some(o.seq) && r.inflight_base == o.base;
        let offset = if resume { r.resume_offset as u64 } else { 0 };
        store::update(
            c,
            &o.volume,
            Change {
                state: (r.seq == 0).then(|| State::InitialSync.as_str().to_string()),
                inflight_seq: Some(Some(o.seq)),
                inflight_base: Some(o.base),
                inflight_at: Some(Some(time_of_ms(o.taken_at_ms))),
                resume_offset: Some(offset as i64),
                done_bytes: Some(if resume { r.done_bytes } else { 0 }),
                receiving_until: Some(Some(now + CLAIM)),
                interval_s: Some(o.interval_s),
                rpo_s: Some(o.rpo_s),
                source_target: o
                    .target
                    .as_ref()
                    .map(|t| Some(serde_json::to_string(t).expect("a target serializes"))),
                ..Change::default()
            },
            now,
        )
        .map_err(db_words)?;
        let transfer = store::transfer_started(c, &o.volume, Role::Replica, o.seq, o.base, now)
            .map_err(db_words)?;
        Ok((r, offset, transfer))
    })
}

/// Receives the point's blocks and its commit. Returns the bytes written.
fn take_point<S: std::io::Read + std::io::Write>(
    db: &Db,
    backend: &dyn Backend,
    s: &mut S,
    r: &ReplicationRow,
    o: &Offer,
    offset: u64,
) -> Result<u64, Refusal> {
    let blank = r.seq == 0 && offset == 0;
    let mut io = backend
        .open_volume(&r.pool, &o.volume, true, &mut NoLog)
        .map_err(|e| e.to_string())?;
    wire::send(s, &Msg::Accept { offset, blank }).map_err(|e| e.to_string())?;
    let mut rx = Receiving {
        db,
        volume: o.volume.clone(),
        seq: o.seq,
        data_bytes: o.data_bytes,
        upto: offset,
        written: 0,
        since_persist: 0,
        persisted_at: Instant::now(),
    };
    let size = io.size();
    let in_order = |at: u64, len: u64, upto: u64| -> Result<(), Refusal> {
        if at < upto || at.saturating_add(len) > size {
            return Err(format!(
                "the peer sent bytes {at}..{} out of order or past the volume's end",
                at.saturating_add(len)
            )
            .into());
        }
        Ok(())
    };
    let mut written_back = 0;
    loop {
        match wire::recv(s).map_err(|e| e.to_string())? {
            Frame::Block(b) => {
                let len = b.data.len() as u64;
                in_order(b.offset, len, rx.upto)?;
                io.write_at(b.offset, &b.data).map_err(|e| e.to_string())?;
                rx.upto = b.offset + len;
                rx.written += len;
                rx.since_persist += len;
            }
            Frame::Msg(Msg::Zero { offset, length }) => {
                in_order(offset, length, rx.upto)?;
                io.zero(offset, length).map_err(|e| e.to_string())?;
                rx.upto = offset + length;
            }
            Frame::Msg(Msg::Commit { seq }) if seq == o.seq => {
                io.flush().map_err(|e| e.to_string())?;
                drop(io);
                commit(db, backend, r, o)?;
                wire::send(s, &Msg::Committed { seq }).map_err(|e| e.to_string())?;
                return Ok(rx.written);
            }
            Frame::Msg(other) => {
                return Err(format!("a transfer takes blocks and a commit, not {other:?}").into());
            }
        }
        if rx.written - written_back >= WRITEBACK_BYTES {
            io.start_writeback();
            written_back = rx.written;
        }
        if rx.since_persist >= PERSIST_BYTES || rx.persisted_at.elapsed() >= PERSIST_EVERY {
            io.flush().map_err(|e| e.to_string())?;
            rx.persist()?;
        }
    }
}

/// Makes the point the replica's consistent point: its snapshot taken,
/// recorded, and the older point removed.
fn commit(db: &Db, backend: &dyn Backend, r: &ReplicationRow, o: &Offer) -> Result<(), Refusal> {
    let point = point_lv(&o.volume, o.seq);
    // A snapshot of this name left by an attempt that failed after it is
    // not this one.
    backend
        .remove_volume(&r.pool, &point, &mut NoLog)
        .map_err(|e| format!("removing an old {point}: {e}"))?;
    backend
        .snapshot_volume(&r.pool, &o.volume, &point, true, &mut NoLog)
        .map_err(|e| format!("the replica's snapshot {point}: {e}"))?;
    let mut conn = db.get().map_err(db_words)?;
    conn.write(|c| -> Result<(), Refusal> {
        let now = db::now();
        let cur = store::get(c, &o.volume).map_err(db_words)?;
        if cur.is_none_or(|x| x.stored_state() == State::Promoted || x.peer != r.peer) {
            return Err(format!(
                "the replica of {} was promoted or released meanwhile",
                o.volume
            )
            .into());
        }
        store::update(
            c,
            &o.volume,
            Change {
                state: Some(State::InSync.as_str().into()),
                seq: Some(o.seq),
                consistent_at: Some(Some(time_of_ms(o.taken_at_ms))),
                inflight_seq: Some(None),
                inflight_base: Some(None),
                inflight_at: Some(None),
                resume_offset: Some(0),
                done_bytes: Some(0),
                pending_bytes: Some(0),
                receiving_until: Some(None),
                last_error: Some(None),
                last_error_at: Some(None),
                ..Change::default()
            },
            now,
        )
        .map_err(db_words)?;
        Ok(())
    })?;
    prune(backend, &r.pool, &o.volume, o.seq);
    Ok(())
}

/// Removes a volume's points older than `keep` (what is gone already, or
/// cannot be removed now, is left for the next prune).
pub fn prune(backend: &dyn Backend, pool: &str, volume: &str, keep: i64) -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(lvs) = backend.logical_volumes(pool, &mut NoLog) else {
        return removed;
    };
    for lv in lvs {
        if point_of(volume, &lv.name).is_some_and(|s| s < keep)
            && backend.remove_volume(pool, &lv.name, &mut NoLog).is_ok()
        {
            removed.push(lv.name);
        }
    }
    removed
}

/// `Release`: the replica is left an ordinary volume (its points removed)
/// and its replication forgotten here.
pub(super) fn release(
    db: &Db,
    backend: &dyn Backend,
    peer: &PeerRow,
    from: SocketAddr,
    volume: &str,
) -> Msg {
    let answer = (|| -> Result<Msg, Refusal> {
        let mut conn = db.get().map_err(db_words)?;
        let r = conn.write(|c| -> Result<ReplicationRow, Refusal> {
            let r = replica_of(c, peer, volume)?;
            if r.receiving_until.is_some_and(|t| t > db::now()) {
                return Err(format!("a transfer of {volume} is being received").into());
            }
            store::remove(c, volume).map_err(db_words)?;
            store::forget_transfers(c, volume).map_err(db_words)?;
            audit::record(
                c,
                &audit::Entry {
                    actor: Some(&actor(peer)),
                    address: Some(&from.ip().to_string()),
                    action: "replication.release",
                    target: Some(&format!("volume {volume}")),
                    outcome: audit::Outcome::Ok,
                    detail: "replication switched off on the source: the replica is an ordinary \
                             volume here now",
                },
                db::now(),
            )
            .map_err(db_words)?;
            Ok(r)
        })?;
        prune(backend, &r.pool, volume, i64::MAX);
        Ok(Msg::Done)
    })();
    answer.unwrap_or_else(|r| Msg::Refused { reason: r.0 })
}

/// `Reverse`: a failback on the peer, which promoted its replica of this
/// appliance's volume: this side is to be its replica from point `seq`,
/// the newest both hold. The old source's own `replication.demote` job
/// unexports its volume and makes it that point again; meanwhile its side
/// is a replica being prepared. Answers with the replication's settings,
/// which the peer keeps as the new source.
pub(super) fn reverse(
    db: &Db,
    backend: &dyn Backend,
    peer: &PeerRow,
    from: SocketAddr,
    volume: &str,
    seq: i64,
) -> Msg {
    let answer = (|| -> Result<Msg, Refusal> {
        crate::naming::validate_volume_name("volume", volume)?;
        let mut conn = db.get().map_err(db_words)?;
        let r = store::get(&mut conn.conn(), volume)?
            .filter(|r| r.peer == peer.name)
            .ok_or_else(|| {
                Refusal(format!(
                    "{volume} is not replicated with {} here",
                    peer.name
                ))
            })?;
        let settings = |detail: String| Msg::Reversing {
            interval_s: r.interval_s,
            rpo_s: r.rpo_s,
            compress: r.compress,
            bandwidth: r.bandwidth.clone(),
            detail,
        };
        if r.role() == Role::Replica {
            return Ok(settings(format!("{volume} here is its replica already")));
        }
        let point = point_lv(volume, seq);
        let lvs = backend
            .logical_volumes(&r.pool, &mut NoLog)
            .map_err(|e| e.to_string())?;
        if !lvs.iter().any(|l| l.name == point) {
            return Err(Refusal(format!(
                "this appliance does not hold point {seq} of {volume} (its last point both \
                 held is {}): switch replication off and on again for a full copy",
                r.seq
            )));
        }
        let p = crate::jobs::kinds::PointPayload {
            volume: volume.into(),
            peer: peer.name.clone(),
            seq,
        };
        let job = conn.write(|c| -> Result<i64, Refusal> {
            let now = db::now();
            store::update(
                c,
                volume,
                Change {
                    role: Some(Role::Replica.as_str().into()),
                    ..Change::state(State::Preparing)
                },
                now,
            )?;
            let by = actor(peer);
            let job = crate::jobs::enqueue_audited(
                c,
                &crate::jobs::kinds::demote(&p),
                &by,
                Some(&from.ip().to_string()),
                None,
                Some("a failback on the peer"),
            )
            .map_err(|e| AppError::from(e).to_string())?;
            audit::record(
                c,
                &audit::Entry {
                    actor: Some(&by),
                    address: Some(&from.ip().to_string()),
                    action: "replication.reverse",
                    target: Some(&format!("volume {volume}")),
                    outcome: audit::Outcome::Ok,
                    detail: &format!(
                        "{} failed back: {volume} here becomes its replica from point {seq} \
                         (job {job})",
                        peer.name
                    ),
                },
                now,
            )?;
            Ok(job)
        })?;
        Ok(settings(format!(
            "{volume} is made point {seq} again and becomes the replica (job {job})"
        )))
    })();
    answer.unwrap_or_else(|r| Msg::Refused { reason: r.0 })
}
