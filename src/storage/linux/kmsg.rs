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

/// A disk, or an NVMe controller with its namespaces, that a record tells
/// was attached: the SCSI disk driver's `sd 2:0:0:0: [sdc] Attached SCSI
/// disk`, virtio's `virtio_blk virtio1: [vda] 98304 512-byte logical
/// blocks`, NVMe's `nvme nvme0: pci function 0000:01:00.0`. After it, the
/// name belongs to that disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attached<'a> {
    pub name: &'a str,
    /// An NVMe controller: its namespaces `<name>n1`, `<name>n2` are new.
    pub controller: bool,
}

impl Attached<'_> {
    /// Whether disk `dev` is (one of) what was attached.
    pub fn covers(&self, dev: &str) -> bool {
        match dev.strip_prefix(self.name) {
            Some("") => !self.controller,
            Some(rest) => {
                self.controller
                    && rest
                        .strip_prefix('n')
                        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            }
            None => false,
        }
    }
}

fn plain_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric())
}

/// What a record tells was attached, if it tells of an attach.
pub fn attached(message: &str) -> Option<Attached<'_>> {
    if let Some(rest) = message.strip_prefix("nvme ") {
        let (name, tail) = rest.split_once(": ")?;
        return (tail.starts_with("pci function ") && plain_name(name)).then_some(Attached {
            name,
            controller: true,
        });
    }
    let (_, rest) = message.split_once('[')?;
    let (name, tail) = rest.split_once("] ")?;
    let says = tail.starts_with("Attached SCSI ")
        || (message.starts_with("virtio_blk ") && tail.contains("-byte logical blocks"));
    (says && plain_name(name)).then_some(Attached {
        name,
        controller: false,
    })
}

/// A failed request and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<'a> {
    pub record: &'a Record,
    pub error: IoError,
    /// A disk was attached under the error's name after record `from` and
    /// before the error: the error is that disk's, not the one that had
    /// the name when the log was read up to `from`.
    pub attached_since: bool,
}

/// The I/O errors in `records` from sequence number `from` on. An error
/// logged under a name that was attached again since `from`, before and
/// after it, belonged to a disk that came and went between two readings,
/// and is left out.
pub fn io_errors(records: &[Record], from: u64) -> Vec<Found<'_>> {
    let mut found: Vec<Found<'_>> = Vec::new();
    let mut attaches: Vec<Attached<'_>> = Vec::new();
    for record in records.iter().filter(|r| r.seq >= from) {
        if let Some(a) = attached(&record.message) {
            found.retain(|f| !(f.attached_since && a.covers(&f.error.dev)));
            attaches.push(a);
        } else if let Some(error) = io_error(&record.message) {
            let attached_since = attaches.iter().any(|a| a.covers(&error.dev));
            found.push(Found {
                record,
                error,
                attached_since,
            });
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
        let errors = io_errors(&records, 0);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].attached_since, "sdd was attached since boot");
        let e = &errors[0].error;
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

    /// Whose each error is: the disk that had the name when the log was
    /// last read, or one attached under it since.
    #[test]
    fn an_error_belongs_to_the_disk_that_had_the_name() {
        let log = "3,10,100,-;critical medium error, dev sdc, sector 8 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2\n\
                   3,11,101,-;I/O error, dev sdd, sector 9 op 0x1:(WRITE) flags 0x0 phys_seg 1 prio class 2\n\
                   5,12,200,-;sd 3:0:0:0: [sdc] Attached SCSI disk\n\
                   3,13,300,-;critical medium error, dev sdc, sector 7 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2\n\
                   6,14,310,-;nvme nvme0: pci function 0000:01:00.0\n\
                   3,15,320,-;timeout error, dev nvme0n1, sector 1 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2\n\
                   5,16,400,-;sd 4:0:0:0: [sdd] Attached SCSI disk\n";
        let records = records(log);
        let seen = |from| -> Vec<(u64, bool)> {
            io_errors(&records, from)
                .iter()
                .map(|f| (f.record.seq, f.attached_since))
                .collect()
        };
        // sdc's first error is the old disk's, its second the new one's;
        // sdd was attached after its error: the error is the old sdd's.
        assert_eq!(seen(10), [(10, false), (11, false), (13, true), (15, true)]);
        assert_eq!(
            seen(13),
            [(13, false), (15, true)],
            "sdc was attached before"
        );
        // A disk attached and replaced between two readings: its error is
        // no one's the console knows.
        let twice = records
            .iter()
            .cloned()
            .chain(crate::storage::linux::kmsg::records(
                "5,17,500,-;sd 3:0:0:0: [sdc] Attached SCSI disk\n",
            ))
            .collect::<Vec<_>>();
        let kept: Vec<u64> = io_errors(&twice, 10).iter().map(|f| f.record.seq).collect();
        assert_eq!(kept, [10, 11, 15]);

        let nvme = attached(&records[4].message).unwrap();
        assert!(nvme.covers("nvme0n1") && nvme.covers("nvme0n12"));
        assert!(!nvme.covers("nvme0") && !nvme.covers("nvme01n1") && !nvme.covers("nvme1n1"));
        let sd = attached(&records[2].message).unwrap();
        assert!(sd.covers("sdc") && !sd.covers("sdcc"));
        assert_eq!(
            attached("virtio_blk virtio1: [vda] 98304 512-byte logical blocks (50.3 MB/48.0 MiB)")
                .map(|a| a.name),
            Some("vda")
        );
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
