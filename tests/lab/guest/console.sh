#!/bin/bash
# Starts a fresh Baystack console in the guest: `--backend linux`, a new
# SQLite file, set up through its API, and prints an API token for it.
#
#   console.sh DIR LISTEN [TOML...]   extra TOML lines go into the config file
#
# The console runs in the background (its log is DIR/console.log, its pid
# DIR/pid) until it is killed; scenarios do that in their teardown.
set -euo pipefail
dir=$1 listen=$2; shift 2
bin=/lab/bin/baystack
rm -rf "$dir"; mkdir -p "$dir"
{
  echo "listen = \"$listen\""
  echo "data_dir = \"$dir/data\""
  echo 'backend = "linux"'
  for line in "$@"; do echo "$line"; done
} >"$dir/baystack.toml"
setsid "$bin" serve --config "$dir/baystack.toml" >"$dir/console.log" 2>&1 </dev/null &
echo $! >"$dir/pid"
port=${listen##*:}
url=http://127.0.0.1:$port
for _ in $(seq 1 240); do
  curl -fsS -o /dev/null "$url/healthz" 2>/dev/null && break
  kill -0 "$(cat "$dir/pid")" 2>/dev/null || { echo "the console exited:" >&2; tail -20 "$dir/console.log" >&2; exit 1; }
  sleep 0.25
done
curl -fsS -o /dev/null "$url/healthz" || { echo "the console did not answer /healthz in 60 s" >&2; exit 1; }
curl -fsS -o /dev/null -X POST "$url/api/v1/setup" -H 'content-type: application/json' \
  -d "{\"admin_password\":\"lab password 1\",\"hostname\":\"$(hostname)\",\"iqn_domain\":\"lab.baystack\",\"iqn_date\":\"2024-01\",\"timezone\":\"UTC\"}"
curl -fsS -X POST -u 'admin:lab password 1' "$url/api/v1/tokens" | jq -er .token
