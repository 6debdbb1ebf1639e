#!/usr/bin/env python3
"""SAS enclosures and their drives, emulated for the lab guest's real kernel.

Each enclosure of a profile (tests/lab/ses/profiles/*.toml, described in
tests/lab/ses/README.md) becomes a SCSI enclosure services device and each
drive a SCSI disk, both answered by this program behind LIO's TCMU ("user")
backstore and presented by LIO's loopback fabric (tcm_loop), so the kernel's
`ses` driver, `sg_ses`, `smartctl` and the block layer talk to them as to a
SAS JBOD. Every device sits on a loopback target of its own; a drive's target
is named after the SAS address its slot lists (`naa.<address>`), and the
drive reports that address as its SAS target port in VPD page 0x83, as a
SAS disk does. The kernel links no drive to its slot on this path (the
loopback hosts have no SAS transport), as with many real HBAs.

  enclosure.py serve PROFILE STATE_DIR   set up, serve, and answer STATE_DIR/ctl.sock;
                                         STATE_DIR/ready appears once every device is up;
                                         STATE_DIR/state.json is every element as it is now
  enclosure.py ctl STATE_DIR JSON        one request to a running emulator; prints its answer
  enclosure.py check STATE_DIR METHOD BAYS ENCLOSURES
                                         how the console's GET /api/v1/bays and
                                         /api/v1/enclosures (files) differ from the
                                         emulated enclosures as they are now
                                         (STATE_DIR/state.json: the profile and
                                         every change since)
  enclosure.py clean                     removes every loopback target and user backstore

Every control page an enclosure receives is appended to
STATE_DIR/requests.jsonl, decoded element by element.
"""
import glob
import json
import mmap
import os
import socket
import struct
import sys
import threading
import time
import tomllib

CONFIGFS = "/sys/kernel/config/target"
LOCK = threading.RLock()
LOG = sys.stderr

# ---- profiles ------------------------------------------------------------

# SES-2 element type codes and the words sg_ses and the kernel use.
TYPES = {
    "device slot": 0x01,
    "power supply": 0x02,
    "cooling": 0x03,
    "temperature sensor": 0x04,
    "array device slot": 0x17,
}
SLOT_TYPES = (0x01, 0x17)
STATUS = {
    "unsupported": 0, "OK": 1, "critical": 2, "noncritical": 3, "unrecoverable": 4,
    "not installed": 5, "unknown": 6, "not available": 7, "no access": 8,
}


def fan_speed(status):
    """A fan's rpm by its status: a failed fan stands still."""
    return 0 if status in ("critical", "unrecoverable") else 4000


