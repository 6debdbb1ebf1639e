//! The source's side of a transfer: a point offered to the replica, then
//! its changed blocks read from the point's snapshot and sent in order of
//! their place on the volume (compressed when asked and when it helps,
//! held to the bandwidth in force), the bytes it no longer holds sent as
//! zeroes, and the commit. A transfer the replica has seen part of resumes
//! from where the replica says it is written up to.

use std::time::{Duration, Instant};

use super::wire::{self, Msg};
use crate::domain::replica::{Bandwidth, Delta, Extent, SourceTarget};
use crate::storage::{Backend, NoLog};

/// How much of the volume one block frame carries.
pub const CHUNK: u64 = 1 << 20;

/// What to send.
pub struct Shipment<'a> {
    pub backend: &'a dyn Backend,
    pub pool: &'a str,
    pub volume: &'a str,
    /// The point's snapshot (a logical volume of `pool`).
    pub point_lv: &'a str,
    pub seq: i64,
    pub base: Option<i64>,
    pub size_bytes: u64,
    pub taken_at_ms: i64,
    pub compress: bool,
    pub bandwidth: Bandwidth,
    /// The appliance's time zone: a bandwidth window is in local time.
    pub tz: chrono_tz::Tz,
    pub target: Option<SourceTarget>,
    pub interval_s: i64,
    pub rpo_s: i64,
}

/// What a transfer carried.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sent {
    /// The volume's bytes sent (changed blocks), this time.
    pub data_bytes: u64,
    /// What went on the wire for them.
    pub wire_bytes: u64,
    /// Where the replica said it was written up to (0: from the start).
    pub resumed_at: u64,
    pub seconds: f64,
    /// The replica had committed the point already (its acknowledgement
    /// was lost with the link): nothing was sent again.
    pub already: bool,
}

/// A piece of the plan: data to read and send, or bytes that read as
/// zeroes now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Data(Extent),
    Zero(Extent),
}

impl Piece {
    fn extent(self) -> Extent {
        match self {
            Piece::Data(e) | Piece::Zero(e) => e,
        }
    }
}

/// The pieces in order of their place on the volume, from `from` on;
/// with `fill`, what a full point does not send is zeroed (the replica
/// held other data before).
fn plan(delta: &Delta, size: u64, from: u64, fill: bool) -> Vec<Piece> {
    let mut pieces: Vec<Piece> = delta
        .changed
        .iter()
        .map(|e| Piece::Data(*e))
        .chain(delta.unmapped.iter().map(|e| Piece::Zero(*e)))
        .collect();
    pieces.sort_by_key(|p| p.extent().offset);
    if fill {
        let mut filled = Vec::new();
        let mut at = 0;
        for p in pieces {
            let e = p.extent();
            if e.offset > at {
                filled.push(Piece::Zero(Extent {
                    offset: at,
                    length: e.offset - at,
                }));
            }
            at = e.offset + e.length;
            filled.push(p);
        }
        if at < size {
            filled.push(Piece::Zero(Extent {
                offset: at,
                length: size - at,
            }));
        }
        pieces = filled;
    }
    pieces
        .into_iter()
        .filter_map(|p| {
            let e = p.extent();
            let end = (e.offset + e.length).min(size);
            if end <= from {
                return None;
            }
            let start = e.offset.max(from);
            let e = Extent {
                offset: start,
                length: end - start,
            };
            Some(match p {
                Piece::Data(_) => Piece::Data(e),
                Piece::Zero(_) => Piece::Zero(e),
            })
        })
        .collect()
}

/// Holds a transfer to the rate in force: after each chunk, waits until
/// the bytes sent since the rate last changed fit it.
struct Throttle<'a> {
    bandwidth: &'a Bandwidth,
    tz: chrono_tz::Tz,
    rate: Option<u64>,
    since: Instant,
    sent: u64,
    checked: Instant,
}

impl<'a> Throttle<'a> {
    fn new(bandwidth: &'a Bandwidth, tz: chrono_tz::Tz) -> Self {
        let mut t = Throttle {
            bandwidth,
            tz,
            rate: None,
            since: Instant::now(),
            sent: 0,
            checked: Instant::now(),
        };
        t.rate = t.rate_now();
        t
    }

    fn rate_now(&self) -> Option<u64> {
        use chrono::{Datelike, Timelike};
        let local = chrono::Utc::now().with_timezone(&self.tz);
        let minute = (local.hour() * 60 + local.minute()) as u16;
        self.bandwidth
            .rate_at(local.weekday().num_days_from_monday() as usize, minute)
    }

    fn sent(&mut self, bytes: u64) {
        if self.checked.elapsed() >= Duration::from_secs(1) {
            self.checked = Instant::now();
            let now = self.rate_now();
            if now != self.rate {
                self.rate = now;
                self.since = Instant::now();
                self.sent = 0;
            }
        }
        self.sent += bytes;
        if let Some(rate) = self.rate {
            let due = Duration::from_secs_f64(self.sent as f64 / rate as f64);
            let elapsed = self.since.elapsed();
            if due > elapsed {
                std::thread::sleep(due - elapsed);
            }
        }
    }
}

/// Sends point `sh.seq` of the volume over `s` (a session with the
/// replica's appliance): the offer, the pieces of `delta`, the commit.
/// `progress(done, total)` is told as it goes (about once a second) and
/// may stop it; `stop()` stops it between chunks.
pub fn ship<S: std::io::Read + std::io::Write>(
    s: &mut S,
    sh: &Shipment<'_>,
    delta: &Delta,
    progress: &mut dyn FnMut(u64, u64) -> Result<(), String>,
    stop: &dyn Fn() -> bool,
) -> Result<Sent, String> {
    ship_points(s, sh, delta, progress, stop).map_err(|e| match e {
        // The replica stopped reading: it may have said why before it
        // hung up (promoted meanwhile, a block refused).
        Shipping::Wire(w) => match wire::recv_msg(s) {
            Ok(Msg::Refused { reason }) => format!("the replica refused: {reason}"),
            _ => w,
        },
        Shipping::Said(words) => words,
    })
}

