# Pools on the real kernel, each checked with mdadm, sysfs and lvm rather
# than the console's word: raid1; raid5 with a mirrored write journal;
# raid5 with a partial parity log; raid6 with a hot spare; raid10. Every
# array runs under its pool's name, is recorded by UUID in mdadm.conf,
# carries a volume group of the pool's name, resyncs to clean, and the
# console shows it so with each member in its bay, and /metrics too.
console_start
ses_up pool20
pools_teardown
E=0x500304801f3c0a00
ours='[.[] | select(.serial | startswith("ZP00"))]'
wait_until "the console shows the 20 drives, healthy" 300 is 20 drives "$ours | map(select(.health == \"healthy\")) | length"
read -ra S <<<"$(drives -r "$ours | sort_by(.bay.slot) | [.[].serial] | join(\" \")")"

create r1 "{\"name\":\"r1\",\"level\":\"raid1\",\"drives\":[$(list "${S[@]:0:2}")],\"write_hole\":\"none\"}"
create r5j "{\"name\":\"r5j\",\"level\":\"raid5\",\"drives\":[$(list "${S[@]:2:3}")],\"write_hole\":\"journal\",\"journal_drives\":[$(list "${S[@]:5:2}")]}"
create r5p "{\"name\":\"r5p\",\"level\":\"raid5\",\"drives\":[$(list "${S[@]:7:3}")],\"write_hole\":\"ppl\",\"chunk_kib\":64}"
create r6 "{\"name\":\"r6\",\"level\":\"raid6\",\"drives\":[$(list "${S[@]:10:4}")],\"spares\":[\"${S[14]}\"],\"write_hole\":\"none\"}"
create r10 "{\"name\":\"r10\",\"level\":\"raid10\",\"drives\":[$(list "${S[@]:15:4}")],\"write_hole\":\"none\"}"

