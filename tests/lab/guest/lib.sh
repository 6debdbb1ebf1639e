# Helpers for lab scenarios; guest/scenario.sh sources this, then the
# scenario, with `set -Eeuo pipefail`: any failing command fails the
# scenario. Scenarios run as root in the main guest, one at a time, each on
# freshly wiped disks; what they start they hand to on_teardown.
LAB=/lab
SCN=/tmp/scenario          # this scenario's scratch directory, fresh
PEER_IP=169.254.77.2 MAIN_IP=169.254.77.1
mkdir -p "$SCN"

say() { echo "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_eq WHAT ACTUAL EXPECTED
expect_eq() {
  [ "$2" == "$3" ] || fail "$1: got '$2', expected '$3'"
  say "ok: $1 = $3"
}

# expect_match WHAT TEXT REGEX
expect_match() {
  [[ $2 =~ $3 ]] || fail "$1: '$2' does not match /$3/"
  say "ok: $1 matches /$3/"
}

_teardown=()
on_teardown() { _teardown=("$*" "${_teardown[@]}"); }
teardown() {
  local rc=$? step
  set +e
  trap - ERR
  for step in "${_teardown[@]}"; do eval "$step"; done
  return $rc
}

# console_start [LISTEN] [TOML line...]: a fresh console with the linux
# backend; sets URL and TOKEN. The agent observes every 2 s.
console_start() {
  local listen=${1:-127.0.0.1:8080}
  shift || true
  # First, so that a console that fails to start leaves its log too.
  on_teardown 'kill "$(cat "$SCN/console/pid")" 2>/dev/null; cp "$SCN/console/console.log" "$LAB/out/$SCENARIO.console.log"'
  on_teardown 'api GET /api/v1/jobs >"$LAB/out/$SCENARIO.jobs.json" 2>/dev/null'
  TOKEN=$(bash "$LAB/lab/guest/console.sh" "$SCN/console" "$listen" \
    '[agent]' 'observe_interval_seconds = 2' "$@")
  URL=http://127.0.0.1:${listen##*:}
  say "console up at $URL"
}

# api METHOD PATH [JSON]: prints the response body; api_status then gives
# its HTTP status.
api() {
  curl -sS -o "$SCN/api.body" -w '%{http_code}' -X "$1" "$URL$2" \
    -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    ${3:+--data "$3"} >"$SCN/api.status"
  cat "$SCN/api.body"
}
api_status() { cat "$SCN/api.status"; }

# api_ok METHOD PATH [JSON]: as api, failing the scenario unless 2xx.
api_ok() {
  api "$@" >/dev/null
  [[ $(api_status) == 2* ]] || fail "$1 $2 answered $(api_status): $(cat "$SCN/api.body")"
  cat "$SCN/api.body"
}

# wait_until WHAT SECONDS COMMAND...: runs COMMAND every half second until
# it succeeds. Its arguments are expanded once, at the call: to wait for a
# value, let a command read it anew each time (see `is`).
wait_until() {
  local what=$1 limit=$2 start=$SECONDS
  shift 2
  until "$@" >"$SCN/wait.out" 2>&1; do
    ((SECONDS - start < limit)) || fail "$what: not within $limit s ($(tail -c 400 "$SCN/wait.out"))"
    sleep 0.5
  done
  say "ok: $what (after $((SECONDS - start)) s)"
}

# is WANT COMMAND...: whether COMMAND prints WANT; says what it printed if not.
is() {
  local want=$1 got
  shift
  got=$("$@") || true
  [ "$got" == "$want" ] || { echo "got '$got', want '$want'"; return 1; }
}

# wait_job ID: waits for the job to finish; prints its JSON.
wait_job() {
  local start=$SECONDS job
  while :; do
    job=$(api_ok GET "/api/v1/jobs/$1")
    case $(jq -r .state <<<"$job") in
      succeeded | failed | cancelled) printf '%s' "$job"; return ;;
    esac
    ((SECONDS - start < 120)) || fail "job $1 did not finish in 120 s: $job"
    sleep 0.5
  done
}

