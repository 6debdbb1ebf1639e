# An unreadable sector healed from redundancy on the real kernel: an
# emulated SAS member of a raid5 pool is given a bad LBA (reads of it fail
# with a medium error until it is written), a short self-test through the
# console reports it in the drive's self-test log, the agent repairs just
# the chunk that holds it, md rewrites the sector from parity, the drive
# reallocates it, and it reads again; the pool stays clean and the drive
# stays in. Checked with dd, sysfs, mdadm and the emulator's own state.
console_start '' 'smart_interval_minutes = 1'
ses_up pool20
pools_teardown
ours='[.[] | select(.serial | startswith("ZP00"))]'
wait_until "the console shows the 20 drives, healthy" 300 is 20 drives "$ours | map(select(.health == \"healthy\")) | length"
read -ra S <<<"$(drives -r "$ours | sort_by(.bay.slot) | [.[].serial] | join(\" \")")"
sas_dev() { lsblk -dn -o NAME,SERIAL | awk -v s="$1" '$2 == s { print $1; exit }'; }

create r5 "{\"name\":\"r5\",\"level\":\"raid5\",\"drives\":[$(list "${S[@]:0:3}")],\"write_hole\":\"none\"}"
wait_until "r5 resynced (sysfs sync_action idle)" 240 is idle md r5 sync_action
wait_until "the console shows r5 clean" 60 is clean pool r5 .state

# A sector in the second chunk of the member's data, under the array.
dev=$(sas_dev "${S[1]}")
offset=$(md r5 "dev-$dev/offset")
lba=$((offset + 1500))
ses_ctl "{\"op\":\"bad-lba\",\"serial\":\"${S[1]}\",\"lba\":$lba}"
id=$(drives -r ".[] | select(.serial == \"${S[1]}\") | .id")
job_ok "a short self-test of ${S[1]}" POST "/api/v1/drives/$id/selftest" '{"kind":"short"}'
self_test_lba() { api_ok GET "/api/v1/drives/$id" | jq -r '.smart.self_tests[0].lba'; }
wait_until "the console reads the failed self-test at sector $lba" 150 is "$lba" self_test_lba
healed() { api_ok GET "/api/v1/drives/$id" | jq -r '[.heals[0].healed, .heals[0].source] | join(" ")'; }
wait_until "the agent heals sector $lba" 120 is "true self-test" healed
job=$(api_ok GET "/api/v1/drives/$id" | jq -r .heals[0].job_id)
say "ok: the heal's steps: $(api_ok GET "/api/v1/jobs/$job" | jq -c '[.steps[].detail]')"

# The kernel's word and the drive's: the sector reads, and was reallocated.
dd if="/dev/$dev" of=/dev/null bs=512 skip="$lba" count=1 iflag=direct status=none ||
  fail "sector $lba of ${S[1]} still cannot be read"
expect_eq "the emulated drive's bad sectors" "$(ses_ctl "{\"op\":\"bad-lba\",\"serial\":\"${S[1]}\"}" | jq -c .bad_lbas)" '[]'
expect_eq "the sector it reallocated" "$(ses_ctl "{\"op\":\"bad-lba\",\"serial\":\"${S[1]}\"}" | jq -c .reallocated)" "[$lba]"
expect_eq "r5 not degraded (sysfs)" "$(md r5 degraded)" 0
expect_eq "r5 idle (sysfs)" "$(md r5 sync_action)" idle
expect_eq "${S[1]} still an active member (sysfs)" "$(md r5 "dev-$dev/state")" in_sync
expect_eq "r5 on the console" "$(pool r5 .state)" clean
expect_eq "${S[1]} on the console" "$(pool r5 ".members[] | select(.serial == \"${S[1]}\") | .role")" active
page=$(curl -sS -H "authorization: Bearer $TOKEN" "$URL/drives/$id")
grep -q "sector $lba rewritten from redundancy at" <<<"$page" || fail "the drive's page does not record the heal"
say "ok: the drive's page records sector $lba rewritten from redundancy"
