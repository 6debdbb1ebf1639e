# Replication between the two guests on real LVM thin volumes, checked
# with lvs, md5sum of the points on both sides and the peer's open-iscsi,
# not the consoles' word: a console in each guest, each with a raid1 pool
# of its own disks; the peer's console makes a pairing code and the main
# one pastes it; a thin volume exported to the peer's initiator and
# written by it all along is replicated without a session dropped (the
# same session id before and after); the replica's points are the
# source's, block for block; the peer's console killed part-way through a
# transfer (held to 4 Mbit/s to be caught) and started again on its
# database: the replica kept its last point, and the transfer resumes
# where it was cut (or, when it had committed it, acknowledged again); a
# failover on the peer exports its last point under the main guest's
# target name and the peer's own initiator reads it there; the main
# console says its replica was promoted; 1 MiB written there, a failback
# unexports the main guest's volume, makes it the last common point and
# a replica, and the peer's first point sends that 1 MiB alone; then the
# two volumes are the same, and switching off on the peer leaves no point
# on either side.
PEER1=iqn.2024-01.lab.baystack:peer

modprobe -r iscsi_target_mod target_core_iblock target_core_user tcm_loop target_core_file \
  target_core_pscsi target_core_mod 2>/dev/null || true
console_start 0.0.0.0:8080
pools_teardown
volumes_teardown

# The peer's console, on its own disks, with its channel on its own port.
peer_console_start
pjob_ok "pool tank on the peer" POST /api/v1/pools '{"name":"tank","level":"raid1","drives":["BAYPB0001","BAYPB0002"],"write_hole":"none"}'

# ---- the source: a thin volume, exported, being written ---------------------
ours='[.[] | select(.serial | startswith("BAYSA"))]'
wait_until "the console shows its SATA disks healthy" 120 is 3 drives "$ours | map(select(.health == \"healthy\")) | length"
create tank '{"name":"tank","level":"raid1","drives":["BAYSA0001","BAYSA0003"],"write_hole":"none"}'
job_ok "thin volume db" POST /api/v1/volumes '{"name":"db","pool":"tank","size":"16 MiB","thin":true}'
job_ok "db exported to the peer" POST /api/v1/volumes/db/export "{\"initiators\":[\"$PEER1\"]}"
iqn=$(api_ok GET /api/v1/targets | jq -r '.[] | select(.volume == "db") | .iqn')
initiator up "$PEER1"
peer iscsiadm -m discovery -t sendtargets -p "$MAIN_IP" >/dev/null
peer iscsiadm -m node -T "$iqn" -p "$MAIN_IP" --login >/dev/null
disk=$(initiator disk "$iqn")
peer dd if=/dev/urandom of=/tmp/pattern bs=1M count=4 status=none
# The initiator writes 4 MiB at 2 MiB over and over until told to stop.
peer_try bash -c "setsid bash /lab/lab/guest/initiator.sh stream $disk /tmp/pattern 2 /tmp/stop-writing >/tmp/written 2>&1 </dev/null &" >/dev/null
wait_until "the peer is writing" 30 peer_try test -e /tmp/writing
sid_before=$(initiator sessions | awk -v t="$iqn" '$1 == t {print $3}')
[ -n "$sid_before" ] || fail "no session to $iqn"

# ---- pairing --------------------------------------------------------------
code=$(papi POST /api/v1/peers/pairing-code "{\"address\":\"$PEER_IP:7790\"}" | jq -er .code) ||
  fail "the peer made no pairing code"
job_ok "paired with the peer" POST /api/v1/peers "{\"code\":\"$code\"}"
expect_eq "the main console's peer" "$(api_ok GET /api/v1/peers | jq -r '.[0].name + " " + .[0].address')" "lab-peer $PEER_IP:7790"
expect_eq "the peer's peer, where the main guest's channel is" "$(papi GET /api/v1/peers | jq -r '.[0].name + " " + .[0].address')" "lab-main $MAIN_IP:7790"
# The code is used: a second paste is refused by the peer.
id=$(api_ok POST /api/v1/peers "{\"code\":\"$code\"}" | jq .job_id)
expect_match "a replayed code" "$(wait_job "$id" | jq -r .error)" "used already, by lab-main"

# ---- replication switched on while the peer writes ----------------------------
job_ok "db replicated to lab-peer" POST /api/v1/volumes/db/replication \
  '{"peer":"lab-peer","interval_s":10,"rpo_s":120,"bandwidth_limit":"4 Mbit/s"}'
