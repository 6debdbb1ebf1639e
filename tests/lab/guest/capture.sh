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

# ---- md RAID and LVM --------------------------------------------------------
# Every array state the console's md and LVM parsers read, from the real
# kernel and mdadm: for each state /proc/mdstat, `mdadm --detail` and
# `--detail --export` of the array, and a copy of its sysfs md directory
# (the files a reader of /sys/block/mdX/md opens; contents, not links), as
# mdstat/lab-STATE.txt, mdadm/lab-detail[-export]-STATE.txt and
# sysfs-md/lab-STATE/md/. Arrays on 64 MiB loop devices (tmpfs, so /tmp in
# RAM, discarded between arrays); a shelf mirror under LVM for lsblk, wipefs
# and blkid. The running states are caught with the resync speed throttled
# (speed_limit_max 1000 KiB/s), each waited for by a bounded poll of sysfs.
mkdir -p "$f/mdstat" "$f/mdadm" "$f/lvm" "$f/sysfs-md"
for m in md_mod raid1 raid456 raid10 loop dm_mod dm_thin_pool; do modprobe "$m"; done
mdw=/tmp/md-capture
mkdir -p "$mdw"
speed_max=$(cat /proc/sys/dev/raid/speed_limit_max)
slow() { echo 1000 >/proc/sys/dev/raid/speed_limit_max; }
fast() { echo "$speed_max" >/proc/sys/dev/raid/speed_limit_max; }
settle() { udevadm settle --timeout=60 || true; }
t_md=$(date +%s)
say_md() { echo "lab: md: $* ($(($(date +%s) - t_md)) s)"; }
L=()
for i in 0 1 2 3 4 5 6 7; do
  truncate -s 64M "$mdw/m$i.img"
  L+=("$(losetup --find --show "$mdw/m$i.img")")
done
settle

# mdnode NAME: the kernel name (md127) of the array created or assembled as
# /dev/md/NAME (mdadm's map names it before udev makes the link, and for an
# inactive array udev makes none).
mdnode() {
  local n
  n=$(awk -v want="/dev/md/$1" '$4 == want {print $1; exit}' /run/mdadm/map 2>/dev/null)
  [ -n "$n" ] || n=$(basename "$(readlink -f "/dev/md/$1")")
  echo "$n"
}
mdsys() { echo "/sys/block/$(mdnode "$1")/md"; }
# running NAME ACTION: NAME's sync_action is ACTION and it has made progress
# (so /proc/mdstat shows its progress line, not DELAYED or PENDING).
running() {
  local s done
  s=$(mdsys "$1")
  [ "$(cat "$s/sync_action")" = "$2" ] || return 1
  done=$(cut -d' ' -f1 "$s/sync_completed")
  [[ $done =~ ^[0-9]+$ ]] && [ "$done" -gt 0 ]
}
idle() { # idle NAME: nothing running or pending on NAME
  local s
  s=$(mdsys "$1")
  [ "$(cat "$s/sync_action")" = idle ] && [ "$(cat "$s/sync_completed")" = none ]
}
# until_true SECONDS WHAT COMMAND...: polls COMMAND; fails the capture
# (saying what it waited for, and /proc/mdstat) after SECONDS.
until_true() {
  local limit=$1 what=$2 start=$SECONDS
  shift 2
  until "$@"; do
    if ((SECONDS - start >= limit)); then
      echo "lab: md: no $what within $limit s; /proc/mdstat:"
      sed 's/^/lab:   /' /proc/mdstat
      return 1
    fi
    sleep 0.2
  done
}
# keep OUT COMMAND...: COMMAND's standard output into OUT, verbatim; its
# standard error, if any, into OUT's name with .stderr.txt, and a non-zero
# exit status into .rc.txt (some of these fail on purpose).
keep() {
  local out=$1 rc=0 base
  shift
  base=${out%.*}
  "$@" >"$out" 2>"$base.stderr.txt" || rc=$?
  [ -s "$base.stderr.txt" ] || rm -f "$base.stderr.txt"
  if [ "$rc" != 0 ]; then echo "$rc" >"$base.rc.txt"; fi
}
# said OUT COMMAND...: what a command says (standard error and output
# together, as a terminal shows them: mdadm speaks on standard error).
said() {
  local out=$1 rc=0
  shift
  "$@" >"$out" 2>&1 || rc=$?
  if [ "$rc" != 0 ]; then echo "$rc" >"${out%.*}.rc.txt"; fi
}
# sysfs_md NODE DEST: the files of /sys/block/NODE/md a reader opens, and
# each member directory's state, slot and errors, copied as plain files.
sysfs_md() {
  local src=/sys/block/$1/md dest=$2 a d
  mkdir -p "$dest"
  for a in array_state level raid_disks sync_action sync_completed sync_speed degraded \
    mismatch_cnt consistency_policy chunk_size component_size array_size reshape_position \
    stripe_cache_size sync_min sync_max journal_mode; do
    if [ -f "$src/$a" ]; then cat "$src/$a" >"$dest/$a" 2>/dev/null || rm -f "$dest/$a"; fi
  done
  for d in "$src"/dev-*; do
    [ -d "$d" ] || continue
    mkdir -p "$dest/${d##*/}"
    for a in state slot errors; do
      if [ -f "$d/$a" ]; then cat "$d/$a" >"$dest/${d##*/}/$a" 2>/dev/null || rm -f "$dest/${d##*/}/$a"; fi
    done
  done
}
# state NAME STATE: the array NAME as the parsers see it, as STATE.
state() {
  local node
  node=$(mdnode "$1")
  cat /proc/mdstat >"$f/mdstat/lab-$2.txt"
  keep "$f/mdadm/lab-detail-$2.txt" mdadm --detail "/dev/$node"
  keep "$f/mdadm/lab-detail-export-$2.txt" mdadm --detail --export "/dev/$node"
  sysfs_md "$node" "$f/sysfs-md/lab-$2/md"
  say_md "$2"
}
create() { # create OUT NAME ARGS...: mdadm --create, its words kept in OUT
  local out=$1 name=$2
  shift 2
  said "$out" mdadm --create "/dev/md/$name" --run "$@" </dev/null
  settle
}
stop() { # stop NAME|NODE DEVICES...: stops the array, blanks its members
  local a=$1
  shift
  [ -e "/dev/$a" ] || a=$(mdnode "$a")
  mdadm --stop "/dev/$a" 2>&1 | sed 's/^/lab:   /' || true
  settle
  blank "$@"
}
blank() { # blank DEVICES...: no md superblock left, and for loops no data
  local d
  for d in "$@"; do
    mdadm --zero-superblock "$d" 2>/dev/null || true
    case $d in /dev/loop*) blkdiscard "$d" 2>/dev/null || true ;; esac
  done
  settle
}
trap fast EXIT

