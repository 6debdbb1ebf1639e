# A drive that starts to fail: a scsi_debug disk (SAS, by its VPD pages)
# reads healthy, then predicts its own failure (the TEST bit of its
# informational exceptions control page makes it report what a drive past
# a SMART threshold reports). The console's verdict moves to failing at its
# next SMART reading, with the drive's own words; smartctl agrees; the
# other drives stay healthy.
modprobe scsi_debug num_tgts=1 dev_size_mb=16
on_teardown 'udevadm settle'
udevadm settle
dev=$(lsscsi | awk '/scsi_debug/ {print $NF; exit}')
wwn=$(lsblk -dno WWN "$dev")
say "scsi_debug disk $dev, WWN $wwn"
console_start '' 'smart_interval_minutes = 1'
this() { drives -r ".[] | select(.wwn == \"$wwn\") | $1"; }
wait_until "the console reads $dev healthy" 60 is healthy this .health
id=$(this .id)
expect_eq "its transport" "$(this .transport)" other
expect_eq "its identity" "$(this .ident)" "wwn:$wwn"

sdparm -q --set=TEST=1,DEXCPT=0 "$dev"
expect_eq "smartctl's own health check now" "$(smartctl -j -H "$dev" | jq .smart_status.passed)" false
wait_until "the console's verdict on $dev is failing" 100 is failing this .health
expect_match "the reason, in the drive's words" "$(this .health_reason)" \
  "^the drive's own SMART health check failed: FAILURE PREDICTION THRESHOLD EXCEEDED \(FALSE\) \(asc 0x5d, ascq 0xff\)$"
detail=$(api_ok GET "/api/v1/drives/$id")
expect_eq "the reading before it" "$(jq -r '[.history[] | .health] | .[-1]' <<<"$detail")" healthy
expect_eq "the newest reading" "$(jq -r '.history[0].health' <<<"$detail")" failing
page=$(curl -fsS -H "authorization: Bearer $TOKEN" "$URL/drives/$id")
expect_match "the drive's page says why" "$page" "FAILURE PREDICTION THRESHOLD EXCEEDED"
for serial in $(shelf -r 'select(.bus == "sata") | .serial'); do
  expect_eq "$serial stays healthy" "$(drives -r ".[] | select(.serial == \"$serial\") | .health")" healthy
done
