#!/bin/bash
# The lab inside a guest (started by /lab/script.sh).
#   runner.sh main [FILTER [SET]]
#                             every scenario (or those whose name matches
#                             FILTER), each on freshly wiped disks; SET is
#                             `scenarios` (the default) or `bench`, the
#                             benchmarks, which run the same way
#   runner.sh capture         guest/capture.sh: fresh fixtures for the parsers
#   runner.sh peer            the second guest: serves guest/peer-agent.py on
#                             the private link until the host writes /lab/stop
set -u
LAB=/lab
here=$LAB/lab/guest
role=$1 filter=${2:-} set=${3:-scenarios}
mkdir -p "$LAB/out"
echo "lab: $(hostname) up after $(cut -d' ' -f1 /proc/uptime) s of guest time"

if [ "$role" = peer ]; then
  ip=$(ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
  python3 "$here/peer-agent.py" "$ip" 7070 >"$LAB/out/peer-agent.log" 2>&1 &
  for _ in $(seq 1 3600); do [ -e "$LAB/stop" ] && break; sleep 1; done
  pkill -f '/lab/bin/baystack' || true
  exit 0
fi

if [ "$role" = capture ]; then
  exec bash "$here/capture.sh"
fi

# Every shelf disk present, empty and unclaimed, whatever the scenario
# before did to it.
fresh_disks() {
  local serial dev
  for h in /sys/class/scsi_host/host*/scan; do echo '- - -' >"$h" 2>/dev/null; done
  udevadm settle --timeout=30
  for serial in $(jq -r .serial "$LAB/shelf.json"); do
    dev=$(ls /dev/disk/by-id/ | grep -E "^(ata-.*_|virtio-)$serial\$" | head -1)
    if [ -z "$dev" ]; then echo "lab: shelf disk $serial is missing"; return 1; fi
    dev=$(readlink -f "/dev/disk/by-id/$dev")
    # discard=unmap on the host side: the blocks become holes and read as zeros.
    blkdiscard -f "$dev" 2>/dev/null || dd if=/dev/zero of="$dev" bs=1M oflag=direct status=none 2>/dev/null || true
    if [ "$(head -c 1048576 "$dev" | tr -d '\0' | wc -c)" != 0 ]; then
      echo "lab: shelf disk $serial ($dev) could not be wiped"; return 1
    fi
  done
}

# What scenarios may leave behind, put back.
after_scenario() {
  pkill -f '/lab/bin/baystack' 2>/dev/null
  # Emulated enclosures a scenario left (removed while the emulator still
  # answers their last commands).
  python3 "$here/../ses/enclosure.py" clean 2>/dev/null
  pkill -f 'ses/enclosure.py serve' 2>/dev/null
  udevadm settle
  # udev may still hold a scsi_debug disk open for a moment.
  for _ in $(seq 1 20); do
    grep -q '^scsi_debug ' /proc/modules || break
    modprobe -r scsi_debug 2>/dev/null || sleep 0.5
  done
  rm -rf /tmp/scenario
}

# The second half of a bounce (lab.sh boots the guest again on the same
# disks): SCENARIO.after, with what its first half left in $LAB/bounce.
if [ "$role" = bounce ]; then
  name=$(cat "$LAB/bounce/scenario")
  started=$(date +%s.%N)
  bash "$here/scenario.sh" "$here/../scenarios/$name.after" >"$LAB/out/$name.after.log" 2>&1
  rc=$?
  after_scenario
  secs=$(awk "BEGIN {printf \"%.1f\", $(date +%s.%N) - $started}")
  if [ $rc = 0 ]; then
    echo "lab: ok    $name.after ($secs s)"
    echo "$name.after ok $secs" >>"$LAB/out/results"
  else
    echo "lab: FAIL  $name.after ($secs s)"
    tail -n 15 "$LAB/out/$name.after.log" | sed 's/^/lab:       /'
    echo "$name.after FAIL $secs" >>"$LAB/out/results"
  fi
  dmesg >"$LAB/out/dmesg-bounce.txt"
  exit "$rc"
fi

: >"$LAB/out/results"
failed=0
for file in "$here/../$set"/*.sh; do
  name=$(basename "$file" .sh)
  [ -z "$filter" ] || [[ $name =~ $filter ]] || continue
  started=$(date +%s.%N)
  if ! fresh_disks >"$LAB/out/$name.log" 2>&1; then
    rc=1
  else
    bash "$here/scenario.sh" "$file" >>"$LAB/out/$name.log" 2>&1
    rc=$?
  fi
  after_scenario
  secs=$(awk "BEGIN {printf \"%.1f\", $(date +%s.%N) - $started}")
  if [ $rc = 0 ]; then
    echo "lab: ok    $name ($secs s)"
    echo "$name ok $secs" >>"$LAB/out/results"
  else
    failed=$((failed + 1))
    echo "lab: FAIL  $name ($secs s)"
    tail -n 15 "$LAB/out/$name.log" | sed 's/^/lab:       /'
    echo "$name FAIL $secs" >>"$LAB/out/results"
  fi
done
dmesg >"$LAB/out/dmesg.txt"
exit $((failed > 0))
