#!/usr/bin/env bash
# Boots one lab guest and runs SHARE/script.sh in it; exits with the
# script's status (125: the guest never reported one). The serial console
# goes to SHARE/console.log; its lines that start with "lab:" also go to
# standard output.
#
#   guest/boot.sh -g GUEST_DIR -q QEMU -o SHARE [options]
#     -n NAME        host name (lab.host=)          -c CPUS  (default 1)
#     -m MB          memory (default 1536)           -a ACCEL kvm | tcg
#     -s SHELF       disks, in the format of tests/lab/shelf (files in SHARE/disks)
#     -i ADDR/PFX    address of eth0 on the private link
#     -u LOCAL:REMOTE  the private link: a UDP tunnel from 127.0.0.1:LOCAL to
#                    127.0.0.1:REMOTE (qemu socket networking; the guest
#                    reaches nothing else). Datagrams, not a TCP stream: a
#                    host TCP socket holds small frames back for its delayed
#                    ACK (Nagle), which cost every iSCSI command 40 ms.
#                    BAYSTACK_LAB_PCAP=DIR: its frames kept in DIR/NAME.pcap
#     -f PORT        a second NIC (MAC ending :02) on qemu user networking with
#                    restrict=on: the host's 127.0.0.1:PORT forwards to the
#                    guest's port 8080 (at 10.0.2.15); nothing else leaves
#     -t SECONDS     wall-clock limit (default 1200)
#     -k             keep SHARE/disks when the guest is done, for a later boot
#                    of the same disks (the pools' bounce)
set -euo pipefail

guest="" qemu="" share="" name=baylab cpus=1 mem=1536 accel=tcg shelf="" ip="" link="" limit=1200 forward="" keep=""
while getopts "g:q:o:n:c:m:a:s:i:u:t:f:k" o; do
  case $o in
    g) guest=$OPTARG ;; q) qemu=$OPTARG ;; o) share=$OPTARG ;; n) name=$OPTARG ;;
    c) cpus=$OPTARG ;; m) mem=$OPTARG ;; a) accel=$OPTARG ;; s) shelf=$OPTARG ;;
    i) ip=$OPTARG ;; u) link=$OPTARG ;; t) limit=$OPTARG ;;
    f) forward=$OPTARG ;; k) keep=1 ;;
    *) sed -n '2,20p' "$0" >&2; exit 2 ;;
  esac
done
[ -n "$guest" ] && [ -n "$qemu" ] && [ -n "$share" ] || { sed -n '2,20p' "$0" >&2; exit 2; }

case $accel in
  # kvm_pvm refuses MSR 0x10a; harmless elsewhere.
  kvm) acc=(-accel kvm -cpu host,-arch-capabilities) ;;
  tcg) acc=(-accel tcg,thread=multi -cpu max) ;;
  *) echo "boot.sh: accel must be kvm or tcg, not $accel" >&2; exit 2 ;;
esac

bytes() { # 64M -> 67108864
  local n=${1%[KMG]} unit=${1##*[0-9]}
  case $unit in K) echo $((n << 10)) ;; M) echo $((n << 20)) ;; G) echo $((n << 30)) ;; *) echo "$n" ;; esac
}

args=()
mkdir -p "$share/disks"
rm -f "$share/rc"
if [ -n "$shelf" ]; then
  sata=0 virtio=0
  while read -r bus size serial wwn model; do
    case $bus in ''|'#'*) continue ;; esac
    file="$share/disks/$serial.img"
    truncate -s "$(bytes "$size")" "$file"
    drive="file=$file,format=raw,if=none,id=d-$serial,cache=unsafe,discard=unmap"
    case $bus in
      sata)
        [ $sata -gt 0 ] || args+=(-device ahci,id=ahci0)
        dev="ide-hd,drive=d-$serial,bus=ahci0.$sata,serial=$serial,model=$model"
        [ "$wwn" = - ] || dev+=",wwn=$wwn"
        sata=$((sata + 1)) ;;
      virtio)
        dev="virtio-blk-pci,drive=d-$serial,serial=$serial"
        virtio=$((virtio + 1)) ;;
      *) echo "boot.sh: unknown bus $bus in $shelf" >&2; exit 2 ;;
    esac
    args+=(-drive "$drive" -device "$dev")
  done <"$shelf"
fi
mac=52:54:00:00:$(printf %02x $(( $(cksum <<<"$name" | cut -d' ' -f1) % 256 ))):01
nic="virtio-net-pci,netdev=n0,mac=$mac,romfile="
if [ -n "$link" ]; then
  args+=(-netdev "socket,id=n0,udp=127.0.0.1:${link#*:},localaddr=127.0.0.1:${link%%:*}" -device "$nic")
  [ -z "${BAYSTACK_LAB_PCAP:-}" ] || args+=(-object "filter-dump,id=f0,netdev=n0,file=$BAYSTACK_LAB_PCAP/$name.pcap")
fi
[ -z "$forward" ] || args+=(-netdev "user,id=n1,restrict=on,hostfwd=tcp:127.0.0.1:$forward-:8080"
  -device "virtio-net-pci,netdev=n1,mac=${mac%:01}:02,romfile=")

cmdline="console=ttyS0 panic=-1 quiet loglevel=3 net.ifnames=0 rdinit=/init lab.host=$name${ip:+ lab.ip=$ip}"
set +e
# An unpacked qemu does not find Debian's firmware links by itself: -L.
timeout --foreground -k 10 "$limit" "$qemu" -nodefaults -no-user-config -nographic -no-reboot \
  -L /usr/share/seabios -L /usr/share/qemu -machine q35 "${acc[@]}" -smp "$cpus" -m "$mem" \
  -kernel "$guest/vmlinuz" -initrd "$guest/initrd.img" -append "$cmdline" \
  -serial stdio -monitor none -display none -nic none \
  -virtfs "local,path=$share,mount_tag=lab,security_model=none,id=lab" \
  -device virtio-rng-pci "${args[@]}" </dev/null 2>&1 \
  | stdbuf -oL tr -d '\r' | tee "$share/console.log" | grep --line-buffered '^lab:'
set -e
[ -n "$keep" ] || rm -rf "$share/disks"
[ -f "$share/rc" ] && exit "$(cat "$share/rc")"
exit 125
