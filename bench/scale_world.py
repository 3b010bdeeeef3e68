#!/usr/bin/python3
"""scale_world.py - generate a large test world for bench/scan_bench.sh.

    scale_world.py N RUNDIR

Builds on tests/world/worldgen.py (same layout of RUNDIR, same daemons, so
`tests/world/world` starts it) without changing the normal world:

  - 20 hoster zones hoster01.test .. hoster20.test, each with one MX host
    mx.hosterNN.test on its own Postfix listener (127.0.200.NN) and a DANE-EE
    TLSA record (3 1 1) matching its certificate;
  - 2 broken hosters that the world already knows how to break: hoster-stale
    (TLSA of another key: tlsa-mismatch) and hoster-nostarttls (no STARTTLS);
  - N signed domain zones dNNNNNN.test, each with its own zone, signed with one
    shared key (the key file is rewritten per zone owner; the DS is computed
    per zone), whose MX points at a hoster; about 5% are broken: 2% point at
    hoster-stale, 1.5% at hoster-nostarttls, 1.5% have a bogus MX signature;
  - the case "ee-ok" of tests/world/cases.toml (the world's readiness probe).

RUNDIR/domains.txt lists the N domains; RUNDIR/expected.json counts the
verdicts the scan should give. The resolver gets a control socket
(RUNDIR/unbound/control.sock) so the bench can read its query counters.
"""
import base64
import errno
import hashlib
import json
import os
import shutil
import struct
import sys
import time
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "world"))
import worldgen  # noqa: E402

HOSTERS = 20
TLSA_OK = "_25._tcp.mx TLSA {tlsa:3 1 1:leaf-ee}"


def hoster_cases():
    """The hoster zones as worldgen cases (addresses outside the case-number space)."""
    cases = []
    for i in range(1, HOSTERS + 1):
        cases.append({"name": "hoster%02d" % i,
                      "records": ["mx A 127.0.200.%d" % i, TLSA_OK],
                      "server": [{"host": "mx", "addr": "127.0.200.%d" % i,
                                  "certs": ["leaf-ee"]}]})
    cases.append({"name": "hoster-stale",
                  "records": ["mx A 127.0.201.1", TLSA_OK],
                  "server": [{"host": "mx", "addr": "127.0.201.1", "certs": ["leaf-other"]}]})
    cases.append({"name": "hoster-nostarttls",
                  "records": ["mx A 127.0.201.2", TLSA_OK],
                  "server": [{"host": "mx", "addr": "127.0.201.2", "kind": "nostarttls"}]})
    return cases


def domain_plan(n):
    """[(domain, mx host, breakage)] for n domains: about 5% broken."""
    out = []
    for i in range(n):
        r = i % 200
        if r < 4:
            mx, why = "mx.hoster-stale.test.", "stale-tlsa"
        elif r < 7:
            mx, why = "mx.hoster-nostarttls.test.", "no-starttls"
        elif r < 10:
            mx, why = "mx.hoster%02d.test." % (i % HOSTERS + 1), "bogus-mx"
        else:
            mx, why = "mx.hoster%02d.test." % (i % HOSTERS + 1), "ok"
        out.append(("d%06d.test." % i, mx, why))
    return out


def dnskey_wire(owner, key_line):
    """(DNSKEY rdata wire, key tag) of a 'owner IN DNSKEY flags proto alg b64' line."""
    f = key_line.split(";")[0].split()
    flags, proto, alg = int(f[3]), int(f[4]), int(f[5])
    rdata = struct.pack("!HBB", flags, proto, alg) + base64.b64decode("".join(f[6:]))
    acc = 0
    for i, b in enumerate(rdata):
        acc += b if i & 1 else b << 8
    acc += (acc >> 16) & 0xFFFF
    return rdata, acc & 0xFFFF, alg


def name_wire(name):
    return b"".join(bytes([len(label)]) + label.encode().lower()
                    for label in name.rstrip(".").split(".")) + b"\0"


