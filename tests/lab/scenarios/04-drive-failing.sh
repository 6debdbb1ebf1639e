# A drive that starts to fail, in the two ways the console watches for. A
# scsi_debug disk (SAS, by its VPD pages) reads healthy; a read of a bad
# sector fails with a medium error, which the kernel logs and the console
# counts against the drive at its next look (a warning, with the kernel's
# line kept); then the disk predicts its own failure (the TEST bit of its
# informational exceptions control page makes it report what a drive past
# a SMART threshold reports) and the verdict turns failing at the next
# SMART reading, in the drive's own words. dmesg and smartctl agree; the
# other drives stay healthy.
modprobe scsi_debug num_tgts=1 dev_size_mb=16 opts=2 medium_error_start=20000 medium_error_count=8
on_teardown 'udevadm settle'
udevadm settle
dev=$(lsscsi | awk '/scsi_debug/ {print $NF; exit}')
name=${dev#/dev/}
wwn=$(lsblk -dno WWN "$dev")
say "scsi_debug disk $dev, WWN $wwn"
console_start '' 'smart_interval_minutes = 1'
this() { drives -r ".[] | select(.wwn == \"$wwn\") | $1"; }
wait_until "the console reads $dev healthy" 60 is healthy this .health
id=$(this .id)
expect_eq "its transport" "$(this .transport)" other
expect_eq "its identity" "$(this .ident)" "wwn:$wwn"
expect_eq "no errors counted yet" "$(this '[.medium_errors, .io_errors] | @csv')" "0,0"

# A medium error.
if dd if="$dev" of=/dev/null bs=512 skip=20000 count=1 iflag=direct status=none 2>/dev/null; then
  fail "the read of sector 20000 did not fail"
fi
expect_eq "the kernel logged one medium error" "$(dmesg | grep -c "critical medium error, dev $name, sector 20000 ")" 1
wait_until "the console counts it against $dev" 30 is 1 this .medium_errors
expect_eq "its verdict" "$(this .health)" warning
expect_eq "the reason" "$(this .health_reason)" "the kernel logged 1 medium error on it"
expect_match "the kernel's line, kept" "$(this .last_io_error)" \
  "^critical medium error, dev $name, sector 20000 op 0x0:\(READ\)"
sleep 5
expect_eq "counted once, however often the console looks" "$(this '[.medium_errors, .io_errors] | @csv')" "1,0"

# The drive predicts its own failure.
sdparm -q --set=TEST=1,DEXCPT=0 "$dev"
expect_eq "smartctl's own health check now" "$(smartctl -j -H "$dev" | jq .smart_status.passed)" false
wait_until "the console's verdict on $dev is failing" 100 is failing this .health
expect_eq "the reason, in the drive's words" "$(this .health_reason)" \
  "the drive's own SMART health check failed: FAILURE PREDICTION THRESHOLD EXCEEDED (FALSE) (asc 0x5d, ascq 0xff); also the kernel logged 1 medium error on it"
detail=$(api_ok GET "/api/v1/drives/$id")
expect_eq "the reading before it" "$(jq -r '[.history[] | .health] | .[-1]' <<<"$detail")" healthy
expect_eq "the newest reading" "$(jq -r '.history[0].health' <<<"$detail")" failing
page=$(curl -fsS -H "authorization: Bearer $TOKEN" "$URL/drives/$id")
expect_match "the drive's page says why" "$page" "FAILURE PREDICTION THRESHOLD EXCEEDED"
expect_match "and shows the kernel's line" "$page" "1 medium, 0 other I/O since Baystack began watching it.*sector 20000"
for serial in $(shelf -r 'select(.bus == "sata") | .serial'); do
  expect_eq "$serial stays healthy" "$(drives -r ".[] | select(.serial == \"$serial\") | .health")" healthy
done
