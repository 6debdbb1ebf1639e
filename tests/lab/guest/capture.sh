#!/bin/bash
# Captures, verbatim, every tool output a Baystack parser reads, from the
# real tools on the guest's real disks (the shelf), into /lab/out/fixtures/
# laid out as tests/fixtures/. tests/lab/lab.sh --refresh-fixtures copies
# them into the project; the parser tests read them.
set -euo pipefail
f=/lab/out/fixtures
mkdir -p "$f/lsblk" "$f/smartctl" "$f/versions" "$f/kmsg"
dev() { basename "$(readlink -f "/dev/disk/by-id/$1")"; }
sata=$(dev "$(ls /dev/disk/by-id | grep -m1 '^ata-.*_BAYSA0001$')")
virtio=$(dev virtio-BAYVD0001)

# Exactly the commands the linux backend runs (src/storage/linux/mod.rs);
# lsblk once scsi_debug adds a disk of another kind, below.
smartctl -j -x "/dev/$sata" >"$f/smartctl/lab-sata-x.json" || true
smartctl -j -x "/dev/$virtio" >"$f/smartctl/lab-virtio-x.json" || true
smartctl -t short "/dev/$sata" >"$f/smartctl/lab-sata-t-short.txt" || true
# The abort the drive page offers (qemu's test may already be over: then
# this is what smartctl says of an abort with nothing running).
smartctl -X "/dev/$sata" >"$f/smartctl/lab-sata-X.txt" || true
sleep 3
smartctl -j -x "/dev/$sata" >"$f/smartctl/lab-sata-x-after-short-test.json" || true

# A SAS-like disk from scsi_debug, then the same disk predicting its own
# failure (the TEST bit of its informational exceptions control page), and
# failing a read of a bad sector (a medium error, in the kernel's log).
modprobe scsi_debug num_tgts=1 dev_size_mb=16 opts=2 medium_error_start=20000 medium_error_count=8
udevadm settle
sdebug=$(lsscsi | awk '/scsi_debug/ {print $NF; exit}')
smartctl -j -x "$sdebug" >"$f/smartctl/lab-scsi-debug-x.json" || true
lsblk -J -O -b >"$f/lsblk/lab-shelf-scsi-debug.json"
sdparm -q --set=TEST=1,DEXCPT=0 "$sdebug"
smartctl -j -x "$sdebug" >"$f/smartctl/lab-scsi-debug-ie-test-x.json" || true
dd if="$sdebug" of=/dev/null bs=512 skip=20000 count=1 iflag=direct status=none 2>/dev/null || true
# /dev/kmsg as the backend reads it: without blocking, a record per read.
dd if=/dev/kmsg of="$f/kmsg/lab-medium-error.txt" iflag=nonblock bs=16k status=none 2>/dev/null || true
udevadm settle
for _ in $(seq 1 20); do modprobe -r scsi_debug 2>/dev/null && break; sleep 0.5; done

# An emulated 12-bay SAS backplane with a failed fan and its drives
# (tests/lab/ses): the real sg_ses on its pages, the identification page the
# kernel keeps for a drive, and smartctl on a drive before and after it
# predicts its own failure.
ses=/lab/lab/ses st=/tmp/ses-capture
mkdir -p "$st" "$f/sg_ses/lab-emulated" "$f/vpd"
python3 "$ses/enclosure.py" serve "$ses/profiles/smc-12bay.toml" "$st" >"$st/log" 2>&1 &
for _ in $(seq 1 600); do [ -e "$st/ready" ] && break; sleep 0.1; done
udevadm settle
sg=$(lsscsi -g | awk '/enclosu/ {print $NF; exit}')
sg_ses --join "$sg" >"$f/sg_ses/lab-emulated/smc-12bay.join.txt"
disk=$(lsblk -dno NAME,SERIAL | awk '$2 == "ZA1C0001" {print $1}')
cp "/sys/block/$disk/device/vpd_pg83" "$f/vpd/lab-emulated-sas-disk.vpd_pg83"
smartctl -j -x "/dev/$disk" >"$f/smartctl/lab-emulated-sas-x.json" || true
python3 "$ses/enclosure.py" ctl "$st" '{"op":"health","serial":"ZA1C0001","health":"failing"}' >/dev/null
smartctl -j -x "/dev/$disk" >"$f/smartctl/lab-emulated-sas-failing-x.json" || true
python3 "$ses/enclosure.py" ctl "$st" '{"op":"down"}' >/dev/null

# What `baystack check` reads of each tool's version.
mdadm --version >"$f/versions/mdadm.txt" 2>&1
lvm version >"$f/versions/lvm.txt" 2>&1
thin_check --version >"$f/versions/thin_check.txt" 2>&1
thin_delta --version >"$f/versions/thin_delta.txt" 2>&1
smartctl --version >"$f/versions/smartctl.txt" 2>&1
sg_ses --version >"$f/versions/sg_ses.txt" 2>&1 || true
lsblk --version >"$f/versions/lsblk.txt" 2>&1
udevadm --version >"$f/versions/udevadm.txt" 2>&1
echo "lab: captured $(find "$f" -type f | wc -l) files"
