#!/usr/bin/python3
"""relay_bench.py BUILD_DIR [N] - daneguard relay next to Postfix, same load, same receivers,
same run (issue #8 "Performance").

In the test world, N messages (default 2000) are submitted by 8 concurrent SMTP clients (the
throughput run), then 200 messages by one client, one at a time (the latency run), to
  A) `daneguard relay` (defaults: dest-concurrency 4), and
  B) Postfix with smtp_tls_security_level = dane and smtp_dns_support_level = dnssec
     (tests/world/upstream with no relayhost: straight to the MX hosts),
each delivering to relay-dane.test, whose MX is a DANE-verified Postfix receiver that stores
every message in a Maildir. For each path it prints:
  - throughput: N / (last message stored - first message accepted), messages/s;
  - latency per message from the 250 of the path under test to the receiver storing it
    (Maildir file name time, microseconds): p50, p99, max;
  - CPU seconds of the daneguard processes (A) during the run.
The difference of the p50 latencies is what the relay adds over Postfix's own queue. The
receiver is the same for both, so both include its delivery time. Asserts nothing.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORLD = os.path.join(HERE, "..", "tests", "world", "world")
UPSTREAM = os.path.join(HERE, "..", "tests", "world", "upstream")
DOMAIN = "relay-dane.test"
CLIENTS = 8

LOADER = r'''
import smtplib, sys, time, threading, json
host, port, n, clients, tag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
lock = threading.Lock()
todo = list(range(n))
done = {}
def worker():
    s = smtplib.SMTP(host, port, timeout=60)
    s.ehlo("bench.test")
    while True:
        with lock:
            if not todo:
                break
            i = todo.pop()
        msg = "From: bench@customer.test\r\nTo: user@%s\r\nSubject: bench %s %d\r\n\r\nhello\r\n" % ("relay-dane.test", tag, i)
        s.mail("bench@customer.test"); s.rcpt("user@relay-dane.test")
        code, _ = s.data(msg)
        if code == 250:
            with lock:
                done["bench %s %d" % (tag, i)] = time.time()
    s.quit()
ts = [threading.Thread(target=worker) for _ in range(clients)]
t0 = time.time()
[t.start() for t in ts]; [t.join() for t in ts]
print(json.dumps({"t0": t0, "accepted": done}))
'''


def inworld(run, *args, **kw):
    return subprocess.run([WORLD, "exec", run] + list(args), capture_output=True, text=True,
                          **kw)


def stored(run, tag, n, timeout):
    """Subject -> store time, read from the Maildir file names (sec.Mmicrosec)."""
    d = os.path.join(run, "mail", DOMAIN, "new")
    deadline = time.time() + timeout
    got = {}
    while time.time() < deadline:
        for f in os.listdir(d):
            if f in got.get("_seen", set()):
                continue
            try:
                with open(os.path.join(d, f), errors="replace") as fh:
                    head = fh.read(4096)
            except OSError:
                continue
            got.setdefault("_seen", set()).add(f)
            for line in head.splitlines():
                if line.startswith("Subject: bench %s " % tag):
                    sec, _, rest = f.partition(".")
                    usec = rest.split("M", 1)[1].split(".", 1)[0] if "M" in rest else "0"
                    got[line[len("Subject: "):]] = int(sec) + int(usec) / 1e6
                    break
        if len(got) - 1 >= n:
            break
        time.sleep(0.2)
    got.pop("_seen", None)
    return got


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


def cpu_of(pattern):
    total = 0.0
    tck = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open("/proc/%s/cmdline" % pid, "rb").read().replace(b"\0", b" ").decode()
            if pattern in cmd:
                st = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
                total += (int(st[11]) + int(st[12])) / tck
        except OSError:
            pass
    return total


def run_path(run, label, host, port, n, clients=CLIENTS):
    tag = "%s-%d-%d" % (label.split()[0], clients, int(time.time()))
    r = inworld(run, "python3", "-c", LOADER, host, str(port), str(n), str(clients), tag,
                timeout=1800)
    res = json.loads(r.stdout)
    acc = res["accepted"]
    st = stored(run, tag, len(acc), 600)
    lat = [(st[k] - t) * 1000 for k, t in acc.items() if k in st]
    span = (max(st.values()) - res["t0"]) if st else float("nan")
    print("%-34s accepted %5d  stored %5d  %7.1f msg/s   latency ms p50 %7.1f  p99 %7.1f  "
          "max %7.1f" % (label, len(acc), len(st), len(st) / span if st else 0,
                         pct(lat, 0.5), pct(lat, 0.99), max(lat) if lat else float("nan")))
    return len(st) / span if st else 0, pct(lat, 0.5)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build/release"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    binary = os.path.join(os.path.abspath(build), "daneguard")
    run = os.path.join(os.path.abspath(build), "bench-relay-world")
    subprocess.run([WORLD, "up", run], check=True, capture_output=True)
    tmp = tempfile.mkdtemp(prefix="dg-relay-bench-")
    relay = None
    try:
        args = [WORLD, "exec", run, binary, "relay", "--listen", "127.0.0.1:10040", "--queue",
                os.path.join(tmp, "queue"), "--resolver", "127.0.0.1", "--trust-anchor",
                os.path.join(run, "trust-anchor.ds"), "--log-level", "warn"]
        log = open(os.path.join(tmp, "relay.log"), "w")
        relay = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        for _ in range(100):
            if "ready" in open(os.path.join(tmp, "relay.log")).read():
                break
            time.sleep(0.1)
        print("== relay bench: %d messages, %d clients, to %s (DANE-verified receiver)"
              % (n, CLIENTS, DOMAIN))
        subprocess.run([UPSTREAM, "start", run, "127.0.0.1:1", "relayhost=",
                        "smtp_tls_security_level=dane", "smtp_dns_support_level=dnssec",
                        "smtp_host_lookup=dns"], check=True, capture_output=True)
        pf = "postfix (smtp_tls_security_level=dane)"
        print("-- throughput run: %d clients" % CLIENTS)
        c0 = cpu_of(binary + " relay")
        a_rate, a_p50 = run_path(run, "daneguard relay", "127.0.0.1", 10040, n)
        c1 = cpu_of(binary + " relay")
        b_rate, b_p50 = run_path(run, pf, "127.9.0.1", 25, n)
        print("%-34s cpu %.2f s for %d messages" % ("daneguard relay", c1 - c0, n))
        print("ratio: relay/postfix throughput %.2fx; relay p50 - postfix p50 = %+.1f ms"
              % (a_rate / b_rate if b_rate else float("nan"), a_p50 - b_p50))
        print("-- latency run: 1 client, 200 messages one at a time")
        _, a_p50 = run_path(run, "daneguard relay", "127.0.0.1", 10040, 200, 1)
        _, b_p50 = run_path(run, pf, "127.9.0.1", 25, 200, 1)
        print("relay p50 - postfix p50 = %+.1f ms (what the relay adds over Postfix's own "
              "queue, same receiver)" % (a_p50 - b_p50))
    finally:
        if relay is not None:
            relay.terminate()
            relay.wait(timeout=30)
        subprocess.run([UPSTREAM, "stop", run], capture_output=True)
        subprocess.run([WORLD, "down", run], capture_output=True)


if __name__ == "__main__":
    main()
