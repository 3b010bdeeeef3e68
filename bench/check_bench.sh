#!/usr/bin/env bash
# check_bench.sh BUILD_DIR [ROUNDS] - time `daneguard check` against posttls-finger,
# the reference peer, in the test world, on the same domain, in the same run.
#
# Domain bench-2mx.test: two MX hosts, two IPv4 addresses each, DANE-EE verified.
# daneguard checks every MX host and address (and both key types); posttls-finger
# checks one MX host per run, so it is run once per MX host ([host] form) and the
# times are added. ldns-dane is not timed: it has no STARTTLS, so it cannot check
# an SMTP server. Also timed: a silent server, which must cost no more than the
# configured timeout. Prints the figures; asserts nothing.
set -euo pipefail
build=${1:?usage: check_bench.sh BUILD_DIR [ROUNDS]}
rounds=${2:-10}
here=$(cd "$(dirname "$0")/.." && pwd)
world="$here/tests/world/world"
run="$build/bench-world"
bin="$(cd "$build" && pwd)/daneguard"
trap '"$world" down "$run" >/dev/null 2>&1 || true' EXIT
"$world" up "$run" >/dev/null 2>&1
ta="$(cd "$run" && pwd)/trust-anchor.ds"

measure() { # measure LABEL CMD... : ROUNDS runs; prints mean wall ms and CPU ms per run
	local label=$1 t0 t1 c0 c1
	shift
	"$@" >/dev/null 2>&1 || true # warm-up (resolver cache, page cache)
	t0=$(date +%s%N)
	c0=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
	for ((i = 0; i < rounds; i++)); do "$@" >/dev/null 2>&1 || true; done
	t1=$(date +%s%N)
	c1=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
	printf '%-48s wall %7.1f ms   cpu %6.1f ms   (%d runs)\n' "$label" \
		"$(echo "($t1 - $t0) / 1000000 / $rounds" | bc -l)" \
		"$(echo "($c1 - $c0) * 1000 / $(getconf CLK_TCK) / $rounds" | bc -l)" "$rounds"
}

echo "== bench: one domain, 2 MX hosts x 2 addresses (bench-2mx.test), $rounds rounds"
measure "daneguard check (all MX, all addresses, 2 keys)" \
	"$world" exec "$run" "$bin" check --resolver 127.0.0.1 --trust-anchor "$ta" bench-2mx.test
measure "daneguard check --json" \
	"$world" exec "$run" "$bin" check --json --resolver 127.0.0.1 --trust-anchor "$ta" bench-2mx.test
peer() {
	"$world" exec "$run" env MAIL_CONFIG="$run/peer" posttls-finger -c -l dane bench-2mx.test
	"$world" exec "$run" env MAIL_CONFIG="$run/peer" posttls-finger -c -l dane '[mx2.bench-2mx.test]'
}
measure "posttls-finger (first address of each MX)" peer
echo "== a silent server (banner never comes), --timeout 3"
rounds=1 measure "daneguard check silent-server.test" \
	"$world" exec "$run" "$bin" check --timeout 3 --resolver 127.0.0.1 --trust-anchor "$ta" silent-server.test
rounds=1 measure "posttls-finger -t 3 silent-server.test" \
	"$world" exec "$run" env MAIL_CONFIG="$run/peer" posttls-finger -c -l dane -t 3 silent-server.test
