#!/usr/bin/env bash
# Checks the systemd units in packaging/systemd and the sysusers.d file:
#
#   - `systemd-analyze verify` says nothing about the unit (it exits 0 even on
#     an unknown key or a bad value, so any word from it is a failure);
#   - every capability the unit names is one systemd knows (a misspelt one is
#     dropped without a word, taking the capability with it);
#   - lines the design depends on are there, and lines that would break it
#     are not (e.g. StateDirectory= in the agent: systemd would chown the
#     shared directory to root);
#   - the exposure `systemd-analyze security --offline=yes` gives it (0 is
#     the safest, 10 unsafe) is at most its limit: 3.0 for the web console,
#     6.0 for the agent and for the single-process unit;
#   - packaging/sysusers.d/baystack.conf creates the user the web runs as.
#
#   tests/units/check.sh           the packaging/ tree of this checkout
#   tests/units/check.sh DIR       a copy of it (DIR/systemd, DIR/sysusers.d)
#
# One line per unit, `NAME: exposure N.N (limit L) ok|FAILED`, reasons
# below a failed one; exits non-zero if anything failed. Needs systemd-analyze
# and systemd-sysusers (Debian package `systemd`, 252 or later for
# `security --offline --threshold`).
#
# The units are checked inside a throw-away root directory (--root=) holding
# them, a stand-in /usr/bin/baystack and a copy of this machine's system
# units, so that verify finds the binary and the units these depend on
# (sysinit.target, modprobe@.service, ...) without anything installed here.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
packaging=$(cd "${1:-$here/../../packaging}" && pwd)

# unit -> the highest exposure it may have
declare -A limit=(
  [baystack-web.service]=3.0
  [baystack-agent.service]=6.0
  [baystack.service]=6.0
)
# unit -> lines (exact, whole line) it must have; and a regex none may match
declare -A must=(
  [baystack-web.service]='User=baystack|StateDirectory=baystack|StateDirectoryMode=0700|CapabilityBoundingSet=|AmbientCapabilities=|PrivateDevices=yes|ProtectKernelLogs=yes|ExecStartPre=/usr/bin/baystack migrate --config /etc/baystack/baystack.toml'
  [baystack-agent.service]='After=local-fs.target network-online.target baystack-web.service|CapabilityBoundingSet=CAP_SYS_RAWIO CAP_SYS_ADMIN CAP_SYSLOG CAP_DAC_OVERRIDE CAP_CHOWN CAP_MKNOD CAP_IPC_LOCK CAP_SYS_NICE|DevicePolicy=closed|InaccessiblePaths=-/run/dbus/system_bus_socket -/run/systemd/private'
  [baystack.service]='StateDirectory=baystack|StateDirectoryMode=0700|Conflicts=baystack-web.service baystack-agent.service|CapabilityBoundingSet=CAP_SYS_RAWIO CAP_SYS_ADMIN CAP_SYSLOG CAP_MKNOD CAP_IPC_LOCK CAP_SYS_NICE|DevicePolicy=closed|InaccessiblePaths=-/run/dbus/system_bus_socket -/run/systemd/private'
)
common_must='UMask=0077|NoNewPrivileges=yes|ProtectSystem=strict|ProtectHome=yes|PrivateTmp=yes|ProtectKernelModules=yes|ProtectControlGroups=yes|ProtectKernelTunables=yes|RestrictNamespaces=yes|LockPersonality=yes|MemoryDenyWriteExecute=yes|RestrictRealtime=yes|RestrictSUIDSGID=yes|ProtectClock=yes|ProtectHostname=yes|SystemCallArchitectures=native|SystemCallFilter=@system-service|RestrictAddressFamilies=.*'
# What would break the agent: its own StateDirectory= (chowns the shared
# directory to root), no devices, no kernel log, a private IPC namespace
# (lvm's udev semaphores), no /proc/sys (boot_id).
root_must_not='^(DynamicUser=|User=|PrivateDevices=yes|ProtectKernelLogs=yes|PrivateIPC=yes|ProcSubset=pid|DevicePolicy=auto)'
declare -A must_not=(
  [baystack-web.service]='^(DynamicUser=yes|User=root)'
  [baystack-agent.service]="^StateDirectory=|$root_must_not"
  [baystack.service]="$root_must_not"
)

for tool in systemd-analyze systemd-sysusers; do
  if ! command -v "$tool" >/dev/null; then
    echo "tests/units/check.sh: $tool is not installed (Debian package: systemd); cannot check the units" >&2
    exit 1
  fi
done

