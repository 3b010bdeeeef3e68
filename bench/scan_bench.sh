#!/usr/bin/env bash
# scan_bench.sh BUILD_DIR N [PEER_N] - time `daneguard scan` over N signed domains whose MX
# records point into 20 shared hoster MX hosts (bench/scale_world.py; about 5% broken:
# stale TLSA, no STARTTLS, bogus MX signature), in a world of its own (own namespace),
# and, in the same run, posttls-finger (xargs -P32) on the first PEER_N (1000) domains.
#
# Prints: generation time, domains/s, CPU seconds, peak RSS (/usr/bin/time -v), DNS
# queries per domain as the world's resolver counted them (unbound-control stats, so
# libunbound's own cache hits are not counted), the verdict counts, and the peer's time.
# Not part of `make test`; asserts nothing. Needs root (network namespaces).
set -euo pipefail
build=${1:?usage: scan_bench.sh BUILD_DIR N [PEER_N]}
n=${2:?usage: scan_bench.sh BUILD_DIR N [PEER_N]}
peer_n=${3:-1000}
here=$(cd "$(dirname "$0")/.." && pwd)
world="$here/tests/world/world"
bin="$(cd "$build" && pwd)/daneguard"
run="$(cd "$build" && pwd)/scale-world-$n"
out="$run.out"
trap '"$world" down "$run" >/dev/null 2>&1 || true' EXIT

t0=$(date +%s.%N)
python3 "$here/bench/scale_world.py" "$n" "$run"
t1=$(date +%s.%N)
WORLD_PREGENERATED=1 "$world" up "$run" >/dev/null 2>"$run.up.log" ||
	{ cat "$run.up.log" >&2; exit 1; }
t2=$(date +%s.%N)
ta="$run/trust-anchor.ds"
ctl() { "$world" exec "$run" unbound-control -c "$run/unbound/unbound.conf" "$@"; }
queries() { ctl stats_noreset | awk -F= '$1 == "total.num.queries" {print $2}'; }

printf '== scale world: %d domains, 20 hosters + 2 broken; generated in %.1f s, up in %.1f s\n' \
	"$n" "$(echo "$t1 - $t0" | bc -l)" "$(echo "$t2 - $t1" | bc -l)"
cat "$run/expected.json" | tr -d '\n' && echo

q0=$(queries)
/usr/bin/time -v -o "$out.time" "$world" exec "$run" "$bin" scan --resolver 127.0.0.1 \
	--trust-anchor "$ta" --no-mta-sts --timeout 10 --concurrency 500 "$run/domains.txt" \
	>"$out.jsonl" 2>"$out.err" || true
q1=$(queries)
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, a, ":"); s = 0;
	for (i = 1; i <= n; i++) s = s * 60 + a[i]; print s}' "$out.time")
cpu=$(awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {print u + s}' "$out.time")
rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$out.time")
lines=$(wc -l <"$out.jsonl")
printf 'daneguard scan       %6d results  wall %7.1f s  %7.1f domains/s  cpu %6.1f s  peak RSS %d MiB\n' \
	"$lines" "$wall" "$(echo "$lines / $wall" | bc -l)" "$cpu" "$((rss / 1024))"
printf 'DNS queries at the resolver: %d (%.2f per domain)\n' "$((q1 - q0))" \
	"$(echo "($q1 - $q0) / $n" | bc -l)"
printf 'verdicts: '
python3 -c 'import collections, json, sys
c = collections.Counter(json.loads(l).get("verdict", "error") for l in open(sys.argv[1]))
print(", ".join("%s %d" % kv for kv in sorted(c.items())))' "$out.jsonl"

head -n "$peer_n" "$run/domains.txt" >"$run/peer-domains.txt"
p0=$(date +%s.%N)
"$world" exec "$run" env MAIL_CONFIG="$run/peer" xargs -P32 -n1 -a "$run/peer-domains.txt" \
	sh -c 'posttls-finger -c -l dane -t 10 "$0" >/dev/null 2>&1 || true'
p1=$(date +%s.%N)
pw=$(echo "$p1 - $p0" | bc -l)
printf 'posttls-finger -P32  %6d domains  wall %7.1f s  %7.1f domains/s (first MX address only)\n' \
	"$peer_n" "$pw" "$(echo "$peer_n / $pw" | bc -l)"
