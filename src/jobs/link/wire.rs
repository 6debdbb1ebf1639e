//! The channel's frames. Each is a 4-byte big-endian length (of what
//! follows), a kind byte, and the body: a JSON message for control, or a
//! block of a volume's data with its offset and a CRC-32 of its bytes as
//! they are on the volume, so a block changed on its way is refused where
//! it arrives. TLS below carries them in order.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

/// The largest block of data one frame carries (before compression).
pub const MAX_BLOCK: usize = 4 << 20;
/// The largest frame accepted: a block and its header, or a message.
const MAX_FRAME: usize = MAX_BLOCK + 64;

const KIND_MSG: u8 = 1;
const KIND_BLOCK: u8 = 2;
const KIND_ZBLOCK: u8 = 3;

/// The version of the channel's messages this build speaks.
pub const PROTOCOL: u32 = 1;

/// A control message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Msg {
    /// A client that holds a pairing code presents its secret (hex), its
    /// host name and where its own channel listens.
    Pair {
        protocol: u32,
        secret: String,
        name: String,
        address: String,
    },
    /// The server recorded the client as a peer; its own host name.
    Paired { name: String },
    /// A peer (known by its certificate) opens a session.
    Hello { protocol: u32 },
    /// The server knows the client: its own host name.
    Welcome { name: String },
    /// A peer forgets this one (it was removed there).
    Forget,
    /// A source asks for a replica of its volume: a thin volume of that
    /// size, keeping the source's unit serial (and so its WWN), in the pool of that
    /// name if there is one with room.
    Prepare {
        volume: String,
        size_bytes: u64,
        pool: String,
        serial: String,
    },
    /// The replica is there (`ready`) or being made.
    Prepared { ready: bool, detail: String },
    /// How the replica of a volume stands.
    Status { volume: String },
    /// The replica's standing: made yet, its last consistent point.
    Replica {
        ready: bool,
        seq: i64,
        state: String,
    },
    /// A source offers point `seq` of a volume, relative to point `base`
    /// (`None`: in full), `data_bytes` of changed blocks.
    Offer {
        volume: String,
        seq: i64,
        base: Option<i64>,
        size_bytes: u64,
        /// When the source took the point, milliseconds since the epoch.
        taken_at_ms: i64,
        data_bytes: u64,
        /// The source's interval and objective, which the replica's lag is
        /// held to as well.
        interval_s: i64,
        rpo_s: i64,
        /// The source's export, for a failover to export the same.
        target: Option<crate::domain::replica::SourceTarget>,
    },
    /// The replica takes the offer: send what lies from byte `offset` of
    /// the volume on (a transfer resumed skips what is written already);
    /// `blank` when the replica has never held data, so a full point
    /// need not zero what it does not send.
    Accept { offset: u64, blank: bool },
    /// These bytes of the volume read as zeroes in the point.
    Zero { offset: u64, length: u64 },
    /// Every block of point `seq` is sent: make it the consistent point.
    Commit { seq: i64 },
    /// Point `seq` is the replica's consistent point.
    Committed { seq: i64 },
    /// Replication of a volume is switched off: the replica is left an
    /// ordinary volume.
    Release { volume: String },
    /// Failback: the replica was promoted on the asking side, which is to
    /// be the source from its point `seq` on; this side (the old source)
    /// is to become its replica at that point.
    Reverse { volume: String, seq: i64 },
    /// The old source takes the reverse, and hands over the replication's
    /// settings (its bandwidth as JSON).
    Reversing {
        interval_s: i64,
        rpo_s: i64,
        compress: bool,
        bandwidth: Option<String>,
        detail: String,
    },
    /// Done as asked.
    Done,
    /// Refused, with the reason in words; the connection ends.
    Refused { reason: String },
}

/// A block of a volume's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Where it goes on the volume, in bytes.
    pub offset: u64,
    /// Its bytes as they are on the volume.
    pub data: Vec<u8>,
}

/// One frame off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Msg(Msg),
    Block(Block),
}