# The kernel's word for each.
for p in r1:raid1 r5j:raid5 r5p:raid5 r6:raid6 r10:raid10; do
  name=${p%%:*} level=${p##*:}
  expect_eq "$name's level (sysfs)" "$(md "$name" level)" "$level"
  uuid=$(mdadm --detail --export "/dev/md/$name" | sed -n 's/^MD_UUID=//p')
  expect_eq "$name's UUID as the console recorded it" "$(pool "$name" .uuid)" "$uuid"
  grep -q "^ARRAY /dev/md/$name .*UUID=$uuid" /etc/mdadm/mdadm.conf || fail "$name is not in mdadm.conf: $(cat /etc/mdadm/mdadm.conf)"
  expect_eq "$name's volume group (vgs)" "$(vgs --noheadings -o vg_name "$name" | tr -d ' ')" "$name"
  wait_until "$name resynced (sysfs sync_action idle)" 240 is idle md "$name" sync_action
done
expect_eq "r1's members (sysfs raid_disks)" "$(md r1 raid_disks)" 2
expect_eq "r5j's consistency policy" "$(md r5j consistency_policy)" journal
expect_eq "r5j's journal, a raid1 of its own" "$(mdadm --detail --export /dev/md/r5j-journal | sed -n 's/^MD_LEVEL=//p')" raid1
expect_eq "r5p's consistency policy" "$(md r5p consistency_policy)" ppl
expect_eq "r5p's chunk" "$(md r5p chunk_size)" 65536
expect_eq "r6's spare (mdadm)" "$(mdadm --detail /dev/md/r6 | grep -c 'spare ')" 1
cache=$(md r6 stripe_cache_size)
((cache >= 256 && (cache & (cache - 1)) == 0)) || fail "r6's stripe cache is $cache pages, not a power of two from 256"
say "ok: r6's stripe cache is $cache pages"
expect_eq "r10's layout (mdadm)" "$(mdadm --detail /dev/md/r10 | sed -n 's/^ *Layout : //p')" near=2

# The console's word, once it has looked again.
for name in r1 r5j r5p r6 r10; do
  wait_until "the console shows $name clean" 60 is clean pool "$name" .state
done
expect_eq "r6's spare on the console" "$(pool r6 '.spares[0].serial + " " + .spares[0].role')" "${S[14]} spare"
expect_eq "r5j's write hole on the console" "$(pool r5j .write_hole)" journal
expect_match "r1's first member's bay" "$(pool r1 '.members[0].bay')" ', slot 0$'
size=$(vgs --noheadings --units b --nosuffix -o vg_size r6 | tr -d ' ')
expect_eq "r6's capacity (vgs)" "$(pool r6 .capacity.size_bytes)" "$size"

# /metrics says what the kernel says: each pool clean, its array's
# degraded count and its volume group's size; each of the 20 drives
# present with its verdict, and the members of each pool as many as md's
# raid_disks.
curl -sS -H "authorization: Bearer $TOKEN" "$URL/metrics" >"$SCN/metrics.txt"
metric() { awk -v m="$1" 'index($0, m) == 1 {print $NF; exit}' "$SCN/metrics.txt"; }
same_number() {
  awk -v a="$2" -v b="$3" 'BEGIN { exit !(a != "" && a + 0 == b + 0) }' ||
    fail "$1: /metrics says '$2', the kernel '$3'"
  say "ok: $1 = $3"
}
for name in r1 r5j r5p r6 r10; do
  same_number "$name clean in /metrics" "$(metric "baystack_pool_state{pool=\"$name\",state=\"clean\"}")" 1
  same_number "$name's degraded members in /metrics (sysfs degraded)" \
    "$(metric "baystack_pool_degraded_members{pool=\"$name\"}")" "$(md "$name" degraded)"
  same_number "$name's size in /metrics (vgs)" "$(metric "baystack_pool_size_bytes{pool=\"$name\"}")" \
    "$(vgs --noheadings --units b --nosuffix -o vg_size "$name" | tr -d ' ')"
  members=$(grep -c "^baystack_drive_info{.*pool=\"$name\",role=\"member\"} 1" "$SCN/metrics.txt")
  same_number "$name's members in /metrics (sysfs raid_disks)" "$members" "$(md "$name" raid_disks)"
done
for s in "${S[@]}"; do
  kernel_has "$s" >/dev/null || fail "the kernel does not list $s"
  same_number "$s present in /metrics (lsblk)" "$(metric "baystack_drive_present{serial=\"$s\"}")" 1
  same_number "$s healthy in /metrics" "$(metric "baystack_drive_health{serial=\"$s\",health=\"healthy\"}")" 1
done
grep -q '^# EOF' "$SCN/metrics.txt" || fail "/metrics did not end as OpenMetrics does"

# A scrub finds the stripes made not to match by writing under the array,
# into one member's data area, and the console keeps md's count.
member=$(mdadm --detail /dev/md/r1 | awk '/active sync/ {print $NF; exit}')
offset=$(mdadm --examine "$member" | sed -n 's/^ *Data Offset : \([0-9]*\) sectors.*/\1/p')
[ -n "$offset" ] || fail "no data offset for $member: $(mdadm --examine "$member")"
dd if=/dev/urandom of="$member" bs=4096 seek=$((offset / 8 + 64)) count=16 oflag=direct conv=notrunc status=none
job=$(api_ok POST /api/v1/pools/r1/scrub '{}' | jq .job_id)
expect_eq "the scrub job" "$(wait_job "$job" | jq -r .state)" succeeded
wait_until "the console keeps what the check found" 120 is true pool r1 '.last_scrub.finished_at != null'
found=$(pool r1 .last_scrub.mismatches)
expect_eq "the mismatches kept (sysfs mismatch_cnt)" "$found" "$(md r1 mismatch_cnt)"
((found > 0)) || fail "the check found no mismatch after 64 KiB were overwritten under r1"
say "ok: the check found $found mismatched sectors"
