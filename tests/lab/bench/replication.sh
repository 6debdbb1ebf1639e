# Replication's speed between the two guests, beside a plain copy of the
# same bytes over the same link in the same run: a console in each guest,
# each with a raid1 of its own disks, paired; a 32 MiB thin volume filled
# with random bytes and replicated (its first point in full, no bandwidth
# limit), then 1% of its 64 KiB blocks rewritten and the next point sent.
# The plain copy reads the main guest's point sequentially in 1 MiB pieces,
# sends it over TCP (guest/netbench.py copy-send) and the peer writes it to
# a logical volume and syncs it (copy-serve): what `dd | nc | dd
# conv=fdatasync` does. The transfer's time is the job's own (from its
# offer to the replica's commit, which snapshots). Figures go to the log as
# `speed:` lines; nothing is asserted on them: under TCG they measure the
# emulation as much as the kernel.
MIB=1048576
SIZE=32
console_start 0.0.0.0:8080
pools_teardown
volumes_teardown
peer_console_start
pjob_ok "pool tank on the peer" POST /api/v1/pools '{"name":"tank","level":"raid1","drives":["BAYPB0001","BAYPB0002"],"write_hole":"none"}'
ours='[.[] | select(.serial | startswith("BAYSA"))]'
wait_until "the console shows its SATA disks healthy" 120 is 3 drives "$ours | map(select(.health == \"healthy\")) | length"
create tank '{"name":"tank","level":"raid1","drives":["BAYSA0002","BAYSA0003"],"write_hole":"none"}'
wait_until "tank resynced (sysfs sync_action idle)" 240 is idle md tank sync_action
wait_until "the peer's tank resynced" 240 is idle peer_try bash -c 'cat /sys/block/md*/md/sync_action'
job_ok "thin volume db" POST /api/v1/volumes "{\"name\":\"db\",\"pool\":\"tank\",\"size\":\"$SIZE MiB\",\"thin\":true}"
dd if=/dev/urandom of=/dev/tank/db bs=1M count=$SIZE oflag=direct status=none

code=$(papi POST /api/v1/peers/pairing-code "{\"address\":\"$PEER_IP:7790\"}" | jq -er .code) ||
  fail "the peer made no pairing code"
job_ok "paired with the peer" POST /api/v1/peers "{\"code\":\"$code\"}"
job_ok "db replicated to lab-peer" POST /api/v1/volumes/db/replication '{"peer":"lab-peer","interval_s":10,"rpo_s":600}'
seq_of() { api_ok GET /api/v1/replication | jq -r '.[] | select(.volume == "db") | "\(.seq) \(.inflight_seq)"'; }
sent() { # sent AFTER: the detail of the first point after AFTER that carried bytes
  local id detail
  for id in $(api_ok GET '/api/v1/jobs?resource=volume:db&state=succeeded&limit=50' | jq -r '[.[] | select(.kind == "replication.ship") | .id] | sort | .[]'); do
    detail=$(api_ok GET "/api/v1/jobs/$id" | jq -r '.steps[1].detail')
    [[ $detail =~ ^point\ ([0-9]+)\  ]] && ((BASH_REMATCH[1] > $1)) || continue
    [[ $detail == *": 0 bytes of changes"* ]] && continue
    echo "$detail"
    return 0
  done
  return 1
}
wait_until "the first point sent" 600 sent 0
say "speed: replication, first point: $(cat "$SCN/wait.out")"

# The plain copy: the volume here (as its point, nothing writes it now),
# read and sent to a logical volume there.
copy() { # copy BYTES: seconds
  peer lvcreate -q -y -L "${SIZE}M" -n copy tank >/dev/null
  peer_try bash -c "setsid python3 /lab/lab/guest/netbench.py copy-serve $PEER_IP 7072 /dev/tank/copy >/tmp/copy.out 2>&1 </dev/null &" >/dev/null
  wait_until "the copy's receiver listening" 30 peer_try grep -q ready /tmp/copy.out >&2
  python3 "$LAB/lab/guest/netbench.py" copy-send "$PEER_IP" 7072 /dev/tank/db "$1"
  peer lvremove -q -y tank/copy >/dev/null
}
secs=$(copy $((SIZE * MIB)))
say "speed: plain copy of $SIZE MiB: $secs s ($(awk "BEGIN {printf \"%.2f\", $SIZE / $secs}") MiB/s)"

# 1% of the blocks rewritten, spread over the volume.
s=$(seq_of) first=${s% *}
[ "${s#* }" = null ] || first=${s#* }
blocks=$((SIZE * 16)) changed=$((SIZE * 16 / 100))
for i in $(seq 0 $((changed - 1))); do
  dd if=/dev/urandom of=/dev/tank/db bs=64K count=1 seek=$((i * blocks / changed)) oflag=direct conv=notrunc status=none
done
wait_until "the point after the change sent" 120 sent "$first"
say "speed: replication, $changed of $blocks blocks changed: $(cat "$SCN/wait.out")"
secs=$(copy $((changed * 65536)))
say "speed: plain copy of $((changed * 64)) KiB: $secs s"

# The same transfer between two consoles on loopback inside the main guest
# (`baystack bench replication` on sim): the channel's own cost (TLS,
# CRC-32, framing) on this emulated CPU, without the link or the disks.
say "speed: loopback in the main guest: $(/lab/bin/baystack bench replication --size-mib $SIZE --lag-gib 1 --lag-seconds 1 2>&1 | grep -E 'first point|blocks changed' | tr -s ' ' | tr '\n' ';')"