# RAID1: created (mdadm's words once), clean, with a spare, failing onto the
# spare, degraded with a failed member, a member being replaced and after.
create "$f/mdadm/lab-create-r1.txt" r1 --level=1 --raid-devices=2 "${L[0]}" "${L[1]}"
until_true 300 "r1 resync end" idle r1
state r1 r1-clean
keep "$f/mdadm/lab-examine-export-r1-member.txt" mdadm --examine --export "${L[0]}"
keep "$f/mdadm/lab-examine-r1-member.txt" mdadm --examine "${L[0]}"
said "$f/mdadm/lab-add-spare.txt" mdadm /dev/md/r1 --add "${L[2]}"
settle
state r1 r1-spare
keep "$f/mdadm/lab-detail-scan-spare.txt" mdadm --detail --scan
slow
said "$f/mdadm/lab-fail.txt" mdadm /dev/md/r1 --fail "${L[1]}"
until_true 120 "r1 recovery onto the spare" running r1 recover
state r1 r1-recovering
fast
until_true 300 "r1 recovery end" idle r1
said "$f/mdadm/lab-remove.txt" mdadm /dev/md/r1 --remove "${L[1]}"
mdadm /dev/md/r1 --fail "${L[2]}" 2>&1 | sed 's/^/lab:   /'
state r1 r1-degraded
mdadm /dev/md/r1 --remove "${L[2]}" 2>&1 | sed 's/^/lab:   /'
blank "${L[1]}" "${L[2]}"
mdadm /dev/md/r1 --add "${L[1]}" 2>&1 | sed 's/^/lab:   /'
until_true 300 "r1 recovery onto a new member" idle r1
mdadm /dev/md/r1 --add "${L[2]}" 2>&1 | sed 's/^/lab:   /'
settle
slow
said "$f/mdadm/lab-replace.txt" mdadm /dev/md/r1 --replace "${L[0]}" --with "${L[2]}"
until_true 120 "r1 replacement running" running r1 recover
state r1 r1-replacing
fast
until_true 300 "r1 replacement end" idle r1
until_true 60 "the replaced member marked faulty" \
  grep -q faulty "$(mdsys r1)/dev-${L[0]#/dev/}/state"