class ScaleWorld(worldgen.World):
    """worldgen.World with N extra domain zones sharing one signing key."""

    def __init__(self, cases_toml, rundir, n):
        with open(cases_toml, "rb") as f:
            spec = tomllib.load(f)
        self.spec = {"cert": spec["cert"],
                     "case": [c for c in spec["case"] if c["name"] == "ee-ok"] + hoster_cases()}
        self.run = os.path.abspath(rundir)
        self.pool = worldgen.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
        self.certs = {}
        self.manifest = {"cases": [], "ns": worldgen.NS_ADDR, "resolver": "127.0.0.1"}
        self.plan_n = domain_plan(n)
        self.shared = None

    def plan(self):
        super().plan()
        for dom, mx, why in self.plan_n:
            self.zones[dom] = {"server": "cases", "mode": "signed", "parent": "test.",
                               "records": ["%s 300 IN MX 10 %s" % (dom, mx)],
                               "corrupt": ["@ MX"] if why == "bogus-mx" else [],
                               "scale": True}

    def keygen(self, zone):
        if not self.zones[zone].get("scale"):
            return super().keygen(zone)
        kd = os.path.join(self.run, "keys", "scale")
        base, line = self.shared
        rdata, tag, alg = dnskey_wire(zone, line)
        path = os.path.join(kd, "K%s+%03d+%05d" % (zone, alg, tag))
        with open(path + ".key", "w") as f:
            f.write("%s\tIN\tDNSKEY\t%s\n" % (zone, " ".join(line.split(";")[0].split()[3:])))
        try:
            os.link(base + ".private", path + ".private")
        except OSError as e:  # EMLINK: a file system's hard-link limit (about 65,000)
            if e.errno != errno.EMLINK:
                raise
            shutil.copyfile(base + ".private", path + ".private")
        digest = hashlib.sha256(name_wire(zone) + rdata).hexdigest().upper()
        self.zones[zone]["key"] = path
        self.zones[zone]["ds"] = "%s 3600 IN DS %d %d 2 %s" % (zone, tag, alg, digest)
        return None

    def gen_zones(self):
        kd = os.path.join(self.run, "keys", "scale")
        os.makedirs(kd, exist_ok=True)
        base = worldgen.run(["ldns-keygen", "-a", "ECDSAP256SHA256", "-k", "scale.template."],
                            cwd=kd).decode().strip()
        with open(os.path.join(kd, base + ".key")) as f:
            self.shared = (os.path.join(kd, base), f.read().strip())
        t0 = time.monotonic()
        super().gen_zones()
        print("scale_world: %d zones keyed and signed in %.1f s" %
              (len(self.zones), time.monotonic() - t0), file=sys.stderr)

    def zone_for(self, fq):
        """Case records only name case zones: look the name's suffixes up directly."""
        labels = fq.split(".")
        for i in range(len(labels)):
            z = ".".join(labels[i:]) or "."
            if z in self.zones:
                return z
        return "."

    def gen_unbound(self):
        super().gen_unbound()
        d = os.path.join(self.run, "unbound")
        conf = os.path.join(d, "unbound.conf")
        text = open(conf).read().replace(
            "remote-control:\n  control-enable: no\n",
            "remote-control:\n  control-enable: yes\n  control-interface: %s/control.sock\n"
            "  control-use-cert: no\n" % d)
        text = text.replace("  num-threads: 1\n", "  num-threads: 2\n  msg-cache-size: 64m\n"
                            "  rrset-cache-size: 128m\n  key-cache-size: 64m\n")
        with open(conf, "w") as f:
            f.write(text)

    def generate(self):
        super().generate()
        with open(os.path.join(self.run, "domains.txt"), "w") as f:
            for dom, _, _ in self.plan_n:
                f.write(dom.rstrip(".") + "\n")
        counts = {}
        for _, _, why in self.plan_n:
            counts[why] = counts.get(why, 0) + 1
        with open(os.path.join(self.run, "expected.json"), "w") as f:
            json.dump(counts, f, indent=1)


def main():
    if len(sys.argv) != 3 or not sys.argv[1].isdigit() or not 1 <= int(sys.argv[1]) <= 100000:
        sys.exit("usage: scale_world.py N(1..100000) RUNDIR")
    cases = os.path.join(HERE, "..", "tests", "world", "cases.toml")
    ScaleWorld(cases, sys.argv[2], int(sys.argv[1])).generate()


if __name__ == "__main__":
    main()
