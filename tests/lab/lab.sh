#!/usr/bin/env bash
# The integration lab: the console's `linux` backend against a stock Debian
# kernel and the real storage tools, in qemu guests. See tests/lab/README.md.
#
#   tests/lab/lab.sh [FILTER]   runs every scenario (or those whose file name
#                               matches the regex FILTER) and exits non-zero
#                               if one fails
#   tests/lab/lab.sh --bench [FILTER]
#                               the benchmarks (bench/), not run by the test
#                               command: their figures are read, not asserted
#   tests/lab/lab.sh --refresh-fixtures
#                               captures every tool output a parser reads in
#                               the guest (guest/capture.sh) into tests/fixtures/
#
# When this machine cannot run the lab (not root, too little memory, no
# qemu to be had) it prints one line, `lab skipped: <reason>`, and exits 0,
# or 3 when BAYSTACK_LAB=require (CI sets that). Environment:
#   BAYSTACK_BIN        the console binary to test (default: cargo build)
#   BAYSTACK_LAB_CACHE  guest and qemu cache (default /var/cache/baystack-lab)
#   BAYSTACK_LAB_ACCEL  kvm or tcg (default: kvm if it can boot the guest)
#   BAYSTACK_LAB_OUT    where logs land (default artifacts/lab)
#   BAYSTACK_LAB_PCAP   a directory: each guest's private link captured there
#                       as NAME.pcap (qemu's filter-dump), for reading timings
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${BAYSTACK_LAB_CACHE:-/var/cache/baystack-lab}
out=${BAYSTACK_LAB_OUT:-$root/artifacts/lab}
filter=${1:-} set=scenarios
if [ "$filter" = --bench ]; then
  set=bench filter=${2:-}
fi
t0=$(date +%s)

skip() {
  echo "lab skipped: $*"
  [ "${BAYSTACK_LAB:-}" = require ] && exit 3
  exit 0
}
elapsed() { echo $(($(date +%s) - $1)); }

# ---- can this machine run it? ---------------------------------------------
[ "$(id -u)" = 0 ] || skip "not root (building the guest needs mmdebstrap as root)"
avail_mb=$(awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo)
[ "$avail_mb" -ge 4096 ] || skip "only $avail_mb MiB of memory available; the two guests need 4096"
command -v apt-get >/dev/null || skip "no apt-get to install qemu with"

# ---- host packages and qemu ------------------------------------------------
# Debian 12's qemu-system-x86 cannot be installed beside a backported
# qemu-utils (it Breaks it), so qemu is unpacked into the cache and only its
# libraries and firmware are installed.
host_pkgs=(mmdebstrap cpio zstd seabios ipxe-qemu qemu-system-data libslirp0 libfdt1
  libcapstone4 libdaxctl1 libndctl6 libpmem1 libibverbs1 librdmacm1 libepoxy0 libspice-server1
  libusb-1.0-0 libusbredirparser1 libvdeplug2 libbrlapi0.8 libcacard0 libsndio7.0 libopus0
  liborc-0.4-0 libgstreamer-plugins-base1.0-0 libnl-3-200 libnl-route-3-200 libexecs0)
