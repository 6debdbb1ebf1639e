# Inventory: GET /api/v1/drives lists exactly the guest's disks, with the
# models and serials qemu was given, sizes equal to the bytes given, the
# right transport and stable /dev/disk/by-id names; SMART is healthy on the
# SATA disks and "not available", with the reason, on the virtio ones.
console_start
wait_until "the console has observed all $(shelf -s length) shelf disks" 60 \
  is "$(shelf -s length)" drives '[.[] | select(.present)] | length'
listed=$(drives '[.[] | select(.present) | .serial] | sort')
expect_eq "the serials listed" "$listed" "$(shelf -s '[.[].serial] | sort')"

for serial in $(shelf -r .serial); do
  want=$(shelf "select(.serial == \"$serial\")")
  got=$(drives ".[] | select(.serial == \"$serial\")")
  bus=$(jq -r .bus <<<"$want")
  dev=$(dev_of "$serial")
  expect_eq "$serial: size in bytes" "$(jq .size_bytes <<<"$got")" "$(jq .size_bytes <<<"$want")"
  expect_eq "$serial: size the kernel gives" "$(jq .size_bytes <<<"$got")" "$(blockdev --getsize64 "/dev/$dev")"
  expect_eq "$serial: transport" "$(jq -r .transport <<<"$got")" "$bus"
  expect_eq "$serial: device name" "$(jq -r .dev_name <<<"$got")" "$dev"
  by_id=$(jq -r .by_id <<<"$got")
  expect_eq "$serial: /dev/disk/by-id/$by_id leads to it" "$(basename "$(readlink -f "/dev/disk/by-id/$by_id")")" "$dev"
  wwn=$(jq -r .wwn <<<"$want")
  case $bus in
    sata)
      expect_eq "$serial: model" "$(jq -r .model <<<"$got")" "$(jq -r .model <<<"$want")"
      expect_eq "$serial: by-id name" "$by_id" "ata-$(jq -r '.model | gsub(" "; "_")' <<<"$want")_$serial"
      if [ "$wwn" = null ]; then
        expect_eq "$serial: identity" "$(jq -r .ident <<<"$got")" "serial:$serial"
      else
        expect_eq "$serial: WWN" "$(jq -r .wwn <<<"$got")" "$wwn"
        expect_eq "$serial: identity" "$(jq -r .ident <<<"$got")" "wwn:$wwn"
      fi ;;
    virtio)
      expect_eq "$serial: by-id name" "$by_id" "virtio-$serial"
      expect_eq "$serial: identity" "$(jq -r .ident <<<"$got")" "serial:$serial" ;;
  esac
done

# The SMART poller reads every drive a few seconds after the start.
wait_until "every drive has a SMART verdict" 90 \
  is "$(shelf -s length)" drives '[.[] | select(.present and .health_reason != "SMART not read yet")] | length'
for serial in $(shelf -r 'select(.bus == "sata") | .serial'); do
  got=$(drives ".[] | select(.serial == \"$serial\")")
  expect_eq "$serial: SMART verdict" "$(jq -r .health <<<"$got")" healthy
  # What smartctl itself says of the same disk.
  expect_eq "$serial: smartctl's own health check" "$(smartctl -j -H "/dev/$(dev_of "$serial")" | jq .smart_status.passed)" true
  detail=$(api_ok GET "/api/v1/drives/$(jq .id <<<"$got")")
  expect_eq "$serial: temperature as smartctl reads it" "$(jq .smart.temperature_c <<<"$detail")" \
    "$(smartctl -j -A "/dev/$(dev_of "$serial")" | jq '.temperature.current // null')"
done
for serial in $(shelf -r 'select(.bus == "virtio") | .serial'); do
  got=$(drives ".[] | select(.serial == \"$serial\")")
  expect_eq "$serial: SMART verdict" "$(jq -r .health <<<"$got")" unknown
  expect_match "$serial: the reason" "$(jq -r .health_reason <<<"$got")" "^SMART not available: .*Unable to detect device type"
done
