# A pool's drives on the real kernel, each step checked with mdadm, sysfs,
# lvm and the enclosure's own LEDs rather than the console's word: a member
# pulled (degraded, its bay lit); taken out and a new drive put in the same
# bay, rebuilt onto with progress seen while md works, the LED dark once
# clean; a hot spare taken over by md; mdadm --replace onto a free drive,
# redundancy kept throughout, and the drive it replaced re-qualified
# (zeroed, long self-test); raid5 grown by one drive with its volume group
# grown after; both pools deleted.
console_start '' 'smart_interval_minutes = 1'
ses_up pool20
pools_teardown
ours='[.[] | select(.serial | startswith("ZP00"))]'
wait_until "the console shows the 20 drives, healthy" 300 is 20 drives "$ours | map(select(.health == \"healthy\")) | length"
read -ra S <<<"$(drives -r "$ours | sort_by(.bay.slot) | [.[].serial] | join(\" \")")"
led() { ses_element pool20 "$(printf 'Slot%02d' "$1")" fault; }
mdd() { mdadm --detail "/dev/md/$1"; }
# sas_dev SERIAL: the kernel's name of an emulated drive.
sas_dev() { lsblk -dn -o NAME,SERIAL | awk -v s="$1" '$2 == s { print $1; exit }'; }
health() { is healthy drives -r ".[] | select(.serial == \"$1\") | .health"; }
# scribble NAME: writes past LVM's metadata, so md meets a pulled member.
scribble() { dd if=/dev/urandom of="/dev/md/$1" bs=64K seek=32 count=16 oflag=direct status=none || true; }

create r5 "{\"name\":\"r5\",\"level\":\"raid5\",\"drives\":[$(list "${S[@]:0:3}")],\"write_hole\":\"none\"}"
create r6 "{\"name\":\"r6\",\"level\":\"raid6\",\"drives\":[$(list "${S[@]:3:4}")],\"spares\":[\"${S[7]}\"],\"write_hole\":\"none\"}"
for name in r5 r6; do
  wait_until "$name resynced (sysfs sync_action idle)" 240 is idle md "$name" sync_action
  wait_until "the console shows $name clean" 60 is clean pool "$name" .state
done

# 1. A member pulled from its bay: md fails it, the pool is degraded, and
# the agent lights the bay it left.
ses_ctl '{"op":"pull","enclosure":"pool20","slot":0}'
udevadm settle
scribble r5
wait_until "md counts r5 degraded (sysfs degraded)" 60 is 1 md r5 degraded
wait_until "the console shows r5 degraded" 60 is "degraded true" pool r5 '.state + " " + (.degraded | tostring)'
wait_until "the agent lights Slot00's fault LED" 60 is true led 0
# /metrics and the alerts say what md says.
alert_of() {
  api_ok GET "/api/v1/alerts?state=active" |
    jq -r --arg r "$1" --arg s "$2" '[.[] | select(.rule == $r and .subject == $s) | .severity] | join(" ")'
}
curl -sS -H "authorization: Bearer $TOKEN" "$URL/metrics" >"$SCN/metrics.txt"
metric() { awk -v m="$1" 'index($0, m) == 1 {print $NF + 0; exit}' "$SCN/metrics.txt"; }
expect_eq "r5 degraded in /metrics" "$(metric 'baystack_pool_state{pool="r5",state="degraded"}')" 1
expect_eq "r5's degraded members in /metrics (sysfs degraded)" "$(metric 'baystack_pool_degraded_members{pool="r5"}')" "$(md r5 degraded)"
expect_eq "${S[0]} gone in /metrics (lsblk)" "$(metric "baystack_drive_present{serial=\"${S[0]}\"}")" "$(kernel_lacks "${S[0]}" >/dev/null && echo 0)"
wait_until "an alert says r5 is degraded" 30 is critical alert_of pool.degraded pool:r5
wait_until "an alert says ${S[0]} has gone from its bay" 30 is critical alert_of drive.missing "drive:${S[0]}"

