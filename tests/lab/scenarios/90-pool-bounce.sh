# The first half of a bounce: a raid1 pool with a hot spare on the shelf's
# SATA disks, written to, then left running as the guest powers off (no
# array stopped, as in a power cut). lab.sh boots the guest again on the
# same disks and runs 90-pool-bounce.after there: the pool must come back
# clean by itself. Keep this scenario last: the runner wipes the shelf's
# disks before each scenario.
console_start
ours='[.[] | select(.serial | startswith("BAYSA"))]'
wait_until "the console shows the 3 SATA disks, healthy" 120 is 3 drives "$ours | map(select(.health == \"healthy\")) | length"
create r1 '{"name":"r1","level":"raid1","drives":["BAYSA0001","BAYSA0003"],"spares":["BAYSA0002"],"write_hole":"none"}'
wait_until "r1 resynced (sysfs sync_action idle)" 240 is idle md r1 sync_action
wait_until "the console shows r1 clean" 60 is clean pool r1 .state
# A mark past LVM's metadata, to read back after the bounce.
head -c 65536 /dev/urandom >"$SCN/mark"
dd if="$SCN/mark" of=/dev/md/r1 bs=64K seek=64 count=1 oflag=direct status=none
uuid=$(pool r1 .uuid)
kill "$(cat "$SCN/console/pid")"
for _ in $(seq 1 50); do kill -0 "$(cat "$SCN/console/pid")" 2>/dev/null || break; sleep 0.2; done
rm -rf "$LAB/bounce" && mkdir -p "$LAB/bounce"
cp -a "$SCN/console" "$LAB/bounce/console"
cp "$SCN/mark" "$LAB/bounce/mark"
cp /etc/mdadm/mdadm.conf "$LAB/bounce/mdadm.conf"
printf '%s' "$TOKEN" >"$LAB/bounce/token"
echo "$uuid" >"$LAB/bounce/uuid"
echo "$SCENARIO" >"$LAB/bounce/scenario"
touch "$LAB/bounce/ready"
say "ok: r1 left running for the bounce, UUID $(cat "$LAB/bounce/uuid")"
