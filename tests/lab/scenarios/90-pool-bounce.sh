# The first half of a bounce: a raid1 pool with a hot spare on the shelf's
# SATA disks, written to, with a volume on it exported to the peer guest,
# which writes a mark through iSCSI and takes a persistent reservation
# with APTPL (persist through power loss), then logs out; all of it left
# running as the guest powers off (no array stopped, no target taken
# down, as in a power cut). lab.sh boots the guest again on the same disks
# (the peer stays up) and runs 90-pool-bounce.after there: the pool, the
# volume and its target must come back by themselves. Keep this scenario
# last: the runner wipes the shelf's disks before each scenario.
PEER1=iqn.2024-01.lab.baystack:peer SECRET=lab-secret-0090
console_start
ours='[.[] | select(.serial | startswith("BAYSA"))]'
wait_until "the console shows the 3 SATA disks, healthy" 120 is 3 drives "$ours | map(select(.health == \"healthy\")) | length"
create r1 '{"name":"r1","level":"raid1","drives":["BAYSA0001","BAYSA0003"],"spares":["BAYSA0002"],"write_hole":"none"}'
wait_until "r1 resynced (sysfs sync_action idle)" 240 is idle md r1 sync_action
wait_until "the console shows r1 clean" 60 is clean pool r1 .state
# A mark at 48 MiB into the array: past LVM's metadata and the volume
# below (the first 16 MiB of extents), to read back after the bounce.
head -c 65536 /dev/urandom >"$SCN/mark"
dd if="$SCN/mark" of=/dev/md/r1 bs=64K seek=768 count=1 oflag=direct status=none
uuid=$(pool r1 .uuid)

# A volume exported to the peer with an ACL and CHAP; the peer writes a
# mark through it and reserves it with APTPL.
job_ok "thick volume keep" POST /api/v1/volumes '{"name":"keep","pool":"r1","size":"16 MiB"}'
body=$(jq -cn --arg a "$PEER1" --arg s "$SECRET" '{initiators: [$a], chap: {user: "peer", secret: $s}}')
job_ok "keep exported" POST /api/v1/volumes/keep/export "$body"
target=$(api_ok GET /api/v1/targets | jq -c '.[] | select(.volume == "keep") | {iqn, serial, wwn}')
IQN=$(jq -r .iqn <<<"$target")
B=$(link_in "$CFS/iscsi/$IQN/tpgt_1/lun/lun_0")
wait_until "the peer guest answers" 240 curl -fsS --max-time 2 -X POST "http://$PEER_IP:7070/run" --data '{"argv":["true"]}'
initiator up "$PEER1"
peer iscsiadm -m discovery -t sendtargets -p "$MAIN_IP" >/dev/null
for kv in authmethod=CHAP username=peer password="$SECRET"; do
  peer iscsiadm -m node -T "$IQN" -p "$MAIN_IP" -o update -n "node.session.auth.${kv%%=*}" -v "${kv#*=}" >/dev/null
done
peer iscsiadm -m node -T "$IQN" -p "$MAIN_IP" --login >/dev/null
D=$(initiator disk "$IQN")
peer bash -c "head -c 1048576 /dev/urandom >/tmp/bounce-mark; dd if=/tmp/bounce-mark of=$D bs=1M seek=2 oflag=direct conv=fsync status=none"
peer_mark=$(peer bash -c 'md5sum </tmp/bounce-mark' | cut -d' ' -f1)
peer sg_persist --out --register --param-sark=0xb0b0 --param-aptpl "$D" >/dev/null
peer sg_persist --out --reserve --param-rk=0xb0b0 --prout-type=1 "$D" >/dev/null
expect_match "the reservation (configfs pr/res_holder)" "$(cat "$B/pr/res_holder")" "$PEER1"
expect_match "APTPL (configfs pr/res_aptpl_active)" "$(cat "$B/pr/res_aptpl_active")" "Activated"
dbroot=$(cat "$CFS/dbroot")
serial=$(jq -r .serial <<<"$target")
[ -s "$dbroot/pr/aptpl_$serial" ] || fail "LIO saved no reservation in $dbroot/pr/aptpl_$serial: $(ls -la "$dbroot" "$dbroot/pr" 2>&1)"
mkdir -p "$LAB/out/$SCENARIO.captures"
cp "$dbroot/pr/aptpl_$serial" "$LAB/out/$SCENARIO.captures/aptpl.txt"
say "ok: LIO saved the reservation in $dbroot/pr/aptpl_$serial"
peer iscsiadm -m node -T "$IQN" -p "$MAIN_IP" --logout >/dev/null
kill "$(cat "$SCN/console/pid")"
for _ in $(seq 1 50); do kill -0 "$(cat "$SCN/console/pid")" 2>/dev/null || break; sleep 0.2; done
rm -rf "$LAB/bounce" && mkdir -p "$LAB/bounce"
cp -a "$SCN/console" "$LAB/bounce/console"
cp "$SCN/mark" "$LAB/bounce/mark"
cp /etc/mdadm/mdadm.conf "$LAB/bounce/mdadm.conf"
printf '%s' "$TOKEN" >"$LAB/bounce/token"
echo "$uuid" >"$LAB/bounce/uuid"
echo "$target" >"$LAB/bounce/target"
echo "$peer_mark" >"$LAB/bounce/peer-mark"
# The guest's root is an initramfs, lost at the bounce: LIO's saved
# reservations (<dbroot>/pr) are kept here and put back before the console
# starts. On an appliance they live on its root disk.
echo "$dbroot" >"$LAB/bounce/dbroot"
cp -a "$dbroot/pr" "$LAB/bounce/pr"
echo "$SCENARIO" >"$LAB/bounce/scenario"
touch "$LAB/bounce/ready"
say "ok: r1 left running for the bounce, UUID $(cat "$LAB/bounce/uuid")"