state() { api_ok GET /api/v1/replication | jq -r '.[] | select(.volume == "db") | .state'; }
wait_until "db in sync (its first point, in full)" 180 is in_sync state
expect_eq "the replica on the peer (lvs there)" "$(peer lvs --noheadings -o lv_attr tank/db | tr -d ' ' | cut -c1)" V
expect_eq "the peer's replica is not exported" "$(papi GET /api/v1/targets | jq length)" 0
sid_after=$(initiator sessions | awk -v t="$iqn" '$1 == t {print $3}')
expect_eq "the initiator's session, through switching replication on" "$sid_after" "$sid_before"

# ---- block for block --------------------------------------------------------
peer touch /tmp/stop-writing
wait_until "the writer stopped" 60 peer_try bash -c '! pgrep -f "[i]nitiator.sh stream" >/dev/null'
seq_of() { api_ok GET /api/v1/replication | jq -r '.[] | select(.volume == "db") | "\(.seq) \(.inflight_seq)"'; }
quiet=$(seq_of | cut -d' ' -f1)
newer() { local s; s=$(seq_of); [ "${s#* }" = null ] && [ "${s% *}" -gt "$quiet" ]; }
wait_until "a point taken after the writer stopped" 60 newer
same_point() {
  local n main_sum peer_sum
  n=$(seq_of | cut -d' ' -f1)
  main_sum=$(md5sum <"/dev/tank/db_r$n") || return 1
  peer_sum=$(peer_try bash -c "md5sum </dev/tank/db_r$n") || return 1
  [ "$main_sum" = "$peer_sum" ] || { echo "point $n differs: $main_sum here, $peer_sum there"; return 1; }
  echo "point $n: $main_sum"
}
wait_until "the peer's point is the main one's, block for block (md5sum of both)" 30 same_point
say "$(cat "$SCN/wait.out")"
main_live=$(md5sum </dev/tank/db)
expect_eq "the volume as the initiator left it, and its replica" "$(peer bash -c 'md5sum </dev/tank/db')" "$main_live"

# ---- the link cut part-way, and back ------------------------------------------
# 8 MiB rewritten each pass: a point carries what a pass wrote in its
# interval, at 4 Mbit/s (500 kB/s) several seconds.
peer rm -f /tmp/stop-writing /tmp/writing
peer dd if=/dev/urandom of=/tmp/pattern8 bs=1M count=8 status=none
peer_try bash -c "setsid bash /lab/lab/guest/initiator.sh stream $disk /tmp/pattern8 8 /tmp/stop-writing >/tmp/written 2>&1 </dev/null &" >/dev/null
wait_until "the peer is writing again" 30 peer_try test -e /tmp/writing
# Killed once the replica has made part of a point durable, with more
# than 256 KiB of it still to come.
receiving() { papi GET /api/v1/replication | jq -e '.[0] | .inflight_seq != null and .done_bytes > 0 and .pending_bytes > 262144' >/dev/null; }
wait_until "the peer part-way through receiving a point" 120 receiving
seq_before=$(papi GET /api/v1/replication | jq -r '.[0].seq')
peer pkill -f /lab/bin/baystack
cut_point=$(seq_of | cut -d' ' -f2)
say "the peer's console killed part-way through point $cut_point"
wait_until "db broken on the main console" 60 is broken state
peer touch /tmp/stop-writing
expect_eq "the replica's last point, whole after the cut (lvs there)" "$(peer bash -c "lvs --noheadings -o lv_name tank | tr -d ' ' | grep -c '^db_r$seq_before\$'")" 1
# Started again on its database (setsid -f: nothing the agent waits on
# holds its output).
peer bash -c "setsid -f /lab/bin/baystack serve --config $PEER_DIR/baystack.toml >>$PEER_DIR/console.log 2>&1 </dev/null" >/dev/null
wait_until "db in sync again" 180 is in_sync state
# The job that sent the point cut off, the second time.
resumed_job() {
  local id
  for id in $(api_ok GET '/api/v1/jobs?resource=volume:db&state=succeeded&limit=30' | jq -r '.[] | select(.kind == "replication.ship") | .id'); do
    api_ok GET "/api/v1/jobs/$id" | jq -r '.steps[1].detail' | grep "^point $cut_point is" && return 0
  done
  return 1
}
wait_until "point $cut_point sent after the cut" 60 resumed_job
said=$(cat "$SCN/wait.out")
say "point $cut_point after the cut: $said"
expect_match "point $cut_point, sent again, resumed where it stopped" "$said" "resumed from byte"
wait_until "the peer's point is the main one's again" 60 same_point