/// Why a transfer stopped: the link, or something said.
enum Shipping {
    Wire(String),
    Said(String),
}

impl From<String> for Shipping {
    fn from(words: String) -> Self {
        Shipping::Said(words)
    }
}

impl From<wire::WireError> for Shipping {
    fn from(e: wire::WireError) -> Self {
        Shipping::Wire(e.to_string())
    }
}

fn ship_points<S: std::io::Read + std::io::Write>(
    s: &mut S,
    sh: &Shipment<'_>,
    delta: &Delta,
    progress: &mut dyn FnMut(u64, u64) -> Result<(), String>,
    stop: &dyn Fn() -> bool,
) -> Result<Sent, Shipping> {
    let started = Instant::now();
    let total = delta.changed_bytes();
    wire::send(
        s,
        &Msg::Offer {
            volume: sh.volume.into(),
            seq: sh.seq,
            base: sh.base,
            size_bytes: sh.size_bytes,
            taken_at_ms: sh.taken_at_ms,
            data_bytes: total,
            interval_s: sh.interval_s,
            rpo_s: sh.rpo_s,
            target: sh.target.clone(),
        },
    )?;
    let (from, blank) = match wire::recv_msg(s)? {
        Msg::Accept { offset, blank } => (offset, blank),
        Msg::Committed { seq } if seq == sh.seq => {
            progress(total, total)?;
            return Ok(Sent {
                already: true,
                seconds: started.elapsed().as_secs_f64(),
                ..Sent::default()
            });
        }
        Msg::Refused { reason } => return Err(format!("the replica refused: {reason}").into()),
        other => return Err(format!("the replica answered {other:?}").into()),
    };
    let mut io = sh
        .backend
        .open_volume(sh.pool, sh.point_lv, false, &mut NoLog)
        .map_err(|e| e.to_string())?;
    let pieces = plan(delta, sh.size_bytes, from, sh.base.is_none() && !blank);
    let mut sent = Sent {
        resumed_at: from,
        ..Sent::default()
    };
    // What was written before a resume counts as done.
    let mut done: u64 = delta
        .changed
        .iter()
        .map(|e| e.length.min(from.saturating_sub(e.offset)))
        .sum();
    let mut throttle = Throttle::new(&sh.bandwidth, sh.tz);
    let mut told = Instant::now();
    let mut buf = vec![0u8; CHUNK as usize];
    for piece in pieces {
        match piece {
            Piece::Zero(e) => {
                wire::send(
                    s,
                    &Msg::Zero {
                        offset: e.offset,
                        length: e.length,
                    },
                )?;
            }
            Piece::Data(e) => {
                let mut at = e.offset;
                while at < e.offset + e.length {
                    if stop() {
                        return Err(Shipping::Said("stopped as asked".into()));
                    }
                    let n = CHUNK.min(e.offset + e.length - at) as usize;
                    let chunk = &mut buf[..n];
                    io.read_at(at, chunk).map_err(|e| e.to_string())?;
                    let wire_len = if sh.compress {
                        wire::send_block_compressed(s, at, chunk)
                    } else {
                        wire::send_block(s, at, chunk).map(|()| n + 17)
                    }?;
                    sent.data_bytes += n as u64;
                    sent.wire_bytes += wire_len as u64;
                    done += n as u64;
                    at += n as u64;
                    throttle.sent(wire_len as u64);
                    if told.elapsed() >= Duration::from_secs(1) {
                        told = Instant::now();
                        progress(done, total)?;
                    }
                }
            }
        }
    }
    wire::send(s, &Msg::Commit { seq: sh.seq })?;
    match wire::recv_msg(s)? {
        Msg::Committed { seq } if seq == sh.seq => {}
        Msg::Refused { reason } => {
            return Err(format!("the replica refused the commit: {reason}").into());
        }
        other => return Err(format!("the replica answered {other:?}").into()),
    }
    sent.seconds = started.elapsed().as_secs_f64();
    progress(total, total)?;
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(offset: u64, length: u64) -> Extent {
        Extent { offset, length }
    }

    #[test]
    fn the_plan_goes_in_order_resumes_and_fills_a_full_point() {
        let delta = Delta {
            changed: vec![e(0, 10), e(40, 10)],
            unmapped: vec![e(20, 10)],
        };
        assert_eq!(
            plan(&delta, 100, 0, false),
            [
                Piece::Data(e(0, 10)),
                Piece::Zero(e(20, 10)),
                Piece::Data(e(40, 10))
            ]
        );
        // Resumed part-way into a piece, and past the first.
        assert_eq!(plan(&delta, 100, 45, false), [Piece::Data(e(45, 5))]);
        let full = Delta {
            changed: vec![e(10, 10), e(40, 10)],
            unmapped: vec![],
        };
        assert_eq!(
            plan(&full, 60, 0, true),
            [
                Piece::Zero(e(0, 10)),
                Piece::Data(e(10, 10)),
                Piece::Zero(e(20, 20)),
                Piece::Data(e(40, 10)),
                Piece::Zero(e(50, 10))
            ]
        );
        // A piece past the volume's end is cut to it.
        assert_eq!(plan(&full, 45, 41, false), [Piece::Data(e(41, 4))]);
    }
}
