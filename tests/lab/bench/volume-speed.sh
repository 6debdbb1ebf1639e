# What a volume's layers cost, measured the same way on each: the raw
# logical volume and its front device in the main guest, and the LUN from
# the peer guest over iSCSI (the private link). Sequential 1 MiB blocks
# with dd (32 MiB each way) and 4 KiB random with guest/randio.py (one
# process, queue depth 1, 3 s each way), all O_DIRECT, on a raid1 of the
# shelf's SATA disks; and what the private link itself allows (TCP round
# trip and throughput, guest/netbench.py). The figures go to the log, a
# line per case ("speed: ..."); nothing is asserted on them: under TCG
# they measure the emulation as much as the kernel, and a regression is
# read, not failed.
MIB=1048576
PEER1=iqn.2024-01.lab.baystack:peer
SELF=iqn.2024-01.lab.baystack:main-self
console_start
pools_teardown
volumes_teardown
ours='[.[] | select(.serial | startswith("BAYSA"))]'
wait_until "the console shows the 3 SATA disks, healthy" 120 is 3 drives "$ours | map(select(.health == \"healthy\")) | length"
create r1 '{"name":"r1","level":"raid1","drives":["BAYSA0002","BAYSA0003"],"write_hole":"none"}'
wait_until "r1 resynced (sysfs sync_action idle)" 240 is idle md r1 sync_action
job_ok "thick volume speed" POST /api/v1/volumes '{"name":"speed","pool":"r1","size":"64 MiB"}'
job_ok "speed exported" POST /api/v1/volumes/speed/export "{\"initiators\":[\"$PEER1\",\"$SELF\"]}"
IQN=$(api_ok GET /api/v1/targets | jq -r '.[] | select(.volume == "speed") | .iqn')
wait_until "the peer guest answers" 240 curl -fsS --max-time 2 -X POST "http://$PEER_IP:7070/run" --data '{"argv":["true"]}'
initiator up "$PEER1"
peer iscsiadm -m discovery -t sendtargets -p "$MAIN_IP" >/dev/null
peer iscsiadm -m node -T "$IQN" -p "$MAIN_IP" --login >/dev/null
LUN=$(initiator disk "$IQN")
# The main guest's own initiator, logged in over loopback.
local_initiator() { bash "$LAB/lab/guest/initiator.sh" "$@"; }
on_teardown 'local_initiator down >/dev/null 2>&1'
local_initiator up "$SELF"
iscsiadm -m discovery -t sendtargets -p 127.0.0.1 >/dev/null
iscsiadm -m node -T "$IQN" -p 127.0.0.1 --login >/dev/null
SELF_LUN=$(local_initiator disk "$IQN")

# on WHERE COMMAND...: runs COMMAND in the main guest or the peer.
on() {
  if [ "$1" = peer ]; then
    shift
    peer "$@"
  else
    shift
    "$@"
  fi
}
# seq WHERE DEVICE write|read: 32 MiB in 1 MiB blocks; prints MiB/s.
# dd says "33554432 bytes (34 MB, 32 MiB) copied, 0.5 s, 67 MB/s".
seq_io() {
  local args
  if [ "$3" = write ]; then
    args="if=/dev/zero of=$2 oflag=direct conv=fsync"
  else
    args="if=$2 of=/dev/null iflag=direct"
  fi
  on "$1" bash -c "dd $args bs=1M count=32 2>&1 >/dev/null" |
    awk '/copied/ { for (i = 1; i <= NF; i++) if ($i ~ /^s,?$/ || $i == "s,") secs = $(i - 1); printf "%.1f\n", $1 / secs / 1048576 }'
}
# rand WHERE DEVICE write|read: 3 s of 4 KiB random I/O; prints "IOPS MiB/s".
rand_io() { on "$1" python3 "$LAB/lab/guest/randio.py" "$2" "$3" 3 | cut -d' ' -f1-2; }
# What the link allows: TCP from the peer to the main guest.
python3 "$LAB/lab/guest/netbench.py" serve "$MAIN_IP" 7071 >"$SCN/netbench.out" 2>&1 &
on_teardown "kill $! 2>/dev/null"
wait_until "the link's bench listening" 30 grep -q ready "$SCN/netbench.out"
read -r rtt send recv <<<"$(PEER_TIMEOUT=120 peer python3 "$LAB/lab/guest/netbench.py" run "$MAIN_IP" 7071)"
say "$(printf 'speed: %-18s TCP round trip %6s ms, peer to main %s MiB/s, main to peer %s MiB/s' "the link" "$rtt" "$send" "$recv")"
# measure WHERE DEVICE: one round of the four figures, as four words:
# seq write and read MiB/s, rand write and read IOPS.
measure() {
  local dir mibs iops figs=()
  for dir in write read; do
    mibs=$(seq_io "$1" "$2" "$dir")
    [ -n "$mibs" ] || fail "no figure from dd on $2"
    figs+=("$mibs")
  done
  for dir in write read; do
    read -r iops mibs <<<"$(rand_io "$1" "$2" "$dir")"
    [ -n "$iops" ] || fail "no figure from randio.py on $2"
    figs+=("$iops")
  done
  echo "${figs[*]}"
}
# report WHAT ROUND...: each figure's median over the rounds (and, for
# more than one, every round's).
report() {
  local what=$1 i col line
  shift
  local labels=("seq write 1 MiB   MiB/s" "seq read  1 MiB   MiB/s" "rand write 4 KiB  IOPS " "rand read  4 KiB  IOPS ")
  for i in 1 2 3 4; do
    col=$(printf '%s\n' "$@" | cut -d' ' -f"$i")
    line=$(printf 'speed: %-18s %s %8s' "$what" "${labels[i - 1]}" \
      "$(sort -g <<<"$col" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')")
    [ $# -eq 1 ] || line+=" (rounds: $(paste -sd' ' <<<"$col"))"
    say "$line"
  done
}
started=$SECONDS
# The raw volume and its front device in turn, three rounds: under TCG one
# round's noise is larger than a linear map's cost.
raw=() front=()
for _ in 1 2 3; do
  raw+=("$(measure main /dev/r1/speed)")
  front+=("$(measure main /dev/mapper/baystack-speed)")
done
report "raw LV" "${raw[@]}"
report "front device" "${front[@]}"
report "LUN over iSCSI" "$(measure peer "$LUN")"
report "LUN on loopback" "$(measure main "$SELF_LUN")"
say "ok: measured in $((SECONDS - started)) s"