state r1 r1-replaced
stop r1 "${L[0]}" "${L[1]}" "${L[2]}"

# RAID5: built (mdadm creates it degraded and recovers onto the last
# member), clean, checking, repairing, a check that found mismatches,
# reshaping onto a fourth disk and after, degraded, inactive.
slow
create "$f/mdadm/lab-create-r5.txt" r5 --level=5 --raid-devices=3 "${L[3]}" "${L[4]}" "${L[5]}"
until_true 120 "r5 initial build" running r5 recover
state r5 r5-building
fast
until_true 300 "r5 build end" idle r5
state r5 r5-clean
slow
echo check >"$(mdsys r5)/sync_action"
until_true 120 "r5 check running" running r5 check
state r5 r5-checking
echo idle >"$(mdsys r5)/sync_action"
until_true 60 "r5 check stopped" idle r5
# The stopped check left sync_min where it stopped; a repair would start
# there (see below): from 0.
echo 0 >"$(mdsys r5)/sync_min"
echo repair >"$(mdsys r5)/sync_action"
until_true 120 "r5 repair running" running r5 repair
state r5 r5-repairing
echo idle >"$(mdsys r5)/sync_action"
until_true 60 "r5 repair stopped" idle r5
fast
# Garbage straight onto one member, 8 MiB into its data (past its data
# offset, so below the superblock's reach), then a whole check. A check or
# repair stopped half way leaves sync_min where it stopped and the next one
# starts there (it would pass the garbage by): from 0 again.
off=$(cat "$(mdsys r5)/dev-${L[4]#/dev/}/offset")
dd if=/dev/urandom of="${L[4]}" bs=512 seek=$((off + 16384)) count=2048 oflag=direct conv=fsync status=none
say_md "sync_min after the stopped repair: $(cat "$(mdsys r5)/sync_min")"
echo 0 >"$(mdsys r5)/sync_min"
echo check >"$(mdsys r5)/sync_action"
until_true 30 "r5 check started" grep -qx check "$(mdsys r5)/sync_action"
until_true 300 "r5 check end" idle r5
[ "$(cat "$(mdsys r5)/mismatch_cnt")" != 0 ] || echo "lab: md: the check after garbage found no mismatch"
state r5 r5-check-mismatch
said "$f/mdadm/lab-add-for-grow.txt" mdadm /dev/md/r5 --add "${L[6]}"
slow
said "$f/mdadm/lab-grow-r5.txt" mdadm --grow /dev/md/r5 --raid-devices=4 --backup-file="$mdw/r5-grow.backup"
until_true 120 "r5 reshape running" running r5 reshape
state r5 r5-reshaping
fast
until_true 600 "r5 reshape end" idle r5
until_true 60 "r5 four devices" grep -qx 4 "$(mdsys r5)/raid_disks"
until_true 60 "r5 reshape_position none" grep -qx none "$(mdsys r5)/reshape_position"
# mdadm's background half of --grow leaves once the reshape is over.
grow_gone() { ! pgrep -f -- "[-]-backup-file=$mdw/r5-grow.backup" >/dev/null; }
until_true 120 "mdadm --grow's background process to end" grow_gone
state r5 r5-grown
mdadm /dev/md/r5 --fail "${L[5]}" 2>&1 | sed 's/^/lab:   /'
state r5 r5-degraded
# Inactive: stopped, then one member of four offered as udev would.
mdadm --stop /dev/md/r5 2>&1 | sed 's/^/lab:   /'
settle
said "$f/mdadm/lab-incremental-one-member.txt" mdadm --incremental "${L[3]}"
settle
until_true 30 "r5 inactive" grep -q inactive /proc/mdstat
state r5 r5-inactive
stop r5 "${L[3]}" "${L[4]}" "${L[5]}" "${L[6]}"

