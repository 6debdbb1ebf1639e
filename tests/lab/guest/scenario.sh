#!/bin/bash
# Runs one scenario file with the helpers of lib.sh and its teardown.
set -Eeuo pipefail
shopt -s inherit_errexit   # a failure inside $(...) fails the scenario too
SCENARIO=$(basename "$1" .sh)
source "$(dirname "$0")/lib.sh"
trap teardown EXIT
# A command that fails the scenario without a word of its own (one in a
# $(...), say) is named with its line.
trap 'echo "FAIL: line $LINENO: \`$BASH_COMMAND\` exited $?" >&2' ERR
cd "$SCN"
source "$1"
