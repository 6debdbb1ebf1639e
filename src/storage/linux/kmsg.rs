//! The I/O errors the kernel logs against a disk, read from `/dev/kmsg`.
//!
//! Each read of `/dev/kmsg` returns one record: `PRIORITY,SEQUENCE,
//! MICROSECONDS,FLAGS;MESSAGE` on one line, then dictionary lines that
//! begin with a space (` SUBSYSTEM=scsi`). A copy of the device read as a
//! plain file is the same records one after another, so one parser serves
//! both. The block layer words a failed request as
//! `critical medium error, dev sda, sector 1000 op 0x0:(READ) flags 0x800
//! phys_seg 1 prio class 2` (Linux 5.18 and later); older kernels put
//! `print_req_error: ` or `blk_update_request: ` before it and stop after the
//! sector. The SCSI layer's sense lines and the page cache's `Buffer I/O
//! error on dev` lines tell of the same failure again and are not counted.

/// One record of the kernel's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its sequence number: every record of a boot has the next one.
    pub seq: u64,
    /// When it was logged, in microseconds since boot.
    pub usec: u64,
    pub message: String,
}

/// The records in `text`, in order; lines that are not records (dictionary
/// lines, a record cut short) are passed over.
pub fn records(text: &str) -> Vec<Record> {
    text.lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|line| {
            let (head, message) = line.split_once(';')?;
            let mut fields = head.split(',');
            let _priority: u32 = fields.next()?.parse().ok()?;
            let seq = fields.next()?.parse().ok()?;
            let usec = fields.next()?.parse().ok()?;
            Some(Record {
                seq,
                usec,
                message: unescape(message),
            })
        })
        .collect()
}

/// The kernel writes bytes outside printable ASCII as `\xNN`.
fn unescape(text: &str) -> String {
    if !text.contains("\\x") {
        return text.to_string();
    }
    let mut bytes = Vec::with_capacity(text.len());
    let raw = text.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\'
            && raw.get(i + 1) == Some(&b'x')
            && let Some(b) = text
                .get(i + 2..i + 4)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            bytes.push(b);
            i += 4;
            continue;
        }
        bytes.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A failed request the block layer logged against a disk.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IoError {
    /// The disk's kernel name: `sda`, `nvme0n1`.
    pub dev: String,
    /// The block layer's word for the failure: `critical medium`, `I/O`,
    /// `timeout`, `critical target`.
    pub kind: String,
    pub sector: Option<u64>,
    /// `READ`, `WRITE`, `FLUSH`, where the kernel says.
    pub op: Option<String>,
}

impl IoError {
    /// An unreadable or unwritable sector on the medium itself.
    pub fn medium(&self) -> bool {
        self.kind == "critical medium"
    }
}

/// Failures the block layer reports that say nothing against the disk:
/// a command the disk does not support, a retry, memory the kernel lacked.
const NOT_THE_DISK: &[&str] = &[
    "operation not supported",
    "nonblocking retry",
    "kernel resource",
    "device resource",
    "dm internal retry",
];

/// The failed request a log message tells of, if it tells of one.
pub fn io_error(message: &str) -> Option<IoError> {
    let (before, after) = message.split_once(" error, dev ")?;
    // "blk_update_request: I/O" -> "I/O"
    let kind = before.rsplit(": ").next()?.trim();
    if kind.is_empty() || NOT_THE_DISK.contains(&kind) {
        return None;
    }
    let (dev, rest) = after.split_once(',').unwrap_or((after, ""));
    let dev = dev.trim();
    if dev.is_empty() || !dev.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let sector = rest
        .split_once("sector ")
        .and_then(|(_, s)| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok());
    let op = rest
        .split_once(":(")
        .and_then(|(_, s)| s.split_once(')'))
        .map(|(op, _)| op.to_string());
    Some(IoError {
        dev: dev.to_string(),
        kind: kind.to_string(),
        sector,
        op,
    })
}

/// The disk a record tells was attached under its kernel name: the SCSI
/// disk driver's `sd 2:0:0:0: [sdc] Attached SCSI disk`, virtio's
/// `virtio_blk virtio1: [vda] 98304 512-byte logical blocks`. After it, the
/// name belongs to that disk: errors logged under it before belong to
/// whichever disk had the name then.
pub fn attached(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once('[')?;
    let (dev, tail) = rest.split_once("] ")?;
    let says = tail.starts_with("Attached SCSI ")
        || (message.starts_with("virtio_blk ") && tail.contains("-byte logical blocks"));
    (says && !dev.is_empty() && dev.chars().all(|c| c.is_ascii_alphanumeric())).then_some(dev)
}