missing=()
for p in "${host_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "lab: installing ${missing[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${missing[@]}" >/dev/null; } \
    || skip "could not install the host packages qemu needs (${missing[*]})"
fi
mkdir -p "$cache"
qemu=$(command -v qemu-system-x86_64 || true)
if [ -z "$qemu" ]; then
  qemu=$cache/qemu/usr/bin/qemu-system-x86_64
  if [ ! -x "$qemu" ]; then
    dl=$(mktemp -d /tmp/baystack-qemu.XXXXXX)
    chown _apt "$dl" 2>/dev/null || true   # apt downloads as its _apt user
    (cd "$dl" && apt-get download -q qemu-system-x86 qemu-system-common >/dev/null 2>&1) \
      || { rm -rf "$dl"; skip "could not download Debian's qemu-system-x86"; }
    rm -rf "$cache/qemu.new"
    for deb in "$dl"/*.deb; do dpkg -x "$deb" "$cache/qemu.new"; done
    rm -rf "$dl" "$cache/qemu" && mv "$cache/qemu.new" "$cache/qemu"
  fi
fi
"$qemu" --version >/dev/null 2>&1 || skip "$qemu does not run: $("$qemu" --version 2>&1 | head -1)"

# ---- the guest and the console binary ---------------------------------------
t=$(date +%s)
guest=$(bash "$here/guest/build.sh")
echo "lab: guest $(basename "$guest") ready in $(elapsed "$t") s"
if [ -z "${BAYSTACK_BIN:-}" ]; then
  (cd "$root" && cargo build --quiet --bin baystack)
  BAYSTACK_BIN=$root/target/debug/baystack
fi

# ---- KVM where it can boot a stock kernel, TCG otherwise -------------------
run_dir=$(mktemp -d /tmp/baystack-lab.XXXXXX)
peer_pid=""
# Each guest runs in a process group of its own (setsid), so that stopping
# the lab stops qemu too, not only the script that started it.
cleanup() {
  for pid in ${main_pid:-} ${peer_pid:-}; do kill -- "-$pid" 2>/dev/null || true; done
  [ -z "${browser_pid:-}" ] || kill "$browser_pid" 2>/dev/null || true
  rm -rf "$run_dir"
}
trap cleanup EXIT

share() { # share NAME: a 9p share with the lab scripts and the console
  local dir=$run_dir/$1
  mkdir -p "$dir/bin" "$dir/lab"
  cp "$BAYSTACK_BIN" "$dir/bin/baystack"
  cp -r "$here/guest" "$here/scenarios" "$here/bench" "$here/ses" "$dir/lab/"
  echo "$dir"
}

accel=${BAYSTACK_LAB_ACCEL:-}
if [ -z "$accel" ]; then
  accel=tcg
  if [ -w /dev/kvm ]; then
    # Nested KVM may be unable to run a stock kernel (kvm_pvm runs only PVM
    # guests: the kernel hangs silently), so try once per host kernel and
    # guest, and remember.
    memo=$cache/accel-$(uname -r)-$(basename "$guest")
    find "$cache" -maxdepth 1 -name 'accel-*' ! -path "$memo" -delete   # older kernels' and guests'
    if [ ! -f "$memo" ]; then
      probe=$(share probe)
      echo 'echo "lab: kvm works"' >"$probe/script.sh"
      if bash "$here/guest/boot.sh" -g "$guest" -q "$qemu" -o "$probe" -a kvm -t 40 >/dev/null 2>&1; then
        echo kvm >"$memo"
      else
        echo tcg >"$memo"
      fi
    fi
    accel=$(cat "$memo")
  fi
fi

# ---- two guests on a private link, the scenarios in the first --------------
# The private link's two ends: free UDP ports on the host's loopback.
read -r main_port peer_port <<<"$(python3 -c 'import socket
a, b = (socket.socket(type=socket.SOCK_DGRAM) for _ in "ab")
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')"
main=$(share main)
peer=$(share peer)
sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/shelf" | while read -r bus size serial wwn model; do
  jq -cn --arg bus "$bus" --arg size "$size" --arg serial "$serial" --arg wwn "$wwn" --arg model "$model" \
    '{bus: $bus, size: $size, serial: $serial, wwn: (if $wwn == "-" then null else $wwn end),
      model: (if $model == "-" then null else $model end),
      size_bytes: ($size | capture("^(?<n>[0-9]+)(?<u>[KMG]?)$") | (.n | tonumber) * ({"": 1, K: 1024, M: 1048576, G: 1073741824}[.u]))}'
done >"$main/shelf.json"
if [ "$filter" = --refresh-fixtures ]; then
  echo "bash /lab/lab/guest/runner.sh capture" >"$main/script.sh"
  bash "$here/guest/boot.sh" -g "$guest" -q "$qemu" -o "$main" -a "$accel" -n lab-main -c 2 -m 2048 \
    -s "$here/shelf" -t 600 || { tail -n 20 "$main/console.log"; exit 1; }
  cp -r "$main/out/fixtures/." "$root/tests/fixtures/"
  echo "lab: fixtures refreshed; git diff tests/fixtures shows what the tools now say differently"
  exit 0
fi
printf 'bash /lab/lab/guest/runner.sh main %q %q\n' "$filter" "$set" >"$main/script.sh"
echo "bash /lab/lab/guest/runner.sh peer" >"$peer/script.sh"

echo "lab: booting two guests ($accel): lab-main (2 vCPUs, the scenarios) and lab-peer (1 vCPU)"
t=$(date +%s)
web_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The private link is a UDP tunnel between the two qemus: no connection
# to lose, so the main guest booted again for the bounce is on the same wire
# to the peer (still up, its initiator's records kept).
setsid bash "$here/guest/boot.sh" -g "$guest" -q "$qemu" -o "$peer" -a "$accel" -n lab-peer -c 1 -m 1024 \
  -s "$here/shelf-peer" -i 169.254.77.2/24 -u "$peer_port:$main_port" -t 2700 >/dev/null 2>&1 &
peer_pid=$!
setsid bash "$here/guest/boot.sh" -g "$guest" -q "$qemu" -o "$main" -a "$accel" -n lab-main -c 2 -m 2048 \
  -s "$here/shelf" -i 169.254.77.1/24 -u "$main_port:$peer_port" -f "$web_port" -t 2700 -k &
main_pid=$!

# The host's half of scenario 13-browser-bays: once the guest's console is
# up (SHARE/browser-ready holds its admin password), headless Chromium runs
# tests/browser/lab-bays.mjs against it through the forwarded port; its exit
# status goes to SHARE/browser-done, its output to SHARE/out/browser.log.
browser_half() {
  local rc
  while [ ! -e "$main/browser-ready" ]; do
    kill -0 "$main_pid" 2>/dev/null || return 0
    sleep 1
  done
  mkdir -p "$main/out/browser"
  if [ ! -d "$root/tests/browser/node_modules/playwright-core" ] || ! command -v node >/dev/null; then
    echo "the browser test needs node and tests/browser's packages (npm ci there; scripts/test.sh does)" \
      >"$main/out/browser.log"
    rc=2
  else
    rc=0
    BAYSTACK_LAB_URL="http://127.0.0.1:$web_port" BAYSTACK_LAB_PASSWORD="$(cat "$main/browser-ready")" \
      ARTIFACTS="$main/out/browser" node --test --test-reporter=spec "$root/tests/browser/lab-bays.mjs" \
      >"$main/out/browser.log" 2>&1 || rc=$?
  fi
  echo "$rc" >"$main/browser-done"
}
browser_half &
browser_pid=$!
rc=0
wait "$main_pid" || rc=$?
main_pid=""
wait "$browser_pid" || true
browser_pid=""

# The pools' bounce: a scenario that asked for it (SHARE/bounce/ready) has
# its second half run in the main guest booted again on the same disks,
# on the same private link to the peer, which stays up meanwhile.
if [ -f "$main/bounce/ready" ]; then
  echo "lab: booting lab-main again on the same disks (the bounce)"
  echo "bash /lab/lab/guest/runner.sh bounce" >"$main/script.sh"
  bash "$here/guest/boot.sh" -g "$guest" -q "$qemu" -o "$main" -a "$accel" -n lab-main -c 2 -m 2048 \
    -s "$here/shelf" -i 169.254.77.1/24 -u "$main_port:$peer_port" -t 600 || rc=$?
fi
rm -rf "$main/disks"
touch "$peer/stop"
wait "$peer_pid" || true
peer_pid=""

rm -rf "$out" && mkdir -p "$out"
cp -r "$main/out" "$out/main" 2>/dev/null || true
cp -r "$peer/out" "$out/peer" 2>/dev/null || true
cp "$main/console.log" "$out/main/serial.log" 2>/dev/null || true
cp "$peer/console.log" "$out/peer/serial.log" 2>/dev/null || true
passed=$(grep -c ' ok ' "$main/out/results" 2>/dev/null || true)
total=$(wc -l <"$main/out/results" 2>/dev/null || echo 0)
echo "lab: $passed of $total scenario(s) passed; guests ran $(elapsed "$t") s, whole lab $(elapsed "$t0") s; logs in $out"
if [ "$rc" = 125 ]; then
  echo "lab: the main guest never reported a result; its serial console:" >&2
  tail -n 30 "$main/console.log" >&2 || true
fi
[ "$rc" = 0 ] && [ "$total" -gt 0 ]