# RAID6 and RAID10 side by side, and a mirror of two shelf disks of
# different sizes with LVM on it (thick and thin): the scan mdadm.conf
# takes, lsblk, and the signatures wipefs and blkid find on a member and
# on a blank disk.
sda=$(dev "$(ls /dev/disk/by-id | grep -m1 '^ata-.*_BAYSA0001$')")
sdc=$(dev "$(ls /dev/disk/by-id | grep -m1 '^ata-.*_BAYSA0003$')")
blank_disk=$(dev virtio-BAYVD0002)
create "$f/mdadm/lab-create-r6.txt" r6 --level=6 --raid-devices=4 "${L[@]:0:4}"
create "$f/mdadm/lab-create-r10.txt" r10 --level=10 --raid-devices=4 "${L[@]:4:4}"
create "$f/mdadm/lab-create-tank-mixed-sizes.txt" tank --level=1 --raid-devices=2 "/dev/$sda" "/dev/$sdc"
until_true 300 "r6 resync end" idle r6
until_true 300 "r10 resync end" idle r10
until_true 300 "tank resync end" idle tank
state r6 r6-clean
state r10 r10-clean
keep "$f/mdadm/lab-detail-scan.txt" mdadm --detail --scan
{
  pvcreate /dev/md/tank
  vgcreate tank /dev/md/tank
  lvcreate -y -L 8M -n vol1 tank
  lvcreate -y --type thin-pool -L 16M -n pool tank
  lvcreate -y -V 32M --thin -n thin1 tank/pool
} </dev/null 2>&1 | sed 's/^/lab:   /'
dd if=/dev/urandom of=/dev/tank/thin1 bs=1M count=2 oflag=direct status=none
settle
keep "$f/lvm/lab-pvs.json" pvs --reportformat json --units b --nosuffix -o pv_name,vg_name,pv_size,pv_free,pv_uuid
keep "$f/lvm/lab-vgs.json" vgs --reportformat json --units b --nosuffix \
  -o vg_name,vg_uuid,vg_size,vg_free,pv_count,lv_count,vg_attr
keep "$f/lvm/lab-lvs.json" lvs --reportformat json --units b --nosuffix \
  -o lv_name,vg_name,lv_uuid,lv_size,lv_attr,pool_lv,data_percent,metadata_percent,origin
# A volume's front device as the backend makes one (src/storage/linux/dm),
# what dmsetup lists of it, and what dmsetup and LVM say when asked to
# remove what is held open, or a device that is not there.
mkdir -p "$f/dmsetup"
keep "$f/lvm/lab-lvs-a.json" lvs -a --reportformat json --units b --nosuffix \
  -o lv_name,vg_name,lv_uuid,lv_size,lv_attr,lv_layout,lv_role,pool_lv,origin,data_percent,metadata_percent,lv_active,lv_path,lv_health_status,lv_kernel_major,lv_kernel_minor tank
vol1=$(lvs --noheadings --separator : -o lv_kernel_major,lv_kernel_minor tank/vol1 | tr -d ' ')
dmsetup create baystack-vol1 --uuid BAYSTACK-vol1 --table "0 $(blockdev --getsz /dev/tank/vol1) linear $vol1 0"
keep "$f/dmsetup/lab-info.txt" dmsetup info -c --noheadings --separator : -o attr,open,name
keep "$f/dmsetup/lab-table.txt" dmsetup table
exec 3</dev/mapper/baystack-vol1
keep "$f/dmsetup/lab-remove-open.out" dmsetup remove baystack-vol1
keep "$f/dmsetup/lab-lvremove-open.out" lvremove --yes tank/vol1
exec 3<&-
dmsetup remove baystack-vol1
keep "$f/dmsetup/lab-remove-absent.out" dmsetup remove baystack-vol1
keep "$f/mdadm/lab-lsblk-md-members.json" lsblk -J -O -b
keep "$f/mdadm/lab-wipefs-member.json" wipefs --no-act --json "/dev/$sda"
keep "$f/mdadm/lab-blkid-member.txt" blkid -p -o export "/dev/$sda"
keep "$f/mdadm/lab-wipefs-blank.json" wipefs --no-act --json "/dev/$blank_disk"
keep "$f/mdadm/lab-blkid-blank.txt" blkid -p -o export "/dev/$blank_disk"
# Replication's view of the thin pool (src/storage/linux/thin): two thin
# snapshots of thin1 with writes between them (a block in part, a whole
# run, and one discarded), their thin ids, and what thin_delta reads
# from a reserved metadata snapshot (of a point against itself too); what they say with
# none reserved; the pool's status while one is held.
mkdir -p "$f/thin"
lvcreate -y -s -n thin1_r1 tank/thin1 </dev/null 2>&1 | sed 's/^/lab:   /'
dd if=/dev/urandom of=/dev/tank/thin1 bs=4K count=1 seek=3 oflag=direct status=none
dd if=/dev/urandom of=/dev/tank/thin1 bs=1M count=3 seek=8 oflag=direct status=none
blkdiscard -o 1048576 -l 1048576 /dev/tank/thin1
lvcreate -y -s -n thin1_r2 tank/thin1 </dev/null 2>&1 | sed 's/^/lab:   /'
keep "$f/thin/lab-lvs-thin-ids.json" lvs --reportformat json --units b --nosuffix \
  -o lv_name,vg_name,lv_size,lv_attr,pool_lv,origin,thin_id,lv_active tank
