# Volumes and iSCSI targets on the real kernel, each result checked with
# lvs, dmsetup, LIO's configfs and the peer guest's open-iscsi initiator,
# not the console's word: a raid5 pool on the shelf's SATA disks, a thick
# and a thin volume behind their front devices; the thick one exported
# with an ACL (two of the peer's initiator names) and CHAP, the peer logs
# in, writes and reads back; a wrong CHAP secret and an initiator not in
# the ACL refused by the kernel; the session on the console and the
# target page, the WWN as the peer's disk reports it; a persistent
# reservation holding against the second initiator; a reconcile while the
# peer writes (no session dropped, nothing written, every write read
# back); grown online while logged in; the thin one exported open with
# CHAP and mutual CHAP, UNMAP, a snapshot and a roll back; a target made
# by hand with targetcli adopted while the peer is logged in to it, and one
# adopted from targetcli's saved file; unexport and delete. An emulated
# JBOD's tcm_loop targets and user backstores stay untouched throughout.
MIB=1048576
PEER1=iqn.2024-01.lab.baystack:peer
PEER2=iqn.2024-01.lab.baystack:peer-second
INTRUDER=iqn.2024-01.lab.baystack:intruder
SECRET=lab-secret-0017 MUTUAL=lab-mutual-0017
CAP=$LAB/out/$SCENARIO.captures   # the kernel's own words, for tests/fixtures
mkdir -p "$CAP"
# capture NAME COMMAND...: what COMMAND printed, kept as NAME (with .stderr
# and .rc when it wrote to standard error or failed); prints its output.
capture() {
  local name=$1 rc=0
  shift
  "$@" >"$CAP/$name" 2>"$CAP/$name.stderr" || rc=$?
  [ -s "$CAP/$name.stderr" ] || rm -f "$CAP/$name.stderr"
  [ "$rc" = 0 ] || echo "$rc" >"$CAP/$name.rc"
  cat "$CAP/$name"
}
lv() { lvs --noheadings --units b --nosuffix -o "$2" "r5/$1" | tr -d ' '; }
front_table() { dmsetup table "baystack-$1"; }
node_set() { # node_set IQN IFACE NAME VALUE [NAME VALUE...]: the peer's node record
  local iqn=$1 iface=$2
  shift 2
  while [ $# -gt 0 ]; do
    peer iscsiadm -m node -T "$iqn" -p "$MAIN_IP" -I "$iface" -o update -n "$1" -v "$2" >/dev/null
    shift 2
  done
}
login() { peer_try iscsiadm -m node -T "$1" -p "$MAIN_IP" -I "$2" --login; }
# dmesg_mark writes a line of ours into the kernel's log; dmesg_since
# prints what the kernel logged after it. (Counting lines does not do:
# once the ring buffer is full, late in a whole lab run, they shift.)
dmesg_mark() { MARK="lab-mark-$(date +%s%N)"; echo "$MARK" >/dev/kmsg; }
dmesg_since() { dmesg | awk -v m="$MARK" 'seen { print } index($0, m) { seen = 1 }'; }
# reconcile: asks the console for a reconcile; prints its job when done.
reconcile() { wait_job "$(api_ok POST /api/v1/reconcile | jq .job_id)"; }
logged_in() { initiator sessions | awk -v t="$1" '$1 == t && $4 == "LOGGED_IN"' | wc -l; }

# Nothing of LIO loaded, as after a boot: the console loads what it needs.
# Where the core module stays (something of an earlier scenario holds
# it), its backstore modules are loaded back: the kernel asks for them
# only once, when the first HBA is made after the core module loads.
modprobe -r iscsi_target_mod target_core_iblock target_core_user tcm_loop target_core_file \
  target_core_pscsi target_core_mod 2>/dev/null || true
if grep -q '^target_core_mod ' /proc/modules; then
  modprobe -a target_core_iblock target_core_user target_core_file target_core_pscsi
  say "LIO's core module stays loaded: $(grep '^target_core_mod ' /proc/modules)"
else
  say "LIO is not loaded"
fi

console_start
pools_teardown
volumes_teardown
ours='[.[] | select(.serial | startswith("BAYSA"))]'
wait_until "the console shows the 3 SATA disks, healthy" 120 is 3 drives "$ours | map(select(.health == \"healthy\")) | length"
create r5 '{"name":"r5","level":"raid5","drives":["BAYSA0001","BAYSA0002","BAYSA0003"],"write_hole":"none"}'
wait_until "r5 resynced (sysfs sync_action idle)" 240 is idle md r5 sync_action

# ---- a thick and a thin volume -----------------------------------------------
job_ok "thick volume db" POST /api/v1/volumes '{"name":"db","pool":"r5","size":"32 MiB"}'
job_ok "thin volume vm" POST /api/v1/volumes '{"name":"vm","pool":"r5","size":"32 MiB","thin":true}'
expect_eq "db's size (lvs)" "$(lv db lv_size)" $((32 * MIB))
expect_match "db, a plain active volume (lvs lv_attr)" "$(lv db lv_attr)" '^-wi-a'
expect_eq "vm's size (lvs)" "$(lv vm lv_size)" $((32 * MIB))
expect_match "vm, a thin active volume (lvs lv_attr)" "$(lv vm lv_attr)" '^Vwi-a'
expect_eq "vm's thin pool (lvs pool_lv)" "$(lv vm pool_lv)" baystack_thin
for v in db vm; do
  dev="$(lv $v lv_kernel_major):$(lv $v lv_kernel_minor)"
  expect_eq "baystack-$v (dmsetup table)" "$(front_table $v)" "0 65536 linear $dev 0"
  expect_eq "baystack-$v live and writable (dmsetup info)" "$(dmsetup info -c --noheadings -o attr "baystack-$v" | tr -d ' ')" L--w
  expect_eq "baystack-$v's UUID (dmsetup info)" "$(dmsetup info -c --noheadings -o uuid "baystack-$v" | tr -d ' ')" "BAYSTACK-$v"
  [ -b "/dev/mapper/baystack-$v" ] || fail "udev made no /dev/mapper/baystack-$v: $(ls -l /dev/mapper)"
  say "ok: /dev/mapper/baystack-$v -> $(readlink -f "/dev/mapper/baystack-$v")"
  expect_eq "$v on the console" "$(api_ok GET "/api/v1/volumes/$v" | jq -r '.state + " " + .device')" "ready /dev/mapper/baystack-$v"
done
capture dmsetup-info.txt dmsetup info -c --noheadings --separator : -o attr,open,name >/dev/null
capture dmsetup-table.txt dmsetup table >/dev/null
capture lvs.json lvm lvs -a --reportformat json --units b --nosuffix -o \
  lv_name,vg_name,lv_uuid,lv_size,lv_attr,lv_layout,lv_role,pool_lv,origin,data_percent,metadata_percent,lv_active,lv_path,lv_health_status,lv_kernel_major,lv_kernel_minor r5 >/dev/null

# ---- the thick one exported: an ACL of two names, CHAP -----------------------
body=$(jq -cn --arg a "$PEER1" --arg b "$PEER2" --arg s "$SECRET" '{initiators: [$a, $b], chap: {user: "peer", secret: $s}}')
job_ok "db exported" POST /api/v1/volumes/db/export "$body"
expect_eq "LIO's core module, loaded by the console" "$(grep -c '^target_core_mod ' /proc/modules)" 1
db=$(api_ok GET /api/v1/targets | jq -c '.[] | select(.volume == "db")')
IQN=$(jq -r .iqn <<<"$db") SERIAL=$(jq -r .serial <<<"$db") WWN=$(jq -r .wwn <<<"$db")
T=$CFS/iscsi/$IQN/tpgt_1
[ -d "$T" ] || fail "no $T: $(ls "$CFS/iscsi" 2>&1)"
B=$(link_in "$T/lun/lun_0")
say "db: $IQN, LUN 0 on $B"
expect_eq "db's TPG enabled (configfs)" "$(cat "$T/enable")" 1
expect_eq "db's portals (configfs np)" "$(ls "$T/np")" 0.0.0.0:3260
expect_eq "db's alias (configfs)" "$(cat "$T/param/TargetAlias")" db
expect_eq "db's ACLs (configfs)" "$(ls "$T/acls" | paste -sd' ')" "$PEER1 $PEER2"
expect_eq "db: only ACLs (generate_node_acls)" "$(cat "$T/attrib/generate_node_acls")" 0
expect_eq "db: CHAP required (authentication)" "$(cat "$T/attrib/authentication")" 1
expect_eq "the CHAP user in $PEER2's ACL" "$(cat "$T/acls/$PEER2/auth/userid")" peer
[ "$(cat "$T/acls/$PEER1/auth/password")" == "$SECRET" ] || fail "$PEER1's ACL does not hold the CHAP secret"
expect_eq "$PEER1's ACL maps LUN 0" "$(basename "$(link_in "$T/acls/$PEER1/lun_0")")" lun_0
expect_eq "db's backstore device (configfs udev_path)" "$(cat "$B/udev_path")" /dev/mapper/baystack-db
expect_eq "db's backstore enabled" "$(cat "$B/enable")" 1
expect_eq "db's unit serial (configfs)" "$(capture vpd-unit-serial.txt cat "$B/wwn/vpd_unit_serial")" "T10 VPD Unit Serial Number: $SERIAL"
expect_eq "db: no UNMAP advertised (thick)" "$(cat "$B/attrib/emulate_tpu")" 0
capture acl-info-no-session.txt cat "$T/acls/$PEER1/info" >/dev/null
expect_eq "the front device held by LIO (dmsetup open count)" "$(dmsetup info -c --noheadings -o open baystack-db | tr -d ' ')" 1

# An emulated JBOD: its loopback targets and user backstores are not
# Baystack's and must come out of everything below untouched.
ses_up no-aes
foreign() {
  find "$CFS/loopback" "$CFS"/core/user_* -maxdepth 3 | LC_ALL=C sort
  cat "$CFS"/loopback/*/tpgt_1/nexus "$CFS"/core/user_*/*/enable
  kernel_serials
}
foreign >"$SCN/foreign.before"
say "the JBOD's objects: $(grep -c . "$SCN/foreign.before") lines"

# ---- the peer's initiator: refused, then logged in ---------------------------
wait_until "the peer guest answers" 240 curl -fsS --max-time 2 -X POST "http://$PEER_IP:7070/run" --data '{"argv":["true"]}'
initiator up "$PEER1"
initiator iface second "$PEER2"
initiator iface intruder "$INTRUDER"
found=$(peer iscsiadm -m discovery -t sendtargets -p "$MAIN_IP" -I default -I second)
expect_match "the peer's discovery" "$found" "$MAIN_IP:3260,1 $IQN"
node_set "$IQN" default node.session.auth.authmethod CHAP node.session.auth.username peer \
  node.session.auth.password wrong-secret-17
dmesg_mark
rc=0
out=$(login "$IQN" default) || rc=$?
echo "$out" >"$CAP/iscsiadm-wrong-secret.txt"
expect_eq "iscsiadm's exit status, a wrong CHAP secret" "$rc" 24
expect_match "iscsiadm's words, a wrong CHAP secret" "$out" "authorization failure"
say "the kernel said: $(dmesg_since | tr '\n' '|')"
dmesg_since >"$CAP/dmesg-wrong-secret.txt"
peer iscsiadm -m node -o new -T "$IQN" -p "$MAIN_IP:3260" -I intruder >/dev/null
node_set "$IQN" intruder node.session.auth.authmethod CHAP node.session.auth.username peer \
  node.session.auth.password "$SECRET"
dmesg_mark
rc=0
out=$(login "$IQN" intruder) || rc=$?
echo "$out" >"$CAP/iscsiadm-not-in-acl.txt"
expect_eq "iscsiadm's exit status, an initiator not in the ACL" "$rc" 24
expect_match "iscsiadm's words, an initiator not in the ACL" "$out" "authorization failure"
expect_match "the kernel's words, an initiator not in the ACL" "$(dmesg_since)" \
  "$INTRUDER is not authorized to access iSCSI target portal group: 1"
dmesg_since >"$CAP/dmesg-not-in-acl.txt"
expect_eq "no session from the refused logins (configfs ACL info)" "$(cat "$T"/acls/*/info | grep -c 'Session State' || true)" 0

node_set "$IQN" default node.session.auth.password "$SECRET"
node_set "$IQN" second node.session.auth.authmethod CHAP node.session.auth.username peer \
  node.session.auth.password "$SECRET"
peer iscsiadm -m node -T "$IQN" -p "$MAIN_IP" -I default --login >/dev/null
peer iscsiadm -m node -T "$IQN" -p "$MAIN_IP" -I second --login >/dev/null
D1=$(initiator disk "$IQN" default) D2=$(initiator disk "$IQN" second)
say "the peer's disks: $D1 ($PEER1), $D2 ($PEER2)"
capture acl-info-logged-in.txt cat "$T/acls/$PEER1/info" >/dev/null
expect_match "$PEER1's session (configfs ACL info)" "$(cat "$T/acls/$PEER1/info")" "Session State: TARG_SESS_STATE_LOGGED_IN"
expect_match "$PEER1's address (configfs ACL info)" "$(cat "$T/acls/$PEER1/info")" "Address $PEER_IP "
sessions() { api_ok GET /api/v1/targets | jq -r --arg v "$1" '.[] | select(.volume == $v) | [.sessions[] | .initiator + "@" + (.address // "?")] | sort | join(" ")'; }
wait_until "the console shows db's two sessions" 30 is "$PEER2@$PEER_IP $PEER1@$PEER_IP" sessions db
page=$(curl -fsS -H "authorization: Bearer $TOKEN" "$URL/targets/db")
for want in "$IQN" "$PEER1" "$PEER_IP" "iscsiadm -m discovery"; do
  grep -qF "$want" <<<"$page" || fail "the target page does not show $want"
done
say "ok: the target page shows the sessions and the commands"
expect_eq "the peer's disk's WWN (sysfs wwid)" "$(peer cat "/sys/block/${D1#/dev/}/device/wwid")" "$WWN"
# Both sessions' disks have the WWN; udev's link leads to one of them.
expect_match "the peer's /dev/disk/by-id/wwn-0x link" "$(peer readlink -f "/dev/disk/by-id/wwn-0x${WWN#naa.}")" "^($D1|$D2)\$"
capture sg_inq-0x83.txt peer sg_inq -p 0x83 "$D1" >/dev/null
expect_eq "the peer's disk's size" "$(peer blockdev --getsize64 "$D1")" $((32 * MIB))

# A pattern written by the peer, read back there and on the main guest.
peer bash -c "head -c $((4 * MIB)) /dev/urandom >/tmp/pattern; dd if=/tmp/pattern of=$D1 bs=1M seek=1 oflag=direct conv=fsync status=none"
sum=$(peer bash -c 'md5sum </tmp/pattern' | cut -d' ' -f1)
expect_eq "the pattern, read back by the peer" "$(peer bash -c "dd if=$D1 bs=1M skip=1 count=4 iflag=direct status=none | md5sum" | cut -d' ' -f1)" "$sum"
expect_eq "the pattern, on the front device" "$(dd if=/dev/mapper/baystack-db bs=1M skip=1 count=4 iflag=direct status=none | md5sum | cut -d' ' -f1)" "$sum"
expect_eq "the pattern, on the logical volume" "$(dd if=/dev/r5/db bs=1M skip=1 count=4 iflag=direct status=none | md5sum | cut -d' ' -f1)" "$sum"

# ---- a persistent reservation holds against the second initiator -------------
peer sg_persist --out --register --param-sark=0xabc1 "$D1" >/dev/null
peer sg_persist --out --register --param-sark=0xabc2 "$D2" >/dev/null
peer sg_persist --out --reserve --param-rk=0xabc1 --prout-type=1 "$D1" >/dev/null
res=$(capture sg_persist-read-reservation.txt peer sg_persist --in --read-reservation "$D2")
expect_match "the reservation, as the second initiator reads it" "$res" "Key=0xabc1"
expect_match "its type" "$res" "type: Write Exclusive"
expect_match "the registered keys" "$(peer sg_persist --in --read-keys "$D2" | tr '\n' ' ')" "0xabc1 +0xabc2"
capture pr-res-holder.txt cat "$B/pr/res_holder" >/dev/null
capture pr-res-pr-type.txt cat "$B/pr/res_pr_type" >/dev/null
capture pr-registered.txt cat "$B/pr/res_pr_registered_i_pts" >/dev/null
expect_match "the holder (configfs pr/res_holder)" "$(cat "$B/pr/res_holder")" "$PEER1"
rc=0
out=$(peer_try sg_persist --out --reserve --param-rk=0xabc2 --prout-type=1 "$D2") || rc=$?
[ "$rc" != 0 ] || fail "the second initiator took the reservation: $out"
expect_match "the second initiator's reserve" "$out" "[Cc]onflict"
rc=0
out=$(peer_try dd if=/dev/zero of="$D2" bs=4k count=1 seek=2000 oflag=direct status=none) || rc=$?
[ "$rc" != 0 ] || fail "the second initiator wrote past the holder's reservation"
say "ok: the second initiator's write refused: $out"
peer dd if=/dev/zero of="$D1" bs=4k count=1 seek=2000 oflag=direct status=none

# ---- a reconcile while the peer writes ----------------------------------------
peer bash -c "head -c $((16 * MIB)) /dev/urandom >/tmp/stream; rm -f /tmp/writing /tmp/reconciled"
sessions_before=$(initiator sessions)
lio_sessions() { grep -h 'LIO Session ID' "$T"/acls/*/info | sort; }
lio_before=$(lio_sessions)
repairs() { api_ok GET /api/v1/audit | jq '[.[] | select(.action == "reconcile.repair")] | length'; }
repairs_before=$(repairs)
(PEER_TIMEOUT=240 initiator stream "$D1" /tmp/stream 8 /tmp/reconciled >"$SCN/writer.out" 2>&1) &
writer=$!
wait_until "the peer writing" 60 peer_try test -e /tmp/writing
job=$(reconcile)
expect_eq "the reconcile" "$(jq -r .state <<<"$job")" succeeded
say "the reconcile said: $(jq -c '[.steps[].detail]' <<<"$job")"
expect_eq "the reconcile's front devices" "$(jq -r '.steps[0].detail' <<<"$job")" "all 2 front devices were right"
expect_match "the reconcile's targets" "$(jq -r '.steps[1].detail' <<<"$job")" "^all 1 targets were right; nothing was written$"
expect_match "the reconcile's list of what is not Baystack's" "$(jq -r '.steps[2].detail' <<<"$job")" "loopback/naa\."
peer touch /tmp/reconciled
wait "$writer" || fail "the peer's writes through the reconcile failed: $(cat "$SCN/writer.out")"
say "ok: the peer wrote $(cat "$SCN/writer.out") MiB while the reconcile ran"
expect_eq "every write, read back" "$(peer bash -c "dd if=$D1 bs=1M skip=8 count=16 iflag=direct status=none | md5sum" | cut -d' ' -f1)" \
  "$(peer bash -c 'md5sum </tmp/stream' | cut -d' ' -f1)"
expect_eq "the peer's sessions (iscsiadm -m session)" "$(initiator sessions)" "$sessions_before"
expect_eq "LIO's sessions (configfs ACL info)" "$(lio_sessions)" "$lio_before"
expect_eq "repairs in the audit log" "$(repairs)" "$repairs_before"
expect_match "the reservation after the reconcile" "$(cat "$B/pr/res_holder")" "$PEER1"

# ---- grown online, logged in -------------------------------------------------
job_ok "db grown to 48 MiB" POST /api/v1/volumes/db/resize '{"size":"48 MiB"}'
expect_eq "db's size (lvs)" "$(lv db lv_size)" $((48 * MIB))
expect_eq "baystack-db (dmsetup table)" "$(front_table db | cut -d' ' -f1-3)" "0 98304 linear"
peer iscsiadm -m session --rescan >/dev/null
wait_until "the peer sees 48 MiB after a rescan" 30 is $((48 * MIB)) peer blockdev --getsize64 "$D1"
expect_eq "the peer's sessions after the resize" "$(initiator sessions)" "$sessions_before"
peer sg_persist --out --release --param-rk=0xabc1 --prout-type=1 "$D1" >/dev/null
peer sg_persist --out --register --param-rk=0xabc1 "$D1" >/dev/null
peer sg_persist --out --register --param-rk=0xabc2 "$D2" >/dev/null
capture pr-res-holder-none.txt cat "$B/pr/res_holder" >/dev/null
expect_match "no reservation left (configfs)" "$(cat "$B/pr/res_holder")" "^No SPC-3 Reservation holder"

# ---- the thin one: open, CHAP and mutual CHAP, UNMAP, a snapshot -----------
body=$(jq -cn --arg s "$SECRET" --arg m "$MUTUAL" '{open: true, chap: {user: "peer", secret: $s}, mutual_chap: {user: "baystack", secret: $m}}')
job_ok "vm exported, open, with mutual CHAP" POST /api/v1/volumes/vm/export "$body"
IQN2=$(api_ok GET /api/v1/targets | jq -r '.[] | select(.volume == "vm") | .iqn')
T2=$CFS/iscsi/$IQN2/tpgt_1
B2=$(link_in "$T2/lun/lun_0")
expect_eq "vm: any initiator (generate_node_acls)" "$(cat "$T2/attrib/generate_node_acls")" 1
expect_eq "vm: CHAP required (authentication)" "$(cat "$T2/attrib/authentication")" 1
expect_eq "vm's CHAP users (configfs TPG auth)" "$(cat "$T2/auth/userid") $(cat "$T2/auth/userid_mutual")" "peer baystack"
expect_eq "vm: UNMAP advertised (emulate_tpu)" "$(cat "$B2/attrib/emulate_tpu")" 1
found=$(peer iscsiadm -m discovery -t sendtargets -p "$MAIN_IP" -I default)
expect_match "the peer's discovery" "$found" "$IQN2"
node_set "$IQN2" default node.session.auth.authmethod CHAP node.session.auth.username peer \
  node.session.auth.password "$SECRET" node.session.auth.username_in baystack \
  node.session.auth.password_in wrong-mutual-17
rc=0
out=$(login "$IQN2" default) || rc=$?
echo "$out" >"$CAP/iscsiadm-wrong-mutual.txt"
[ "$rc" != 0 ] || fail "the peer logged in to a target that did not prove itself: $out"
say "ok: the target's wrong mutual secret refused by the initiator (exit $rc): $(tr '\n' ' ' <<<"$out")"
node_set "$IQN2" default node.session.auth.password_in "$MUTUAL"
peer iscsiadm -m node -T "$IQN2" -p "$MAIN_IP" -I default --login >/dev/null
D3=$(initiator disk "$IQN2")
cat "$T2/dynamic_sessions" >"$CAP/dynamic-sessions.bin"
od -c "$T2/dynamic_sessions" >"$CAP/dynamic-sessions.od"
expect_match "vm's session (configfs dynamic_sessions)" "$(tr -d '\0' <"$T2/dynamic_sessions")" "$PEER1"
wait_until "the console shows vm's session" 30 is "$PEER1@?" sessions vm
expect_match "UNMAP on the peer's disk (discard_max_bytes)" "$(peer cat "/sys/block/${D3#/dev/}/queue/discard_max_bytes")" '^[1-9]'
peer bash -c "head -c $((2 * MIB)) /dev/urandom >/tmp/thin-a; head -c $((2 * MIB)) /dev/urandom >/tmp/thin-b"
peer dd if=/tmp/thin-a of="$D3" bs=1M oflag=direct conv=fsync status=none
sum_a=$(peer bash -c 'md5sum </tmp/thin-a' | cut -d' ' -f1)
used=$(lv vm data_percent)
peer blkdiscard -o $((16 * MIB)) -l $((4 * MIB)) "$D3"
say "ok: the peer's UNMAP was taken (vm $used% written before)"
job_ok "snapshot vm.s1" POST /api/v1/volumes/vm/snapshots '{"name":"s1"}'
expect_eq "vm.s1's origin (lvs)" "$(lv vm.s1 origin)" vm
expect_eq "the console's snapshots" "$(api_ok GET /api/v1/volumes/vm/snapshots | jq -r '[.[].name] | join(" ")')" s1
peer dd if=/tmp/thin-b of="$D3" bs=1M oflag=direct conv=fsync status=none
job_ok "vm unexported" DELETE /api/v1/volumes/vm/export
[ ! -e "$CFS/iscsi/$IQN2" ] || fail "$IQN2 is still in configfs"
job_ok "vm rolled back to s1" POST /api/v1/volumes/vm/snapshots/s1/rollback
expect_match "vm, active again (lvs lv_attr)" "$(lv vm lv_attr)" '^Vwi-a'
expect_eq "vm's contents, as when s1 was taken (front device)" "$(dd if=/dev/mapper/baystack-vm bs=1M count=2 iflag=direct status=none | md5sum | cut -d' ' -f1)" "$sum_a"
job_ok "snapshot s1 deleted" DELETE /api/v1/volumes/vm/snapshots/s1
lvs r5/vm.s1 >/dev/null 2>&1 && fail "lvs still lists vm.s1"
say "ok: lvs no longer lists vm.s1"

# ---- targets made by hand with targetcli, adopted ---------------------------
# One live, the peer logged in to it and writing: adopted, then reconciled,
# its session kept throughout. One only in targetcli's saved file: adopted,
# then made live by the reconcile, and the peer logs in to it.
HAND=iqn.2003-01.org.linux-iscsi.lab:hand SAVED=iqn.2003-01.org.linux-iscsi.lab:saved
targetcli set global auto_save_on_exit=false >/dev/null
on_teardown "rm -f /etc/rtslib-fb-target/saveconfig.json"
tcli() { targetcli "$@" >/dev/null || fail "targetcli $*"; }
by_hand() { # by_hand NAME IQN: a logical volume of r5 and its target, as an admin would make them
  local out
  out=$(lvm lvcreate --yes -L 4m -n "$1" r5 2>&1) || fail "lvcreate r5/$1: $out"
  tcli /backstores/block create "name=$1" "dev=/dev/r5/$1"
  tcli /iscsi create "$2"
  tcli "/iscsi/$2/tpg1/luns" create "/backstores/block/$1"
  tcli "/iscsi/$2/tpg1/acls" create "$PEER1"
  tcli "/iscsi/$2/tpg1/acls/$PEER1" set auth "userid=$1" "password=$SECRET"
  tcli "/iscsi/$2/tpg1" set attribute authentication=1
}
by_hand hand "$HAND"
by_hand saved "$SAVED"
tcli saveconfig
tcli /iscsi delete "$SAVED"
tcli /backstores/block delete saved
[ ! -e "$CFS/iscsi/$SAVED" ] || fail "$SAVED is still live"
peer iscsiadm -m discovery -t sendtargets -p "$MAIN_IP" -I default >/dev/null
node_set "$HAND" default node.session.auth.authmethod CHAP node.session.auth.username hand \
  node.session.auth.password "$SECRET"
peer iscsiadm -m node -T "$HAND" -p "$MAIN_IP" -I default --login >/dev/null
H1=$(initiator disk "$HAND" default)
peer dd if=/tmp/pattern of="$H1" bs=1M count=2 seek=1 oflag=direct conv=fsync status=none
hsum=$(peer bash -c "head -c $((2 * MIB)) /tmp/pattern | md5sum" | cut -d' ' -f1)
HT=$CFS/iscsi/$HAND/tpgt_1
hand_session() { initiator sessions | awk -v t="$HAND" '$1 == t'; }
hand_before=$(hand_session) hand_lio=$(grep -h 'LIO Session ID' "$HT"/acls/*/info)
expect_match "the peer's session to $HAND" "$hand_before" "LOGGED_IN"
targets_page_has() { curl -fsS -H "authorization: Bearer $TOKEN" "$URL/targets" | grep -qF "$1"; }
wait_until "the Targets page offers $HAND for adoption" 30 targets_page_has "$HAND"
job_ok "$HAND adopted" POST /api/v1/targets/adopt "{\"iqn\":\"$HAND\"}"
hand=$(api_ok GET /api/v1/volumes/hand)
expect_eq "the adopted volume's pool" "$(jq -r .pool <<<"$hand")" r5
expect_eq "the adopted volume's size" "$(jq -r .size <<<"$hand")" $((4 * MIB))
t=$(api_ok GET /api/v1/targets | jq -c --arg i "$HAND" '.[] | select(.iqn == $i)')
expect_eq "the adopted target's volume" "$(jq -r .volume <<<"$t")" hand
expect_eq "the adopted target's initiators" "$(jq -c .initiators <<<"$t")" "[\"$PEER1\"]"
expect_eq "the adopted target's serial, LIO's" "$(jq -r .serial <<<"$t")" "$(sed 's/.*: //' "$(link_in "$HT/lun/lun_0")/wwn/vpd_unit_serial")"
job=$(reconcile)
expect_eq "the reconcile after adopting" "$(jq -r .state <<<"$job")" succeeded
say "the reconcile said: $(jq -c '[.steps[].detail]' <<<"$job")"
expect_match "the reconcile's targets" "$(jq -r '.steps[1].detail' <<<"$job")" "^all [0-9]+ targets were right; nothing was written$"
expect_eq "the peer's session to $HAND after adoption and reconcile" "$(hand_session)" "$hand_before"
expect_eq "LIO's session of $HAND (configfs)" "$(grep -h 'LIO Session ID' "$HT"/acls/*/info)" "$hand_lio"
expect_eq "the pattern through $HAND" "$(peer bash -c "dd if=$H1 bs=1M skip=1 count=2 iflag=direct status=none | md5sum" | cut -d' ' -f1)" "$hsum"
say "ok: $HAND adopted with its session kept"

job_ok "$SAVED adopted from targetcli's saved file" POST /api/v1/targets/adopt "{\"iqn\":\"$SAVED\"}"
[ ! -e "$CFS/iscsi/$SAVED" ] || fail "the adoption made $SAVED live; it changes nothing"
job=$(reconcile)
say "the reconcile said: $(jq -c '[.steps[].detail]' <<<"$job")"
[ -d "$CFS/iscsi/$SAVED/tpgt_1" ] || fail "the reconcile did not make $SAVED"
expect_eq "$SAVED's backstore device" "$(cat "$(link_in "$CFS/iscsi/$SAVED/tpgt_1/lun/lun_0")/udev_path")" /dev/r5/saved
peer iscsiadm -m discovery -t sendtargets -p "$MAIN_IP" -I default >/dev/null
node_set "$SAVED" default node.session.auth.authmethod CHAP node.session.auth.username saved \
  node.session.auth.password "$SECRET"
peer iscsiadm -m node -T "$SAVED" -p "$MAIN_IP" -I default --login >/dev/null
S1=$(initiator disk "$SAVED" default)
expect_eq "the peer's disk on $SAVED" "$(peer blockdev --getsize64 "$S1")" $((4 * MIB))
peer iscsiadm -m node -T "$SAVED" -p "$MAIN_IP" -I default --logout >/dev/null
peer iscsiadm -m node -T "$HAND" -p "$MAIN_IP" -I default --logout >/dev/null
say "ok: $SAVED adopted from the saved file, made live, logged in to"

# ---- the kernel's words for what is held open --------------------------------
capture lvremove-in-use.txt lvm lvremove --yes r5/db >/dev/null || true
[ -s "$CAP/lvremove-in-use.txt.rc" ] || fail "lvremove removed db under its front device"
capture dmsetup-remove-busy.txt dmsetup remove baystack-db >/dev/null || true
[ -s "$CAP/dmsetup-remove-busy.txt.rc" ] || fail "dmsetup removed baystack-db while LIO held it"

# ---- unexport and delete ------------------------------------------------------
job_ok "db unexported" DELETE /api/v1/volumes/db/export
[ ! -e "$CFS/iscsi/$IQN" ] || fail "$IQN is still in configfs"
[ ! -e "$B" ] || fail "db's backstore $B is still in configfs"
wait_until "the peer's sessions to db ended" 60 is 0 logged_in "$IQN"
job_ok "hand unexported" DELETE /api/v1/volumes/hand/export
job_ok "saved unexported" DELETE /api/v1/volumes/saved/export
for v in db vm hand saved; do
  job_ok "$v deleted" DELETE "/api/v1/volumes/$v"
done
for v in db vm hand saved; do
  lvs "r5/$v" >/dev/null 2>&1 && fail "lvs still lists r5/$v"
  dmsetup info "baystack-$v" >/dev/null 2>&1 && fail "dmsetup still has baystack-$v"
done
say "ok: lvs and dmsetup no longer list db, vm, hand and saved"
expect_eq "volumes on the console" "$(api_ok GET /api/v1/volumes | jq length)" 0
foreign >"$SCN/foreign.after"
diff "$SCN/foreign.before" "$SCN/foreign.after" || fail "the JBOD's LIO objects changed"
say "ok: the JBOD's loopback targets and user backstores are as they were"