# drives [JQ_OPTION...] JQ_FILTER: the drives the console lists, through
# a jq filter.
drives() { api_ok GET /api/v1/drives | jq -c "$@"; }

# The shelf: what qemu was given (tests/lab/shelf, as JSON lines).
shelf() { jq -c "$@" "$LAB/shelf.json"; }

# dev_of SERIAL: the kernel name of the shelf disk with that serial.
dev_of() {
  local link
  link=$(ls /dev/disk/by-id/ | grep -E "^(ata-.*_|virtio-)$1\$" | head -1)
  [ -n "$link" ] || return 1
  basename "$(readlink -f "/dev/disk/by-id/$link")"
}

# What the kernel itself says, not the console nor the emulator:
# kernel_serials: the serial of every disk lsblk lists, sorted, on one line.
kernel_serials() { lsblk -dn -o SERIAL | sed '/^[[:space:]]*$/d' | LC_ALL=C sort | paste -sd ' '; }
# kernel_has SERIAL: lsblk lists a disk with that serial and udev made a
# /dev/disk/by-id link to it.
kernel_has() {
  local dev link
  dev=$(lsblk -dn -o NAME,SERIAL | awk -v s="$1" '$2 == s { print $1; exit }')
  [ -n "$dev" ] || { echo "lsblk lists no disk with serial $1"; return 1; }
  for link in /dev/disk/by-id/*; do
    [ "$(readlink -f "$link")" == "/dev/$dev" ] && return 0
  done
  echo "/dev/$dev ($1) has no /dev/disk/by-id link"
  return 1
}
# kernel_lacks SERIAL: lsblk lists no disk with that serial.
kernel_lacks() {
  local dev
  dev=$(lsblk -dn -o NAME,SERIAL | awk -v s="$1" '$2 == s { print $1; exit }')
  [ -z "$dev" ] || { echo "the kernel still has $1 as $dev"; return 1; }
}

# ---- pools -----------------------------------------------------------------
# pools_teardown: whatever md arrays and volume groups the scenario leaves
# are taken down before the drives go, and mdadm.conf is kept and emptied.
pools_teardown() {
  on_teardown 'echo 200000 >/proc/sys/dev/raid/speed_limit_max; vgchange -an >/dev/null 2>&1; for md in /dev/md/*; do mdadm --stop "$md" >/dev/null 2>&1; done; mdadm --stop --scan >/dev/null 2>&1; cp /etc/mdadm/mdadm.conf "$LAB/out/$SCENARIO.mdadm.conf" 2>/dev/null; sed -i "/^ARRAY /d" /etc/mdadm/mdadm.conf 2>/dev/null'
}
# create NAME JSON: creates the pool, fails with the job's steps unless its
# job succeeds.
create() {
  local job
  job=$(api_ok POST /api/v1/pools "$2" | jq .job_id)
  job=$(wait_job "$job")
  [ "$(jq -r .state <<<"$job")" == succeeded ] ||
    fail "creating $1: $(jq -c '{error, steps: [.steps[] | {name, state, detail}]}' <<<"$job")"
  say "ok: pool $1 created: $(jq -c '[.steps[].detail]' <<<"$job")"
}
# job_ok WHAT METHOD PATH JSON: a pool action whose job must succeed;
# prints what its steps did.
job_ok() {
  local job
  job=$(api_ok "$2" "$3" "${4:-}" | jq .job_id)
  job=$(wait_job "$job")
  [ "$(jq -r .state <<<"$job")" == succeeded ] ||
    fail "$1: $(jq -c '{error, steps: [.steps[] | {name, state, detail}]}' <<<"$job")"
  say "ok: $1: $(jq -c '[.steps[].detail]' <<<"$job")"
}
# md NAME FILE: the pool's array's sysfs attribute, as the kernel has it.
md() { cat "/sys/block/$(basename "$(readlink -f "/dev/md/$1")")/md/$2"; }
pool() { api_ok GET "/api/v1/pools/$1" | jq -r "$2"; }
list() { printf '"%s",' "$@" | sed 's/,$//'; }
# md_slow / md_fast: md's rebuild speed, slow enough to watch it run.
md_slow() { echo "${1:-1500}" >/proc/sys/dev/raid/speed_limit_max; }
md_fast() { echo 200000 >/proc/sys/dev/raid/speed_limit_max; }

# peer COMMAND...: runs a command in the peer guest (over the private
# link, through guest/peer-agent.py); prints its output, fails with it.
# PEER_TIMEOUT (default 60) is how long it may run, in seconds.
peer() {
  local out
  out=$(_peer_run "$@") || fail "the peer agent did not answer"
  printf '%s' "$(jq -r .stdout <<<"$out")"
  [ "$(jq -r .rc <<<"$out")" = 0 ] || fail "on the peer, $* exited $(jq -r .rc <<<"$out"): $(jq -r .stderr <<<"$out")"
}
_peer_run() {
  local req limit=${PEER_TIMEOUT:-60}
  req=$(python3 -c 'import json, sys; print(json.dumps({"argv": sys.argv[2:], "timeout": int(sys.argv[1])}))' "$limit" "$@")
  curl -sS --max-time $((limit + 30)) -X POST "http://$PEER_IP:7070/run" --data "$req"
}
# peer_try COMMAND...: as peer, for a command that may fail: prints its
# standard output and error, returns its exit status (never fails the
# scenario; 125 when the agent did not answer).
peer_try() {
  local out rc
  out=$(_peer_run "$@") || { echo "the peer agent did not answer"; return 125; }
  printf '%s%s' "$(jq -r .stdout <<<"$out")" "$(jq -r .stderr <<<"$out")"
  rc=$(jq -r .rc <<<"$out")
  return "$rc"
}

# hide_tool NAME: the tool is gone from the guest until the scenario ends.
hide_tool() {
  local path
  path=$(command -v "$1") || fail "$1 is not installed in the guest"
  path=$(readlink -f "$path")
  mv "$path" "$path.lab-hidden"
  on_teardown "mv '$path.lab-hidden' '$path'"
  say "hid $path"
}

# ---- emulated enclosures (tests/lab/ses) ----------------------------------
SES=$LAB/lab/ses

# ses_up PROFILE: the enclosures and drives of ses/profiles/PROFILE.toml,
# emulated behind the kernel until ses_down or the scenario's end.
# SES_STATE is the emulator's directory: state.json (every element as it is
# now) and requests.jsonl (every control page received, decoded).
ses_up() {
  SES_STATE=$SCN/ses-$1
  mkdir -p "$SES_STATE"
  rm -f "$SES_STATE/ready"
  python3 "$SES/enclosure.py" serve "$SES/profiles/$1.toml" "$SES_STATE" >"$SES_STATE/emulator.log" 2>&1 &
  on_teardown "SES_STATE='$SES_STATE' ses_down; cp '$SES_STATE/emulator.log' '$LAB/out/$SCENARIO.ses-$1.log'"
  wait_until "the enclosures of $1 emulated" 300 test -e "$SES_STATE/ready"
  udevadm settle --timeout=60
}

# ses_down: the emulated devices removed, the emulator stopped. The kernel's
# ses driver (Debian 12, 6.1) can oops when a component's `status` is read
# while its enclosure goes away (seen here: NULL dereference in
# ses_get_status, from the console's observation), so a running console and
# its children are paused meanwhile.
ses_down() {
  local console=""
  [ ! -f "$SCN/console/pid" ] || console=$(cat "$SCN/console/pid")
  if [ -S "$SES_STATE/ctl.sock" ]; then
    if [ -n "$console" ] && kill -STOP -- "-$console" 2>/dev/null; then
      # Stopped once every thread is out of the read it was in.
      for _ in $(seq 1 100); do
        ps -L -o stat= --sid "$console" | grep -qv '^T' || break
        sleep 0.05
      done
    fi
    ses_ctl '{"op":"down"}' >/dev/null
    rm -f "$SES_STATE/ctl.sock"
  fi
  udevadm settle --timeout=60
  [ -z "$console" ] || kill -CONT -- "-$console" 2>/dev/null || true
}

# ses_ctl JSON: one request to the running emulator (see enclosure.py);
# prints its answer, fails if it was refused.
ses_ctl() { python3 "$SES/enclosure.py" ctl "$SES_STATE" "$1"; }

# ses_check METHOD: whether the console's bays and enclosures are the
# emulated ones as they are now, read by METHOD (sysfs or sg_ses); says how not.
ses_check() {
  api_ok GET /api/v1/bays >"$SCN/bays.json"
  api_ok GET /api/v1/enclosures >"$SCN/enclosures.json"
  python3 "$SES/enclosure.py" check "$SES_STATE" "$1" "$SCN/bays.json" "$SCN/enclosures.json"
}

# ses_mark: a mark in the emulator's request log, for ses_requests.
ses_mark() { SES_MARK=$(wc -l <"$SES_STATE/requests.jsonl"); }

# ses_requests: the control pages received since ses_mark, one JSON array
# per page of the elements it SELECTed: [[{"slot","ident","fault"}]].
ses_requests() {
  tail -n +$((SES_MARK + 1)) "$SES_STATE/requests.jsonl" | jq -sc '[.[] | [.selected[] | {slot, ident, fault}]]'
}

# ses_element ENCLOSURE NAME FIELD: a field of an emulated element as it is now.
ses_element() {
  jq -r --arg e "$1" --arg n "$2" --arg f "$3" \
    '.[] | select(.name == $e) | .groups[].elements[] | select(.name == $n) | .[$f]' "$SES_STATE/state.json"
}

# ---- volumes and iSCSI (guest/initiator.sh runs in the peer) ---------------
CFS=/sys/kernel/config/target
# link_in DIR: where the configfs link in DIR leads (a LUN's to its
# backstore, a mapped LUN's to the TPG's LUN), resolved.
link_in() { readlink -f "$(find "$1" -maxdepth 1 -type l | head -1)"; }
# initiator ARGS...: guest/initiator.sh in the peer guest (see there).
initiator() { peer bash "$LAB/lab/guest/initiator.sh" "$@"; }

# volumes_teardown: the peer logged out and its initiator stopped, then
# whatever iSCSI targets, block backstores and front devices the scenario
# leaves are taken down here (before pools_teardown's, which it must
# precede: call it after pools_teardown), and LIO's saved reservations
# removed. The emulated enclosures' own objects (loopback, user_*) are
# left to ses_down.
volumes_teardown() {
  on_teardown 'volumes_down'
  on_teardown 'peer_try bash "$LAB/lab/guest/initiator.sh" down >/dev/null'
}
volumes_down() {
  local t dir dbroot
  for t in "$CFS"/iscsi/iqn.*; do
    [ -d "$t" ] || continue
    for dir in "$t"/tpgt_*/enable; do echo 0 >"$dir" 2>/dev/null; done
    # Links first (they hold what they lead to), then every directory made
    # here, deepest first; the kernel's own groups go with their parents.
    find "$t" -type l -delete 2>/dev/null
    find "$t" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  for dir in "$CFS"/core/iblock_*/*/ "$CFS"/core/iblock_*/; do rmdir "$dir" 2>/dev/null; done
  for dir in $(dmsetup ls 2>/dev/null | awk '$1 ~ /^baystack-/ {print $1}'); do
    dmsetup remove --retry "$dir"
  done
  dbroot=$(cat "$CFS/dbroot" 2>/dev/null) && rm -f "$dbroot"/pr/aptpl_*
  true
}

