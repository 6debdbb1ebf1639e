# A disk removed while the console runs (the kernel is told through sysfs,
# as when a drive is pulled from a hot-swap bay) is shown missing after
# the next observation; its return (a SCSI host rescan) is seen, as the
# same drive.
console_start
serial=BAYSA0003
dev=$(dev_of "$serial")
present() { is "$1" drives ".[] | select(.serial == \"$serial\") | .present"; }
wait_until "the console lists $serial ($dev) as present" 60 present true
# All of them, not only the one pulled: the count is checked after.
others=$(shelf -s length)
wait_until "the console has observed all $others shelf disks" 60 \
  is "$others" drives '[.[] | select(.present)] | length'
before=$(drives ".[] | select(.serial == \"$serial\")")

scsi=$(readlink -f "/sys/block/$dev/device")        # .../host2/target2:0:0/2:0:0:0
host=$(grep -o 'host[0-9]*' <<<"$scsi" | tail -1)
echo 1 >"/sys/block/$dev/device/delete"
wait_until "the kernel no longer has $dev" 30 test ! -e "/sys/block/$dev"
wait_until "the console shows $serial missing" 30 present false
# By serial, so that a failure says which drive is wrong; nothing else
# (no half-gone disk under its kernel name) is listed as present.
expect_eq "the other drives stay present" "$(drives '[.[] | select(.present) | .serial] | sort')" \
  "$(shelf -s "[.[].serial | select(. != \"$serial\")] | sort")"
expect_eq "and no drive was added" "$(drives length)" "$others"
missing=$(drives ".[] | select(.serial == \"$serial\")")
expect_eq "the missing drive keeps its record" "$(jq .id <<<"$missing")" "$(jq .id <<<"$before")"
page=$(curl -fsS -H "authorization: Bearer $TOKEN" "$URL/drives/$(jq .id <<<"$missing")")
expect_match "its page says it is gone" "$page" "[Mm]issing|not in the appliance|[Rr]emoved"

echo '- - -' >"/sys/class/scsi_host/$host/scan"
wait_until "the kernel sees $serial again" 30 dev_of "$serial"
udevadm settle
wait_until "the console shows $serial present again" 30 present true
back=$(drives ".[] | select(.serial == \"$serial\")")
expect_eq "it is the same drive to the console" "$(jq .id <<<"$back")" "$(jq .id <<<"$before")"
expect_eq "with its current kernel name" "$(jq -r .dev_name <<<"$back")" "$(dev_of "$serial")"
expect_eq "and its identity" "$(jq -r .ident <<<"$back")" "$(jq -r .ident <<<"$before")"
expect_eq "its return added no drive either" "$(drives length)" "$others"
