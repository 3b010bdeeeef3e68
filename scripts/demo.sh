#!/usr/bin/env bash
# demo.sh BUILD_DIR - bring the test world up, show daneguard's main job on the
# world's demo cases next to the reference peer, tear the world down.
set -euo pipefail
build=$1
run="$build/world"
world=tests/world/world
trap '$world down "$run" >/dev/null 2>&1 || true' EXIT
$world up "$run"
echo
echo "== posttls-finger (reference peer) on every world case: its verdict per MX host"
$world peer "$run" || true