# ---- failover: the peer's replica exported, read by an initiator -------------
peer iscsiadm -m node -T "$iqn" -p "$MAIN_IP" --logout >/dev/null
n=$(papi GET /api/v1/replication | jq -r '.[0].seq')
point_sum=$(md5sum <"/dev/tank/db_r$n")
pjob_ok "failover of db on the peer" POST /api/v1/volumes/db/replication/failover '{}'
peer_exported() { papi GET /api/v1/targets | jq -e --arg i "$iqn" '.[] | select(.iqn == $i) | .state == "exported"' >/dev/null; }
wait_until "db exported by the peer under the main guest's target name" 120 peer_exported
expect_eq "the peer's target in its LIO (configfs)" "$(peer cat "/sys/kernel/config/target/iscsi/$iqn/tpgt_1/enable")" 1
peer iscsiadm -m discovery -t sendtargets -p 127.0.0.1 >/dev/null
peer iscsiadm -m node -T "$iqn" -p 127.0.0.1 --login >/dev/null
pdisk=$(peer bash -c "for _ in \$(seq 1 100); do d=\$(iscsiadm -m session -P 3 | awk '/Current Portal: 127.0.0.1/ {p=1} p && /Attached scsi disk/ {print \$4; exit}'); [ -n \"\$d\" ] && [ -b /dev/\$d ] && { echo /dev/\$d; exit; }; sleep 0.2; done; exit 1")
expect_eq "what the initiator reads from the promoted replica (md5sum), and point $n on the main guest" \
  "$(peer bash -c "md5sum <$pdisk")" "$point_sum"

# ---- the main console told; failback sends back only what changed ------------
said_promoted() {
  local r
  r=$(api_ok GET /api/v1/replication | jq -c '.[] | select(.volume == "db")')
  echo "$r"
  jq -e '.state == "broken" and (.last_error // "" | test("promoted"))' <<<"$r" >/dev/null
}
say "the peer after the failover: $(peer_state | tr '\n' '|')"
wait_until "the main console says its replica was promoted" 60 said_promoted
# 1 MiB written on the promoted replica through its own initiator.
peer dd if=/dev/urandom of="$pdisk" bs=1M count=1 seek=3 oflag=direct status=none
peer iscsiadm -m node -T "$iqn" -p 127.0.0.1 --logout >/dev/null
pjob_ok "failback of db from the peer" POST /api/v1/volumes/db/replication/failback '{}'
expect_eq "the main console's target for db, after the failback" "$(api_ok GET /api/v1/targets | jq length)" 0
[ ! -e "/sys/kernel/config/target/iscsi/$iqn" ] || fail "$iqn still in the main guest's LIO after the failback"
role() { api_ok GET /api/v1/replication | jq -r '.[] | select(.volume == "db") | "\(.role) \(.state)"'; }
expect_match "db on the main console after the failback" "$(role)" "^replica "
back_job() {
  local id
  for id in $(papi GET '/api/v1/jobs?resource=volume:db&state=succeeded&limit=30' | jq -r '.[] | select(.kind == "replication.ship") | .id'); do
    papi GET "/api/v1/jobs/$id" | jq -r '.steps[1].detail' | grep "since point $n " && return 0
  done
  papi GET /api/v1/replication
  return 1
}
wait_until "the peer's first point after the failback" 120 back_job
said=$(cat "$SCN/wait.out")
say "after the failback: $said"
expect_match "the first point sent back" "$said" ": 1 MiB of changes since point $n "
wait_until "db in sync on the main console, a replica now" 60 is "replica in_sync" role
expect_eq "the main guest's volume and the peer's, after the failback (md5sum)" \
  "$(md5sum </dev/tank/db)" "$(peer bash -c 'md5sum </dev/tank/db')"

# ---- switched off on the peer, the source now: both forget ----------------------
pjob_ok "replication of db switched off on the peer" DELETE /api/v1/volumes/db/replication
replications() { api_ok GET /api/v1/replication | jq length; }
wait_until "the main console forgot db's replication" 30 is 0 replications
expect_eq "points left in the main guest (lvs)" "$(lvs --noheadings -o lv_name tank | grep -c '_r[0-9]' || true)" 0
expect_eq "points left in the peer (lvs)" "$(peer bash -c "lvs --noheadings -o lv_name tank | grep -c '_r[0-9]' || true")" 0
expect_eq "the main guest's copy of db, kept" "$(lvs --noheadings -o lv_name tank/db | tr -d ' ')" db
