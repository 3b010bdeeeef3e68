#!/usr/bin/python3
"""peer.py - run posttls-finger, the reference DANE peer, on every world case.

For each case and each MX host it runs Postfix's posttls-finger inside the
world's namespace with DNSSEC and `-l dane`, reads its log lines and reduces
them to one peer category. The first MX host is probed through the domain
(so the MX RRset's security and the next-hop domain as a DANE-TA reference
identifier count, as for a real delivery); other MX hosts through `[host]`.

daneguard host statuses map onto peer categories (STATUS_TO_PEER); a case's
expected status must map to what the peer concluded, unless the case lists a
documented exception (`peer` + `peer_note` in cases.toml).

Usage: peer.py RUNDIR NETNS [--json] [--case NAME]...
Exit 0 when every case agrees (or differs only where documented), else 1.
"""
import concurrent.futures as futures
import json
import os
import re
import subprocess
import sys

TIMEOUT_CONNECT_S = 4
TIMEOUT_CMD_S = 8
JOB_TIMEOUT_S = 40

STATUS_TO_PEER = {
    "verified": "verified",
    "tlsa-mismatch": "auth-fail",
    "starttls-missing": "no-starttls",
    "tls-failed": "tls-fail",
    "tlsa-unusable": "unusable",
    "no-tlsa": "no-tlsa",
    "insecure": "insecure",
    "bogus": "lookup-error",
    "dns-error": "lookup-error",
    "unreachable": "unreachable",
}


def classify(out):
    """Reduce posttls-finger -v output to a peer category."""
    if re.search(r"^posttls-finger: (Verified|Trusted) TLS connection established", out, re.M):
        return "verified"
    if "TLSA lookup error" in out:
        return "lookup-error"
    if re.search(r"STARTTLS rejected|server does not support STARTTLS|not offered", out):
        return "no-starttls"
    if re.search(r"SSL_connect error|TLS handshake failed|lost connection after STARTTLS", out):
        return "tls-fail"
    if re.search(r"Connection refused|timeout while reading server greeting|"
                 r"Connection timed out|lost connection while reading server greeting", out):
        return "unreachable"
    if re.search(r"(server|CA) certificate verification failed for", out):
        return "auth-fail"
    if "no usable TLSA records found" in out:
        return "unusable"
    if "no TLSA records found" in out:
        if re.search(r"dns_query: _\d+\._tcp\.\S+ \(TLSA\)", out):
            return "no-tlsa"
        return "insecure"
    if re.search(r"Host or domain name not found|Name service error|MX RRset .*error|"
                 r"no MX host .* has a valid address record", out):
        return "lookup-error"
    if re.search(r"^posttls-finger: < 250", out, re.M) and "> STARTTLS" not in out:
        return "no-starttls"   # EHLO answered, STARTTLS never offered
    return "unknown"


def finger(ns, rundir, dest):
    cmd = ["ip", "netns", "exec", ns, "env", "MAIL_CONFIG=%s/peer" % rundir,
           "posttls-finger", "-v", "-l", "dane", "-t", str(TIMEOUT_CONNECT_S),
           "-T", str(TIMEOUT_CMD_S), dest]
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=JOB_TIMEOUT_S)
        return (p.stdout + p.stderr).decode(errors="replace")
    except subprocess.TimeoutExpired:
        return "posttls-finger: job timeout"


def until_other_host(out, host):
    """Cut domain-form output where posttls-finger moves on to another MX host."""
    keep = []
    for line in out.splitlines():
        m = re.search(r"connect_addr: trying: (\S+?)\[", line)
        if m and m.group(1).lower() != host.lower():
            break
        keep.append(line)
    return "\n".join(keep)


def probe_case(ns, rundir, case):
    results = []
    for i, (pref, host) in enumerate(case["mx"]):
        if host == ".":
            continue
        if i == 0:
            out = until_other_host(finger(ns, rundir, case["domain"]), host)
        else:
            out = finger(ns, rundir, "[%s]" % host)
        got = classify(out)
        want_status = case["expect"].get(host)
        peer_status = case["peer"].get(host, want_status)
        want = STATUS_TO_PEER.get(peer_status) if peer_status else None
        results.append({"host": host, "preference": pref, "peer": got,
                        "expected_status": want_status, "expected_peer": want,
                        "exception": host in case["peer"],
                        "agrees": want is None or got == want,
                        "log": out[-1500:] if want is not None and got != want else ""})
    return {"case": case["name"], "hosts": results}


def main(argv):
    rundir, ns = argv[1], argv[2]
    as_json = "--json" in argv
    only = [argv[i + 1] for i, a in enumerate(argv) if a == "--case" and i + 1 < len(argv)]
    with open(os.path.join(rundir, "manifest.json")) as f:
        cases = json.load(f)["cases"]
    if only:
        cases = [c for c in cases if c["name"] in only]
    with futures.ThreadPoolExecutor(max_workers=12) as pool:
        report = list(pool.map(lambda c: probe_case(ns, rundir, c), cases))
    bad = [(r["case"], h) for r in report for h in r["hosts"] if not h["agrees"]]
    if as_json:
        json.dump({"cases": report, "disagreements": len(bad)}, sys.stdout, indent=1)
        print()
    else:
        for r in report:
            for h in r["hosts"]:
                print("%-24s %-40s peer=%-13s expected=%-16s %s" % (
                    r["case"], h["host"], h["peer"], h["expected_status"] or "-",
                    "ok" if h["agrees"] else "DISAGREES") + (" (documented exception)"
                                                            if h["exception"] else ""))
        for case, h in bad:
            print("\n--- %s %s: peer said %s, expected %s\n%s" % (
                case, h["host"], h["peer"], h["expected_peer"], h["log"]), file=sys.stderr)
        print("%d hosts, %d disagree" % (sum(len(r["hosts"]) for r in report), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
