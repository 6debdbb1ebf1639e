#!/bin/bash
# Runs one scenario file with the helpers of lib.sh and its teardown.
set -Eeuo pipefail
shopt -s inherit_errexit   # a failure inside $(...) fails the scenario too
SCENARIO=$(basename "$1" .sh)
source "$(dirname "$0")/lib.sh"
trap teardown EXIT
cd "$SCN"
source "$1"