root=$(mktemp -d /tmp/baystack-units.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/usr/lib/systemd" "$root/etc/systemd/system"
printf '#!/bin/sh\nexit 0\n' >"$root/usr/bin/baystack"
chmod 755 "$root/usr/bin/baystack"
for d in /usr/lib/systemd/system /lib/systemd/system; do
  if [ -d "$d" ]; then cp -a "$d" "$root/usr/lib/systemd/"; break; fi
done
[ -e "$root/usr/lib/systemd/system/sysinit.target" ] \
  || { echo "tests/units/check.sh: no system units (sysinit.target) on this machine to check against" >&2; exit 1; }

failed=0
shopt -s nullglob
units=("$packaging"/systemd/*.service)
[ ${#units[@]} -gt 0 ] || { echo "no units in $packaging/systemd" >&2; exit 1; }
cp "${units[@]}" "$root/etc/systemd/system/"   # together: they name each other
for want in "${!limit[@]}"; do
  [ -e "$packaging/systemd/$want" ] || { echo "$want: FAILED, missing from $packaging/systemd"; failed=1; }
done

for file in "${units[@]}"; do
  unit=$(basename "$file")
  why=()
  if [ -z "${limit[$unit]:-}" ]; then
    echo "$unit: FAILED, no exposure limit for it in tests/units/check.sh"
    failed=1
    continue
  fi
  path=$root/etc/systemd/system/$unit

  said=$(systemd-analyze verify --root="$root" "$path" 2>&1) && rc=0 || rc=$?
  # verify loads the units this one names too; what it says about another of
  # ours is reported under that one.
  for other in "${units[@]}"; do
    other=$(basename "$other")
    [ "$other" = "$unit" ] || said=$(grep -vF -- "$other:" <<<"$said" || true)
  done
  if [ "$rc" -ne 0 ] || [ -n "$said" ]; then
    why+=("verify (exit $rc): ${said//$root/}")
  fi

  # Comments and blank lines out, leading blanks off.
  lines=$(sed -e 's/^[[:space:]]*//' -e '/^#/d' -e '/^;/d' -e '/^$/d' "$file")
  # shellcheck disable=SC2013 # words, one capability each
  for cap in $(sed -n -e 's/^\(CapabilityBoundingSet\|AmbientCapabilities\)=~\{0,1\}//p' <<<"$lines"); do
    systemd-analyze capability "$cap" >/dev/null 2>&1 || why+=("unknown capability $cap")
  done
  IFS='|' read -r -a required <<<"$common_must|${must[$unit]:-}"
  for line in "${required[@]}"; do
    [ -z "$line" ] && continue
    # A here-string, not a pipe: grep -q stops reading at the first match,
    # and under pipefail the writer's SIGPIPE would read as "missing".
    grep -qxE -- "$line" <<<"$lines" || why+=("missing the line $line")
  done
  bad=$(grep -E -- "${must_not[$unit]:-^$^}" <<<"$lines" || true)
  [ -z "$bad" ] || why+=("must not have: $(echo "$bad" | paste -sd' ')")

  # --threshold counts in tenths: 3.0 is 30.
  lim=${limit[$unit]}
  report=$(SYSTEMD_COLORS=0 systemd-analyze security --no-pager --offline=yes \
    --threshold="${lim/./}" --root="$root" "$path" 2>&1) && rc=0 || rc=$?
  score=$(printf '%s\n' "$report" | sed -n "s/.*Overall exposure level for $unit: \([0-9][0-9]*\.[0-9]\).*/\1/p")
  if [ -z "$score" ]; then
    why+=("no exposure level from systemd-analyze security (exit $rc): $(printf '%s\n' "$report" | tail -n 3)")
    score='?'
  elif [ "$rc" -ne 0 ]; then
    why+=("exposure $score is over $lim; what it counts against the unit:")
    # The settings that count (the lines that end in their share of it).
    while IFS= read -r l; do why+=("  $l"); done < <(printf '%s\n' "$report" | grep -E ' [0-9]+\.[0-9]$' || true)
  fi

  if [ ${#why[@]} -eq 0 ]; then
    echo "$unit: exposure $score (limit $lim) ok"
  else
    echo "$unit: exposure $score (limit $lim) FAILED"
    printf '    %s\n' "${why[@]}"
    failed=1
  fi
done

# The user the web console runs as, from the sysusers.d file, in the root.
conf=$packaging/sysusers.d/baystack.conf
mkdir -p "$root/etc"
if [ ! -e "$conf" ]; then
  echo "sysusers.d/baystack.conf: FAILED, missing"; failed=1
elif ! said=$(systemd-sysusers --root="$root" "$conf" 2>&1); then
  echo "sysusers.d/baystack.conf: FAILED: $said"; failed=1
elif ! grep -q '^baystack:x:[0-9]*:[0-9]*:[^:]*:/var/lib/baystack:' "$root/etc/passwd"; then
  echo "sysusers.d/baystack.conf: FAILED, makes no user baystack with home /var/lib/baystack: $(cat "$root/etc/passwd")"; failed=1
else
  echo "sysusers.d/baystack.conf: user baystack ok"
fi

exit "$failed"
