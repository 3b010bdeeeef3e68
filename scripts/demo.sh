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

echo
echo "================================================================ daneguard relay"
# The relay between a client and the world's receivers: a DANE domain, one whose TLSA
# record does not match, and one behind an attacker that strips STARTTLS.
q=$(mktemp -d /tmp/daneguard-demo-queue.XXXXXX)
rlog="$run/relay.log"
$world exec "$run" "$bin" relay --listen 127.0.0.1:10025 --queue "$q" --resolver 127.0.0.1 \
	--trust-anchor "$ta" --helo relay.demo.test --log-level info >"$rlog" 2>&1 &
relay=$!
for _ in $(seq 1 100); do grep -q ready "$rlog" && break; sleep 0.1; done
$world exec "$run" /usr/bin/python3 - <<'PY'
import smtplib
s = smtplib.SMTP("127.0.0.1", 10025, timeout=30)
s.ehlo("client.demo.test")
for d in ("relay-dane.test", "relay-danefail.test", "relay-strip.test"):
    s.sendmail("alice@client.demo.test", ["bob@" + d],
               "From: alice@client.demo.test\r\nSubject: demo to %s\r\n\r\nhello\r\n" % d)
    print("client: handed a message for bob@%s to the relay" % d)
s.quit()
PY
sleep 4
echo "-- relay log: one line per delivery attempt"
grep " deliver " "$rlog" | sed 's/^daneguard relay\[scheduler\]: info: //' || true
echo "-- daneguard relay queue list (held mail keeps its reason)"
"$bin" relay queue list --queue "$q" || true
kill -TERM "$relay" 2>/dev/null || true
wait "$relay" 2>/dev/null || true
rm -rf "$q"
