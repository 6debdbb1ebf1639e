#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine or a developer's one.
#
# It installs what the tests need (PostgreSQL, Chromium, cargo-nextest, aiosmtpd,
# nginx and wrk for the pages benchmark's test,
# Node packages for the browser test), starts a throw-away PostgreSQL on
# loopback, runs the Rust tests (unit, HTTP on SQLite and PostgreSQL, CLI),
# then the real-browser test, then the integration lab (the `linux` backend
# against a stock Debian kernel in qemu guests, tests/lab/README.md), and
# checks formatting and lints.
#
#   scripts/test.sh            everything
#   SKIP_LINT=1 scripts/test.sh    without fmt/clippy (quicker while editing;
#                                  refused under CI)
#
# The lab runs when this machine can (root, qemu from Debian's packages,
# 4 GiB free); otherwise it prints `lab skipped: <reason>`, which fails the
# run when BAYSTACK_LAB=require (CI sets that).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ -n "${CI:-}" ] && [ -n "${SKIP_LINT:-}" ]; then
  echo "SKIP_LINT is set under CI: CI runs fmt and clippy, always" >&2
  exit 2
fi
work=$(mktemp -d /tmp/baystack-test.XXXXXX)
artifacts="$root/artifacts"
mkdir -p "$artifacts"

say() { printf '\n== %s\n' "$*"; }

# ---- what the tests need --------------------------------------------------
need_apt=()
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
[ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ] || need_apt+=(postgresql)
command -v chromium >/dev/null || need_apt+=(chromium)
[ -e /usr/include/postgresql/libpq-fe.h ] || need_apt+=(libpq-dev)
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
# The notification tests' SMTP server (aiosmtpd, run by Debian's python3)
# and the certificates they make for it.
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || need_apt+=(python3-aiosmtpd)
command -v openssl >/dev/null || need_apt+=(openssl)
# `baystack bench pages` serves the same bytes from nginx and loads both
# with wrk.
[ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
command -v wrk >/dev/null || need_apt+=(wrk)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing ${need_apt[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" fonts-dejavu-core >/dev/null
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

# ---- a throw-away PostgreSQL on loopback ---------------------------------
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pg_dir="$work/pg"
mkdir -p "$pg_dir"
run_pg() {
  # PostgreSQL refuses to run as root.
  if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres:postgres "$work"
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}
cleanup() {
  run_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
say "starting PostgreSQL on 127.0.0.1:$pg_port"
run_pg "$pg_bin/initdb" -D "$pg_dir/data" -U postgres -A trust --no-sync >/dev/null
run_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
  -o "-c listen_addresses=127.0.0.1 -c port=$pg_port -c unix_socket_directories=$pg_dir -c fsync=off -c max_connections=300" start >/dev/null
export BAYSTACK_TEST_POSTGRES="postgres://postgres@127.0.0.1:$pg_port/postgres"

# ---- the systemd units ----------------------------------------------------
say "systemd units (verify, exposure)"
tests/units/check.sh

# ---- Rust: unit, HTTP (SQLite + PostgreSQL), CLI -------------------------
# The sign-in bursts and the memory bound (tests/it/hardening.rs) run
# against the release binary, as it ships.
say "cargo build --release (for the hardening tests)"
cargo build --release --quiet --bin baystack
export BAYSTACK_RELEASE_BIN="$root/target/release/baystack"
say "cargo nextest"
cargo nextest run --no-fail-fast --status-level fail --final-status-level slow

# ---- the real browser ----------------------------------------------------
say "browser test (headless Chromium)"
cargo build --quiet --bin baystack
(cd tests/browser && npm ci --silent --no-audit --no-fund)
BAYSTACK_BIN="$root/target/debug/baystack" ARTIFACTS="$artifacts/browser" \
  node --test --test-reporter=spec tests/browser/

# ---- the integration lab -------------------------------------------------
# The release binary, as it ships (built above): under the guests' emulated
# CPU it runs the scenarios about a fifth faster than the debug one.
say "integration lab (qemu guests, the linux backend against a real kernel)"
BAYSTACK_BIN="$BAYSTACK_RELEASE_BIN" BAYSTACK_LAB_OUT="$artifacts/lab" tests/lab/lab.sh

# ---- style ---------------------------------------------------------------
if [ -z "${SKIP_LINT:-}" ]; then
  say "cargo fmt --check, cargo clippy"
  cargo fmt --check
  cargo clippy --all-targets --quiet -- -D warnings
fi
if [ -n "${SKIP_LINT:-}" ]; then
  say "all tests passed; fmt and clippy were NOT run (SKIP_LINT)"
else
  say "all tests passed"
fi