id1=$(lvs --noheadings -o thin_id tank/thin1_r1 | tr -d ' ')
id2=$(lvs --noheadings -o thin_id tank/thin1_r2 | tr -d ' ')
keep "$f/thin/lab-thin-delta-unreserved.xml" thin_delta -m --snap1 "$id1" --snap2 "$id2" /dev/mapper/tank-pool_tmeta
keep "$f/thin/lab-reserve.txt" dmsetup message tank-pool-tpool 0 reserve_metadata_snap
keep "$f/thin/lab-reserve-again.txt" dmsetup message tank-pool-tpool 0 reserve_metadata_snap
keep "$f/thin/lab-pool-status.txt" dmsetup status tank-pool-tpool
keep "$f/thin/lab-thin-delta.xml" thin_delta -m --snap1 "$id1" --snap2 "$id2" /dev/mapper/tank-pool_tmeta
keep "$f/thin/lab-thin-delta-verbose.xml" thin_delta -m --verbose --snap1 "$id1" --snap2 "$id2" /dev/mapper/tank-pool_tmeta
keep "$f/thin/lab-thin-delta-same.xml" thin_delta -m --snap1 "$id2" --snap2 "$id2" /dev/mapper/tank-pool_tmeta
keep "$f/thin/lab-release.txt" dmsetup message tank-pool-tpool 0 release_metadata_snap
keep "$f/thin/lab-release-again.txt" dmsetup message tank-pool-tpool 0 release_metadata_snap
keep "$f/thin/lab-activate-snapshot.txt" lvchange -ay -K tank/thin1_r1
lvremove -y tank/thin1_r1 tank/thin1_r2 </dev/null 2>&1 | sed 's/^/lab:   /'
vgremove -ff tank 2>&1 | sed 's/^/lab:   /'
pvremove /dev/md/tank 2>&1 | sed 's/^/lab:   /'
stop tank "/dev/$sda" "/dev/$sdc"
stop r6 "${L[@]:0:4}"
stop r10 "${L[@]:4:4}"

# RAID5 resyncing (--force makes mdadm resync parity instead of building
# onto a spare: an array after an unclean stop looks so), RAID5 with a
# partial parity log and RAID5 with a write journal.
slow
create "$f/mdadm/lab-create-r5-force.txt" r5sync --force --level=5 --raid-devices=3 "${L[@]:0:3}"
until_true 120 "r5 resync running" running r5sync resync
state r5sync r5-resyncing
stop r5sync "${L[@]:0:3}"
fast
create "$f/mdadm/lab-create-r5-ppl.txt" r5ppl --level=5 --raid-devices=3 --consistency-policy=ppl "${L[@]:0:3}"
create "$f/mdadm/lab-create-r5-journal.txt" r5jnl --level=5 --raid-devices=3 "${L[@]:3:3}" \
  --write-journal "${L[6]}"
until_true 300 "r5ppl build end" idle r5ppl
until_true 300 "r5jnl build end" idle r5jnl
state r5ppl r5-ppl
state r5jnl r5-journal
stop r5ppl "${L[@]:0:3}"
stop r5jnl "${L[@]:3:4}"

# Stopped: no array left.
cat /proc/mdstat >"$f/mdstat/lab-stopped.txt"
for l in "${L[@]}"; do losetup -d "$l"; done
rm -rf "$mdw"
fast
trap - EXIT
say_md "done"
# ---- end of md RAID and LVM -------------------------------------------------

# What `baystack check` reads of each tool's version.
mdadm --version >"$f/versions/mdadm.txt" 2>&1
lvm version >"$f/versions/lvm.txt" 2>&1
dmsetup --version >"$f/versions/dmsetup.txt" 2>&1
thin_check --version >"$f/versions/thin_check.txt" 2>&1
thin_delta --version >"$f/versions/thin_delta.txt" 2>&1
smartctl --version >"$f/versions/smartctl.txt" 2>&1
sg_ses --version >"$f/versions/sg_ses.txt" 2>&1 || true
lsblk --version >"$f/versions/lsblk.txt" 2>&1
udevadm --version >"$f/versions/udevadm.txt" 2>&1
echo "lab: captured $(find "$f" -type f | wc -l) files"