def size_bytes(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    text = str(text)
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def load(path):
    """The profile, checked, with every element spelled out."""
    with open(path, "rb") as f:
        profile = tomllib.load(f)
    enclosures = []
    for e in profile["enclosure"]:
        groups = []
        for g in e["element"]:
            kind = TYPES[g["type"]]
            count = g["count"]
            names = g.get("names")
            if isinstance(names, str):
                names = [names.format(i=i, n=i + 1) for i in range(count)]
            names = names or [""] * count
            assert len(names) == count, f"{g['type']}: {len(names)} names for {count} elements"
            filled = {d["element"]: d for d in e.get("drive", [])} if kind in SLOT_TYPES else {}
            statuses = g.get("status", {})
            elements = []
            for i in range(count):
                el = {"index": i, "name": names[i], "ident": False, "fault": False}
                if kind in SLOT_TYPES:
                    numbers = g.get("numbers", "index")
                    el["number"] = i if numbers == "index" else numbers[i]
                    # Four apart: a drive's other names sit between.
                    el["address"] = int(g["sas_base"], 16) + 4 * i
                    el["drive"] = drive_spec(filled[i], el["address"]) if i in filled else None
                    el["status"] = "OK" if el["drive"] else "not installed"
                else:
                    el["status"] = "OK"
                el["status"] = statuses.get(str(i), statuses.get(names[i], el["status"]))
                assert el["status"] in STATUS, f"{names[i]}: unknown status {el['status']}"
                if kind == 0x04:
                    el["temperature"] = g.get("temperatures", {}).get(str(i), 28)
                elif kind == 0x03:
                    el["rpm"] = fan_speed(el["status"])
                elements.append(el)
            groups.append({"type": kind, "type_name": g["type"], "text": g.get("text", ""),
                           "elements": elements})
        enclosures.append({
            "name": e["name"], "vendor": e["vendor"], "product": e["product"],
            "revision": e.get("revision", "0001"), "id": int(e["logical_id"], 16),
            "pages": e.get("pages", [0, 1, 2, 7, 10]), "groups": groups, "gen": 0,
            "wwn": e["target_wwn"],
        })
    return enclosures


def drive_spec(d, address=None):
    """A drive; its SAS address is its own (a slot reports the address of
    the drive in it): `sas_address`, or for a profile's drives, the
    address the profile gives their slot."""
    return {
        "vendor": d.get("vendor", "SEAGATE"), "model": d["model"], "serial": d["serial"],
        "revision": d.get("revision", "0004"), "size": size_bytes(d.get("size", "4T")),
        "address": int(d["sas_address"], 16) if "sas_address" in d else address,
        "health": d.get("health", "ok"), "temperature": d.get("temperature", 31),
    }


# What sg_ses calls each element type and each status, which the console
# keeps (statuses in the kernel's words).
TYPE_WORDS = {code: name.capitalize() for name, code in TYPES.items()}
STATUS_WORDS = {"noncritical": "non-critical", "not available": "unavailable"}


def check(want, method, bays, enclosures):
    """How the console's bays and enclosures differ from the emulated
    enclosures `want` (as STATE_DIR/state.json holds them), as a list of
    sentences; `method` is how the console should be reading them ("sysfs":
    the kernel's ses driver, "sg_ses")."""
    problems = []
    ids = sorted(f"{e['id']:#x}" for e in want)
    # An enclosure emulated before and gone now is listed as missing, with
    # its bays kept as missing, not as present.
    got_ids = sorted(e["ident"] for e in enclosures if e.get("present", True))
    if ids != got_ids:
        return [f"enclosures: got {got_ids}, want {ids}"]
    for gone in (e for e in enclosures if not e.get("present", True)):
        states = {b["state"] for b in bays if b["enclosure"] == gone["ident"]}
        if states - {"missing"}:
            problems.append(f"{gone['ident']} is gone but its bays are {sorted(states)}, not missing")
    for e in want:
        eid = f"{e['id']:#x}"
        got = next(x for x in enclosures if x["ident"] == eid)
        if got["method"] != method:
            problems.append(f"{eid}: read by {got['method']}, want {method}")
        wanted, names = {}, set()
        for g in e["groups"]:
            if g["type"] not in SLOT_TYPES:
                continue
            for el in g["elements"]:
                number = el["number"] if 10 in e["pages"] else el["index"]
                if method == "sysfs":
                    # The kernel names a component by its descriptor, or its
                    # index without one, and makes a repeated name unique.
                    label = el["name"] if 7 in e["pages"] and el["name"] else str(el["index"])
                    base, k = label, 1
                    while label in names:
                        label, k = f"{base}-{k}", k + 1
                    names.add(label)
                else:
                    label = el["name"] if 7 in e["pages"] and el["name"] else str(number)
                placed = el["drive"] and 10 in e["pages"]
                wanted[number] = {"label": label, "status": STATUS_WORDS.get(el["status"], el["status"]),
                                  "serial": el["drive"]["serial"] if placed else None,
                                  "locate": el["ident"], "fault": el["fault"]}
        seen = {b["slot"]: b for b in bays if b["enclosure"] == eid}
        if sorted(seen) != sorted(wanted):
            problems.append(f"{eid}: slots {sorted(seen)}, want {sorted(wanted)}")
            continue
        for n, w in sorted(wanted.items()):
            b = seen[n]
            g = {"label": b["label"], "status": b["status"], "serial": (b["drive"] or {}).get("serial"),
                 "locate": b["locate"], "fault": b["fault"]}
            if g != w:
                problems.append(f"{eid} slot {n}: got {g}, want {w}")
        want_el = [{"kind": TYPE_WORDS[g["type"]],
                    "name": el["name"] if 7 in e["pages"] and el["name"] else f"{TYPE_WORDS[g['type']]} {el['index']}",
                    "status": STATUS_WORDS.get(el["status"], el["status"])}
                   for g in e["groups"] if g["type"] not in SLOT_TYPES for el in g["elements"]]
        got_el = [{k: x[k] for k in ("kind", "name", "status")} for x in got["elements"]]
        if got_el != want_el:
            problems.append(f"{eid} elements: got {got_el}, want {want_el}")
    return problems


# ---- SCSI ----------------------------------------------------------------

class Check(Exception):
    """CHECK CONDITION with this sense key, ASC and ASCQ, and the
    INFORMATION field (the LBA of a medium error) when `info` is given;
    `data`, what was read before the error, goes to the initiator too."""

    def __init__(self, key, asc, ascq=0, info=None, data=None):
        super().__init__()
        self.key, self.asc, self.ascq, self.info, self.data = key, asc, ascq, info, data

    def sense(self):
        return fixed_sense(self.key, self.asc, self.ascq, self.info)


NOT_READY, MEDIUM, HARDWARE, ILLEGAL = 0x02, 0x03, 0x04, 0x05
BAD_OPCODE = Check(ILLEGAL, 0x20)
BAD_FIELD = Check(ILLEGAL, 0x24)


def fixed_sense(key, asc, ascq, info=None, progress=None):
    """Fixed-format sense data (SPC-4 4.5.3): VALID and the INFORMATION
    field when `info` is given, and a progress indication (0..65535) in the
    sense-key-specific bytes. An INFORMATION value past 32 bits needs
    descriptor format (SPC-4 4.5.2), with one information descriptor."""
    if info is not None and info > 0xFFFFFFFF:
        return bytes([0x72, key, asc, ascq, 0, 0, 0, 12, 0x00, 0x0A, 0x80, 0]) + be(info, 8)
    sks = bytes([0x80]) + be(progress, 2) if progress is not None else bytes(3)
    return (bytes([0xF0 if info is not None else 0x70, 0, key]) + be(info or 0, 4)
            + bytes([10, 0, 0, 0, 0, asc, ascq, 0]) + sks)


def be(n, width):
    return n.to_bytes(width, "big")


def ascii_field(text, width):
    return text.encode()[:width].ljust(width)


def inquiry_std(kind, vendor, product, revision, encserv=False):
    body = bytes([kind, 0, 0x06, 0x02, 31, 0, 0x40 if encserv else 0, 0x02])
    return body + ascii_field(vendor, 8) + ascii_field(product, 16) + ascii_field(revision, 4)


def vpd(kind, code, body):
    return bytes([kind, code]) + be(len(body), 2) + body


def designator(proto_codeset, piv_assoc_type, value):
    return bytes([proto_codeset, piv_assoc_type, 0, len(value)]) + value


class Disk:
    """A SAS disk: 512-byte blocks kept in memory where written, zeros elsewhere.

    LBAs marked bad (the control request `bad-lba`) fail every READ and
    VERIFY that covers them with MEDIUM ERROR, unrecovered read error, the
    LBA in the sense data's INFORMATION field; a WRITE that covers one
    reallocates it: it reads again, and the grown defect list and the
    reallocation count grow. Self-tests (SEND DIAGNOSTIC) run for a few
    seconds in the background, or at once in the foreground, and fail at
    the lowest bad LBA there is when they end; the 20 newest are in LOG
    SENSE page 0x10. The error counter pages (2, 3, 5) count the bytes
    moved and the medium errors returned; READ DEFECT DATA lists the
    reallocated LBAs as the grown defect list."""
    CHUNK = 1 << 16
    # How long a background self-test runs (the long one's time is in the
    # control mode page, as a drive says it), and the drive's power-on
    # hours, which each self-test's log entry carries.
    SHORT_TEST_SECONDS = 3
    LONG_TEST_SECONDS = 10
    POWER_ON_HOURS = 9210
    # A failing self-test fails in its read scan: result 7 ("failed in the
    # segment" the self-test number names), segment 3.
    READ_SEGMENT = 3

    def __init__(self, spec):
        self.spec = spec
        self.blocks = spec["size"] // 512
        self.chunks = {}
        self.bad = set()  # LBAs that do not read
        self.grown = []  # LBAs reallocated, oldest first: the grown defect list
        # LOG SENSE pages 2, 3 and 5: bytes processed, uncorrected errors.
        self.counters = {"write": [0, 0], "read": [0, 0], "verify": [0, 0]}
        self.tests = []  # self-test log entries, newest first (at most 20)
        self.running = None  # the background self-test: {"code", "start", "end"}

    def first_bad(self, lba, count):
        """The lowest bad LBA in [lba, lba + count), or None."""
        hit = [b for b in self.bad if lba <= b < lba + count]
        return min(hit) if hit else None

    def mark_bad(self, lbas):
        for lba in lbas:
            if not 0 <= lba < self.blocks:
                raise ValueError(f"LBA {lba} is past the drive's {self.blocks} blocks")
        self.bad.update(lbas)

    def media(self):
        """What the drive's medium is like now, for the control socket."""
        return {"bad_lbas": sorted(self.bad), "reallocated": list(self.grown),
                "uncorrected": {k: v[1] for k, v in self.counters.items()},
                "self_tests": [{"code": t["code"], "result": t["result"], "segment": t["segment"],
                                "lba": t["lba"] if 3 <= t["result"] <= 7 else None}
                               for t in self.tests]}

    def medium_error(self, lba, count, kind):
        """Counts and raises the medium error of a READ or VERIFY that
        covers a bad LBA. A READ returns the blocks before it, as a drive
        does: the kernel takes them as read, by the INFORMATION field."""
        bad = self.first_bad(lba, count)
        if bad is not None:
            self.counters[kind][0] += (bad - lba) * 512
            self.counters[kind][1] += 1
            data = self.read(lba, bad - lba) if kind == "read" else None
            raise Check(MEDIUM, 0x11, 0x00, info=bad, data=data)

    def name(self):
        return f"disk {self.spec['serial']}"

    def read(self, lba, count):
        self.bounds(lba, count)
        start, end = lba * 512, (lba + count) * 512
        out = bytearray()
        pos = start
        while pos < end:
            c, off = divmod(pos, self.CHUNK)
            take = min(self.CHUNK - off, end - pos)
            chunk = self.chunks.get(c)
            out += chunk[off:off + take] if chunk else bytes(take)
            pos += take
        return bytes(out)

    def write(self, lba, count, data):
        self.bounds(lba, count)
        for b in sorted(b for b in self.bad if lba <= b < lba + count):
            self.bad.discard(b)  # the drive reallocates it
            self.grown.append(b)
        pos, data = lba * 512, data[:count * 512]
        while data:
            c, off = divmod(pos, self.CHUNK)
            take = min(self.CHUNK - off, len(data))
            chunk = self.chunks.setdefault(c, bytearray(self.CHUNK))
            chunk[off:off + take] = data[:take]
            data, pos = data[take:], pos + take

    def bounds(self, lba, count):
        if lba + count > self.blocks:
            raise Check(ILLEGAL, 0x21)

    def mode_pages(self, changeable):
        if changeable:
            return {0x08: bytes([0x08, 0x12]) + bytes(18), 0x0A: bytes([0x0A, 0x0A]) + bytes(10),
                    0x1C: bytes([0x1C, 0x0A]) + bytes(10)}
        return {
            0x08: bytes([0x08, 0x12, 0x00]) + bytes(17),  # caching: write cache off
            # Control; bytes 10-11: the extended self-test's time, in seconds.
            0x0A: bytes([0x0A, 0x0A, 0x02]) + bytes(7) + be(self.LONG_TEST_SECONDS, 2),
            # Informational exceptions: enabled (DEXCPT=0), MRIE 4 (on request).
            0x1C: bytes([0x1C, 0x0A, 0x00, 0x04]) + bytes(7) + b"\x01",
        }

    def mode_sense(self, cdb, ten):
        page, pc = cdb[2] & 0x3F, cdb[2] >> 6
        dbd = cdb[1] & 0x08
        pages = self.mode_pages(pc == 1)
        if page == 0x3F:
            body = b"".join(pages[p] for p in sorted(pages))
        elif page in pages:
            body = pages[page]
        else:
            raise BAD_FIELD
        # SBC's short block descriptor (LONGLBA=0 in the 10-byte form too).
        bd = b"" if dbd else be(min(self.blocks, 0xFFFFFFFF), 4) + bytes([0]) + be(512, 3)
        if ten:
            head = be(6 + len(bd) + len(body), 2) + bytes([0, 0x10, 0, 0]) + be(len(bd), 2)
            return head + bd + body, be_int(cdb[7:9])
        head = bytes([3 + len(bd) + len(body), 0, 0x10, len(bd)])
        return head + bd + body, cdb[4]

    def log_sense(self, cdb):
        page, sub = cdb[2] & 0x3F, cdb[3]
        if sub:
            raise BAD_FIELD
        temp = self.spec["temperature"]
        if page == 0x00:
            body = bytes([0x00, 0x02, 0x03, 0x05, 0x0D, 0x10, 0x15, 0x2F])
        elif page in (0x02, 0x03, 0x05):
            # Error counters (SBC-3): 0-2 errors corrected (none), 3 total
            # corrected, 4 correction algorithm invocations, 5 bytes
            # processed, 6 total uncorrected errors.
            moved, uncorrected = self.counters[{2: "write", 3: "read", 5: "verify"}[page]]
            values = [0, 0, 0, 0, 0, moved, uncorrected]
            body = b"".join(be(pc, 2) + bytes([0x02, 8 if pc == 5 else 4]) + be(v, 8 if pc == 5 else 4)
                            for pc, v in enumerate(values))
        elif page == 0x10:
            body = b"".join(self.test_entry(n) for n in range(20))
        elif page == 0x15:
            # Background scan results (SBC-3): the status parameter only,
            # which carries the power-on time (in minutes); no scans.
            body = bytes([0, 0, 0x03, 0x0C]) + be(self.POWER_ON_HOURS * 60, 4) + bytes(8)
        elif page == 0x0D:
            body = bytes([0, 0, 0x03, 2, 0, temp, 0, 1, 0x03, 2, 0, 65])
        elif page == 0x2F:
            asc, ascq = (0x5D, 0x00) if self.spec["health"] == "failing" else (0, 0)
            body = bytes([0, 0, 0x03, 4, asc, ascq, temp, 65])
        else:
            raise BAD_FIELD
        return bytes([page, 0]) + be(len(body), 2) + body, be_int(cdb[7:9])

    def test_entry(self, n):
        """Self-test results log parameter n + 1 (SPC-4 7.3.19): the n-th
        newest self-test, or all zeros past the last."""
        head = be(n + 1, 2) + bytes([0x03, 0x10])
        if n >= len(self.tests):
            return head + bytes(16)
        t = self.tests[n]
        return (head + bytes([t["code"] << 5 | t["result"], t["segment"]]) + be(t["hours"], 2)
                + be(t["lba"], 8) + bytes([t["key"], t["asc"], t["ascq"], 0]))

    def log_test(self, code, result, bad=None):
        """A self-test's entry, newest first; it failed at `bad` if given."""
        entry = {"code": code, "result": result, "segment": 0, "hours": self.POWER_ON_HOURS,
                 "lba": 0xFFFFFFFFFFFFFFFF, "key": 0, "asc": 0, "ascq": 0}
        if result == 0xF:
            entry["hours"] = 0  # in progress: no time yet
        if bad is not None:
            entry.update(result=7, segment=self.READ_SEGMENT, lba=bad, key=MEDIUM, asc=0x11, ascq=0)
        self.tests = [entry] + self.tests[:19]

    def tick(self):
        """Ends a background self-test whose time is up: it reads the whole
        medium, so it fails at the lowest bad LBA there is by then."""
        t = self.running
        if t and time.monotonic() >= t["end"]:
            self.running = None
            bad = min(self.bad) if self.bad else None
            self.tests.pop(0)  # its entry "in progress"
            self.log_test(t["code"], 0, bad)

    def send_diagnostic(self, cdb):
        """SEND DIAGNOSTIC (SPC-4 6.42): self-test code in byte 1, bits 7-5:
        1 background short, 2 background extended, 4 abort the background
        one, 5 foreground short, 6 foreground extended; or SELFTEST (the
        default self-test); or a diagnostic page, which is taken and
        ignored."""
        code, selftest = cdb[1] >> 5, cdb[1] & 0x04
        if selftest:
            if code:
                raise BAD_FIELD
            if self.bad:
                raise Check(HARDWARE, 0x3E, 0x03)  # logical unit failed self-test
            return None, 0
        if code == 0:
            return None, 0
        if code == 4:
            if self.running:
                self.running = None
                self.tests[0].update(result=1, hours=self.POWER_ON_HOURS)
            return None, 0
        if code not in (1, 2, 5, 6):
            raise BAD_FIELD
        if self.running:
            raise Check(NOT_READY, 0x04, 0x09)  # a self-test is in progress
        if code in (5, 6):
            bad = min(self.bad) if self.bad else None
            self.log_test(code, 0, bad)
            if bad is not None:
                raise Check(HARDWARE, 0x3E, 0x03)
            return None, 0
        now = time.monotonic()
        seconds = self.SHORT_TEST_SECONDS if code == 1 else self.LONG_TEST_SECONDS
        self.running = {"code": code, "start": now, "end": now + seconds}
        self.log_test(code, 0xF)
        return None, 0

    def request_sense(self, cdb):
        """No sense, or a background self-test in progress and how far."""
        t = self.running
        if t:
            done = (time.monotonic() - t["start"]) / (t["end"] - t["start"])
            return fixed_sense(0, 0x04, 0x09, progress=min(65535, int(done * 65536))), cdb[4]
        return fixed_sense(0, 0, 0), cdb[4]

    def read_defects(self, cdb, twelve):
        """READ DEFECT DATA (10/12): the grown list only, 8-byte
        bytes-from-index descriptors (format 4, as smartctl asks), one per
        reallocated LBA; the primary list is empty."""
        asked = cdb[1] if twelve else cdb[2]  # REQ_PLIST, REQ_GLIST, format
        glist = asked & 0x08
        descs = b"".join(be(lba, 8) for lba in self.grown) if glist else b""
        flags = (asked & 0x18) | 4
        if twelve:
            return bytes([0, flags]) + be(len(self.grown), 2) + be(len(descs), 4) + descs, be_int(cdb[6:10])
        return bytes([0, flags]) + be(len(descs), 2) + descs, be_int(cdb[7:9])

    def inquiry(self, cdb):
        s = self.spec
        if not cdb[1] & 1:
            if cdb[2]:
                raise BAD_FIELD
            return inquiry_std(0x00, s["vendor"], s["model"], s["revision"])
        page = cdb[2]
        if page == 0x00:
            return vpd(0, 0, bytes([0x00, 0x80, 0x83, 0xB1]))
        if page == 0x80:
            return vpd(0, 0x80, s["serial"].encode())
        if page == 0x83:
            # As a SAS disk answers: its logical unit's name, the SAS address
            # of the port it is reached through (the one its slot lists), the
            # port's relative number, and the target device's name.
            port = s["address"]
            return vpd(0, 0x83, designator(0x01, 0x03, be(port + 2, 8))
                       + designator(0x61, 0x93, be(port, 8))
                       + designator(0x61, 0x94, be(1, 4))
                       + designator(0x61, 0xA3, be(port - 1, 8)))
        if page == 0xB1:
            return vpd(0, 0xB1, be(7200, 2) + bytes([0, 0x02]) + bytes(56))
        raise BAD_FIELD

    def command(self, cdb, data_out):
        op = cdb[0]
        self.tick()
        if op == 0x12:
            return self.inquiry(cdb), be_int(cdb[3:5])
        if op in (0x00, 0x1B, 0x35, 0x91, 0x15, 0x55):
            return None, 0  # TEST UNIT READY, START STOP, SYNC CACHE, MODE SELECT
        if op == 0x1D:
            return self.send_diagnostic(cdb)
        if op == 0x03:
            return self.request_sense(cdb)
        if op in (0x37, 0xB7):
            return self.read_defects(cdb, op == 0xB7)
        verify = {0x2F: (2, 6, 7, 9), 0xAF: (2, 6, 6, 10), 0x8F: (2, 10, 10, 14)}.get(op)
        if verify:  # VERIFY (10/12/16): the medium is read, nothing moves
            a, b, c, d = verify
            lba, count = be_int(cdb[a:b]), be_int(cdb[c:d])
            self.bounds(lba, count)
            self.medium_error(lba, count, "verify")
            self.counters["verify"][0] += count * 512
            return None, 0
        if op == 0x25:
            return be(min(self.blocks - 1, 0xFFFFFFFF), 4) + be(512, 4), 8
        if op == 0x9E and cdb[1] & 0x1F == 0x10:
            return be(self.blocks - 1, 8) + be(512, 4) + bytes(20), be_int(cdb[10:14])
        if op in (0x1A, 0x5A):
            return self.mode_sense(cdb, op == 0x5A)
        if op == 0x4D:
            return self.log_sense(cdb)
        rw = {0x08: (6, False), 0x28: (10, False), 0xA8: (12, False), 0x88: (16, False),
              0x0A: (6, True), 0x2A: (10, True), 0xAA: (12, True), 0x8A: (16, True)}.get(op)
        if rw:
            width, write = rw
            if width == 6:
                lba, count = be_int(cdb[1:4]) & 0x1FFFFF, cdb[4] or 256
            elif width == 10:
                lba, count = be_int(cdb[2:6]), be_int(cdb[7:9])
            elif width == 12:
                lba, count = be_int(cdb[2:6]), be_int(cdb[6:10])
            else:
                lba, count = be_int(cdb[2:10]), be_int(cdb[10:14])
            if write:
                self.write(lba, count, data_out)
                self.counters["write"][0] += count * 512
                return None, 0
            self.bounds(lba, count)
            self.medium_error(lba, count, "read")
            self.counters["read"][0] += count * 512
            return self.read(lba, count), count * 512
        raise BAD_OPCODE


def be_int(b):
    return int.from_bytes(bytes(b), "big")


class Enclosure:
    """An SES device: configuration (1), status and control (2), element
    descriptors (7) and additional element status (0x0A) pages."""

    def __init__(self, spec, requests):
        self.e = spec
        self.requests = requests

    def name(self):
        return f"enclosure {self.e['name']}"

    def page(self, code, body, flags=0):
        body = be(self.e["gen"], 4) + body
        return bytes([code, flags]) + be(len(body), 2) + body

    def p0(self):
        pages = [p for p in (0, 1, 2, 7, 10) if p in self.e["pages"]]
        return bytes([0, 0]) + be(len(pages), 2) + bytes(pages)

    def p1(self):
        e = self.e
        texts = b"".join(g["text"].encode() for g in e["groups"])
        desc = (bytes([0x11, 0, len(e["groups"]), 36]) + be(e["id"], 8)
                + ascii_field(e["vendor"], 8) + ascii_field(e["product"], 16)
                + ascii_field(e["revision"], 4))
        heads = b"".join(bytes([g["type"], len(g["elements"]), 0, len(g["text"])]) for g in e["groups"])
        return self.page(1, desc + heads + texts)

    @staticmethod
    def status_bytes(g, el):
        code = STATUS[el["status"]]
        kind = g["type"]
        if kind in SLOT_TYPES:
            return bytes([code, 0x80 if code == 1 and kind == 0x17 else 0,
                          0x02 if el["ident"] else 0, 0x20 if el["fault"] else 0])
        if kind == 0x02:  # power supply: FAIL and AC FAIL when critical
            bad = code in (2, 4)
            return bytes([code, 0x80 if el["ident"] else 0, 0, (0x40 | 0x02) if bad else 0x20])
        if kind == 0x03:  # cooling: actual speed / 10, speed code
            speed = el["rpm"] // 10
            code3 = (0x40 if code in (2, 4) else 0x20) | (0 if speed == 0 else 3)
            return bytes([code, (0x80 if el["ident"] else 0) | (speed >> 8 & 0x07), speed & 0xFF, code3])
        if kind == 0x04:  # temperature: value + 20; OT failure/warning
            t = el["temperature"]
            return bytes([code, 0x80 if el["ident"] else 0, t + 20,
                          0x08 if code == 2 else 0x04 if code == 3 else 0])
        return bytes([code, 0, 0, 0])

    def p2(self):
        body, flags = b"", 0
        for g in self.e["groups"]:
            body += bytes(4)  # the overall element
            for el in g["elements"]:
                body += self.status_bytes(g, el)
                flags |= {2: 0x02, 3: 0x04, 4: 0x01}.get(STATUS[el["status"]], 0)
        return self.page(2, body, flags)

    def p7(self):
        body = b""
        for g in self.e["groups"]:
            for text in [g["text"]] + [el["name"] for el in g["elements"]]:
                t = text.encode()
                body += bytes([0, 0]) + be(len(t), 2) + t
        return self.page(7, body)

    def p10(self):
        body, index = b"", 0
        for g in self.e["groups"]:
            for el in g["elements"]:
                if g["type"] in SLOT_TYPES:
                    drive = el["drive"]
                    address = drive["address"] if drive else 0
                    phy = (bytes([0x10 if drive else 0, 0, 0, 0x08 if drive else 0]) + bytes(8)
                           + be(address, 8) + bytes([0]) + bytes(7))
                    body += bytes([0x10 | 0x06, 34, 0, index, 1, 0, 0, el["number"]]) + phy
                index += 1
        return self.page(10, body)

    def control(self, data):
        """SEND DIAGNOSTIC with the enclosure control page: applies each
        SELECTed element's requests and records them."""
        if not data or data[0] != 2:
            raise BAD_FIELD
        pos, selected = 8, []
        for g in self.e["groups"]:
            pos += 4  # overall
            for el in g["elements"]:
                c = data[pos:pos + 4]
                pos += 4
                if len(c) < 4 or not c[0] & 0x80:
                    continue
                item = {"type": g["type_name"], "index": el["index"], "name": el["name"],
                        "bytes": c.hex()}
                if g["type"] in SLOT_TYPES:
                    el["ident"], el["fault"] = bool(c[2] & 0x02), bool(c[3] & 0x20)
                    item.update(slot=el["number"], ident=el["ident"], fault=el["fault"])
                else:
                    el["ident"] = bool(c[1] & 0x80)
                    item.update(ident=el["ident"])
                selected.append(item)
        self.requests({"enclosure": self.e["name"], "page": 2, "selected": selected,
                       "raw": data.hex()})

    def command(self, cdb, data_out):
        op = cdb[0]
        if op == 0x12:
            if cdb[1] & 1:
                page = cdb[2]
                if page == 0:
                    body = vpd(0x0D, 0, bytes([0x00, 0x80, 0x83]))
                elif page == 0x80:
                    body = vpd(0x0D, 0x80, f"{self.e['id']:016X}".encode())
                elif page == 0x83:
                    body = vpd(0x0D, 0x83, designator(0x01, 0x03, be(self.e["id"], 8)))
                else:
                    raise BAD_FIELD
            else:
                body = inquiry_std(0x0D, self.e["vendor"], self.e["product"], self.e["revision"], True)
            return body, be_int(cdb[3:5])
        if op == 0x00:
            return None, 0
        if op == 0x1C:
            page = cdb[2]
            if page not in self.e["pages"]:
                raise BAD_FIELD
            return {0: self.p0, 1: self.p1, 2: self.p2, 7: self.p7, 10: self.p10}[page](), be_int(cdb[3:5])
        if op == 0x1D:
            self.control(data_out)
            return None, 0
        raise BAD_OPCODE


# ---- TCMU ----------------------------------------------------------------

class Served(threading.Thread):
    """Answers one TCMU device's command ring until the device goes away."""

    def __init__(self, uio, device):
        super().__init__(daemon=True)
        self.device = device
        size = int(open(f"/sys/class/uio/{uio}/maps/map0/size").read(), 16)
        self.fd = os.open(f"/dev/{uio}", os.O_RDWR)
        self.mb = mmap.mmap(self.fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        _, _, self.cmdr_off, self.cmdr_size = struct.unpack_from("<HHII", self.mb, 0)

    def run(self):
        mb = self.mb
        while True:
            try:
                os.read(self.fd, 4)
            except OSError:
                break  # the device was removed
            head = struct.unpack_from("<I", mb, 12)[0]
            tail = struct.unpack_from("<I", mb, 64)[0]
            while tail != head:
                e = self.cmdr_off + tail
                len_op = struct.unpack_from("<I", mb, e)[0]
                op, length = len_op & 7, len_op & ~7
                if op == 1:
                    self.one(e)
                tail = (tail + length) % self.cmdr_size
                struct.pack_into("<I", mb, 64, tail)
            try:
                os.write(self.fd, bytes(4))
            except OSError:
                break
        try:
            mb.close()
            os.close(self.fd)
        except (OSError, BufferError):
            pass

    def one(self, e):
        mb = self.mb
        iov_cnt, _, _, _, cdb_off = struct.unpack_from("<IIIIQ", mb, e + 8)
        iovs = [struct.unpack_from("<QQ", mb, e + 48 + 16 * k) for k in range(iov_cnt)]
        cdb = bytes(mb[cdb_off:cdb_off + 16])
        data_out = b"".join(bytes(mb[b:b + n]) for b, n in iovs) if cdb[0] in WRITES else b""
        status, sense = 0, b""
        try:
            with LOCK:
                data_in, alloc = self.device.command(cdb, data_out)
        except Check as c:
            status, sense, data_in = 2, c.sense(), c.data
            alloc = len(c.data or b"")
        except Exception as x:  # a bug here must not hang the kernel's command
            print(f"{self.device.name()}: {cdb[:10].hex()}: {x!r}", file=LOG, flush=True)
            status, sense, data_in = 2, fixed_sense(0x04, 0x44, 0), None
        if data_in is not None:
            data_in = data_in[:alloc]
            off = 0
            for b, n in iovs:
                chunk = data_in[off:off + n]
                mb[b:b + len(chunk)] = chunk
                off += len(chunk)
            # How much came back (TCMU_UFLAG_READ_LEN): the kernel reports
            # the rest as residual instead of passing on stale bytes.
            mb[e + 7] |= 0x02
            struct.pack_into("<I", mb, e + 12, off)
        struct.pack_into("<B", mb, e + 8, status)
        if sense:
            mb[e + 16:e + 16 + len(sense)] = sense


WRITES = {0x0A, 0x2A, 0xAA, 0x8A, 0x1D, 0x15, 0x55}


# ---- configfs ------------------------------------------------------------

def put(path, text):
    with open(path, "w") as f:
        f.write(text)


class Lab:
    """The configfs objects of a profile: one user backstore and one
    loopback target per device."""

    def __init__(self, state):
        self.state = state
        self.devices = {}  # backstore name -> (target wwn, Served)
        self.hba = f"{CONFIGFS}/core/user_7"
        self.requests_file = open(os.path.join(state, "requests.jsonl"), "a", buffering=1)
        self.seq = 0

    def record(self, item):
        self.seq += 1
        item = {"seq": self.seq, "at": time.time(), **item}
        self.requests_file.write(json.dumps(item) + "\n")
        self.changed()

    def add(self, backstore, wwn, device, size):
        os.makedirs(f"{self.hba}/{backstore}", exist_ok=True)
        put(f"{self.hba}/{backstore}/control",
            f"dev_config=baylab/{backstore},dev_size={size},nl_reply_supported=-1,max_data_area_mb=4")
        put(f"{self.hba}/{backstore}/enable", "1")
        uio = None
        for _ in range(100):
            for d in glob.glob("/sys/class/uio/uio*"):
                if f"/{backstore}/" in open(f"{d}/name").read():
                    uio = os.path.basename(d)
            if uio:
                break
            time.sleep(0.05)
        if not uio:
            raise RuntimeError(f"no uio device for backstore {backstore}")
        served = Served(uio, device)
        served.start()
        # The ring is served before the kernel scans the LUN.
        tpg = f"{CONFIGFS}/loopback/{wwn}/tpgt_1"
        os.makedirs(f"{tpg}/lun/lun_0", exist_ok=True)
        put(f"{tpg}/nexus", "naa.5001405" + wwn[-9:])
        os.symlink(f"{self.hba}/{backstore}", f"{tpg}/lun/lun_0/{backstore}")
        self.devices[backstore] = (wwn, served)

    def remove(self, backstore):
        wwn, served = self.devices.pop(backstore)
        remove_target(wwn)
        os.rmdir(f"{self.hba}/{backstore}")
        served.join(timeout=10)


def remove_target(wwn):
    tpg = f"{CONFIGFS}/loopback/{wwn}/tpgt_1"
    for link in glob.glob(f"{tpg}/lun/lun_*/*"):
        if os.path.islink(link):
            os.unlink(link)
    for lun in glob.glob(f"{tpg}/lun/lun_*"):
        os.rmdir(lun)
    if os.path.isdir(tpg):
        os.rmdir(tpg)
    if os.path.isdir(f"{CONFIGFS}/loopback/{wwn}"):
        os.rmdir(f"{CONFIGFS}/loopback/{wwn}")


def clean():
    for target in glob.glob(f"{CONFIGFS}/loopback/naa.*"):
        remove_target(os.path.basename(target))
    for hba in glob.glob(f"{CONFIGFS}/core/user_*"):
        for dev in glob.glob(f"{hba}/*/"):
            if os.path.exists(f"{dev}/control"):
                os.rmdir(dev)
        os.rmdir(hba)


def drive_backstore(serial):
    return "disk-" + "".join(c for c in serial if c.isalnum())


def serve(profile_path, state):
    for m in ("target_core_user", "tcm_loop", "sg"):
        os.spawnvp(os.P_WAIT, "modprobe", ["modprobe", m])
    enclosures = load(profile_path)
    lab = Lab(state)
    by_name = {e["name"]: e for e in enclosures}

    def dump():
        with LOCK:
            put(os.path.join(state, "state.json.new"), json.dumps(enclosures))
            os.replace(os.path.join(state, "state.json.new"), os.path.join(state, "state.json"))

    lab.changed = dump

    def add_drive(el):
        d = el["drive"]
        lab.add(drive_backstore(d["serial"]), f"naa.{d['address']:016x}", Disk(d), d["size"])

    for e in enclosures:
        lab.add(f"ses-{e['name']}", f"naa.{e['wwn']}", Enclosure(e, lab.record), 1 << 20)
        for g in e["groups"]:
            for el in g["elements"]:
                if g["type"] in SLOT_TYPES and el["drive"]:
                    add_drive(el)

    def find(req):
        e = by_name[req["enclosure"]]
        for g in e["groups"]:
            if g["type_name"] == req.get("type", "array device slot" if "slot" in req else g["type_name"]):
                for el in g["elements"]:
                    if el["name"] == req.get("name") or el["index"] == req.get("index") \
                            or el.get("number", -1) == req.get("slot"):
                        return e, g, el
        raise KeyError(f"no such element: {req}")

    def handle(req):
        op = req["op"]
        if op == "set":  # {"enclosure", "type"/"name"/"index"/"slot", "status", "temperature"}
            e, g, el = find(req)
            with LOCK:
                for k in ("status", "temperature", "rpm"):
                    if k in req:
                        el[k] = req[k]
                if g["type"] == 0x03 and "rpm" not in req:
                    el["rpm"] = fan_speed(el["status"])
            return {"ok": True}
        if op == "pull":  # the drive leaves: its LUN goes, the slot reads not installed
            e, g, el = find(req)
            drive = el["drive"]
            if not drive:
                raise KeyError("that slot holds no drive")
            lab.remove(drive_backstore(drive["serial"]))
            with LOCK:
                el["drive"], el["status"] = None, "not installed"
                e["gen"] += 1
            return {"ok": True, "serial": drive["serial"]}
        if op == "insert":  # a new drive in an empty slot
            e, g, el = find(req)
            if el["drive"]:
                raise KeyError("that slot is not empty")
            if "sas_address" not in req["drive"]:
                raise KeyError("a drive put in a slot brings its own sas_address")
            with LOCK:
                el["drive"], el["status"] = drive_spec(req["drive"]), "OK"
                e["gen"] += 1
            add_drive(el)
            return {"ok": True}
        if op == "health":  # {"serial", "health": "ok"|"failing"}
            for e in enclosures:
                for g in e["groups"]:
                    for el in g["elements"]:
                        if (el.get("drive") or {}).get("serial") == req["serial"]:
                            el["drive"]["health"] = req["health"]
                            return {"ok": True}
            raise KeyError(f"no drive {req['serial']}")
        if op == "bad-lba":  # {"serial", "lba": N or [N, ...]}: unreadable until written
            entry = lab.devices.get(drive_backstore(req["serial"]))
            if not entry or not isinstance(entry[1].device, Disk):
                raise KeyError(f"no drive {req['serial']}")
            disk = entry[1].device
            lbas = req.get("lba", [])
            lbas = [lbas] if isinstance(lbas, int) else lbas
            if not all(isinstance(n, int) for n in lbas):
                raise ValueError(f"an LBA is a whole number: {req['lba']!r}")
            with LOCK:
                disk.tick()
                disk.mark_bad(lbas)
                return {"ok": True, "serial": req["serial"], **disk.media()}
        if op == "down":
            for name in list(lab.devices):
                lab.remove(name)
            os.rmdir(lab.hba)
            return {"ok": True, "down": True}
        raise KeyError(f"unknown op {op}")

    sock_path = os.path.join(state, "ctl.sock")
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(4)
    dump()
    put(os.path.join(state, "ready"), "")
    while True:
        conn, _ = srv.accept()
        with conn:
            line = conn.makefile().readline()
            try:
                answer = handle(json.loads(line))
            except (KeyError, ValueError, OSError, RuntimeError) as x:
                answer = {"ok": False, "error": str(x)}
            dump()
            conn.sendall((json.dumps(answer) + "\n").encode())
            if answer.get("down"):
                return


def ctl(state, request):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(os.path.join(state, "ctl.sock"))
    s.sendall((request.strip() + "\n").encode())
    answer = s.makefile().readline()
    print(answer, end="")
    return 0 if json.loads(answer).get("ok", True) else 1


def main(argv):
    if len(argv) == 3 and argv[0] == "serve":
        serve(argv[1], argv[2])
        return 0
    if len(argv) == 3 and argv[0] == "ctl":
        return ctl(argv[1], argv[2])
    if len(argv) == 5 and argv[0] == "check":
        want = json.load(open(os.path.join(argv[1], "state.json")))
        loaded = [json.load(open(f)) for f in argv[3:5]]
        problems = check(want, argv[2], *loaded)
        print("\n".join(problems) or "as the profile says")
        return 1 if problems else 0
    if argv == ["clean"]:
        clean()
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