/// What went wrong on the channel, in words.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the connection ended: {0}")]
    Io(#[from] std::io::Error),
    #[error("the peer sent something that is not this channel's: {0}")]
    Garbled(String),
}

fn frame(w: &mut impl Write, kind: u8, parts: &[&[u8]]) -> Result<(), WireError> {
    let len: usize = 1 + parts.iter().map(|p| p.len()).sum::<usize>();
    let len = u32::try_from(len).map_err(|_| WireError::Garbled("a frame too big".into()))?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(&[kind])?;
    for p in parts {
        w.write_all(p)?;
    }
    Ok(())
}

/// Writes a message (not flushed: see [`flush`]).
pub fn send(w: &mut impl Write, m: &Msg) -> Result<(), WireError> {
    let body = serde_json::to_vec(m).expect("a message serializes");
    frame(w, KIND_MSG, &[&body])?;
    w.flush()?;
    Ok(())
}

/// Writes a block: offset (8 bytes), CRC-32 of the data (4), the data.
pub fn send_block(w: &mut impl Write, offset: u64, data: &[u8]) -> Result<(), WireError> {
    let crc = crc32fast::hash(data);
    frame(
        w,
        KIND_BLOCK,
        &[&offset.to_be_bytes(), &crc.to_be_bytes(), data],
    )
}

/// Writes a block compressed with zstd when that makes it smaller (as it
/// is otherwise): offset (8 bytes), CRC-32 of the data as it is on the
/// volume (4), its length (4), the compressed data. Returns the bytes
/// that went on the wire.
pub fn send_block_compressed(
    w: &mut impl Write,
    offset: u64,
    data: &[u8],
) -> Result<usize, WireError> {
    let packed = zstd::bulk::compress(data, 1).map_err(WireError::Io)?;
    if packed.len() >= data.len() {
        send_block(w, offset, data)?;
        return Ok(data.len() + 17);
    }
    let crc = crc32fast::hash(data);
    let len =
        u32::try_from(data.len()).map_err(|_| WireError::Garbled("a block too big".into()))?;
    frame(
        w,
        KIND_ZBLOCK,
        &[
            &offset.to_be_bytes(),
            &crc.to_be_bytes(),
            &len.to_be_bytes(),
            &packed,
        ],
    )?;
    Ok(packed.len() + 21)
}

/// Reads one frame; a block whose bytes do not match its CRC-32 is
/// refused with where it was to go.
pub fn recv(r: &mut impl Read) -> Result<Frame, WireError> {
    let mut head = [0u8; 5];
    r.read_exact(&mut head)?;
    let len = u32::from_be_bytes(head[..4].try_into().expect("four bytes")) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(WireError::Garbled(format!("a frame of {len} bytes")));
    }
    let mut body = vec![0u8; len - 1];
    r.read_exact(&mut body)?;
    match head[4] {
        KIND_MSG => serde_json::from_slice(&body)
            .map(Frame::Msg)
            .map_err(|e| WireError::Garbled(format!("a message that does not read: {e}"))),
        KIND_BLOCK => {
            if body.len() < 12 {
                return Err(WireError::Garbled("a block without its header".into()));
            }
            let offset = u64::from_be_bytes(body[..8].try_into().expect("eight bytes"));
            let crc = u32::from_be_bytes(body[8..12].try_into().expect("four bytes"));
            let data = body.split_off(12);
            if crc32fast::hash(&data) != crc {
                return Err(WireError::Garbled(format!(
                    "the block for offset {offset} does not match its checksum: it was \
                     changed on its way"
                )));
            }
            Ok(Frame::Block(Block { offset, data }))
        }
        KIND_ZBLOCK => {
            if body.len() < 16 {
                return Err(WireError::Garbled("a block without its header".into()));
            }
            let offset = u64::from_be_bytes(body[..8].try_into().expect("eight bytes"));
            let crc = u32::from_be_bytes(body[8..12].try_into().expect("four bytes"));
            let len = u32::from_be_bytes(body[12..16].try_into().expect("four bytes")) as usize;
            if len > MAX_BLOCK {
                return Err(WireError::Garbled(format!("a block of {len} bytes")));
            }
            let data = zstd::bulk::decompress(&body[16..], len).map_err(|e| {
                WireError::Garbled(format!(
                    "the block for offset {offset} does not decompress: {e}"
                ))
            })?;
            if data.len() != len || crc32fast::hash(&data) != crc {
                return Err(WireError::Garbled(format!(
                    "the block for offset {offset} does not match its checksum: it was \
                     changed on its way"
                )));
            }
            Ok(Frame::Block(Block { offset, data }))
        }
        other => Err(WireError::Garbled(format!("a frame of kind {other}"))),
    }
}