# peer_console_start: a second console, in the peer guest, on its own
# disks (its shelf, `shelf-peer`), listening on 8080 and on its channel,
# set up and seeing its two disks; papi and pjob_ok talk to it as api and
# job_ok to the main one. Its storage is taken down after the scenario,
# and what it did is kept: its log, jobs and replication, its process and
# sockets.
PEER_URL=http://$PEER_IP:8080
PEER_DIR=/tmp/peer-console
peer_console_start() {
  wait_until "the peer guest answers" 240 curl -fsS --max-time 2 -X POST "http://$PEER_IP:7070/run" --data '{"argv":["true"]}'
  on_teardown peer_down
  on_teardown 'peer_state >"$LAB/out/$SCENARIO.peer-state.txt" 2>&1; peer_try cat $PEER_DIR/console.log >"$LAB/out/$SCENARIO.peer-console.log" 2>&1; papi GET /api/v1/jobs >"$LAB/out/$SCENARIO.peer-jobs.json" 2>&1; papi GET /api/v1/replication >"$LAB/out/$SCENARIO.peer-replication.json" 2>&1; api GET /api/v1/replication >"$LAB/out/$SCENARIO.replication.json" 2>&1'
  PEER_TOKEN=$(peer bash /lab/lab/guest/console.sh "$PEER_DIR" 0.0.0.0:8080 '[agent]' 'observe_interval_seconds = 2')
  wait_until "the peer's console sees its two disks healthy" 120 peer_ready
}
peer_down() {
  peer_try bash -c 'pkill -f /lab/bin/baystack; sleep 0.5; iscsiadm -m node --logoutall=all >/dev/null 2>&1; targetcli clearconfig confirm=True >/dev/null 2>&1; for d in $(dmsetup ls | awk "/^baystack-/ {print \$1}"); do dmsetup remove "$d"; done; vgchange -an >/dev/null 2>&1; mdadm --stop --scan; for d in /dev/disk/by-id/ata-*_BAYPB000?; do mdadm --zero-superblock "$d" 2>/dev/null; wipefs -a "$d" >/dev/null 2>&1; done; sed -i "/^ARRAY /d" /etc/mdadm/mdadm.conf; true' >/dev/null
}
# peer_state: whether the peer's console runs, its sockets, memory, kernel.
peer_state() {
  peer_try bash -c 'pgrep -af "[/]lab/bin/baystack"; ss -ltn; free -m; dmesg | tail -n 15'
}
peer_ready() { papi GET /api/v1/drives | jq -e '[.[] | select(.serial | startswith("BAYPB")) | select(.health == "healthy")] | length == 2' >/dev/null; }
# papi METHOD PATH [JSON]: the peer's console, as api is the main one's.
papi() {
  curl -sS -X "$1" "$PEER_URL$2" -H "authorization: Bearer $PEER_TOKEN" \
    -H 'content-type: application/json' ${3:+--data "$3"}
}
# pjob_ok WHAT METHOD PATH JSON: a peer console job that must succeed.
pjob_ok() {
  local id job start=$SECONDS
  id=$(papi "$2" "$3" "${4:-}" | jq -er .job_id) || fail "$1: the peer's console refused"
  while :; do
    job=$(papi GET "/api/v1/jobs/$id")
    case $(jq -r .state <<<"$job") in
      succeeded) say "ok: $1 (the peer)"; return ;;
      failed | cancelled) fail "$1 on the peer: $(jq -c '{error, steps: [.steps[] | {name, detail}]}' <<<"$job")" ;;
    esac
    ((SECONDS - start < 180)) || fail "$1 on the peer: not done in 180 s"
    sleep 0.5
  done
}
