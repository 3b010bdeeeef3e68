#!/usr/bin/env bash
# install-deps.sh - install the Debian packages daneguard builds and tests with.
#
# Idempotent and quick when everything is present (one dpkg-query). Never
# prompts (Postfix's debconf picks "No configuration") and never lets a package
# start a system-wide daemon: while installing, a policy-rc.d that forbids
# service starts is put in place unless one already exists.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libssl-dev openssl libunbound-dev libevent-dev libjansson-dev libcmocka-dev libldns-dev
  libcurl4-openssl-dev libsqlite3-dev libpq-dev postgresql zlib1g-dev libidn2-dev python3-jsonschema
  nsd unbound ldnsutils postfix bind9-dnsutils iproute2 python3 procps bc nginx knot
  libopendkim-dev
)
# Optional: tests that use these skip with a message when they are missing.
#   chromium: the headless-browser checks of `report html` (tests/integration/report_html)
OPTIONAL=(chromium)

is_installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = "installed" ]; }
missing=()
for p in "${PKGS[@]}"; do
  is_installed "$p" || missing+=("$p")
done
optional_missing=()
for p in "${OPTIONAL[@]}"; do
  is_installed "$p" || optional_missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && [ ${#optional_missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]} ${optional_missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections

policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  added_policy=1
fi
cleanup() { [ $added_policy -eq 1 ] && $SUDO rm -f "$policy"; true; }
trap cleanup EXIT

$SUDO apt-get update -qq || echo "install-deps: apt-get update failed, trying the cached lists" >&2
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null
fi
if [ ${#optional_missing[@]} -gt 0 ]; then
  $SUDO apt-get install -y -qq --no-install-recommends "${optional_missing[@]}" >/dev/null ||
    echo "install-deps: optional ${optional_missing[*]} not installed; tests needing it skip" >&2
fi

# Belt and braces: a distribution default unit could still have started one of
# these through another path; stop only the system services the packages own.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  for svc in postfix nsd unbound nginx knot postgresql; do
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
  done
fi
echo "install-deps: done" >&2