/// Reads one frame that must be a message.
pub fn recv_msg(r: &mut impl Read) -> Result<Msg, WireError> {
    match recv(r)? {
        Frame::Msg(m) => Ok(m),
        Frame::Block(b) => Err(WireError::Garbled(format!(
            "a block for offset {} where a message was due",
            b.offset
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_blocks_read_back_in_order() {
        let mut wire = Vec::new();
        let hello = Msg::Hello { protocol: PROTOCOL };
        send(&mut wire, &hello).unwrap();
        send_block(&mut wire, 1 << 20, b"sixteen bytes!!!").unwrap();
        send(&mut wire, &Msg::Done).unwrap();
        let mut r = &wire[..];
        assert_eq!(recv(&mut r).unwrap(), Frame::Msg(hello));
        assert_eq!(
            recv(&mut r).unwrap(),
            Frame::Block(Block {
                offset: 1 << 20,
                data: b"sixteen bytes!!!".to_vec()
            })
        );
        assert_eq!(recv_msg(&mut r).unwrap(), Msg::Done);
        assert!(matches!(recv(&mut r), Err(WireError::Io(_))));
    }

    #[test]
    fn a_block_changed_on_its_way_is_refused_with_its_offset() {
        let mut wire = Vec::new();
        send_block(&mut wire, 4096, &[0xab; 512]).unwrap();
        let last = wire.len() - 1;
        wire[last] ^= 1;
        let e = recv(&mut &wire[..]).unwrap_err().to_string();
        assert!(e.contains("offset 4096") && e.contains("checksum"), "{e}");
    }

    #[test]
    fn compressed_blocks_read_back_and_a_changed_one_is_refused() {
        let text: Vec<u8> = b"a volume full of the same words ".repeat(4096);
        let mut wire = Vec::new();
        let sent = send_block_compressed(&mut wire, 8192, &text).unwrap();
        assert_eq!(sent, wire.len());
        assert!(wire.len() < text.len() / 10, "{} bytes", wire.len());
        assert_eq!(
            recv(&mut &wire[..]).unwrap(),
            Frame::Block(Block {
                offset: 8192,
                data: text.clone()
            })
        );
        // Random bytes do not shrink: sent as they are.
        let mut noise = vec![0u8; 4096];
        crate::auth::fill_random(&mut noise);
        let mut raw = Vec::new();
        send_block_compressed(&mut raw, 0, &noise).unwrap();
        assert_eq!(raw[4], KIND_BLOCK);
        // A byte of the compressed stream changed: refused, in words.
        let i = wire.len() - 5;
        wire[i] ^= 0x40;
        let e = recv(&mut &wire[..]).unwrap_err().to_string();
        assert!(e.contains("offset 8192"), "{e}");
    }

    #[test]
    fn garbage_is_refused_not_trusted() {
        for bad in [
            &[0u8, 0, 0, 0, 1][..],
            &[0x7f, 0xff, 0xff, 0xff, 1],
            &[0, 0, 0, 3, 9, 1, 2],
            &[0, 0, 0, 3, KIND_MSG, b'{', b'}'],
            &[0, 0, 0, 4, KIND_BLOCK, 1, 2, 3],
        ] {
            let e = recv(&mut &bad[..]).unwrap_err();
            assert!(matches!(e, WireError::Garbled(_)), "{bad:?}: {e}");
        }
    }
}