# 2. Taken out; a new drive in the same bay is offered and rebuilt onto,
# slowly enough to see the progress; the LED goes dark once it is clean.
job_ok "r5: ${S[0]} taken out" POST /api/v1/pools/r5/replace "{\"drive\":\"${S[0]}\"}"
expect_eq "r5's members (mdadm)" "$(mdd r5 | grep -c 'active sync')" 2
expect_eq "Slot00 still lit" "$(led 0)" true
md_slow
ses_ctl '{"op":"insert","enclosure":"pool20","slot":0,"drive":{"model":"ST4000NM0025","serial":"ZP000100","sas_address":"5000c500d0c30101","size":"20M"}}'
udevadm settle
wait_until "the kernel has ZP000100" 30 kernel_has ZP000100
wait_until "the console finds ZP000100 healthy" 150 health ZP000100
expect_eq "Slot00 lit until the pool is clean" "$(led 0)" true
job_ok "r5 rebuilt onto ZP000100" POST /api/v1/pools/r5/replace "{\"drive\":\"${S[0]}\",\"with\":\"ZP000100\"}"
wait_until "md rebuilds r5 (sysfs sync_action recover)" 30 is recover md r5 sync_action
wait_until "the console shows the rebuild with its progress" 30 is "recovering true" \
  pool r5 '.state + " " + ((.progress.percent | type == "number") and (.progress.seconds_left | type == "number") | tostring)'
say "ok: r5 at $(pool r5 .progress.percent)%, $(pool r5 .progress.seconds_left) s left"
expect_eq "Slot00 lit while it rebuilds" "$(led 0)" true
md_fast
wait_until "r5 rebuilt (sysfs degraded 0, idle)" 120 is "0 idle" bash -c "echo \$(cat /sys/block/\$(basename \$(readlink -f /dev/md/r5))/md/{degraded,sync_action})"
wait_until "the console shows r5 clean" 60 is clean pool r5 .state
wait_until "the alerts say r5 is clean again" 30 is info alert_of pool.rebuilt pool:r5
expect_eq "r5's degraded alert cleared" "$(alert_of pool.degraded pool:r5)" ""
expect_eq "ZP000100's role on the console" "$(pool r5 '.members[] | select(.serial == "ZP000100") | .role')" active
wait_until "the agent darkens Slot00's fault LED" 60 is false led 0

# 3. A hot spare taken over by md itself when a member leaves.
ses_ctl '{"op":"pull","enclosure":"pool20","slot":3}'
udevadm settle
scribble r6
wait_until "md rebuilds r6 onto its spare, then is clean" 120 is "0 idle" bash -c "echo \$(cat /sys/block/\$(basename \$(readlink -f /dev/md/r6))/md/{degraded,sync_action})"
expect_match "${S[7]} in a slot (mdadm)" "$(mdd r6 | grep "/dev/$(sas_dev "${S[7]}")\$")" 'active sync'
wait_until "the console shows ${S[7]} active, no spare left" 60 is "active 0" \
  pool r6 "(.members[] | select(.serial == \"${S[7]}\") | .role) + \" \" + (.spares | length | tostring)"
job_ok "r6: the pulled ${S[3]} taken out" POST /api/v1/pools/r6/replace "{\"drive\":\"${S[3]}\"}"
wait_until "Slot03 dark: the pool is clean and the drive gone" 60 is false led 3

# 4. mdadm --replace onto a free drive: the old member stays in until the
# new one holds its place, so the array is never degraded.
md_slow
job_ok "r6: ${S[4]} replaced by ${S[8]}" POST /api/v1/pools/r6/replace "{\"drive\":\"${S[4]}\",\"with\":\"${S[8]}\"}"
replacing() { grep -q replacement "/sys/block/$(basename "$(readlink -f /dev/md/r6)")/md/dev-$(sas_dev "${S[8]}")/state"; }
wait_until "md rebuilds onto the replacement (sysfs state)" 30 replacing
wait_until "the console shows ${S[8]} as the replacement" 30 is replacement pool r6 ".members[] | select(.serial == \"${S[8]}\") | .role"
for _ in 1 2 3; do
  expect_eq "r6 not degraded while it is replaced (sysfs)" "$(md r6 degraded)" 0
  sleep 1