/// The I/O errors in `records` from sequence number `from` on, each with
/// its record, leaving out those logged under a name that a disk attached
/// since has taken.
pub fn io_errors(records: &[Record], from: u64) -> Vec<(&Record, IoError)> {
    let mut found: Vec<(&Record, IoError)> = Vec::new();
    for r in records {
        if let Some(dev) = attached(&r.message) {
            found.retain(|(_, e)| e.dev != dev);
        } else if r.seq >= from
            && let Some(e) = io_error(&r.message)
        {
            found.push((r, e));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/kmsg/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    /// The lab guest's log after a read of a sector scsi_debug fails
    /// (tests/lab/guest/capture.sh): one medium error, told once, though
    /// the SCSI layer and the page cache tell of it too.
    #[test]
    fn a_medium_error_in_a_real_log() {
        let text = fixture("lab-medium-error.txt");
        let records = records(&text);
        assert!(records.len() > 100, "{}", records.len());
        assert!(records.windows(2).all(|w| w[1].seq == w[0].seq + 1));
        let errors: Vec<(u64, IoError)> = records
            .iter()
            .filter_map(|r| io_error(&r.message).map(|e| (r.seq, e)))
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let e = &errors[0].1;
        assert_eq!(
            (e.kind.as_str(), e.sector, e.op.as_deref(), e.medium()),
            ("critical medium", Some(20000), Some("READ"), true)
        );
        assert!(
            records
                .iter()
                .any(|r| r.message.contains("Sense Key : Medium Error")),
            "the SCSI layer's lines are there, and not counted"
        );
    }

    #[test]
    fn the_wordings_of_older_kernels() {
        let cases = [
            (
                "blk_update_request: I/O error, dev sdc, sector 2048 op 0x1:(WRITE) flags 0x0 phys_seg 1 prio class 0",
                Some(("sdc", "I/O", Some(2048), Some("WRITE"))),
            ),
            (
                "print_req_error: critical medium error, dev sdb, sector 11116",
                Some(("sdb", "critical medium", Some(11116), None)),
            ),
            (
                "end_request: critical target error, dev sdd, sector 0",
                Some(("sdd", "critical target", Some(0), None)),
            ),
            (
                "timeout error, dev nvme0n1, sector 9 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2",
                Some(("nvme0n1", "timeout", Some(9), Some("READ"))),
            ),
            (
                "operation not supported error, dev sda, sector 0 op 0x9:(WRITE_ZEROES) flags 0x0 phys_seg 0 prio class 2",
                None,
            ),
            (
                "Buffer I/O error on dev sda, logical block 125, async page read",
                None,
            ),
            (
                "sd 6:0:0:0: [sda] tag#10 Sense Key : Medium Error [current]",
                None,
            ),
        ];
        for (message, want) in cases {
            let got = io_error(message);
            let got = got
                .as_ref()
                .map(|e| (e.dev.as_str(), e.kind.as_str(), e.sector, e.op.as_deref()));
            assert_eq!(got, want, "{message}");
        }
    }

    /// A disk pulled after an error and another attached under its name:
    /// the error is not the new disk's.
    #[test]
    fn a_name_taken_by_a_new_disk_leaves_the_old_errors_behind() {
        let log = "3,10,100,-;critical medium error, dev sdc, sector 8 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2\n\
                   3,11,101,-;I/O error, dev sdd, sector 9 op 0x1:(WRITE) flags 0x0 phys_seg 1 prio class 2\n\
                   5,12,200,-;sd 3:0:0:0: [sdc] Attached SCSI disk\n\
                   3,13,300,-;critical medium error, dev sdc, sector 7 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2\n\
                   6,14,310,-;virtio_blk virtio1: [vda] 98304 512-byte logical blocks (50.3 MB/48.0 MiB)\n";
        let records = records(log);
        let kept: Vec<(u64, String)> = io_errors(&records, 0)
            .into_iter()
            .map(|(r, e)| (r.seq, e.dev))
            .collect();
        assert_eq!(kept, [(11, "sdd".into()), (13, "sdc".into())]);
        let later: Vec<u64> = io_errors(&records, 12).iter().map(|(r, _)| r.seq).collect();
        assert_eq!(later, [13], "from a cursor on");
        assert_eq!(attached(&records[4].message), Some("vda"));
        assert_eq!(
            attached("sd 3:0:0:0: [sdc] 976773168 512-byte logical blocks"),
            None
        );
    }

    #[test]
    fn records_as_dev_kmsg_gives_them() {
        let text = "3,1234,15949497,-;sd 6:0:0:0: [sda] tag#10 FAILED\n \
                    SUBSYSTEM=scsi\n DEVICE=+scsi:6:0:0:0\n\
                    6,1235,15950278,-;name with \\x1b escape\n\
                    not a record\n7,x,1,-;bad sequence\n";
        let r = records(text);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!((r[0].seq, r[0].usec), (1234, 15949497));
        assert_eq!(r[1].message, "name with \u{1b} escape");
    }
}
