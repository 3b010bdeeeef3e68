#!/usr/bin/env bash
# demo.sh BUILD_DIR - bring the test world up, run `daneguard check` on it, tear it down.
#
# Shows the full report for the world's demo cases (a good domain, a stale TLSA
# record, a DANE-TA name mismatch, a bogus TLSA RRset), then one line per world
# case from a single `check --json` run over all of them, next to the verdict the
# case expects.
set -euo pipefail
build=$1
run="$build/world"
world=tests/world/world
bin="$(cd "$build" && pwd)/daneguard"
trap '$world down "$run" >/dev/null 2>&1 || true' EXIT
$world up "$run"
ta="$(cd "$run" && pwd)/trust-anchor.ds"
dg() { $world exec "$run" "$bin" check --resolver 127.0.0.1 --trust-anchor "$ta" --timeout 5 "$@"; }

demo=$(/usr/bin/python3 -c 'import json,sys; print(" ".join(c["domain"] for c in json.load(open(sys.argv[1]))["cases"] if c["demo"]))' "$run/manifest.json")
for d in $demo; do
	echo
	echo "================================================================ daneguard check $d"
	dg "$d" || echo "(exit code $?)"
done

echo
echo "================================================================ every world case, one run"
all=$(/usr/bin/python3 -c 'import json,sys; print(" ".join(c["domain"] for c in json.load(open(sys.argv[1]))["cases"]))' "$run/manifest.json")
# shellcheck disable=SC2086
dg --json $all >"$run/all.json" || true
/usr/bin/python3 - "$run/all.json" "$run/manifest.json" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))
want = {c["domain"]: c for c in json.load(open(sys.argv[2]))["cases"]}
agree = 0
print("%-28s %-13s %-13s %s" % ("domain", "verdict", "expected", "hosts"))
for r in res:
    w = want[r["domain"]]["verdict"]
    agree += r["verdict"] == w
    hosts = ", ".join("%s=%s" % (h["name"].split(".")[0], h["status"]) for h in r["hosts"])
    print("%-28s %-13s %-13s %s" % (r["domain"], r["verdict"], w, hosts))
print("\n%d of %d domains got the expected verdict" % (agree, len(res)))
PY