done
md_fast
wait_until "md marks ${S[4]} faulty once replaced" 120 bash -c "mdadm --detail /dev/md/r6 | grep -q faulty"
wait_until "the console shows ${S[4]} faulty" 60 is faulty pool r6 ".members[] | select(.serial == \"${S[4]}\") | .role"
wait_until "the agent lights Slot04, the replaced drive's bay" 60 is true led 4
job_ok "r6: ${S[4]} taken out" POST /api/v1/pools/r6/replace "{\"drive\":\"${S[4]}\"}"
expect_eq "r6 has no faulty member (mdadm)" "$(mdd r6 | grep -c faulty || true)" 0
expect_eq "${S[4]}'s md superblock cleared" "$(mdadm --examine "/dev/$(sas_dev "${S[4]}")" >/dev/null 2>&1 && echo still || echo gone)" gone
expect_eq "Slot04 lit while ${S[4]} sits in it" "$(led 4)" true
# The drive taken out is re-qualified: zeroes end to end, then a long
# self-test; both pass, so it can be a spare again.
id4=$(drives -r ".[] | select(.serial == \"${S[4]}\") | .id")
head -c 1048576 /dev/urandom | dd of="/dev/$(sas_dev "${S[4]}")" bs=1M seek=7 oflag=direct status=none
job_ok "${S[4]} re-qualified" POST "/api/v1/drives/$id4/requalify" '{}'
cmp -n $((20 << 20)) "/dev/$(sas_dev "${S[4]}")" /dev/zero || fail "${S[4]} is not zero end to end"
say "ok: ${S[4]} reads as zeroes end to end"
expect_match "${S[4]}'s verdict" "$(api_ok GET "/drives/$id4" | grep -o 'Re-qualified[^<]*')" 'passed: zeroed end to end'
ses_ctl '{"op":"pull","enclosure":"pool20","slot":4}'
wait_until "Slot04 dark once ${S[4]} is pulled" 60 is false led 4

# 5. raid5 grown by one drive: md reshapes, then the agent grows the
# physical volume and the volume group with it.
before=$(vgs --noheadings --units b --nosuffix -o vg_size r5 | tr -d ' ')
job_ok "r5 grown by ${S[9]}" POST /api/v1/pools/r5/grow "{\"drives\":[\"${S[9]}\"]}"
wait_until "r5 reshaped to 4 devices (sysfs)" 240 is "4 idle" bash -c "echo \$(cat /sys/block/\$(basename \$(readlink -f /dev/md/r5))/md/{raid_disks,sync_action})"
grown() { [ "$(vgs --noheadings --units b --nosuffix -o vg_size r5 | tr -d ' ')" -gt $((before * 4 / 3)) ]; }
wait_until "the volume group r5 grown (vgs)" 120 grown
wait_until "the console shows r5's new size" 60 is "$(vgs --noheadings --units b --nosuffix -o vg_size r5 | tr -d ' ')" pool r5 .capacity.size_bytes

# 6. Deleted: the array stopped, every member's superblock and the line in
# mdadm.conf gone, the drives free again.
uuid=$(pool r6 .uuid)
job_ok "r6 deleted" DELETE /api/v1/pools/r6 '{"confirm":"r6"}'
[ ! -e /dev/md/r6 ] || fail "/dev/md/r6 still exists"
! grep -q "$uuid" /etc/mdadm/mdadm.conf || fail "r6 is still in mdadm.conf"
! vgs r6 >/dev/null 2>&1 || fail "the volume group r6 still exists"
if mdadm --examine --scan 2>/dev/null | grep -q "$uuid"; then fail "a drive still carries r6's superblock"; fi
expect_eq "the console knows r6 no more" "$(api GET /api/v1/pools/r6 >/dev/null; api_status)" 404
job_ok "r5 deleted" DELETE /api/v1/pools/r5 '{"confirm":"r5"}'
expect_eq "md arrays left" "$(ls /dev/md 2>/dev/null | wc -l)" 0
